//! Plugin storage modes against a real, migrated database file.

use serde_json::json;
use sm_adapter_sqlite::SqliteStorage;
use sm_adapter_sqlite::plugin_storage::*;
use sm_kernel::ports::StoragePort;

fn db() -> (tempfile::TempDir, SqliteStorage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = SqliteStorage::open(&dir.path().join("x.db")).expect("open");
    s.migrate().expect("migrate");
    (dir, s)
}

#[test]
fn kv_get_set_delete_list_scoped_by_plugin_and_node() {
    let (_d, s) = db();
    let a = KvStore::new(s.connection(), "plugin-a");
    let b = KvStore::new(s.connection(), "plugin-b");
    a.set("seen", &json!({"count": 2}), None, 1).expect("set");
    a.set("seen", &json!(true), Some("notes/x.md"), 1).expect("set node");
    a.set("seen.other", &json!([1, 2]), None, 1).expect("set");
    assert_eq!(a.get("seen", None).expect("get"), Some(json!({"count": 2})));
    assert_eq!(a.get("seen", Some("notes/x.md")).expect("get"), Some(json!(true)));
    assert_eq!(b.get("seen", None).expect("get"), None, "another plugin sees nothing");
    assert_eq!(a.list("seen", None).expect("list"), vec!["seen", "seen.other"]);
    assert_eq!(a.list("", Some("notes/x.md")).expect("list"), vec!["seen"]);
    a.set("seen", &json!(3), None, 2).expect("overwrite");
    assert_eq!(a.get("seen", None).expect("get"), Some(json!(3)));
    assert!(a.delete("seen", None).expect("delete"));
    assert!(!a.delete("seen", None).expect("delete again"));
    assert_eq!(a.get("seen", None).expect("get"), None);
}

#[test]
fn kv_typed_errors() {
    let (_d, s) = db();
    let kv = KvStore::new(s.connection(), "p");
    assert!(matches!(kv.set("", &json!(1), None, 0), Err(KvError::KeyInvalid { .. })));
    assert!(matches!(kv.set(&"k".repeat(300), &json!(1), None, 0), Err(KvError::KeyInvalid { .. })));
    assert!(matches!(kv.get("bad\u{7}key", None), Err(KvError::KeyInvalid { .. })));
    let big = json!("x".repeat(MAX_VALUE_BYTES + 10));
    assert!(matches!(kv.set("big", &big, None, 0), Err(KvError::ValueTooLarge { .. })));
    assert!(matches!(kv.set_json_text("nan", "NaN", None, 0), Err(KvError::ValueNotSerializable(_))));
    assert!(matches!(kv.set_json_text("half", "{\"a\":", None, 0), Err(KvError::ValueNotSerializable(_))));
    assert_eq!(kv.list("", None).expect("list"), Vec::<String>::new(), "nothing was written");
}

#[test]
fn ids_normalise_into_table_prefixes() {
    assert_eq!(normalize_plugin_id("My Plugin--2"), "my_plugin_2");
    assert_eq!(table_prefix("obsidian-vault"), "plugin_obsidian_vault_");
}

#[test]
fn dedicated_migrations_apply_with_a_ledger_and_reject_intrusions() {
    let (_d, mut s) = db();
    let ok = "CREATE TABLE plugin_wiki_pages (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
              CREATE INDEX plugin_wiki_pages_title ON plugin_wiki_pages (title);
              CREATE TRIGGER plugin_wiki_touch AFTER INSERT ON plugin_wiki_pages BEGIN
                UPDATE plugin_wiki_pages SET title = trim(title) WHERE id = NEW.id;
              END;
              INSERT INTO plugin_wiki_pages (title) VALUES ('Home');";
    assert_eq!(validate_migration(ok, "wiki"), Ok(4));
    let rejected = [
        ("CREATE TABLE scan_nodes_copy (x)", "outside"),
        ("DROP TABLE scan_nodes", "outside"),
        ("ALTER TABLE scan_nodes ADD COLUMN x", "outside"),
        ("CREATE INDEX plugin_wiki_i ON scan_nodes (path)", "outside"),
        ("CREATE TRIGGER plugin_wiki_t AFTER DELETE ON scan_nodes BEGIN DELETE FROM plugin_wiki_pages; END", "outside"),
        (
            "CREATE TRIGGER plugin_wiki_t AFTER DELETE ON plugin_wiki_pages BEGIN DELETE FROM scan_issues; END",
            "outside",
        ),
        ("INSERT INTO plugin_wiki_pages SELECT path FROM scan_nodes", "outside"),
        ("CREATE VIEW plugin_wiki_v AS SELECT * FROM state_jobs", "outside"),
        ("ATTACH DATABASE 'x.db' AS other", "not allowed"),
        ("PRAGMA writable_schema = 1", "not allowed"),
        ("BEGIN; CREATE TABLE plugin_wiki_a (x); COMMIT;", "not allowed"),
        ("CREATE TABLE other.plugin_wiki_a (x)", "main database"),
        ("CREATE TABLE plugin_wiki_a (x", "not valid SQL"),
    ];
    for (sql, why) in rejected {
        let err = validate_migration(sql, "wiki").expect_err(sql).to_string();
        assert!(err.contains(why), "{sql}: {err}");
    }
    let migrations = vec![(1, "pages".to_owned(), ok.to_owned())];
    let conn = s.connection_mut();
    assert_eq!(apply_plugin_migrations(conn, "wiki", &migrations, 5).expect("apply"), vec![1]);
    assert!(apply_plugin_migrations(conn, "wiki", &migrations, 6).expect("again").is_empty(), "idempotent");
    let bad =
        vec![(1, "pages".to_owned(), ok.to_owned()), (2, "sneaky".to_owned(), "DROP TABLE scan_nodes".to_owned())];
    let err = apply_plugin_migrations(conn, "wiki", &bad, 7).expect_err("rejected");
    assert!(err.to_string().contains("002 sneaky"), "{err}");
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'scan_nodes'", [], |r| r.get(0))
        .expect("count");
    assert_eq!(tables, 1, "the kernel table survives");
}

#[test]
fn scoped_connection_refuses_queries_outside_the_prefix() {
    let (_d, mut s) = db();
    let migration =
        vec![(1, "init".to_owned(), "CREATE TABLE plugin_wiki_pages (id INTEGER PRIMARY KEY, title TEXT)".to_owned())];
    apply_plugin_migrations(s.connection_mut(), "wiki", &migration, 1).expect("apply");
    let scoped = ScopedConnection::new(s.connection(), "wiki");
    assert_eq!(
        scoped.execute("INSERT INTO plugin_wiki_pages (title) VALUES (?1)", &[json!("Home")]).expect("insert"),
        1
    );
    let rows =
        scoped.query("SELECT id, title FROM plugin_wiki_pages WHERE title = ?1", &[json!("Home")]).expect("select");
    assert_eq!(rows[0]["title"], "Home");
    for (sql, why) in [
        ("SELECT * FROM scan_nodes", "outside"),
        ("SELECT p.title FROM plugin_wiki_pages p JOIN scan_nodes n ON n.path = p.title", "outside"),
        ("SELECT * FROM plugin_wiki_pages WHERE id IN (SELECT rowid FROM state_jobs)", "outside"),
        ("DELETE FROM config_plugins", "outside"),
        ("DROP TABLE plugin_wiki_pages", "not allowed"),
        ("PRAGMA user_version = 5", "not allowed"),
        ("SELECT 1; SELECT 2", "exactly one"),
    ] {
        let err = match scoped.query(sql, &[]) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{sql} was allowed"),
        };
        assert!(err.contains(why), "{sql}: {err}");
    }
}
