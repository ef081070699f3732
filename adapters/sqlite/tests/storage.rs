//! The SQLite StoragePort against real database files.

use serde_json::{Map, json};
use sm_adapter_sqlite::SqliteStorage;
use sm_kernel::model::*;
use sm_kernel::ports::{StorageError, StoragePort};

fn node(i: usize) -> Node {
    let mut fm = Map::new();
    fm.insert("name".into(), json!(format!("n{i}")));
    Node {
        path: format!(".claude/skills/s{i:05}/SKILL.md"),
        kind: "skill".into(),
        adapter: "claude".into(),
        title: Some(format!("n{i}")),
        description: i.is_multiple_of(2).then(|| "d".to_owned()),
        stability: i.is_multiple_of(3).then_some(Stability::Stable),
        version: None,
        author: None,
        frontmatter: fm,
        body_hash: format!("{:064x}", i),
        frontmatter_hash: format!("{:064x}", i + 1),
        bytes: TripleSplit::new(10, 20),
        tokens: (!i.is_multiple_of(2)).then(|| TripleSplit::new(3, 4)),
        links_out_count: 1,
        links_in_count: 0,
        external_refs_count: 0,
    }
}

fn scan(n: usize) -> ScanResult {
    let nodes: Vec<Node> = (0..n).map(node).collect();
    let links: Vec<Link> = (0..n)
        .map(|i| Link {
            source: nodes[i].path.clone(),
            target: nodes[(i + 1) % n].path.clone(),
            kind: LinkKind::References,
            confidence: Confidence::High,
            sources: vec!["frontmatter-refs".into()],
            trigger: i
                .is_multiple_of(2)
                .then(|| Trigger { original_trigger: "/x".into(), normalized_trigger: "/x".into() }),
            location: i.is_multiple_of(2).then_some(Location { line: 3, column: None, offset: None }),
            raw: None,
        })
        .collect();
    let issues: Vec<Issue> = (0..n / 10)
        .map(|i| Issue::new("broken-ref", Severity::Warn, &nodes[i].path, format!("m{i}")).with_data(json!({"i": i})))
        .collect();
    ScanResult {
        schema_version: 1,
        scanned_at: 1_700_000_000_000,
        scope: Scope::Project,
        roots: vec![".".into()],
        adapters: vec!["claude".into()],
        scanned_by: Some(ScannedBy { name: "skill-map".into(), version: "0.1.0".into(), spec_version: "0.1.0".into() }),
        stats: ScanStats {
            files_walked: n as u64,
            files_skipped: 0,
            nodes_count: n as u64,
            links_count: links.len() as u64,
            issues_count: issues.len() as u64,
            duration_ms: 5,
        },
        nodes,
        links,
        issues,
    }
}

#[test]
fn twenty_thousand_nodes_persist_and_load_back_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(".skill-map/skill-map.db");
    let mut storage = SqliteStorage::open(&path).expect("open");
    let applied = storage.migrate().expect("migrate");
    assert_eq!(applied.len() as u32, sm_adapter_sqlite::latest_schema_version());
    let result = scan(20_000);
    storage.persist_scan(&result).expect("persist 20k nodes");
    assert_eq!(storage.count_nodes().expect("count"), 20_000);
    drop(storage);
    let reopened = SqliteStorage::open(&path).expect("reopen");
    let loaded = reopened.load_scan().expect("load").expect("a scan was persisted");
    assert_eq!(loaded, result);
}

#[test]
fn persisting_replaces_the_previous_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut storage = SqliteStorage::open(&dir.path().join("x.db")).expect("open");
    storage.migrate().expect("migrate");
    storage.persist_scan(&scan(50)).expect("persist");
    storage.persist_scan(&scan(7)).expect("persist");
    let loaded = storage.load_scan().expect("load").expect("scan");
    assert_eq!(loaded.nodes.len(), 7);
    assert_eq!(loaded.links.len(), 7);
}

#[test]
fn a_stored_node_has_vanished_only_when_its_path_is_not_among_the_current_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut storage = SqliteStorage::open(&dir.path().join("x.db")).expect("open");
    storage.migrate().expect("migrate");
    assert!(!storage.any_node_vanished(&[node(1)]).expect("nothing stored"));
    storage.persist_scan(&scan(5)).expect("persist");
    let with_path = |path: &str| Node { path: path.to_owned(), ..node(0) };
    // In any order (a scan of several roots lists its nodes root by root).
    let current = |keep: &[usize], extra: &[&str]| {
        let mut list: Vec<Node> = extra.iter().map(|p| with_path(p)).collect();
        list.extend(keep.iter().rev().map(|&i| node(i)));
        list
    };
    let vanished = |list: Vec<Node>| storage.any_node_vanished(&list).expect("read");
    assert!(!vanished(current(&[0, 1, 2, 3, 4], &[])));
    assert!(!vanished(current(&[0, 1, 2, 3, 4], &["zz.md", ".claude/skills/s00002x/SKILL.md", "a.md"])));
    for gone in 0..5 {
        let keep: Vec<usize> = (0..5).filter(|&i| i != gone).collect();
        assert!(vanished(current(&keep, &["zz.md", "a.md"])), "node {gone} gone");
    }
    assert!(vanished(current(&[], &["a.md"])));
}

#[test]
fn links_must_come_grouped_by_source_and_a_refused_scan_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut storage = SqliteStorage::open(&dir.path().join("x.db")).expect("open");
    storage.migrate().expect("migrate");
    let first = scan(20);
    storage.persist_scan(&first).expect("persist");
    let mut shuffled = scan(30);
    shuffled.links.reverse();
    let err = storage.persist_scan(&shuffled).expect_err("links out of source order are refused");
    assert!(err.to_string().contains("ordered by source path"), "{err}");
    assert_eq!(storage.load_scan().expect("load").expect("scan"), first, "the stored scan is untouched");
}

#[test]
fn the_scan_tables_keep_their_indexes_and_queries_use_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut storage = SqliteStorage::open(&dir.path().join("x.db")).expect("open");
    storage.migrate().expect("migrate");
    let indexes = |s: &SqliteStorage| -> Vec<(String, String)> {
        let mut stmt = s
            .connection()
            .prepare(
                "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name LIKE 'scan_%' ORDER BY name",
            )
            .expect("prepare");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default())))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let migrated = indexes(&storage);
    assert!(migrated.iter().any(|(n, _)| n == "ix_scan_links_target_path"), "{migrated:?}");
    storage.persist_scan(&scan(300)).expect("persist");
    storage.persist_scan(&scan(40)).expect("persist again");
    assert_eq!(indexes(&storage), migrated, "persisting rebuilds the indexes it drops, unchanged");
    let plan: String = storage
        .connection()
        .query_row("EXPLAIN QUERY PLAN SELECT id FROM scan_links WHERE target_path = 'x'", [], |r| r.get(3))
        .expect("plan");
    assert!(plan.contains("ix_scan_links_target_path"), "{plan}");
    let hits: i64 = storage
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM scan_links INDEXED BY ix_scan_links_source_path WHERE source_path = ?1",
            [".claude/skills/s00007/SKILL.md"],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(hits, 1, "the rebuilt index holds the new rows");
}

#[test]
fn migrations_are_idempotent_and_create_the_three_zones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.db");
    let mut storage = SqliteStorage::open(&path).expect("open");
    assert_eq!(storage.schema_version().expect("v"), 0);
    assert_eq!(storage.load_scan().expect("load"), None);
    storage.migrate().expect("migrate");
    assert!(storage.migrate().expect("again").is_empty());
    let latest = sm_adapter_sqlite::latest_schema_version();
    assert!(latest >= 2);
    assert_eq!(storage.schema_version().expect("v"), latest);
    let conn = storage.connection();
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    tables.sort();
    assert_eq!(
        tables,
        vec![
            "config_migration_history",
            "config_plugins",
            "config_preferences",
            "config_schema_versions",
            "scan_issues",
            "scan_links",
            "scan_meta",
            "scan_node_cache",
            "scan_nodes",
            "state_enrichment",
            "state_executions",
            "state_jobs",
            "state_plugin_kv",
            "state_summaries",
        ]
    );
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("pragma");
    assert_eq!(journal, "wal");
    let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("pragma");
    assert_eq!(user_version, i64::from(latest));
    // CHECK constraints guard the enums.
    let bad = conn.execute(
        "INSERT INTO scan_links (source_path, target_path, kind, confidence) VALUES ('a', 'b', 'likes', 'high')",
        [],
    );
    assert!(bad.is_err());
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.db");
    std::fs::write(&path, "this is not sqlite, just text that is long enough to look like a header....")
        .expect("write");
    let outcome = SqliteStorage::open(&path).and_then(|mut s| s.migrate().map(|_| ()));
    match outcome {
        Err(StorageError::Corrupt(_)) | Err(StorageError::Database(_)) | Err(StorageError::Migration(_)) => {}
        Ok(()) => panic!("a text file must not open as a database"),
    }
    assert!(std::fs::read_to_string(&path).expect("read").starts_with("this is not sqlite"), "file left as it was");
}

/// A watch batch hands persistence the issues it stored last; only rows that differ are written,
/// and the stored issues read back equal the new ones, in order, whatever the change's shape.
#[test]
fn issues_are_updated_in_place_from_the_known_stored_ones() {
    use sm_kernel::scan_cache::{PersistDelta, ScanCache};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut storage = SqliteStorage::open(&dir.path().join("x.db")).expect("open");
    storage.migrate().expect("migrate");
    let base = scan(100);
    let issue = |i: usize, text: &str| Issue::new("broken-ref", Severity::Info, &base.nodes[i].path, text.to_owned());
    let old = base.issues.clone();
    let mut shapes: Vec<(&str, Vec<Issue>)> = Vec::new();
    let mut one_changed = old.clone();
    one_changed[4] = issue(4, "changed");
    shapes.push(("one changed in the middle", one_changed));
    let mut inserted = old.clone();
    inserted.insert(3, issue(3, "inserted"));
    shapes.push(("one inserted in the middle", inserted));
    let mut removed = old.clone();
    removed.remove(6);
    shapes.push(("one removed in the middle", removed));
    let mut appended = old.clone();
    appended.extend([issue(1, "a"), issue(2, "b")]);
    shapes.push(("two appended", appended));
    shapes.push(("last removed", old[..old.len() - 1].to_vec()));
    shapes.push(("all gone", Vec::new()));
    shapes.push(("unchanged", old.clone()));
    let mut replaced_tail = old[..5].to_vec();
    replaced_tail.extend((0..9).map(|i| issue(i, "tail")));
    shapes.push(("tail replaced by a longer one", replaced_tail));
    let db = dir.path().join("x.db");
    let first_id = || {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.query_row("SELECT MIN(id) FROM scan_issues", [], |r| r.get::<_, Option<i64>>(0)).expect("query")
    };
    for (shape, issues) in shapes {
        storage.persist_scan(&base).expect("full persist");
        let id_before = first_id();
        let mut next = base.clone();
        next.issues = issues.clone();
        let cache = ScanCache {
            nodes: Default::default(),
            hollow_rows: Vec::new(),
            index_fingerprint: None,
            input_fingerprint: None,
            reused_all: false,
            delta: Some(PersistDelta { stored_issues: Some(old.clone()), ..PersistDelta::default() }),
            hollow: false,
            lent: false,
            index: None,
            links: None,
        };
        storage.persist_scan_with_renames(&next, &[], Some(&cache)).expect("incremental persist");
        let loaded = storage.load_scan().expect("load").expect("scan");
        assert_eq!(loaded.issues, issues, "{shape}");
        if issues.first() == old.first() {
            // A rewrite would have given every row a new id.
            assert_eq!(first_id(), id_before, "{shape}: rows before the first difference stay");
        }
        // Told the wrong stored issues (a count that does not match), persistence rewrites them all.
        let mut wrong = cache.clone();
        wrong.delta.as_mut().expect("delta").stored_issues = Some(old[..3].to_vec());
        next.issues = old.clone();
        storage.persist_scan_with_renames(&next, &[], Some(&wrong)).expect("incremental persist");
        assert_eq!(storage.load_scan().expect("load").expect("scan").issues, old, "{shape}: rewritten");
    }
}

fn cache_of(
    result: &ScanResult,
    delta: Option<sm_kernel::scan_cache::PersistDelta>,
) -> sm_kernel::scan_cache::ScanCache {
    use sm_kernel::scan_cache::{CachedNode, ScanCache};
    let nodes = result
        .nodes
        .iter()
        .map(|n| {
            let cached = CachedNode {
                node: n.clone(),
                file_size: 1,
                file_mtime_ms: 1,
                body_start_line: 1,
                detections: Default::default(),
                file_issues: Vec::new(),
            };
            (n.path.clone(), cached)
        })
        .collect();
    ScanCache {
        nodes,
        hollow_rows: Vec::new(),
        index_fingerprint: None,
        input_fingerprint: None,
        reused_all: false,
        delta,
        hollow: false,
        lent: false,
        index: None,
        links: None,
    }
}

/// An incremental persist deletes the nodes the scan says vanished by path; a stored node the
/// prior cache did not know of (its cache row lost) is found by the row counts and deleted too,
/// with its links and cache row.
#[test]
fn an_incremental_persist_deletes_vanished_nodes_and_ones_the_cache_did_not_know() {
    use sm_kernel::scan_cache::PersistDelta;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.db");
    let mut storage = SqliteStorage::open(&db).expect("open");
    storage.migrate().expect("migrate");
    let full = scan(30);
    let conn = rusqlite::Connection::open(&db).expect("open");
    let rows = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).expect("count")
    };
    for unknown in [false, true] {
        storage.persist_scan_with_renames(&full, &[], Some(&cache_of(&full, None))).expect("full persist");
        let (first, second) = (full.nodes[3].path.clone(), full.nodes[7].path.clone());
        if unknown {
            conn.execute("DELETE FROM scan_node_cache WHERE path = ?1", [&second]).expect("lose a cache row");
        }
        let mut next = full.clone();
        next.nodes.retain(|n| n.path != first && n.path != second);
        next.links.retain(|l| l.source != first && l.source != second);
        next.issues.clear();
        // The scan knows only the first one vanished when the second had no cache row.
        let vanished = if unknown { [first.clone()].into() } else { [first.clone(), second.clone()].into() };
        let delta = PersistDelta { vanished, ..PersistDelta::default() };
        storage.persist_scan_with_renames(&next, &[], Some(&cache_of(&next, Some(delta)))).expect("incremental");
        let loaded = storage.load_scan().expect("load").expect("scan");
        assert_eq!(loaded.nodes, next.nodes, "unknown: {unknown}");
        assert_eq!(loaded.links, next.links, "unknown: {unknown}");
        assert_eq!(rows("scan_node_cache"), 28, "unknown: {unknown}");
    }
}

fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A database that does not exist yet is built aside and appears at its path only once a full
/// persist committed; a failed build leaves nothing; a database that appeared meanwhile is
/// persisted into, keeping its other rows.
#[test]
fn a_new_database_appears_only_once_its_first_persist_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("state/skill-map.db");
    let result = scan(40);

    let mut storage = SqliteStorage::open_for_scan(&db).expect("open");
    storage.migrate().expect("migrate");
    assert!(!db.exists(), "nothing at the path while building");
    storage.persist_scan(&result).expect("persist");
    assert!(db.exists());
    assert_eq!(storage.load_scan().expect("load").expect("scan"), result, "the storage now reads the placed file");
    drop(storage);
    let reopened = SqliteStorage::open(&db).expect("reopen");
    assert_eq!(reopened.load_scan().expect("load").expect("scan"), result);
    let mode: String = reopened.connection().query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
    assert_eq!(mode, "wal");
    drop(reopened);
    assert!(dir_entries(db.parent().expect("dir")).iter().all(|n| !n.contains("building")));

    // A build whose persist fails leaves no database and no temporary file.
    std::fs::remove_dir_all(db.parent().expect("dir")).expect("clean");
    let mut failing = SqliteStorage::open_for_scan(&db).expect("open");
    failing.migrate().expect("migrate");
    let mut unsorted = scan(10);
    unsorted.links.reverse();
    failing.persist_scan(&unsorted).expect_err("refused");
    drop(failing);
    assert!(!db.exists());
    assert_eq!(dir_entries(db.parent().expect("dir")), Vec::<String>::new());

    // Another process creates the database while this one builds: the persist goes into it.
    let mut building = SqliteStorage::open_for_scan(&db).expect("open");
    building.migrate().expect("migrate");
    let mut other = SqliteStorage::open(&db).expect("open");
    other.migrate().expect("migrate");
    other.persist_scan(&scan(5)).expect("persist");
    other
        .connection()
        .execute(
            "INSERT INTO state_summaries (node_id, summarizer_action_id, kind, summarizer_version,
                body_hash_at_generation, generated_at, summary_json) VALUES ('x', 'a', 'skill', '1', 'h', 1, '{}')",
            [],
        )
        .expect("state row");
    drop(other);
    building.persist_scan(&result).expect("persist");
    assert_eq!(building.load_scan().expect("load").expect("scan"), result);
    let kept: i64 =
        building.connection().query_row("SELECT COUNT(*) FROM state_summaries", [], |r| r.get(0)).expect("count");
    assert_eq!(kept, 1, "the other process's rows stay");
    drop(building);
    assert!(dir_entries(db.parent().expect("dir")).iter().all(|n| !n.contains("building")));
}

/// A whole write fills links and issues in a side database on another thread: when either side
/// fails (a link row the side database refuses, a node row the project database refuses), the
/// stored scan stays as it was and the side file is gone.
#[test]
fn a_whole_write_that_fails_on_either_thread_changes_nothing_and_leaves_no_side_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("skill-map.db");
    let mut storage = SqliteStorage::open(&db).expect("open");
    storage.migrate().expect("migrate");
    let first = scan(20);
    storage.persist_scan(&first).expect("persist");
    let side_files = |dir: &std::path::Path| -> Vec<String> {
        dir_entries(dir)
            .into_iter()
            .filter(|n| n.starts_with("skill-map.db."))
            .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
            .collect()
    };
    assert_eq!(side_files(dir.path()), Vec::<String>::new());

    let mut bad_link = scan(30);
    bad_link.links[7].location = Some(Location { line: 0, column: None, offset: None });
    let err = storage.persist_scan(&bad_link).expect_err("a link on line 0 breaks a CHECK");
    assert!(err.to_string().contains("CHECK"), "{err}");
    assert_eq!(storage.load_scan().expect("load").expect("scan"), first, "the stored scan is untouched");
    assert_eq!(side_files(dir.path()), Vec::<String>::new());

    let mut bad_node = scan(30);
    bad_node.nodes[3].body_hash = "short".into();
    let err = storage.persist_scan(&bad_node).expect_err("a short body hash breaks a CHECK");
    assert!(err.to_string().contains("CHECK"), "{err}");
    assert_eq!(storage.load_scan().expect("load").expect("scan"), first, "the stored scan is untouched");
    assert_eq!(side_files(dir.path()), Vec::<String>::new());

    // And the next good write goes through, links and issues in result order.
    let next = scan(25);
    storage.persist_scan(&next).expect("persist");
    assert_eq!(storage.load_scan().expect("load").expect("scan"), next);
    assert_eq!(side_files(dir.path()), Vec::<String>::new());
}
