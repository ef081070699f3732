//! Compiled plugins, built by cargo as workspace members, loaded into real `sm` runs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// `target/<profile>/deps`, where cargo puts the example plugins' `.so` files during `cargo test`.
fn deps_dir() -> PathBuf {
    std::env::current_exe().expect("test exe").parent().expect("deps dir").to_path_buf()
}

fn library_name(plugin: &str) -> String {
    format!("libsm_plugin_{}.so", plugin.replace('-', "_"))
}

/// Installs an example plugin (manifest from the repo, library from cargo's output) under `dir`.
fn install_into(dir: &Path, plugin: &str) -> PathBuf {
    let target = dir.join(plugin);
    std::fs::create_dir_all(&target).expect("mkdir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples").join(plugin);
    std::fs::copy(source.join("plugin.json"), target.join("plugin.json")).expect("copy manifest");
    if source.join("migrations").is_dir() {
        copy_dir(&source.join("migrations"), &target.join("migrations"));
    }
    let lib = deps_dir().join(library_name(plugin));
    assert!(lib.is_file(), "{} was not built; cargo test --workspace builds the example plugins", lib.display());
    std::fs::copy(&lib, target.join(library_name(plugin))).expect("copy library");
    target
}

fn install(p: &Project, plugin: &str) -> PathBuf {
    install_into(&p.root.join(".skill-map/plugins"), plugin)
}

const ALL: &[&str] = &["obsidian-vault", "wikilink", "weak-description", "word-count", "link-health", "csv-renderer"];

fn vault_project() -> Project {
    let p = rich_project();
    p.write("vault/Ideas.md", "---\nname: Ideas\ndescription: Loose ideas for the audit skill.\n---\n\n# Ideas\n\nSee [[2026-11-21]] and [[Missing Note]].\n`[[in code]]`\n")
        .write("vault/daily/2026-11-21.md", "# Today\n\nBack to [[Ideas]].\n");
    for plugin in ALL {
        install(&p, plugin);
    }
    p
}

#[test]
fn every_kind_of_plugin_participates() {
    let p = vault_project();
    let run = p.sm(&["scan", "--json"]);
    assert_eq!(run.code, 1, "the fixture's trigger collision: {}", run.stderr);
    assert!(!run.stderr.contains("plugin "), "no plugin problems: {}", run.stderr);
    let doc = run.json();
    validate("scan-result.schema.json", &doc);
    let kind_of =
        |path: &str| doc["nodes"].as_array().expect("n").iter().find(|n| n["path"] == path).map(|n| n["kind"].clone());
    // adapter: new node kinds
    assert_eq!(kind_of("vault/Ideas.md"), Some(Value::from("vault-note")));
    assert_eq!(kind_of("vault/daily/2026-11-21.md"), Some(Value::from("daily-note")));
    assert_eq!(kind_of("README.md"), Some(Value::from("note")), "the built-in adapter still claims the rest");
    // detector: wikilinks, resolved by file stem, code skipped
    let wikilinks: Vec<&Value> =
        doc["links"].as_array().expect("l").iter().filter(|l| l["sources"][0] == "wikilink").collect();
    let targets: Vec<&str> = wikilinks.iter().map(|l| l["target"].as_str().expect("t")).collect();
    assert_eq!(targets, vec!["2026-11-21", "Missing Note", "Ideas"]);
    let broken: Vec<&str> = doc["issues"]
        .as_array()
        .expect("i")
        .iter()
        .filter(|i| i["ruleId"] == "broken-ref" && i["nodeIds"][0] == "vault/Ideas.md")
        .map(|i| i["data"]["target"].as_str().expect("t"))
        .collect();
    assert_eq!(broken, vec!["Missing Note"]);
    // rule: an extra issue id
    assert!(doc["issues"].as_array().expect("i").iter().any(|i| i["ruleId"] == "weak-description"));
    // renderer: a new graph format
    let csv = p.sm(&["graph", "--format", "csv"]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert!(csv.stdout.starts_with("path,kind,title,links_in,links_out,issues\n"), "{}", csv.stdout);
    assert!(csv.stdout.contains("vault/Ideas.md,vault-note,Ideas,1,2,1\n"), "{}", csv.stdout);
    // action: listed and runnable
    let actions = p.sm(&["actions", "list", "--json"]).json();
    assert_eq!(actions[0]["id"], "word-count");
    let counted = p.sm(&["actions", "run", "word-count", "-n", "vault/Ideas.md", "--json"]).json();
    assert_eq!(counted["result"]["headings"], 1);
    assert_eq!(counted["result"]["path"], "vault/Ideas.md");
    // audit: a report
    let report = p.sm(&["audit", "run", "link-health", "--json"]).json();
    assert_eq!(report["report"]["nodes"], 20);
    assert!(report["report"]["score"].as_u64().is_some_and(|s| s <= 100));
    // plugins list shows every one enabled with its extension
    let listed = p.sm(&["plugins", "list", "--json"]).json();
    assert_eq!(listed.as_array().expect("plugins").len(), ALL.len());
    assert!(listed.as_array().expect("p").iter().all(|x| x["status"] == "enabled"));
}

#[test]
fn a_panicking_plugin_is_reported_and_the_scan_finishes() {
    let p = vault_project();
    install(&p, "panicky");
    let run = p.sm(&["scan", "--json"]);
    assert_eq!(run.code, 1, "still the normal verdict: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("plugin panicky")).collect();
    assert_eq!(lines.len(), 1, "exactly one line for the failure: {}", run.stderr);
    assert!(lines[0].contains("panic: panicky detector refuses"), "{}", lines[0]);
    assert!(!run.stderr.contains("stack backtrace"), "the plugin's panic hook is quiet: {}", run.stderr);
    let doc = run.json();
    assert!(
        doc["links"].as_array().expect("l").iter().any(|l| l["sources"][0] == "wikilink"),
        "other plugins still ran"
    );
    assert_eq!(p.db_count("scan_nodes"), 20, "the scan was persisted");
}

#[test]
fn plugins_can_be_disabled_and_enabled_and_no_plugins_skips_them() {
    let p = vault_project();
    let off = p.sm(&["plugins", "disable", "obsidian-vault"]);
    assert_eq!(off.code, 0, "{}", off.stderr);
    let doc = p.sm(&["scan", "--json", "--dry-run"]).json();
    assert!(doc["nodes"].as_array().expect("n").iter().all(|n| n["kind"] != "vault-note"));
    let listed = p.sm(&["plugins", "list", "--json"]).json();
    let status = |id: &str| listed.as_array().expect("p").iter().find(|x| x["id"] == id).map(|x| x["status"].clone());
    assert_eq!(status("obsidian-vault"), Some(Value::from("disabled")));
    assert_eq!(p.sm(&["plugins", "enable", "obsidian-vault"]).code, 0);
    let doc = p.sm(&["scan", "--json", "--dry-run"]).json();
    assert!(doc["nodes"].as_array().expect("n").iter().any(|n| n["kind"] == "vault-note"));
    let bare = p.sm(&["scan", "--json", "--dry-run", "--no-plugins"]).json();
    assert!(bare["links"].as_array().expect("l").iter().all(|l| l["sources"][0] != "wikilink"));
    assert_eq!(p.sm(&["plugins", "disable", "nope"]).code, 5);
    // Settings can switch a plugin off too; the database toggle wins.
    p.write(".skill-map/settings.json", "{\"plugins\": {\"wikilink\": {\"enabled\": false}}}\n");
    let doc = p.sm(&["scan", "--json", "--dry-run"]).json();
    assert!(doc["links"].as_array().expect("l").iter().all(|l| l["sources"][0] != "wikilink"));
}

#[test]
fn kernel_empty_boot_holds_with_plugins_present() {
    let p = vault_project();
    let out = p
        .command(SM, &["scan", "--json", "--dry-run"])
        .env("SKILL_MAP_DISABLE_ALL_ADAPTERS", "1")
        .env("SKILL_MAP_DISABLE_ALL_DETECTORS", "1")
        .env("SKILL_MAP_DISABLE_ALL_RULES", "1")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["stats"]["nodesCount"], 0);
    assert_eq!(doc["stats"]["issuesCount"], 0);
    assert_eq!(doc["adapters"].as_array().expect("a").len(), 0);
}

#[test]
fn bad_plugins_get_statuses_and_never_stop_a_scan() {
    let p = rich_project();
    let dir = p.root.join(".skill-map/plugins");
    let write = |id: &str, manifest: &str| {
        std::fs::create_dir_all(dir.join(id)).expect("mkdir");
        std::fs::write(dir.join(id).join("plugin.json"), manifest).expect("write");
    };
    write("no-json", "{ not json");
    write(
        "old-spec",
        r#"{"id":"old-spec","version":"1.0.0","specCompat":">=2.0","library":"x.so","extensions":["x"]}"#,
    );
    write("text-lib", r#"{"id":"text-lib","version":"1.0.0","specCompat":"*","library":"lib.so","extensions":["x"]}"#);
    std::fs::write(dir.join("text-lib/lib.so"), "this is not a shared library").expect("write");
    write(
        "wrong-ext",
        r#"{"id":"wrong-ext","version":"1.0.0","specCompat":"*","library":"libsm_plugin_wikilink.so","extensions":["nope"]}"#,
    );
    std::fs::copy(deps_dir().join(library_name("wikilink")), dir.join("wrong-ext/libsm_plugin_wikilink.so"))
        .expect("copy");
    let run = p.sm(&["scan", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json()["stats"]["nodesCount"], 18);
    for (id, status, why) in [
        ("no-json", "invalid-manifest", "not valid JSON"),
        ("old-spec", "incompatible-spec", ">=2.0"),
        ("text-lib", "load-error", "not a loadable library"),
        ("wrong-ext", "invalid-manifest", "\"nope\""),
    ] {
        let line = run
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("plugin {id}:")))
            .unwrap_or_else(|| panic!("no line for {id}: {}", run.stderr));
        assert!(line.contains(status) && line.contains(why), "{line}");
    }
    let doctor = p.sm(&["plugins", "doctor"]);
    assert_eq!(doctor.code, 1);
    assert!(
        doctor.stdout.contains("2 invalid-manifest") && doctor.stdout.contains("problem: old-spec"),
        "{}",
        doctor.stdout
    );
}

#[test]
fn the_same_id_in_two_plugin_dirs_is_a_collision_for_both() {
    let p = rich_project();
    let a = p.home.join("a");
    let b = p.home.join("b");
    install_into(&a, "wikilink");
    install_into(&b, "wikilink");
    let run = p.sm(&[
        "scan",
        "--dry-run",
        "--plugin-dir",
        a.to_str().expect("utf8"),
        "--plugin-dir",
        b.to_str().expect("utf8"),
    ]);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("plugin wikilink: id-collision")).collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
}

#[test]
fn plugins_check_passes_the_examples_and_catches_the_panicking_one() {
    let p = Project::new();
    for plugin in ALL {
        let dir = install(&p, plugin);
        let run = p.sm(&["plugins", "check", dir.to_str().expect("utf8")]);
        assert_eq!(run.code, 0, "{plugin}: {}", run.stdout);
        assert!(run.stdout.contains("panic is contained") && run.stdout.contains(" 0 failed"), "{}", run.stdout);
    }
    let panicky = install(&p, "panicky");
    let run = p.sm(&["plugins", "check", panicky.to_str().expect("utf8"), "--json"]);
    assert_eq!(run.code, 1);
    let doc = run.json();
    let failed: Vec<&str> = doc["checks"]
        .as_array()
        .expect("c")
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["check"].as_str().expect("c"))
        .collect();
    assert_eq!(failed, vec!["panicky: detect"]);
    assert_eq!(p.sm(&["plugins", "check", "nope"]).code, 5);
}

#[test]
fn kv_storage_remembers_between_runs() {
    let p = vault_project();
    assert_eq!(p.sm(&["scan"]).code, 1, "scan with the vault (the fixture's trigger collision is exit 1)");
    let run = |expect: i32| {
        let r = p.sm(&["actions", "run", "word-count", "-n", "vault/Ideas.md", "--json"]);
        assert_eq!(r.code, expect, "{}", r.stderr);
        r.json()
    };
    let first = run(0);
    let words = first["result"]["words"].as_u64().expect("a word count");
    assert_eq!(first["result"]["previousWords"], Value::Null);
    let second = run(0);
    assert_eq!(second["result"]["previousWords"].as_u64(), Some(words));
    let conn = rusqlite::Connection::open(p.db()).expect("open");
    let (node, value): (String, String) = conn
        .query_row(
            "SELECT node_id, value_json FROM state_plugin_kv WHERE plugin_id = 'word-count' AND key = 'words'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a kv row");
    assert_eq!(node, "vault/Ideas.md");
    assert_eq!(value, words.to_string());
    // A dry-run scan gives plugins read-only storage; the action verb needs an existing node.
    assert_eq!(p.sm(&["actions", "run", "word-count", "-n", "nope.md"]).code, 5);
    // Unknown extension ids name what is registered.
    let action = p.sm(&["actions", "show", "word-cont"]);
    assert_eq!(action.code, 5);
    assert!(action.stderr.contains("no action \"word-cont\" (registered: word-count)"), "{}", action.stderr);
    let audit = p.sm(&["audit", "run", "nope"]);
    assert_eq!(audit.code, 5);
    assert!(audit.stderr.contains("no audit \"nope\" (registered: link-health)"), "{}", audit.stderr);
}

#[test]
fn dedicated_storage_creates_prefixed_tables_and_keeps_history() {
    let p = vault_project();
    let first = p.sm(&["audit", "run", "link-health", "--json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first = first.json();
    assert!(first["report"]["score"].is_u64(), "{first}");
    assert_eq!(first["report"]["previousScore"], Value::Null);
    let second = p.sm(&["audit", "run", "link-health", "--json"]).json();
    assert_eq!(second["report"]["previousScore"], first["report"]["score"]);
    assert_eq!(p.db_count("plugin_link_health_reports"), 2);
    let conn = rusqlite::Connection::open(p.db()).expect("open");
    let ledger: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM config_schema_versions WHERE scope = 'plugin' AND owner_id = 'link-health' AND version = 1",
            [],
            |r| r.get(0),
        )
        .expect("ledger");
    assert_eq!(ledger, 1);
}

#[test]
fn a_migration_that_touches_kernel_tables_is_refused_at_load() {
    let p = vault_project();
    let evil = p.root.join(".skill-map/plugins/link-health/migrations/001_reports.sql");
    std::fs::write(&evil, "CREATE TABLE plugin_link_health_reports (x);\nDROP TABLE scan_nodes;\n").expect("write");
    let run = p.sm(&["scan"]);
    let line =
        run.stderr.lines().find(|l| l.starts_with("plugin link-health:")).unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(line.contains("load-error") && line.contains("scan_nodes is outside the plugin's prefix"), "{line}");
    assert_eq!(p.db_count("scan_nodes"), 20, "the kernel table is intact and the scan persisted");
    let exists: i64 = rusqlite::Connection::open(p.db())
        .expect("open")
        .query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'plugin_link_health_reports'", [], |r| r.get(0))
        .expect("count");
    assert_eq!(exists, 0, "nothing of the rejected migration ran");
}

#[test]
fn a_real_library_that_is_not_an_sm_plugin_is_named_as_such() {
    let Some(system_lib) = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
        "/usr/lib/libm.so.6",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.is_file()) else {
        eprintln!("skipped: no system libm found to stand in for a foreign library");
        return;
    };
    let p = rich_project();
    let dir = p.root.join(".skill-map/plugins/foreign");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(system_lib, dir.join("libforeign.so")).expect("copy");
    std::fs::write(
        dir.join("plugin.json"),
        r#"{"id":"foreign","version":"1.0.0","specCompat":"*","library":"libforeign.so","extensions":["x"]}"#,
    )
    .expect("write");
    let run = p.sm(&["scan", "--dry-run"]);
    let line =
        run.stderr.lines().find(|l| l.starts_with("plugin foreign:")).unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(line.contains("load-error") && line.contains("not an sm plugin"), "{line}");
    let check = p.sm(&["plugins", "check", dir.to_str().expect("utf8")]);
    assert_eq!(check.code, 1);
    assert!(check.stdout.contains("FAIL library") && check.stdout.contains("not an sm plugin"), "{}", check.stdout);
}
