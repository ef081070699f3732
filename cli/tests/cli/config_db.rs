//! `sm config` and `sm db`.

use serde_json::Value;

use crate::support::*;

#[test]
fn config_set_get_show_reset_round_trip() {
    let p = Project::new();
    assert_eq!(p.sm(&["config", "get", "scan.maxFileSizeBytes"]).stdout.trim(), "1048576");
    let set = p.sm(&["config", "set", "scan.maxFileSizeBytes", "2048"]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    let written: Value = serde_json::from_str(&p.read(".skill-map/settings.json")).expect("json");
    assert_eq!(written["scan"]["maxFileSizeBytes"], 2048);
    assert_eq!(p.sm(&["config", "show", "scan.maxFileSizeBytes", "--source"]).stdout.trim(), "2048  (project)");
    assert_eq!(p.sm(&["config", "set", "profile", "agentskills", "--local"]).code, 0);
    let shown = p.sm(&["config", "show", "profile", "--source", "--json"]).json();
    assert_eq!(shown, serde_json::json!({ "value": "agentskills", "source": "project-local" }));
    assert_eq!(p.sm(&["config", "set", "rules.oversized-node.maxTokens", "900"]).code, 0);
    let list = p.sm(&["config", "list"]).stdout;
    assert!(list.contains("rules.oversized-node.maxTokens = 900\n"), "{list}");
    assert!(list.contains("scan.maxFileSizeBytes = 2048\n"), "{list}");
    let lines: Vec<&str> = list.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "config list is sorted");
    assert_eq!(p.sm(&["config", "reset", "scan.maxFileSizeBytes"]).code, 0);
    assert_eq!(p.sm(&["config", "show", "scan.maxFileSizeBytes", "--source"]).stdout.trim(), "1048576  (defaults)");
    let again = p.sm(&["config", "reset", "scan.maxFileSizeBytes"]);
    assert_eq!(again.code, 0);
    assert!(again.stderr.contains("not set"), "{}", again.stderr);
}

#[test]
fn config_rejects_unknown_keys_and_invalid_values_without_writing() {
    let p = Project::new();
    p.write(".skill-map/settings.json", "{\"schemaVersion\": 1}\n");
    let unknown = p.sm(&["config", "get", "scan.maxFileSize"]);
    assert_eq!(unknown.code, 5);
    assert!(unknown.stderr.contains("scan.maxFileSizeBytes"), "suggests the real key: {}", unknown.stderr);
    let json = p.sm(&["config", "set", "scna.strict", "true", "--json"]);
    assert_eq!(json.code, 5);
    assert_eq!(json.json()["error"]["details"]["suggestions"][0], "scan.strict");
    let invalid = p.sm(&["config", "set", "scan.maxFileSizeBytes", "\"big\""]);
    assert_eq!(invalid.code, 2);
    assert!(invalid.stderr.contains("maxFileSizeBytes"), "{}", invalid.stderr);
    assert_eq!(p.read(".skill-map/settings.json"), "{\"schemaVersion\": 1}\n", "nothing written");
    let bad_profile = p.sm(&["config", "set", "profile", "cursor"]);
    assert_eq!(bad_profile.code, 2);
}

#[test]
fn env_and_flag_layers_override_files() {
    let p = Project::new();
    p.write(".skill-map/settings.json", "{\"scan\": {\"strict\": false}}\n");
    let out = p
        .command(SM, &["config", "show", "scan.strict", "--source"])
        .env("SKILL_MAP__SCAN__STRICT", "true")
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true  (env)");
    let flag = p
        .command(SM, &["config", "show", "scan.strict", "--source", "--config", "scan.strict=false"])
        .env("SKILL_MAP__SCAN__STRICT", "true")
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&flag.stdout).trim(), "false  (flag)");
    let bad_env = p.command(SM, &["config", "list"]).env("SKILL_MAP__NOPE", "1").output().expect("run");
    assert_eq!(bad_env.status.code(), Some(5));
}

#[test]
fn rules_can_be_configured_and_disabled() {
    let p = rich_project();
    let with_budget = p.sm(&["scan", "--json", "--dry-run", "--config", "rules.oversized-node.maxTokens=10000"]).json();
    assert!(with_budget["issues"].as_array().expect("issues").iter().all(|i| i["ruleId"] != "oversized-node"));
    let disabled = p.sm(&["scan", "--json", "--dry-run", "--config", "rules.orphan-node.enabled=false"]).json();
    assert!(disabled["issues"].as_array().expect("issues").iter().all(|i| i["ruleId"] != "orphan-node"));
}

#[test]
fn db_reset_scan_keeps_state_and_hard_reset_needs_confirmation() {
    let p = rich_project();
    let conn = rusqlite::Connection::open(p.db()).expect("open");
    conn.execute(
        "INSERT INTO state_plugin_kv (plugin_id, node_id, key, value_json, updated_at) VALUES ('x', '', 'k', '1', 0)",
        [],
    )
    .expect("insert");
    drop(conn);
    let dry = p.sm(&["db", "reset", "--dry-run"]);
    assert_eq!(dry.code, 0);
    assert!(dry.stdout.contains("would delete      18 rows from scan_nodes"), "{}", dry.stdout);
    assert_eq!(p.db_count("scan_nodes"), 18);
    assert_eq!(p.sm(&["db", "reset"]).code, 0);
    assert_eq!(p.db_count("scan_nodes"), 0);
    assert_eq!(p.db_count("state_plugin_kv"), 1, "state survives a plain reset");
    let refused = p.sm(&["db", "reset", "--state"]);
    assert_eq!(refused.code, 2, "no terminal and no --yes: refused");
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(p.db_count("state_plugin_kv"), 1);
    assert_eq!(p.sm(&["db", "reset", "--state", "--yes"]).code, 0);
    assert_eq!(p.db_count("state_plugin_kv"), 0);
    assert_eq!(p.sm(&["db", "reset", "--hard"]).code, 2);
    assert!(p.db().exists());
    assert_eq!(p.sm(&["db", "reset", "--hard", "--yes"]).code, 0);
    assert!(!p.db().exists());
    assert_eq!(p.sm(&["db", "reset"]).code, 5);
}

#[test]
fn backup_is_consistent_while_another_process_reads_and_restores() {
    let p = rich_project();
    // Another connection holds an open read transaction during the backup.
    let reader = rusqlite::Connection::open(p.db()).expect("open");
    reader.execute_batch("BEGIN; SELECT COUNT(*) FROM scan_nodes;").expect("read tx");
    let backup = p.home.join("snap.db");
    let run = p.sm(&["db", "backup", "--out", backup.to_str().expect("utf8")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    reader.execute_batch("COMMIT;").expect("commit");
    drop(reader);
    assert_eq!(db_count(&backup, "scan_nodes"), 18);
    assert_eq!(p.sm(&["db", "backup", "--out", backup.to_str().expect("utf8")]).code, 2, "never overwrites");

    assert_eq!(p.sm(&["db", "reset"]).code, 0);
    assert_eq!(p.db_count("scan_nodes"), 0);
    assert_eq!(p.sm(&["db", "restore", backup.to_str().expect("utf8")]).code, 2, "asks first");
    let restored = p.sm(&["db", "restore", backup.to_str().expect("utf8"), "--yes"]);
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_eq!(p.db_count("scan_nodes"), 18);
    let not_db = p.home.join("notes.txt");
    std::fs::write(&not_db, "hello").expect("write");
    let bad = p.sm(&["db", "restore", not_db.to_str().expect("utf8"), "--yes"]);
    assert_eq!(bad.code, 2);
    assert_eq!(p.db_count("scan_nodes"), 18, "a failed restore leaves the database as it was");
    assert_eq!(p.sm(&["db", "restore", "missing.db", "--yes"]).code, 5);
    let default_dir = p.sm(&["db", "backup"]);
    assert_eq!(default_dir.code, 0);
    assert!(std::fs::read_dir(p.root.join(".skill-map/backups")).expect("backups dir").count() == 1);
}

#[test]
fn dump_and_migrate() {
    let p = rich_project();
    let dump = p.sm(&["db", "dump", "--tables", "scan_meta,config_schema_versions"]);
    assert_eq!(dump.code, 0);
    assert!(dump.stdout.contains("CREATE TABLE scan_meta"), "{}", dump.stdout);
    assert!(
        dump.stdout.contains("INSERT INTO \"config_schema_versions\" VALUES('kernel','kernel',1,"),
        "{}",
        dump.stdout
    );
    assert!(!dump.stdout.contains("scan_nodes"));
    // The dump replays into an empty database.
    let replay = rusqlite::Connection::open_in_memory().expect("mem");
    replay.execute_batch(&p.sm(&["db", "dump"]).stdout).expect("dump is valid SQL");
    let n: i64 = replay.query_row("SELECT COUNT(*) FROM scan_nodes", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 18);
    assert_eq!(p.sm(&["db", "dump", "--tables", "nope"]).code, 5);
    let status = p.sm(&["db", "migrate", "--status"]);
    assert_eq!(
        status.stdout,
        "001 initial                  applied\n002 scan_cache               applied\n003 input_fingerprint        applied\n004 compact_detections       applied\n"
    );
    assert_eq!(p.sm(&["db", "migrate", "--dry-run"]).stdout.trim(), "nothing to apply");
    assert_eq!(p.sm(&["db", "migrate"]).stdout.trim(), "database is up to date");
    let fresh = Project::new();
    assert_eq!(fresh.sm(&["db", "migrate", "--status"]).code, 5);
    assert_eq!(
        fresh.sm(&["db", "migrate"]).stdout,
        "applied 001 initial\napplied 002 scan_cache\napplied 003 input_fingerprint\napplied 004 compact_detections\n"
    );
}
