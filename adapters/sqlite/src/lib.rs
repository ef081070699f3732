//! `sm-adapter-sqlite`: the StoragePort on SQLite.
//!
//! rusqlite with the bundled SQLite, WAL journal, `synchronous=NORMAL`, one writer connection.
//! Kernel migrations are embedded with refinery (`migrations/V001__initial.sql`; refinery's history
//! table is renamed `config_migration_history` so it sits in the config zone) and mirrored in the
//! spec's ledger `config_schema_versions` and in `PRAGMA user_version`.
//! A persisted scan replaces the scan zone in one transaction, in statements of up to 64 rows
//! (no bound-variable ceiling on the node count). A whole write fills links and issues in a side
//! database on a second thread while nodes and cache rows are written, then copies them in with
//! SQLite's transfer (see `SideDatabase`); an incremental one writes only the rows that changed.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value};
use sm_kernel::model::{
    Confidence, Fix, Issue, Link, LinkKind, Location, Node, ScanResult, ScanStats, ScannedBy, Scope, Severity,
    Stability, Trigger, TripleSplit,
};
use sm_kernel::ports::{MigrationInfo, StorageError, StoragePort};

pub mod plugin_storage;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Name of refinery's history table (config zone).
pub const MIGRATION_TABLE: &str = "config_migration_history";

/// The newest kernel schema version this build knows.
pub fn latest_schema_version() -> u32 {
    embedded::migrations::runner().get_migrations().iter().map(|m| m.version() as u32).max().unwrap_or(0)
}

/// A project or global database.
pub struct SqliteStorage {
    conn: Connection,
    path: PathBuf,
    /// The temporary file a new database is built in until its first full persist moves it to
    /// `path` (see [`open_for_scan`](Self::open_for_scan)).
    building: Option<BuildingFile>,
}

/// A database file being built; dropped before it was moved into place (its persist failed or
/// never came), it is deleted.
struct BuildingFile(PathBuf);

impl Drop for BuildingFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Settings of every connection, whatever its journal. An 8 MB page cache: a scan's writes go
/// out in order (spilling to the journal-less build file or the WAL is cheap), and a larger cache
/// only adds to the peak of a whole write, while the side database's writer still holds its own.
const SHARED_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8000;";

/// Settings of a file written whole before anything reads it (a database being built, a side
/// database): no journal, pages of 8 KiB; the caller adds its `synchronous` and [`SHARED_PRAGMAS`].
const JOURNAL_LESS_PRAGMAS: &str = "PRAGMA page_size = 8192; PRAGMA journal_mode = OFF;";

/// Opens a connection, first (once per process, before SQLite initialises) turning off SQLite's
/// allocation statistics: they are kept under one process-wide mutex that every allocation of
/// every connection takes, so two threads writing (a whole write and its side database) would
/// take turns on it. sm reads none of them.
#[allow(unsafe_code)]
fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection, StorageError> {
    static CONFIGURE: std::sync::Once = std::sync::Once::new();
    CONFIGURE.call_once(|| {
        // SAFETY: `sqlite3_config` may be called before SQLite initialises, and from one thread at
        // a time: every connection of this process is opened here, after this call returns. Were
        // SQLite initialised already, the call would return SQLITE_MISUSE and change nothing.
        unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::os::raw::c_int);
        }
    });
    Connection::open_with_flags(path, flags).map_err(db_err)
}

fn db_err(e: rusqlite::Error) -> StorageError {
    match e {
        rusqlite::Error::SqliteFailure(code, msg)
            if code.code == rusqlite::ErrorCode::NotADatabase || code.code == rusqlite::ErrorCode::DatabaseCorrupt =>
        {
            StorageError::Corrupt(msg.unwrap_or_else(|| code.to_string()))
        }
        other => StorageError::Database(other.to_string()),
    }
}

impl SqliteStorage {
    /// Opens (creating it and its directory if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StorageError::Database(format!("cannot create {}: {e}", parent.display())))?;
        }
        let conn = open_connection(path, OpenFlags::default())?;
        Self::configure(conn, path)
    }

    /// Opens the database at `path` for a command that writes a whole scan (`sm scan`). When
    /// there is none yet, it is built in a temporary file beside `path` without a journal and moved
    /// into place by the first full persist: every page is written once, where a new database in
    /// WAL mode writes each page twice (to the WAL, then back at the checkpoint). A build that fails
    /// or is interrupted leaves no database at `path`; when one appeared there meanwhile (another
    /// process), the persist is written into it instead.
    pub fn open_for_scan(path: &Path) -> Result<Self, StorageError> {
        remove_abandoned_files(path);
        if path.exists() {
            return Self::open(path);
        }
        let Some(name) = path.file_name() else { return Self::open(path) };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StorageError::Database(format!("cannot create {}: {e}", parent.display())))?;
        }
        let tmp = path.with_file_name(format!("{}.building-{}", name.to_string_lossy(), std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let conn = open_connection(&tmp, OpenFlags::default())?;
        let storage = Self { conn, path: path.to_path_buf(), building: Some(BuildingFile(tmp)) };
        storage
            .conn
            .execute_batch(&format!("{JOURNAL_LESS_PRAGMAS} PRAGMA synchronous = NORMAL; {SHARED_PRAGMAS}"))
            .map_err(db_err)?;
        Ok(storage)
    }

    /// After a full persist into a database being built: makes the file durable and links it
    /// into place, then reopens it there. Returns `false` when a database appeared at the path
    /// meanwhile (or the file cannot be linked there): this storage is then that database, and the
    /// persist must be written again.
    fn finish_building(&mut self) -> Result<bool, StorageError> {
        let Some(building) = self.building.take() else { return Ok(true) };
        let tmp = &building.0;
        let io = |what: &str, e: std::io::Error| StorageError::Database(format!("{what} {}: {e}", self.path.display()));
        std::fs::File::open(tmp).and_then(|f| f.sync_all()).map_err(|e| io("cannot sync", e))?;
        // A link, unlike a rename, never replaces a database that appeared in the meantime.
        let placed = std::fs::hard_link(tmp, &self.path);
        drop(building);
        if placed.is_ok()
            && let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        let mut reopened = Self::open(&self.path)?;
        if placed.is_err() {
            reopened.migrate()?;
        }
        std::mem::swap(&mut self.conn, &mut reopened.conn);
        Ok(placed.is_ok())
    }

    /// Writes a scan in one transaction: in place (the rows a delta names; an immediate
    /// transaction) or whole (a deferred one, see below), the links and issues of a whole write
    /// coming from `side_rows` (see [`SideDatabase`]).
    fn write_scan(
        &mut self,
        result: &ScanResult,
        renames: &[sm_kernel::rename_tracking::RenameOp],
        cache: Option<&sm_kernel::scan_cache::ScanCache>,
        side_rows: Option<std::thread::ScopedJoinHandle<'_, Result<(), StorageError>>>,
    ) -> Result<(), StorageError> {
        // An immediate transaction would also take the attached side database's write lock, which
        // its own writer needs: a whole write begins deferred, and its first statement (a rename
        // or a delete) takes the project database's.
        let behavior = if side_rows.is_some() { TransactionBehavior::Deferred } else { TransactionBehavior::Immediate };
        let tx = self.conn.transaction_with_behavior(behavior).map_err(db_err)?;
        for r in renames {
            rekey_node(&tx, &r.from, &r.to)?;
        }
        let delta = cache.and_then(|c| c.delta.as_ref());
        match cache.zip(delta) {
            // In place: only changed node and cache rows, and the links of the files read (a
            // node's links come from its own file); issues (whole-graph results that refer to
            // links by position) are rewritten.
            Some((cache, delta)) => {
                let mut gone = [
                    tx.prepare_cached("DELETE FROM scan_nodes WHERE path = ?1").map_err(db_err)?,
                    tx.prepare_cached("DELETE FROM scan_node_cache WHERE path = ?1").map_err(db_err)?,
                    tx.prepare_cached("DELETE FROM scan_links WHERE source_path = ?1").map_err(db_err)?,
                ];
                for path in &delta.vanished {
                    for stmt in &mut gone {
                        stmt.execute([path]).map_err(db_err)?;
                    }
                }
                let nodes: Vec<&Node> = result.nodes.iter().filter(|n| delta.nodes_written.contains(&n.path)).collect();
                let cache_rows = cache_rows(cache, &result.nodes, |path| delta.cache_written.contains(path));
                write_nodes_and_cache(&tx, cache_rows, || write_nodes(&tx, nodes, result.scanned_at))?;
                // Rows the prior cache did not know of (a node stored without its cache row) are
                // not in `vanished`: when the counts say the store holds more than the result,
                // every stored path is checked.
                let count = |table: &str| -> Result<usize, StorageError> {
                    let n: i64 =
                        tx.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).map_err(db_err)?;
                    Ok(n as usize)
                };
                if count("scan_nodes")? != result.nodes.len() || count("scan_node_cache")? != cache.row_count() {
                    delete_vanished_nodes(&tx, &result.nodes)?;
                    tx.execute_batch("DELETE FROM scan_links WHERE source_path NOT IN (SELECT path FROM scan_nodes);")
                        .map_err(db_err)?;
                }
                tx.execute_batch("DELETE FROM scan_meta;").map_err(db_err)?;
                match &delta.stored_issues {
                    Some(stored) => update_issues(&tx, stored, &result.issues, delta.issue_ends)?,
                    None => {
                        tx.execute_batch("DELETE FROM scan_issues;").map_err(db_err)?;
                        write_issues(&tx, &result.issues)?;
                    }
                }
                let mut stale = tx.prepare_cached("DELETE FROM scan_links WHERE source_path = ?1").map_err(db_err)?;
                for path in &delta.cache_written {
                    stale.execute([path]).map_err(db_err)?;
                }
                let fresh: Vec<&Link> =
                    result.links.iter().filter(|l| delta.cache_written.contains(&l.source)).collect();
                insert_links(&tx, fresh)?;
            }
            None => {
                tx.execute_batch(
                    "DELETE FROM scan_node_cache; DELETE FROM scan_nodes; DELETE FROM scan_links;
                     DELETE FROM scan_issues; DELETE FROM scan_meta;",
                )
                .map_err(db_err)?;
                let cache_rows = cache.map(|c| cache_rows(c, &result.nodes, |_| true)).unwrap_or_default();
                write_nodes_and_cache(&tx, cache_rows, || {
                    without_indexes(&tx, "scan_nodes", || write_nodes(&tx, result.nodes.iter(), result.scanned_at))
                })?;
                let side_rows = side_rows.ok_or_else(|| StorageError::Database("no side database to read".into()))?;
                side_rows.join().map_err(|_| StorageError::Database("the link and issue writer panicked".into()))??;
                SideDatabase::transfer(&tx)?;
            }
        }
        write_meta(&tx, result)?;
        if let Some(cache) = cache {
            write_fingerprints(&tx, cache)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Opens an existing database read-only; `Ok(None)` when the file does not exist.
    pub fn open_existing(path: &Path) -> Result<Option<Self>, StorageError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = open_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        Self::configure(conn, path).map(Some)
    }

    fn configure(conn: Connection, path: &Path) -> Result<Self, StorageError> {
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db_err)?;
        // Only takes effect on a new, empty database: 8 KiB pages keep most node rows (frontmatter
        // JSON included) on one page and made a full scan's persistence ~15% faster than 4 KiB.
        conn.execute_batch("PRAGMA page_size = 8192;").map_err(db_err)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(db_err)?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            return Err(StorageError::Database(format!("could not enable WAL (journal_mode is {mode})")));
        }
        conn.execute_batch(&format!("PRAGMA synchronous = NORMAL; {SHARED_PRAGMAS}")).map_err(db_err)?;
        Ok(Self { conn, path: path.to_path_buf(), building: None })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Raw access for adapter-level tests and the plugin storage in this crate.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The underlying connection, for owners that outlive this wrapper (plugin storage).
    pub fn into_connection(self) -> Connection {
        self.conn
    }

    /// Mutable raw access (transactions), for plugin migrations.
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl StoragePort for SqliteStorage {
    fn migrate(&mut self) -> Result<Vec<MigrationInfo>, StorageError> {
        let mut runner = embedded::migrations::runner();
        runner.set_migration_table_name(MIGRATION_TABLE);
        let report = runner.run(&mut self.conn).map_err(|e| StorageError::Migration(e.to_string()))?;
        let applied: Vec<MigrationInfo> = report
            .applied_migrations()
            .iter()
            .map(|m| MigrationInfo { version: m.version() as u32, name: m.name().to_owned() })
            .collect();
        if !applied.is_empty() {
            let tx = self.conn.transaction().map_err(db_err)?;
            for m in &applied {
                tx.execute(
                    "INSERT OR IGNORE INTO config_schema_versions (scope, owner_id, version, description, applied_at)
                     VALUES ('kernel', 'kernel', ?1, ?2, ?3)",
                    params![m.version, m.name, now_ms()],
                )
                .map_err(db_err)?;
            }
            let max = applied.iter().map(|m| m.version).max().unwrap_or(0);
            tx.execute_batch(&format!("PRAGMA user_version = {max}")).map_err(db_err)?;
            tx.commit().map_err(db_err)?;
        }
        Ok(applied)
    }

    fn schema_version(&self) -> Result<u32, StorageError> {
        let has_ledger: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'config_schema_versions')",
                [],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if !has_ledger {
            return Ok(0);
        }
        self.conn
            .query_row("SELECT COALESCE(MAX(version), 0) FROM config_schema_versions WHERE scope = 'kernel'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|v| v as u32)
            .map_err(db_err)
    }

    fn count_nodes(&self) -> Result<u64, StorageError> {
        if self.schema_version()? == 0 {
            return Ok(0);
        }
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM scan_nodes", [], |r| r.get(0)).map_err(db_err)?;
        Ok(n as u64)
    }

    fn persist_scan_with_renames(
        &mut self,
        result: &ScanResult,
        renames: &[sm_kernel::rename_tracking::RenameOp],
        cache: Option<&sm_kernel::scan_cache::ScanCache>,
    ) -> Result<(), StorageError> {
        // Links are stored grouped by source (see `read_links`), as every scan orders them.
        if !result.links.is_sorted_by(|a, b| a.source <= b.source) {
            return Err(StorageError::Database("a scan's links must be ordered by source path".into()));
        }
        let full = cache.and_then(|c| c.delta.as_ref()).is_none();
        let side = if full { Some(SideDatabase::attach(&self.conn, &self.path)?) } else { None };
        let written = std::thread::scope(|scope| {
            let side_rows = side.as_ref().map(|side| scope.spawn(|| side.write(&result.links, &result.issues)));
            self.write_scan(result, renames, cache, side_rows)
        });
        // Detached (and deleted) whatever happened; the write's own error comes first.
        let detached = side.map(|side| side.detach(&self.conn));
        written?;
        detached.transpose()?;
        if !self.finish_building()? {
            return self.persist_scan_with_renames(result, renames, cache);
        }
        Ok(())
    }

    fn persist_issues_only(
        &mut self,
        result: &ScanResult,
        cache: &sm_kernel::scan_cache::ScanCache,
    ) -> Result<(), StorageError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        tx.execute_batch("DELETE FROM scan_issues; DELETE FROM scan_meta;").map_err(db_err)?;
        write_meta(&tx, result)?;
        write_issues(&tx, &result.issues)?;
        write_fingerprints(&tx, cache)?;
        tx.commit().map_err(db_err)?;
        if !self.finish_building()? {
            return self.persist_issues_only(result, cache);
        }
        Ok(())
    }

    fn stored_scan_time(&self) -> Result<Option<u64>, StorageError> {
        if self.schema_version()? == 0 {
            return Ok(None);
        }
        let at: Option<i64> = meta_column(&self.conn, "scanned_at")?;
        Ok(at.map(|t| t as u64))
    }

    fn load_scan_summary(&self, input_fingerprint: &str) -> Result<Option<ScanResult>, StorageError> {
        if self.schema_version()? < 3 {
            return Ok(None);
        }
        let stored: Option<Option<String>> = meta_column(&self.conn, "input_fingerprint")?;
        if stored.flatten().as_deref() != Some(input_fingerprint) {
            return Ok(None);
        }
        let Some(mut result) = read_meta(&self.conn)? else {
            return Ok(None);
        };
        let count = |table: &str| -> Result<u64, StorageError> {
            let n: i64 =
                self.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).map_err(db_err)?;
            Ok(n as u64)
        };
        result.stats.nodes_count = count("scan_nodes")?;
        result.stats.links_count = count("scan_links")?;
        result.issues = read_issues(&self.conn)?;
        result.stats.issues_count = result.issues.len() as u64;
        Ok(Some(result))
    }

    fn persist_unchanged_scan(&mut self, result: &ScanResult, rewrite_issues: bool) -> Result<(), StorageError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        let by = result.scanned_by.as_ref();
        let updated = tx
            .execute(
                "UPDATE scan_meta SET scanned_at = ?1, scanned_by_name = ?2, scanned_by_version = ?3,
                    scanned_by_spec_version = ?4, stats_files_walked = ?5, stats_files_skipped = ?6,
                    stats_duration_ms = ?7
                 WHERE id = 1",
                params![
                    result.scanned_at as i64,
                    by.map(|b| b.name.as_str()),
                    by.map(|b| b.version.as_str()),
                    by.map(|b| b.spec_version.as_str()),
                    result.stats.files_walked as i64,
                    result.stats.files_skipped as i64,
                    result.stats.duration_ms as i64,
                ],
            )
            .map_err(db_err)?;
        if updated != 1 {
            return Err(StorageError::Corrupt("scan_meta: no stored scan to update".into()));
        }
        if rewrite_issues {
            tx.execute_batch("DELETE FROM scan_issues;").map_err(db_err)?;
            write_issues(&tx, &result.issues)?;
        }
        tx.commit().map_err(db_err)?;
        if !self.finish_building()? {
            return self.persist_unchanged_scan(result, rewrite_issues);
        }
        Ok(())
    }

    fn load_cache(&self) -> Result<Option<sm_kernel::scan_cache::ScanCache>, StorageError> {
        if self.schema_version()? < 2 {
            return Ok(None);
        }
        let fingerprint: Option<Option<String>> = meta_column(&self.conn, "index_fingerprint")?;
        let Some(fingerprint) = fingerprint else { return Ok(None) };
        let mut nodes: std::collections::HashMap<String, Node> =
            read_nodes(&self.conn)?.into_iter().map(|n| (n.path.clone(), n)).collect();
        let mut stmt = self
            .conn
            .prepare("SELECT path, file_size, file_mtime_ms, body_start_line, detections_json, file_issues_json FROM scan_node_cache")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(db_err)?;
        let mut cache = sm_kernel::scan_cache::ScanCache {
            nodes: Default::default(),
            hollow_rows: Vec::new(),
            index_fingerprint: fingerprint,
            input_fingerprint: None,
            delta: None,
            hollow: false,
            lent: false,
            reused_all: false,
            index: None,
            links: None,
        };
        for row in rows {
            let (path, size, mtime, start, det, issues) = row.map_err(db_err)?;
            let Some(node) = nodes.remove(&path) else { continue };
            let detections = detections_from_json(&path, &det)?;
            cache.nodes.insert(
                path,
                sm_kernel::scan_cache::CachedNode {
                    node,
                    file_size: size as u64,
                    file_mtime_ms: mtime,
                    body_start_line: start as u64,
                    detections,
                    file_issues: parse_json(&issues, "scan_node_cache.file_issues_json")?,
                },
            );
        }
        Ok(if cache.nodes.is_empty() { None } else { Some(cache) })
    }

    fn known_tokens(&self, scanned_by_version: &str) -> Result<sm_kernel::tokens::KnownTokens, StorageError> {
        let mut known = sm_kernel::tokens::KnownTokens::default();
        if self.schema_version()? == 0
            || meta_column::<Option<String>>(&self.conn, "scanned_by_version")?.flatten().as_deref()
                != Some(scanned_by_version)
        {
            return Ok(known);
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT frontmatter_hash, bytes_frontmatter, tokens_frontmatter, body_hash, bytes_body, tokens_body
                 FROM scan_nodes WHERE tokens_frontmatter IS NOT NULL AND tokens_body IS NOT NULL",
            )
            .map_err(db_err)?;
        let mut rows = stmt.query([]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            for at in [0, 3] {
                let hash: &str = r.get_ref(at).and_then(|v| Ok(v.as_str()?)).map_err(db_err)?;
                let bytes: i64 = r.get(at + 1).map_err(db_err)?;
                let tokens: i64 = r.get(at + 2).map_err(db_err)?;
                known.insert(hash, bytes as u64, tokens as u64);
            }
        }
        Ok(known)
    }

    fn node_fingerprints(&self) -> Result<Vec<sm_kernel::rename_tracking::Fingerprint>, StorageError> {
        if self.schema_version()? == 0 {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT path, body_hash, frontmatter_hash FROM scan_nodes ORDER BY path")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(sm_kernel::rename_tracking::Fingerprint {
                    path: r.get(0)?,
                    body_hash: r.get(1)?,
                    frontmatter_hash: r.get(2)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    /// Reads the paths alone, in order, from the primary key's index (a tenth of the table's
    /// pages), and stops at the first that is not among `current`'s. The nodes are looked at only
    /// when something is stored (not when a new database is being built).
    fn any_node_vanished(&self, current: &[Node]) -> Result<bool, StorageError> {
        if self.schema_version()? == 0 {
            return Ok(false);
        }
        let mut stmt = self.conn.prepare("SELECT path FROM scan_nodes ORDER BY path").map_err(db_err)?;
        let mut rows = stmt.query([]).map_err(db_err)?;
        let mut paths: Option<Vec<&str>> = None;
        // Both lists in path order (SQLite's and Rust's orders of UTF-8 text agree): one merge.
        let mut at = 0;
        while let Some(row) = rows.next().map_err(db_err)? {
            let current = paths.get_or_insert_with(|| {
                let mut list: Vec<&str> = current.iter().map(|n| n.path.as_str()).collect();
                // (A scan of one root lists its nodes in path order already.)
                if !list.is_sorted() {
                    list.sort_unstable();
                }
                list
            });
            let path = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(db_err)?;
            while at < current.len() && current[at] < path {
                at += 1;
            }
            if current.get(at) != Some(&path) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn state_node_refs(&self) -> Result<std::collections::BTreeSet<String>, StorageError> {
        if self.schema_version()? == 0 {
            return Ok(Default::default());
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT node_id FROM state_jobs UNION SELECT node_id FROM state_summaries
                 UNION SELECT node_id FROM state_enrichment UNION SELECT node_id FROM state_plugin_kv WHERE node_id <> ''
                 UNION SELECT value FROM state_executions, json_each(state_executions.node_ids_json)",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    fn load_scan(&self) -> Result<Option<ScanResult>, StorageError> {
        if self.schema_version()? == 0 {
            return Ok(None);
        }
        let Some(meta) = read_meta(&self.conn)? else {
            return Ok(None);
        };
        let nodes = read_nodes(&self.conn)?;
        let links = read_links(&self.conn)?;
        let issues = read_issues(&self.conn)?;
        let mut result = meta;
        result.stats.nodes_count = nodes.len() as u64;
        result.stats.links_count = links.len() as u64;
        result.stats.issues_count = issues.len() as u64;
        result.nodes = nodes;
        result.links = links;
        result.issues = issues;
        Ok(Some(result))
    }
}

/// Moves every `state_*` reference from `from` to `to`. Tables keyed by node keep the
/// destination's row when both exist. Returns the rows moved per table.
fn rekey_node(
    tx: &rusqlite::Transaction<'_>,
    from: &str,
    to: &str,
) -> Result<Vec<sm_kernel::ports::TableCount>, StorageError> {
    let mut moved = Vec::new();
    let mut count = |table: &str, n: usize| {
        if n > 0 {
            moved.push(sm_kernel::ports::TableCount { table: table.to_owned(), rows: n as u64 });
        }
    };
    count(
        "state_jobs",
        tx.execute("UPDATE state_jobs SET node_id = ?2 WHERE node_id = ?1", params![from, to]).map_err(db_err)?,
    );
    let n = tx
        .execute(
            "UPDATE state_executions SET node_ids_json =
               (SELECT json_group_array(CASE WHEN value = ?1 THEN ?2 ELSE value END) FROM json_each(state_executions.node_ids_json))
             WHERE EXISTS (SELECT 1 FROM json_each(state_executions.node_ids_json) WHERE value = ?1)",
            params![from, to],
        )
        .map_err(db_err)?;
    count("state_executions", n);
    for table in ["state_summaries", "state_enrichment", "state_plugin_kv"] {
        let n = tx
            .execute(&format!("UPDATE OR IGNORE {table} SET node_id = ?2 WHERE node_id = ?1"), params![from, to])
            .map_err(db_err)?;
        tx.execute(&format!("DELETE FROM {table} WHERE node_id = ?1"), params![from]).map_err(db_err)?;
        count(table, n);
    }
    Ok(moved)
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("in-memory JSON values always serialise")
}

fn write_meta(tx: &rusqlite::Transaction<'_>, r: &ScanResult) -> Result<(), StorageError> {
    let by = r.scanned_by.as_ref();
    tx.execute(
        "INSERT INTO scan_meta (id, scope, roots_json, scanned_at, scanned_by_name, scanned_by_version,
            scanned_by_spec_version, adapters_json, stats_files_walked, stats_files_skipped, stats_duration_ms)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            r.scope.as_str(),
            to_json(&r.roots),
            r.scanned_at as i64,
            by.map(|b| b.name.as_str()),
            by.map(|b| b.version.as_str()),
            by.map(|b| b.spec_version.as_str()),
            to_json(&r.adapters),
            r.stats.files_walked as i64,
            r.stats.files_skipped as i64,
            r.stats.duration_ms as i64,
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

fn detections_from_json(path: &str, text: &str) -> Result<std::collections::BTreeMap<String, Vec<Link>>, StorageError> {
    sm_kernel::scan_cache::decode_detections(path, text)
        .map_err(|e| StorageError::Corrupt(format!("scan_node_cache.detections_json: {e}")))
}

/// One column of the `scan_meta` row; `None` when no scan is stored.
fn meta_column<T: rusqlite::types::FromSql>(conn: &Connection, column: &str) -> Result<Option<T>, StorageError> {
    conn.query_row(&format!("SELECT {column} FROM scan_meta WHERE id = 1"), [], |r| r.get(0)).optional().map_err(db_err)
}

fn write_fingerprints(
    tx: &rusqlite::Transaction<'_>,
    cache: &sm_kernel::scan_cache::ScanCache,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE scan_meta SET index_fingerprint = ?1, input_fingerprint = ?2 WHERE id = 1",
        params![cache.index_fingerprint, cache.input_fingerprint],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Deletes stored node and cache rows whose path is not a node of `current`.
fn delete_vanished_nodes(tx: &rusqlite::Transaction<'_>, current: &[Node]) -> Result<(), StorageError> {
    let live: std::collections::HashSet<&str> = current.iter().map(|n| n.path.as_str()).collect();
    let stored: Vec<String> = {
        let mut stmt = tx.prepare_cached("SELECT path FROM scan_nodes").map_err(db_err)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)?
    };
    let mut del_node = tx.prepare_cached("DELETE FROM scan_nodes WHERE path = ?1").map_err(db_err)?;
    for path in stored.iter().filter(|p| !live.contains(p.as_str())) {
        del_node.execute(params![path]).map_err(db_err)?;
    }
    tx.execute_batch("DELETE FROM scan_node_cache WHERE path NOT IN (SELECT path FROM scan_nodes);").map_err(db_err)?;
    Ok(())
}

/// One `scan_node_cache` row to write, from either kind of cache.
struct CacheRow<'a> {
    path: &'a str,
    file_size: u64,
    file_mtime_ms: i64,
    body_start_line: u64,
    detections: StoredDetections<'a>,
    file_issues: &'a [Issue],
}

enum StoredDetections<'a> {
    /// Encoded by the scan (a hollow cache).
    Encoded(&'a str),
    /// To encode (a cache that keeps the links).
    Links(&'a std::collections::BTreeMap<String, Vec<Link>>),
}

/// The rows of `cache` whose path passes `keep`; a hollow cache's rows belong to `nodes`, in order.
fn cache_rows<'a>(
    cache: &'a sm_kernel::scan_cache::ScanCache,
    nodes: &'a [Node],
    keep: impl Fn(&str) -> bool,
) -> Vec<CacheRow<'a>> {
    if cache.hollow {
        return nodes
            .iter()
            .zip(&cache.hollow_rows)
            .filter(|(node, _)| keep(&node.path))
            .map(|(node, row)| CacheRow {
                path: &node.path,
                file_size: row.file_size,
                file_mtime_ms: row.file_mtime_ms,
                body_start_line: row.body_start_line,
                // A file the scan did not read has nothing encoded (nor is its row written).
                detections: StoredDetections::Encoded(row.encoded_detections.as_deref().unwrap_or("{}")),
                file_issues: &row.file_issues,
            })
            .collect();
    }
    cache
        .nodes
        .iter()
        .filter(|(path, _)| keep(path))
        .map(|(path, c)| CacheRow {
            path,
            file_size: c.file_size,
            file_mtime_ms: c.file_mtime_ms,
            body_start_line: c.body_start_line,
            detections: StoredDetections::Links(&c.detections),
            file_issues: &c.file_issues,
        })
        .collect()
}

/// Runs `write_nodes` while another thread encodes the cache rows' JSON columns, then inserts the
/// cache rows as they come: the encoding (a third of the cache's cost) no longer waits for the
/// node inserts. A bounded channel keeps only a few hundred encoded rows in memory at a time.
fn write_nodes_and_cache(
    tx: &rusqlite::Transaction<'_>,
    cache_rows: Vec<CacheRow<'_>>,
    write_nodes: impl FnOnce() -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    std::thread::scope(|scope| {
        let (sender, encoded) = std::sync::mpsc::sync_channel(256);
        scope.spawn(move || {
            for c in cache_rows {
                let detections = match c.detections {
                    StoredDetections::Encoded(encoded) => std::borrow::Cow::Borrowed(encoded),
                    StoredDetections::Links(links) => {
                        std::borrow::Cow::Owned(sm_kernel::scan_cache::encode_detections(
                            links.iter().map(|(id, links)| (id.as_str(), links.as_slice())),
                        ))
                    }
                };
                let issues = to_json(c.file_issues);
                let row = (c, detections, issues);
                if sender.send(row).is_err() {
                    return; // the writer stopped on an error
                }
            }
        });
        write_nodes()?;
        let head = "INSERT OR REPLACE INTO scan_node_cache (path, file_size, file_mtime_ms, body_start_line,
            detections_json, file_issues_json)";
        insert_rows(tx, head, 6, encoded, |stmt, at, (c, detections, issues)| {
            stmt.raw_bind_parameter(at, c.path)?;
            stmt.raw_bind_parameter(at + 1, c.file_size as i64)?;
            stmt.raw_bind_parameter(at + 2, c.file_mtime_ms)?;
            stmt.raw_bind_parameter(at + 3, c.body_start_line as i64)?;
            stmt.raw_bind_parameter(at + 4, detections.as_ref())?;
            stmt.raw_bind_parameter(at + 5, issues)
        })
    })
}

fn write_nodes<'a>(
    tx: &rusqlite::Transaction<'_>,
    nodes: impl IntoIterator<Item = &'a Node>,
    scanned_at: u64,
) -> Result<(), StorageError> {
    let head = "INSERT OR REPLACE INTO scan_nodes (path, kind, adapter, title, description, stability, version, author,
        frontmatter_json, body_hash, frontmatter_hash, bytes_frontmatter, bytes_body, bytes_total,
        tokens_frontmatter, tokens_body, tokens_total, links_out_count, links_in_count,
        external_refs_count, scanned_at)";
    insert_rows(tx, head, 21, nodes, |stmt, at, n| {
        stmt.raw_bind_parameter(at, &n.path)?;
        stmt.raw_bind_parameter(at + 1, &n.kind)?;
        stmt.raw_bind_parameter(at + 2, &n.adapter)?;
        stmt.raw_bind_parameter(at + 3, &n.title)?;
        stmt.raw_bind_parameter(at + 4, &n.description)?;
        stmt.raw_bind_parameter(at + 5, n.stability.map(Stability::as_str))?;
        stmt.raw_bind_parameter(at + 6, &n.version)?;
        stmt.raw_bind_parameter(at + 7, &n.author)?;
        stmt.raw_bind_parameter(at + 8, to_json(&n.frontmatter))?;
        stmt.raw_bind_parameter(at + 9, &n.body_hash)?;
        stmt.raw_bind_parameter(at + 10, &n.frontmatter_hash)?;
        stmt.raw_bind_parameter(at + 11, n.bytes.frontmatter as i64)?;
        stmt.raw_bind_parameter(at + 12, n.bytes.body as i64)?;
        stmt.raw_bind_parameter(at + 13, n.bytes.total as i64)?;
        stmt.raw_bind_parameter(at + 14, n.tokens.map(|t| t.frontmatter as i64))?;
        stmt.raw_bind_parameter(at + 15, n.tokens.map(|t| t.body as i64))?;
        stmt.raw_bind_parameter(at + 16, n.tokens.map(|t| t.total as i64))?;
        stmt.raw_bind_parameter(at + 17, n.links_out_count as i64)?;
        stmt.raw_bind_parameter(at + 18, n.links_in_count as i64)?;
        stmt.raw_bind_parameter(at + 19, n.external_refs_count as i64)?;
        stmt.raw_bind_parameter(at + 20, scanned_at as i64)
    })
}

/// Runs `fill` (which writes every row of `table`, emptied first) with the table's secondary
/// indexes dropped, then builds them again: SQLite builds an index over existing rows from one
/// sort, far cheaper than inserting every row into every index.
fn without_indexes(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    fill: impl FnOnce() -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let indexes: Vec<(String, String)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)?
    };
    for (name, _) in &indexes {
        tx.execute_batch(&format!("DROP INDEX \"{name}\"")).map_err(db_err)?;
    }
    fill()?;
    for (_, sql) in &indexes {
        tx.execute_batch(sql).map_err(db_err)?;
    }
    Ok(())
}

/// Deletes the files a scan writes beside the database at `path` (`<name>.building-<pid>`, a new
/// database being built; `<name>.rows-<pid>`, a side database) that a process which no longer runs
/// left behind: a scan killed mid-write (Ctrl-C, a CI timeout) leaves them, at 50,000 nodes tens
/// of megabytes. Only where running processes can be told (Linux's `/proc`); files of running
/// processes, this one included, are left alone, and so are files changed in the last hour (a
/// process in another pid namespace — a container sharing the project — is not in our `/proc`).
fn remove_abandoned_files(path: &Path) {
    const QUIET: std::time::Duration = std::time::Duration::from_secs(3600);
    if !Path::new("/proc/self").exists() {
        return;
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix(".building-").or_else(|| rest.strip_prefix(".rows-")))
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let quiet = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()) >= Some(QUIET);
        if quiet && pid != std::process::id().to_string() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The tables a whole write fills on another thread.
const SIDE_TABLES: [&str; 2] = ["scan_links", "scan_issues"];

/// A database beside the project's in which a whole write's links and issues are written on
/// another thread while the writer fills nodes and cache rows. The writer then moves them in with
/// `INSERT … SELECT *` between tables of the same shape, which SQLite runs as a transfer: records
/// and index entries are copied in order, not encoded, checked and sorted again. The file is
/// attached under [`SideDatabase::SCHEMA`] before the writer's transaction (attaching is refused
/// inside one) and deleted when this is dropped.
struct SideDatabase {
    path: PathBuf,
    /// `CREATE TABLE` statements of [`SIDE_TABLES`], as the project's database has them.
    tables: Vec<String>,
    /// Their `CREATE INDEX` statements, run once the rows are in.
    indexes: Vec<String>,
}

impl SideDatabase {
    const SCHEMA: &str = "sm_side";

    fn attach(conn: &Connection, db_path: &Path) -> Result<Self, StorageError> {
        let name =
            db_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "skill-map.db".into());
        let path = db_path.with_file_name(format!("{name}.rows-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let (mut tables, mut indexes) = (Vec::new(), Vec::new());
        {
            let mut stmt = conn
                .prepare(
                    "SELECT type, sql FROM sqlite_schema WHERE tbl_name IN (?1, ?2) AND sql IS NOT NULL ORDER BY type, name",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(SIDE_TABLES, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(db_err)?;
            for row in rows {
                let (kind, sql) = row.map_err(db_err)?;
                if kind == "table" { tables.push(sql) } else { indexes.push(sql) }
            }
        }
        let side = Self { path, tables, indexes };
        conn.execute(&format!("ATTACH DATABASE ?1 AS {}", Self::SCHEMA), [side.path.to_string_lossy()])
            .map_err(db_err)?;
        Ok(side)
    }

    /// Fills the side tables (on the side thread, through a connection of its own): rows first,
    /// then the indexes from one sort each. Nothing here needs to survive a crash: no journal,
    /// no sync.
    fn write(&self, links: &[Link], issues: &[Issue]) -> Result<(), StorageError> {
        let mut conn = open_connection(&self.path, OpenFlags::default())?;
        conn.execute_batch(&format!("{JOURNAL_LESS_PRAGMAS} PRAGMA synchronous = OFF; {SHARED_PRAGMAS}"))
            .map_err(db_err)?;
        let tx = conn.transaction().map_err(db_err)?;
        for sql in &self.tables {
            tx.execute_batch(sql).map_err(db_err)?;
        }
        insert_links(&tx, links)?;
        insert_issues(&tx, issues)?;
        for sql in &self.indexes {
            tx.execute_batch(sql).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Moves the side rows into the project's emptied tables, in the writer's transaction.
    fn transfer(tx: &rusqlite::Transaction<'_>) -> Result<(), StorageError> {
        for table in SIDE_TABLES {
            tx.execute_batch(&format!("INSERT INTO main.{table} SELECT * FROM {}.{table};", Self::SCHEMA))
                .map_err(db_err)?;
        }
        Ok(())
    }

    fn detach(self, conn: &Connection) -> Result<(), StorageError> {
        conn.execute_batch(&format!("DETACH DATABASE {}", Self::SCHEMA)).map_err(db_err)
    }
}

impl Drop for SideDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn insert_links<'a>(
    tx: &rusqlite::Transaction<'_>,
    links: impl IntoIterator<Item = &'a Link>,
) -> Result<(), StorageError> {
    let head = "INSERT INTO scan_links (source_path, target_path, kind, confidence, sources_json, original_trigger,
        normalized_trigger, location_line, location_column, location_offset, raw)";
    insert_rows(tx, head, 11, links, |stmt, at, l| {
        let sources = to_json(&l.sources);
        stmt.raw_bind_parameter(at, &l.source)?;
        stmt.raw_bind_parameter(at + 1, &l.target)?;
        stmt.raw_bind_parameter(at + 2, l.kind.as_str())?;
        stmt.raw_bind_parameter(at + 3, l.confidence.as_str())?;
        stmt.raw_bind_parameter(at + 4, sources)?;
        stmt.raw_bind_parameter(at + 5, l.trigger.as_ref().map(|t| t.original_trigger.as_str()))?;
        stmt.raw_bind_parameter(at + 6, l.trigger.as_ref().map(|t| t.normalized_trigger.as_str()))?;
        stmt.raw_bind_parameter(at + 7, l.location.map(|x| x.line as i64))?;
        stmt.raw_bind_parameter(at + 8, l.location.and_then(|x| x.column).map(|c| c as i64))?;
        stmt.raw_bind_parameter(at + 9, l.location.and_then(|x| x.offset).map(|c| c as i64))?;
        stmt.raw_bind_parameter(at + 10, &l.raw)
    })
}

/// Rows per `INSERT` statement in [`insert_rows`].
const ROWS_PER_INSERT: usize = 64;

/// Inserts `rows` with `head` (`INSERT INTO t (c1, …)`, `columns` columns) in statements of up to
/// [`ROWS_PER_INSERT`] rows: SQLite runs one statement (and updates an `AUTOINCREMENT` counter
/// once) per 64 rows instead of per row. The number of bound variables per statement is fixed and
/// small (64 × columns), so any number of rows can be written. `bind` binds one row's values
/// starting at parameter index `at`.
fn insert_rows<T>(
    tx: &rusqlite::Transaction<'_>,
    head: &str,
    columns: usize,
    rows: impl IntoIterator<Item = T>,
    bind: impl Fn(&mut rusqlite::Statement<'_>, usize, T) -> rusqlite::Result<()>,
) -> Result<(), StorageError> {
    let sql = |n: usize| {
        let tuple = |r: usize| {
            let cells: Vec<String> = (1..=columns).map(|c| format!("?{}", r * columns + c)).collect();
            format!("({})", cells.join(", "))
        };
        let values: Vec<String> = (0..n).map(tuple).collect();
        format!("{head} VALUES {}", values.join(", "))
    };
    // Every chunk but the last is full: its statement text is built once.
    let mut full: Option<String> = None;
    let mut rows = rows.into_iter().peekable();
    let mut chunk = Vec::with_capacity(ROWS_PER_INSERT);
    while rows.peek().is_some() {
        chunk.clear();
        chunk.extend(rows.by_ref().take(ROWS_PER_INSERT));
        let last;
        let text = if chunk.len() == ROWS_PER_INSERT {
            full.get_or_insert_with(|| sql(ROWS_PER_INSERT)).as_str()
        } else {
            last = sql(chunk.len());
            last.as_str()
        };
        let mut stmt = tx.prepare_cached(text).map_err(db_err)?;
        for (r, row) in chunk.drain(..).enumerate() {
            bind(&mut stmt, r * columns + 1, row).map_err(db_err)?;
        }
        stmt.raw_execute().map_err(db_err)?;
    }
    Ok(())
}

fn write_issues(tx: &rusqlite::Transaction<'_>, issues: &[Issue]) -> Result<(), StorageError> {
    without_indexes(tx, "scan_issues", || insert_issues(tx, issues))
}

fn insert_issues(tx: &rusqlite::Transaction<'_>, issues: &[Issue]) -> Result<(), StorageError> {
    let head =
        "INSERT INTO scan_issues (rule_id, severity, node_ids_json, link_indices_json, message, detail, fix_json,
        data_json)";
    insert_rows(tx, head, 8, issues, |stmt, at, issue| {
        for (i, value) in issue_columns(issue).into_iter().enumerate() {
            stmt.raw_bind_parameter(at + i, value)?;
        }
        Ok(())
    })
}

/// An issue's columns, in `scan_issues` order after `id`.
fn issue_columns(i: &Issue) -> [rusqlite::types::Value; 8] {
    use rusqlite::types::Value;
    let text = |s: &str| Value::Text(s.to_owned());
    let opt = |s: Option<String>| s.map_or(Value::Null, Value::Text);
    [
        text(&i.rule_id),
        text(i.severity.as_str()),
        Value::Text(to_json(&i.node_ids)),
        opt(i.link_indices.as_ref().map(to_json)),
        text(&i.message),
        opt(i.detail.clone()),
        opt(i.fix.as_ref().map(to_json)),
        opt(i.data.as_ref().map(to_json)),
    ]
}

/// Brings the stored issues from `stored` (the rows as they are, in id order) to `issues`,
/// touching only the rows between the longest common head and tail. Row ids stay in result
/// order, which is the order they are read back in.
fn update_issues(
    tx: &rusqlite::Transaction<'_>,
    stored: &[Issue],
    issues: &[Issue],
    ends: Option<(usize, usize)>,
) -> Result<(), StorageError> {
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare_cached("SELECT id FROM scan_issues ORDER BY id").map_err(db_err)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)?
    };
    if ids.len() != stored.len() {
        // Not the rows the caller knew: rewrite them all.
        tx.execute_batch("DELETE FROM scan_issues;").map_err(db_err)?;
        return write_issues(tx, issues);
    }
    // Ends worked out ahead are trusted while they fit both lists.
    let (head, tail) = ends
        .filter(|(head, tail)| head + tail <= stored.len().min(issues.len()))
        .unwrap_or_else(|| sm_kernel::scan_cache::equal_ends(stored, issues));
    let (old_end, new_end) = (stored.len() - tail, issues.len() - tail);
    if new_end - head > old_end - head && tail > 0 {
        // The extra rows would need ids between two kept ones: rewrite from the first difference.
        tx.execute("DELETE FROM scan_issues WHERE id >= ?1", [ids[head]]).map_err(db_err)?;
        return insert_issues(tx, &issues[head..]);
    }
    let replaced = (old_end - head).min(new_end - head);
    let mut update = tx
        .prepare_cached(
            "UPDATE scan_issues SET rule_id = ?2, severity = ?3, node_ids_json = ?4, link_indices_json = ?5,
                message = ?6, detail = ?7, fix_json = ?8, data_json = ?9
             WHERE id = ?1",
        )
        .map_err(db_err)?;
    for (id, i) in ids[head..head + replaced].iter().zip(&issues[head..head + replaced]) {
        let [c2, c3, c4, c5, c6, c7, c8, c9] = issue_columns(i);
        update.execute(params![id, c2, c3, c4, c5, c6, c7, c8, c9]).map_err(db_err)?;
    }
    let mut delete = tx.prepare_cached("DELETE FROM scan_issues WHERE id = ?1").map_err(db_err)?;
    for id in &ids[head + replaced..old_end] {
        delete.execute([id]).map_err(db_err)?;
    }
    // Only when nothing follows (tail is 0): new rows go last.
    insert_issues(tx, &issues[head + replaced..new_end])
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

fn read_meta(conn: &Connection) -> Result<Option<ScanResult>, StorageError> {
    let row = conn
        .query_row(
            "SELECT scope, roots_json, scanned_at, scanned_by_name, scanned_by_version, scanned_by_spec_version,
                adapters_json, stats_files_walked, stats_files_skipped, stats_duration_ms
             FROM scan_meta WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, i64>(9)?,
                ))
            },
        )
        .optional()
        .map_err(db_err)?;
    let Some((scope, roots, scanned_at, by_name, by_version, by_spec, adapters, walked, skipped, duration)) = row
    else {
        return Ok(None);
    };
    let scanned_by = match (by_name, by_version, by_spec) {
        (Some(name), Some(version), Some(spec_version)) => Some(ScannedBy { name, version, spec_version }),
        _ => None,
    };
    Ok(Some(ScanResult {
        schema_version: sm_kernel::model::SCAN_RESULT_SCHEMA_VERSION,
        scanned_at: scanned_at as u64,
        scope: Scope::parse(&scope).ok_or_else(|| StorageError::Corrupt(format!("scan_meta.scope {scope:?}")))?,
        roots: parse_json(&roots, "scan_meta.roots_json")?,
        adapters: parse_json(&adapters, "scan_meta.adapters_json")?,
        scanned_by,
        nodes: Vec::new(),
        links: Vec::new(),
        issues: Vec::new(),
        stats: ScanStats {
            files_walked: walked as u64,
            files_skipped: skipped as u64,
            duration_ms: duration as u64,
            ..ScanStats::default()
        },
    }))
}

fn read_nodes(conn: &Connection) -> Result<Vec<Node>, StorageError> {
    let mut stmt = conn
        .prepare(
            "SELECT path, kind, adapter, title, description, stability, version, author, frontmatter_json,
                body_hash, frontmatter_hash, bytes_frontmatter, bytes_body, tokens_frontmatter, tokens_body,
                links_out_count, links_in_count, external_refs_count
             FROM scan_nodes ORDER BY path",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                (r.get::<_, Option<String>>(3)?, r.get::<_, Option<String>>(4)?, r.get::<_, Option<String>>(5)?),
                (r.get::<_, Option<String>>(6)?, r.get::<_, Option<String>>(7)?, r.get::<_, String>(8)?),
                (r.get::<_, String>(9)?, r.get::<_, String>(10)?),
                (
                    r.get::<_, i64>(11)?,
                    r.get::<_, i64>(12)?,
                    r.get::<_, Option<i64>>(13)?,
                    r.get::<_, Option<i64>>(14)?,
                ),
                (r.get::<_, i64>(15)?, r.get::<_, i64>(16)?, r.get::<_, i64>(17)?),
            ))
        })
        .map_err(db_err)?;
    let mut nodes = Vec::new();
    for row in rows {
        let ((path, kind, adapter), (title, description, stability), (version, author, fm), (bh, fh), bytes, counts) =
            row.map_err(db_err)?;
        let frontmatter: Map<String, Value> = parse_json(&fm, "scan_nodes.frontmatter_json")?;
        let tokens = match (bytes.2, bytes.3) {
            (Some(f), Some(b)) => Some(TripleSplit::new(f as u64, b as u64)),
            _ => None,
        };
        nodes.push(Node {
            path,
            kind,
            adapter,
            title,
            description,
            stability: stability.as_deref().and_then(Stability::parse),
            version,
            author,
            frontmatter,
            body_hash: bh,
            frontmatter_hash: fh,
            bytes: TripleSplit::new(bytes.0 as u64, bytes.1 as u64),
            tokens,
            links_out_count: counts.0 as u64,
            links_in_count: counts.1 as u64,
            external_refs_count: counts.2 as u64,
        });
    }
    Ok(nodes)
}

fn read_links(conn: &Connection) -> Result<Vec<Link>, StorageError> {
    let mut stmt = conn
        .prepare(
            "SELECT source_path, target_path, kind, confidence, sources_json, original_trigger, normalized_trigger,
                location_line, location_column, location_offset, raw
             FROM scan_links ORDER BY source_path, id",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                (r.get::<_, String>(4)?, r.get::<_, Option<String>>(5)?, r.get::<_, Option<String>>(6)?),
                (r.get::<_, Option<i64>>(7)?, r.get::<_, Option<i64>>(8)?, r.get::<_, Option<i64>>(9)?),
                r.get::<_, Option<String>>(10)?,
            ))
        })
        .map_err(db_err)?;
    let mut links = Vec::new();
    for row in rows {
        let ((source, target, kind, confidence), (sources, original, normalized), (line, column, offset), raw) =
            row.map_err(db_err)?;
        links.push(Link {
            kind: LinkKind::parse(&kind).ok_or_else(|| StorageError::Corrupt(format!("scan_links.kind {kind:?}")))?,
            confidence: Confidence::parse(&confidence)
                .ok_or_else(|| StorageError::Corrupt(format!("scan_links.confidence {confidence:?}")))?,
            sources: parse_json(&sources, "scan_links.sources_json")?,
            trigger: match (original, normalized) {
                (Some(original_trigger), Some(normalized_trigger)) => {
                    Some(Trigger { original_trigger, normalized_trigger })
                }
                _ => None,
            },
            location: line.map(|l| Location {
                line: l as u64,
                column: column.map(|c| c as u64),
                offset: offset.map(|o| o as u64),
            }),
            raw,
            source,
            target,
        });
    }
    Ok(links)
}

fn read_issues(conn: &Connection) -> Result<Vec<Issue>, StorageError> {
    let mut stmt = conn
        .prepare(
            "SELECT rule_id, severity, node_ids_json, link_indices_json, message, detail, fix_json, data_json
             FROM scan_issues ORDER BY id",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .map_err(db_err)?;
    let mut issues = Vec::new();
    for row in rows {
        let (rule_id, severity, node_ids, link_indices, message, detail, fix, data) = row.map_err(db_err)?;
        issues.push(Issue {
            severity: Severity::parse(&severity)
                .ok_or_else(|| StorageError::Corrupt(format!("scan_issues.severity {severity:?}")))?,
            node_ids: parse_json(&node_ids, "scan_issues.node_ids_json")?,
            link_indices: link_indices.map(|t| parse_json(&t, "scan_issues.link_indices_json")).transpose()?,
            fix: fix.map(|t| parse_json::<Fix>(&t, "scan_issues.fix_json")).transpose()?,
            data: data.map(|t| parse_json(&t, "scan_issues.data_json")).transpose()?,
            rule_id,
            message,
            detail,
        });
    }
    Ok(issues)
}

// ---------------------------------------------------------------------------------------------
// Administration
// ---------------------------------------------------------------------------------------------

use sm_kernel::ports::{MigrationState, ResetScope, StorageAdminPort, TableCount};

impl SqliteStorage {
    fn table_names(&self) -> Result<Vec<String>, StorageError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .map_err(db_err)?;
        let names = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
        names.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    fn count(&self, table: &str) -> Result<u64, StorageError> {
        let n: i64 = self
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM \"{}\"", table.replace('"', "\"\"")), [], |r| r.get(0))
            .map_err(db_err)?;
        Ok(n as u64)
    }
}

impl StorageAdminPort for SqliteStorage {
    fn table_counts(&self) -> Result<Vec<TableCount>, StorageError> {
        self.table_names()?.into_iter().map(|t| Ok(TableCount { rows: self.count(&t)?, table: t })).collect()
    }

    fn reset(&mut self, scope: ResetScope, dry_run: bool) -> Result<Vec<TableCount>, StorageError> {
        let wanted = |t: &str| t.starts_with("scan_") || (scope == ResetScope::ScanAndState && t.starts_with("state_"));
        let counts: Vec<TableCount> = self.table_counts()?.into_iter().filter(|c| wanted(&c.table)).collect();
        if dry_run {
            return Ok(counts);
        }
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        for c in &counts {
            tx.execute(&format!("DELETE FROM \"{}\"", c.table), []).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(counts)
    }

    fn backup_to(&self, dest: &str) -> Result<(), StorageError> {
        if Path::new(dest).exists() {
            return Err(StorageError::Database(format!("{dest} already exists; not overwriting it")));
        }
        if let Some(parent) = Path::new(dest).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StorageError::Database(format!("cannot create {}: {e}", parent.display())))?;
        }
        // VACUUM INTO reads inside one transaction: a consistent snapshot even while others write.
        self.conn.execute("VACUUM INTO ?1", params![dest]).map_err(db_err)?;
        Ok(())
    }

    fn dump(&self, tables: &[String]) -> Result<String, StorageError> {
        let all = self.table_names()?;
        for t in tables {
            if !all.contains(t) {
                return Err(StorageError::Database(format!("no table {t:?} (tables: {})", all.join(", "))));
            }
        }
        let selected: Vec<&String> = all.iter().filter(|t| tables.is_empty() || tables.contains(t)).collect();
        let mut out = String::from("-- sm database dump\nBEGIN TRANSACTION;\n");
        for table in selected {
            let sql: String = self
                .conn
                .query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1", params![table], |r| {
                    r.get(0)
                })
                .map_err(db_err)?;
            out.push_str(&sql);
            out.push_str(";\n");
            let mut stmt = self.conn.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid")).map_err(db_err)?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).map_err(db_err)?;
            while let Some(row) = rows.next().map_err(db_err)? {
                let mut values = Vec::with_capacity(columns);
                for i in 0..columns {
                    values.push(sql_literal(row.get_ref(i).map_err(db_err)?));
                }
                out.push_str(&format!("INSERT INTO \"{table}\" VALUES({});\n", values.join(",")));
            }
            let mut idx = self
                .conn
                .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY name")
                .map_err(db_err)?;
            let indexes = idx.query_map(params![table], |r| r.get::<_, String>(0)).map_err(db_err)?;
            for sql in indexes {
                out.push_str(&sql.map_err(db_err)?);
                out.push_str(";\n");
            }
        }
        out.push_str("COMMIT;\n");
        Ok(out)
    }

    fn reconcile_node(
        &mut self,
        from: &str,
        to: &str,
        drop_issues: &[(String, String)],
        add_issue: Option<&Issue>,
        dry_run: bool,
    ) -> Result<Vec<TableCount>, StorageError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        let moved = rekey_node(&tx, from, to)?;
        for (rule, node) in drop_issues {
            tx.execute(
                "DELETE FROM scan_issues WHERE rule_id = ?1 AND EXISTS (SELECT 1 FROM json_each(scan_issues.node_ids_json) WHERE value = ?2)",
                params![rule, node],
            )
            .map_err(db_err)?;
        }
        if let Some(issue) = add_issue {
            insert_issues(&tx, std::slice::from_ref(issue))?;
        }
        if dry_run {
            tx.rollback().map_err(db_err)?;
        } else {
            tx.commit().map_err(db_err)?;
        }
        Ok(moved)
    }

    fn plugin_toggles(&self) -> Result<std::collections::BTreeMap<String, bool>, StorageError> {
        if self.schema_version()? == 0 {
            return Ok(Default::default());
        }
        let mut stmt =
            self.conn.prepare("SELECT plugin_id, enabled FROM config_plugins ORDER BY plugin_id").map_err(db_err)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? != 0))).map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    fn set_plugin_enabled(&mut self, plugin_id: &str, enabled: bool, now_ms: u64) -> Result<(), StorageError> {
        self.conn
            .execute(
                "INSERT INTO config_plugins (plugin_id, enabled, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(plugin_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                params![plugin_id, i64::from(enabled), now_ms as i64],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn migration_status(&self) -> Result<Vec<MigrationState>, StorageError> {
        let applied = self.schema_version()?;
        let mut runner = embedded::migrations::runner();
        runner.set_migration_table_name(MIGRATION_TABLE);
        let mut states: Vec<MigrationState> = runner
            .get_migrations()
            .iter()
            .map(|m| MigrationState {
                version: m.version() as u32,
                name: m.name().to_owned(),
                applied: m.version() as u32 <= applied,
            })
            .collect();
        states.sort_by_key(|s| s.version);
        Ok(states)
    }
}

fn sql_literal(v: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t).replace('\'', "''")),
        ValueRef::Blob(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
            format!("X'{hex}'")
        }
    }
}

/// Checks that `src` is an sm database, then replaces `dest` with it (atomically, via a temporary
/// file and a rename) and removes `dest`'s WAL and SHM sidecars.
pub fn restore_database(src: &Path, dest: &Path) -> Result<u32, StorageError> {
    let version = {
        let conn = open_connection(src, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let has_ledger: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'config_schema_versions')",
                [],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if !has_ledger {
            return Err(StorageError::Corrupt(format!("{} is not an sm database", src.display())));
        }
        let v: i64 = conn
            .query_row("SELECT COALESCE(MAX(version), 0) FROM config_schema_versions WHERE scope = 'kernel'", [], |r| {
                r.get(0)
            })
            .map_err(db_err)?;
        v as u32
    };
    if version > latest_schema_version() {
        return Err(StorageError::Migration(format!(
            "{} has schema {version}, newer than this sm ({}); upgrade sm first",
            src.display(),
            latest_schema_version()
        )));
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StorageError::Database(e.to_string()))?;
    }
    let tmp = dest.with_extension("restore-tmp");
    std::fs::copy(src, &tmp).map_err(|e| StorageError::Database(format!("{}: {e}", src.display())))?;
    std::fs::rename(&tmp, dest).map_err(|e| StorageError::Database(format!("{}: {e}", dest.display())))?;
    for suffix in ["-wal", "-shm"] {
        let sidecar = PathBuf::from(format!("{}{suffix}", dest.display()));
        let _ = std::fs::remove_file(sidecar);
    }
    Ok(version)
}

/// Deletes a database file and its sidecars; returns the files removed.
pub fn delete_database(path: &Path) -> Result<Vec<PathBuf>, StorageError> {
    let mut removed = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| StorageError::Database(format!("{}: {e}", p.display())))?;
            removed.push(p);
        }
    }
    Ok(removed)
}
