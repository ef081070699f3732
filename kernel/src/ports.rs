//! The five ports through which the kernel reaches the world, plus a clock.
//!
//! Adapters implement these; the CLI's composition root wires them in. All are synchronous
//! except [`RunnerPort`], which spawns external processes and is async (`async-trait`; no runtime
//! is named here — tokio lives in the CLI and the runner adapter only).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::Event;
use crate::model::ScanResult;

// ---------------------------------------------------------------------------------------------
// FilesystemPort
// ---------------------------------------------------------------------------------------------

/// What exists at a scan root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootStatus {
    Directory,
    NotADirectory,
    Missing,
}

/// How the walk filters files.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Extra gitignore-style patterns (bundled defaults + config `ignore`), relative to the root.
    pub ignore_patterns: Vec<String>,
    /// Per-directory ignore file honoured in addition to `.gitignore` (`.skillmapignore`).
    pub ignore_file_name: String,
    /// Follow symbolic links (off by default).
    pub follow_symlinks: bool,
}

/// One regular file found by a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkedFile {
    /// Root-relative POSIX path.
    pub path: String,
    pub size: u64,
    pub mtime_ms: i64,
}

/// Errors of the filesystem adapter, already phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("invalid ignore pattern {pattern:?}: {message}")]
    BadPattern { pattern: String, message: String },
}

/// What a watch stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A debounced batch of changed paths (as the OS reports them, possibly absolute).
    Changed(Vec<String>),
    /// The changes so far have been quiet for a short while, not yet for the debounce: a caller
    /// may start on them ahead. Every event after it is followed by another `Settled` (with all
    /// the paths pending) before the `Changed` batch, so work started on the last `Settled`
    /// before a `Changed` saw every change of that batch.
    Settled(Vec<String>),
    /// The watcher reported a problem; watching goes on.
    Error(String),
    /// Nothing happened before the timeout.
    Idle,
}

/// A stream of debounced filesystem changes.
pub trait WatchStream: Send {
    /// The next batch, or `Idle` after `timeout_ms`.
    fn next(&mut self, timeout_ms: u64) -> WatchEvent;
}

/// Reads the user's files. Only this port sees OS paths; everything it returns is root-relative
/// POSIX.
pub trait FilesystemPort: Send + Sync {
    /// Watches `roots` recursively, batching changes that arrive within `debounce_ms`.
    fn watch(&self, _roots: &[String], _debounce_ms: u64) -> Result<Box<dyn WatchStream>, FsError> {
        Err(FsError::Io { path: String::new(), message: "watching is not supported by this filesystem".into() })
    }
    /// Whether `root` (as the user typed it) exists and is a directory.
    fn root_status(&self, root: &str) -> RootStatus;
    /// All regular files under `root` that survive ignore rules, sorted by path.
    fn walk(&self, root: &str, options: &WalkOptions) -> Result<Vec<WalkedFile>, FsError>;
    /// The bytes of one walked file.
    fn read(&self, root: &str, path: &str) -> Result<Vec<u8>, FsError>;
    /// The root-relative POSIX path of a path a watch reported, when it lies under `root`.
    fn relative_path(&self, _root: &str, _reported: &str) -> Option<String> {
        None
    }
    /// One file's walk entry, without walking: `Ok(None)` when nothing is at `path`; an error when
    /// something other than a regular file is (or this filesystem cannot tell).
    fn stat(&self, _root: &str, path: &str) -> Result<Option<WalkedFile>, FsError> {
        Err(FsError::Io { path: path.to_owned(), message: "stat is not supported by this filesystem".into() })
    }
    /// Like [`read`](Self::read), into `buf` (cleared first), so a caller reading many files can
    /// reuse one buffer.
    fn read_into(&self, root: &str, path: &str, buf: &mut Vec<u8>) -> Result<(), FsError> {
        *buf = self.read(root, path)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// StoragePort
// ---------------------------------------------------------------------------------------------

/// Errors of the storage adapter.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database is corrupt or not an sm database: {0}")]
    Corrupt(String),
}

/// One applied or pending schema migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationInfo {
    pub version: u32,
    pub name: String,
}

/// Persists scans, job state and configuration (the `scan_*`, `state_*`, `config_*` zones).
pub trait StoragePort: Send {
    /// Applies pending kernel migrations; returns the ones applied now.
    fn migrate(&mut self) -> Result<Vec<MigrationInfo>, StorageError>;
    /// The highest applied kernel schema version (0 for a fresh database).
    fn schema_version(&self) -> Result<u32, StorageError>;
    /// How many nodes the persisted scan holds.
    fn count_nodes(&self) -> Result<u64, StorageError>;
    /// Replaces the scan zone with `result` in one transaction.
    fn persist_scan(&mut self, result: &ScanResult) -> Result<(), StorageError> {
        self.persist_scan_with_renames(result, &[], None)
    }
    /// Like [`persist_scan`](Self::persist_scan), first moving `state_*` references along `renames`,
    /// and storing the incremental-scan `cache` when given — all in one transaction.
    fn persist_scan_with_renames(
        &mut self,
        result: &ScanResult,
        renames: &[crate::rename_tracking::RenameOp],
        cache: Option<&crate::scan_cache::ScanCache>,
    ) -> Result<(), StorageError>;
    /// Rewrites only the scan metadata, the issues and the cache's fingerprints, for a scan whose
    /// nodes and links are known to equal the stored ones.
    fn persist_issues_only(
        &mut self,
        result: &ScanResult,
        cache: &crate::scan_cache::ScanCache,
    ) -> Result<(), StorageError>;
    /// `scanned_at` of the stored scan (what a long-running caller checks before trusting a cache
    /// it kept in memory); `None` when no scan was stored.
    fn stored_scan_time(&self) -> Result<Option<u64>, StorageError>;
    /// When the stored scan was computed from `input_fingerprint`: its metadata and issues, with
    /// node and link counts in `stats` but no nodes or links. `None` when no scan is stored or it
    /// was computed from other inputs (checked before anything else is read).
    fn load_scan_summary(&self, input_fingerprint: &str) -> Result<Option<ScanResult>, StorageError>;
    /// Records a scan that found nothing changed (equal input fingerprint): the metadata of
    /// `result`, and its issues when `rewrite_issues` (orphans of `state_*` rows can change without
    /// any file changing). Nodes, links and the cache stay as they are.
    fn persist_unchanged_scan(&mut self, result: &ScanResult, rewrite_issues: bool) -> Result<(), StorageError>;
    /// What `sm scan --changed` reuses: the stored nodes with their cache rows; `None` when no
    /// scan (or no cache) was stored.
    fn load_cache(&self) -> Result<Option<crate::scan_cache::ScanCache>, StorageError>;
    /// The token counts of the stored scan's nodes, by text (see
    /// [`KnownTokens`](crate::tokens::KnownTokens)), when that scan was written by version
    /// `scanned_by_version` of sm with tokens on; empty otherwise (and by default).
    fn known_tokens(&self, scanned_by_version: &str) -> Result<crate::tokens::KnownTokens, StorageError> {
        let _ = scanned_by_version;
        Ok(crate::tokens::KnownTokens::default())
    }
    /// Path and hashes of every persisted node (cheap: no frontmatter, links or issues).
    fn node_fingerprints(&self) -> Result<Vec<crate::rename_tracking::Fingerprint>, StorageError>;
    /// Whether a persisted node's path is not among `current`'s: only then can rename tracking
    /// find anything. Cheaper than [`node_fingerprints`](Self::node_fingerprints) where paths can
    /// be read without the rows.
    fn any_node_vanished(&self, current: &[crate::model::Node]) -> Result<bool, StorageError> {
        let paths: std::collections::HashSet<&str> = current.iter().map(|n| n.path.as_str()).collect();
        Ok(self.node_fingerprints()?.iter().any(|f| !paths.contains(f.path.as_str())))
    }
    /// Every node path referenced by a `state_*` row.
    fn state_node_refs(&self) -> Result<std::collections::BTreeSet<String>, StorageError>;
    /// The persisted scan, if any scan was ever persisted.
    fn load_scan(&self) -> Result<Option<ScanResult>, StorageError>;
}

// ---------------------------------------------------------------------------------------------
// PluginLoaderPort
// ---------------------------------------------------------------------------------------------

/// Load status of a discovered plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginStatus {
    Enabled,
    Disabled,
    IncompatibleSpec,
    InvalidManifest,
    LoadError,
    IdCollision,
}

impl PluginStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::IncompatibleSpec => "incompatible-spec",
            Self::InvalidManifest => "invalid-manifest",
            Self::LoadError => "load-error",
            Self::IdCollision => "id-collision",
        }
    }
}

/// A plugin directory found on disk, with its manifest and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredPlugin {
    pub id: String,
    /// Where the plugin directory is, as the loader reports it.
    pub path: String,
    pub manifest: Option<Value>,
    pub status: PluginStatus,
    pub status_reason: Option<String>,
}

/// What to load and how to decide whether each plugin is enabled.
#[derive(Debug, Clone, Default)]
pub struct PluginLoadRequest {
    /// Directories whose child directories are plugins, in priority order.
    pub search_dirs: Vec<String>,
    /// The spec version plugins' `specCompat` ranges are checked against.
    pub spec_version: String,
    /// Explicit toggles (database, then settings); absent means enabled.
    pub enabled: std::collections::BTreeMap<String, bool>,
    /// Storage offered to plugins that declare a mode; `None` refuses every storage call.
    pub storage: Option<std::sync::Arc<dyn PluginStoragePort>>,
}

impl std::fmt::Debug for dyn PluginStoragePort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginStoragePort")
    }
}

/// Extensions a plugin loader produced, ready for the registry.
#[derive(Default, Clone)]
pub struct PluginExtensions {
    /// `(plugin id, extension)` pairs, so a registry conflict can be pinned on its plugin.
    pub adapters: Vec<(String, std::sync::Arc<dyn crate::extensions::Adapter>)>,
    pub detectors: Vec<(String, std::sync::Arc<dyn crate::extensions::Detector>)>,
    pub rules: Vec<(String, std::sync::Arc<dyn crate::extensions::Rule>)>,
    pub actions: Vec<(String, std::sync::Arc<dyn crate::extensions::Action>)>,
    pub audits: Vec<(String, std::sync::Arc<dyn crate::extensions::Audit>)>,
    pub renderers: Vec<(String, std::sync::Arc<dyn crate::extensions::Renderer>)>,
}

/// The result of a load pass: every discovered plugin with its status, and the extensions of the
/// enabled ones.
#[derive(Default, Clone)]
pub struct PluginLoadOutcome {
    pub plugins: Vec<DiscoveredPlugin>,
    pub extensions: PluginExtensions,
}

/// A plugin's declared storage mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginStorageMode {
    Kv,
    Dedicated,
}

/// An error a storage call returns to a plugin: `code` is one of `key_invalid`,
/// `value_not_serializable`, `value_too_large`, `operation_failed`, `sql_forbidden`,
/// `outside_prefix`, `read_only`, `wrong_mode`, `unknown_method`, `bad_input`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StorageCallError {
    pub code: String,
    pub message: String,
}

/// Storage for plugins, scoped by plugin id and mode. Methods: `kv.get {key, node?}`,
/// `kv.set {key, value, node?}`, `kv.delete {key, node?}`, `kv.list {prefix?, node?}` (mode kv);
/// `sql.query {sql, args?}`, `sql.execute {sql, args?}` (mode dedicated).
pub trait PluginStoragePort: Send + Sync {
    /// Readies a plugin's storage before its first call: for `dedicated`, validates and applies
    /// its pending migrations `(version, name, sql)`.
    fn prepare(
        &self,
        plugin_id: &str,
        mode: PluginStorageMode,
        migrations: &[(u32, String, String)],
    ) -> Result<(), StorageCallError>;

    fn call(
        &self,
        plugin_id: &str,
        mode: PluginStorageMode,
        method: &str,
        input: &Value,
    ) -> Result<Value, StorageCallError>;
}

/// Finds, checks and loads third-party plugins. A bad plugin gets a status, never an `Err`.
pub trait PluginLoaderPort: Send + Sync {
    /// Every plugin directory under `search_dirs`, in a deterministic order, with statuses from the
    /// manifest checks alone (nothing is loaded).
    fn discover(&self, search_dirs: &[String]) -> Vec<DiscoveredPlugin>;
    /// Discovers, checks and loads the enabled plugins.
    fn load(&self, request: &PluginLoadRequest) -> PluginLoadOutcome;
}

// ---------------------------------------------------------------------------------------------
// RunnerPort
// ---------------------------------------------------------------------------------------------

/// A request to run an external agent process (e.g. `claude -p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub program: String,
    pub args: Vec<String>,
    /// Written to the child's stdin, then stdin is closed.
    pub stdin: String,
    pub timeout_ms: u64,
}

/// What a finished run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
}

/// Errors of a runner.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("could not start {program}: {message}")]
    Spawn { program: String, message: String },
    #[error("{program} timed out after {timeout_ms} ms")]
    Timeout { program: String, timeout_ms: u64 },
    #[error("runner i/o: {0}")]
    Io(String),
}

/// Runs external processes for actions. The only async port.
#[async_trait::async_trait]
pub trait RunnerPort: Send + Sync {
    async fn run(&self, request: RunRequest) -> Result<RunOutcome, RunnerError>;
}

// ---------------------------------------------------------------------------------------------
// ProgressEmitterPort
// ---------------------------------------------------------------------------------------------

/// Receives lifecycle events (`scan.started`, `scan.progress`, `scan.completed`, …).
/// Called from worker threads; implementations throttle as they see fit.
pub trait ProgressEmitterPort: Send + Sync {
    fn emit(&self, event: &Event);
    /// Whether events of `event_type` go anywhere; a `false` lets the kernel skip building the
    /// per-file ones. Defaults to `true`.
    fn wants(&self, event_type: &str) -> bool {
        let _ = event_type;
        true
    }
}

/// A progress emitter that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct SilentProgress;

impl ProgressEmitterPort for SilentProgress {
    fn emit(&self, _event: &Event) {}
    fn wants(&self, _event_type: &str) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Clock (a small extra port: the kernel never reads the time itself)
// ---------------------------------------------------------------------------------------------

/// Wall-clock milliseconds and run ids.
pub trait Clock: Send + Sync {
    /// Unix time in milliseconds.
    fn now_ms(&self) -> u64;
    /// A fresh id for a run (scan, job batch).
    fn new_run_id(&self) -> String;
}

// ---------------------------------------------------------------------------------------------
// Storage administration (part of the storage port family, used by `sm db`)
// ---------------------------------------------------------------------------------------------

/// Which zones `reset` empties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetScope {
    /// The `scan_*` tables.
    Scan,
    /// The `scan_*` and `state_*` tables.
    ScanAndState,
}

/// Rows in one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    pub table: String,
    pub rows: u64,
}

/// A kernel migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationState {
    pub version: u32,
    pub name: String,
    pub applied: bool,
}

/// Maintenance operations on the store.
pub trait StorageAdminPort: StoragePort {
    /// Row counts of every table, sorted by name.
    fn table_counts(&self) -> Result<Vec<TableCount>, StorageError>;
    /// Deletes the rows of the zones in `scope` (in one transaction); returns what was (or, with
    /// `dry_run`, would be) deleted.
    fn reset(&mut self, scope: ResetScope, dry_run: bool) -> Result<Vec<TableCount>, StorageError>;
    /// Writes a consistent snapshot to `dest` (which must not exist), safe while others read.
    fn backup_to(&self, dest: &str) -> Result<(), StorageError>;
    /// The schema and rows as SQL text; all tables when `tables` is empty.
    fn dump(&self, tables: &[String]) -> Result<String, StorageError>;
    /// Every kernel migration this build knows, applied or pending.
    fn migration_status(&self) -> Result<Vec<MigrationState>, StorageError>;
    /// In one transaction: moves `state_*` references from `from` to `to` (rows that would collide
    /// keep the destination's), deletes the persisted issues `drop_issues` (rule id, node id) and
    /// inserts `add_issue`. With `dry_run` everything is rolled back. Returns rows moved per table.
    fn reconcile_node(
        &mut self,
        from: &str,
        to: &str,
        drop_issues: &[(String, String)],
        add_issue: Option<&crate::model::Issue>,
        dry_run: bool,
    ) -> Result<Vec<TableCount>, StorageError>;
    /// Plugin toggles stored by `sm plugins enable/disable` (`config_plugins`).
    fn plugin_toggles(&self) -> Result<std::collections::BTreeMap<String, bool>, StorageError>;
    /// Stores a plugin toggle; `now_ms` stamps it.
    fn set_plugin_enabled(&mut self, plugin_id: &str, enabled: bool, now_ms: u64) -> Result<(), StorageError>;
}
