//! `sm init`, `sm scan`, `sm version`, `sm help`, usage errors, conformance, real corpus.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// sm init
// ---------------------------------------------------------------------------------------------

#[test]
fn init_sets_up_the_project_and_runs_a_first_scan() {
    let p = Project::new();
    p.claude_project().write(".gitignore", "target/\n");
    let run = p.sm(&["init"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(serde_json::from_str::<Value>(&p.read(".skill-map/settings.json")).expect("json")["schemaVersion"], 1);
    assert_eq!(p.read(".skill-map/settings.local.json").trim(), "{}");
    let ignore = p.read(".skillmapignore");
    for pattern in [".git/", "node_modules/", "dist/", "build/", "target/", ".skill-map/", "*.swp", "*.log"] {
        assert!(ignore.lines().any(|l| l == pattern), "{pattern} missing from .skillmapignore");
    }
    let gitignore = p.read(".gitignore");
    assert!(gitignore.starts_with("target/\n"));
    assert!(gitignore.lines().any(|l| l == ".skill-map/skill-map.db*"));
    assert!(gitignore.lines().any(|l| l == ".skill-map/settings.local.json"));
    assert_eq!(p.db_count("scan_nodes"), 4);
    assert_eq!(p.db_count("config_schema_versions"), 4, "one ledger row per kernel migration");
}

#[test]
fn init_twice_is_an_error_that_changes_nothing_unless_forced() {
    let p = Project::new();
    p.claude_project();
    assert_eq!(p.sm(&["init"]).code, 0);
    p.write(".skill-map/settings.json", "{\"schemaVersion\": 1, \"ignore\": [\"x/\"]}\n");
    let gitignore_before = p.read(".gitignore");
    let again = p.sm(&["init"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert!(p.read(".skill-map/settings.json").contains("x/"));
    assert_eq!(p.read(".gitignore"), gitignore_before);
    let forced = p.sm(&["init", "--force", "--no-scan"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(!p.read(".skill-map/settings.json").contains("x/"));
    assert_eq!(p.read(".gitignore"), gitignore_before, "gitignore lines are not duplicated");
}

#[test]
fn init_dry_run_writes_nothing_and_no_scan_leaves_an_empty_database() {
    let p = Project::new();
    p.claude_project();
    let dry = p.sm(&["init", "--dry-run"]);
    assert_eq!(dry.code, 0);
    assert!(dry.stdout.contains("would create"), "{}", dry.stdout);
    assert!(!p.root.join(".skill-map").exists());
    assert!(!p.root.join(".gitignore").exists());
    let no_scan = p.sm(&["init", "--no-scan"]);
    assert_eq!(no_scan.code, 0, "{}", no_scan.stderr);
    assert_eq!(p.db_count("scan_nodes"), 0);
    assert_eq!(p.db_count("config_schema_versions"), 4, "one ledger row per kernel migration");
}

// ---------------------------------------------------------------------------------------------
// sm scan
// ---------------------------------------------------------------------------------------------

#[test]
fn scan_builds_and_persists_the_graph() {
    let p = Project::new();
    p.claude_project();
    let run = p.sm(&["scan", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    validate("scan-result.schema.json", &doc);
    let kinds: Vec<(&str, &str)> = doc["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| (n["path"].as_str().expect("path"), n["kind"].as_str().expect("kind")))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (".claude/agents/reviewer.md", "agent"),
            (".claude/commands/deploy.md", "command"),
            (".claude/skills/pdf/SKILL.md", "skill"),
            ("README.md", "note"),
        ]
    );
    let skill = &doc["nodes"][2];
    assert_eq!(skill["title"], "pdf");
    assert_eq!(skill["description"], "PDF tools.");
    assert_eq!(skill["adapter"], "claude");
    assert_eq!(skill["linksOutCount"], 1);
    assert_eq!(doc["nodes"][0]["linksInCount"], 1);
    assert!(skill["tokens"]["total"].as_u64().expect("tokens") > 0);
    assert_eq!(
        skill["bytes"]["total"],
        skill["bytes"]["frontmatter"].as_u64().expect("n") + skill["bytes"]["body"].as_u64().expect("n")
    );
    assert_eq!(doc["nodes"][3]["title"], "Project", "title falls back to the first heading");
    assert_eq!(doc["links"][0]["kind"], "references");
    assert_eq!(doc["links"][0]["sources"][0], "frontmatter-refs");
    assert_eq!(p.db_count("scan_nodes"), 4);
    assert_eq!(p.db_count("scan_links"), 1);
    assert_eq!(p.db_count("scan_meta"), 1);

    let human = p.sm(&["scan"]);
    assert_eq!(human.code, 0);
    assert!(human.stdout.starts_with("Scanned 1 root: 4 nodes, 1 links, 0 issues"), "{}", human.stdout);
    assert!(human.stderr.contains("done in "), "{}", human.stderr);
    assert!(!p.sm(&["scan", "-q"]).stderr.contains("done in"));
}

#[test]
fn scan_output_is_deterministic() {
    let p = Project::new();
    p.claude_project().write("notes/a.md", "---\nname: a\nmetadata:\n  related: [missing.md, README.md]\n---\nx\n");
    let strip = |mut v: Value| {
        v["scannedAt"] = Value::Null;
        v["stats"]["durationMs"] = Value::Null;
        v
    };
    let a = strip(p.sm(&["scan", "--json", "--dry-run"]).json());
    let b = strip(p.sm(&["scan", "--json", "--dry-run"]).json());
    assert_eq!(a, b);
}

#[test]
fn dry_run_computes_without_creating_the_database() {
    let p = Project::new();
    p.claude_project();
    let run = p.sm(&["scan", "--dry-run"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Dry run"), "{}", run.stdout);
    assert!(!p.db().exists());
}

#[test]
fn no_tokens_omits_token_counts() {
    let p = Project::new();
    p.claude_project();
    let doc = p.sm(&["scan", "--json", "--no-tokens"]).json();
    assert!(doc["nodes"][0].get("tokens").is_none());
    validate("scan-result.schema.json", &doc);
}

#[test]
fn missing_root_is_exit_2_and_leaves_the_database_untouched() {
    let p = Project::new();
    p.claude_project();
    assert_eq!(p.sm(&["scan"]).code, 0);
    let before = std::fs::read(p.db()).expect("db");
    let run = p.sm(&["scan", "no-such-dir"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-dir"), "{}", run.stderr);
    assert_eq!(std::fs::read(p.db()).expect("db"), before);
    assert_eq!(p.db_count("scan_nodes"), 4);

    let json = p.sm(&["scan", "no-such-dir", "--json"]);
    assert_eq!(json.code, 2);
    let doc = json.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["code"], "root-not-found");
    assert!(doc["error"]["message"].as_str().expect("message").contains("no-such-dir"));

    let fresh = Project::new();
    assert_eq!(fresh.sm(&["scan", "nope"]).code, 2);
    assert!(!fresh.db().exists(), "a failed scan must not create a database");
}

/// Roots are walked in the order given, so their nodes' links do not come grouped in path order:
/// they are still sorted by source, and stored.
#[test]
fn several_roots_scan_and_store_their_links_in_source_order() {
    let p = Project::new();
    p.write("zz/z.md", "# Z\n\nSee [a](a.md).\n").write("aa/a.md", "# A\n\nSee [z](z.md).\n");
    let run = p.sm(&["scan", "zz", "aa", "--no-tokens", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    let sources: Vec<&str> =
        doc["links"].as_array().expect("links").iter().map(|l| l["source"].as_str().expect("source")).collect();
    assert_eq!(sources, ["a.md", "z.md"]);
    assert_eq!(p.db_count("scan_links"), 2);
}

#[test]
fn an_empty_scan_refuses_to_wipe_a_populated_database() {
    let p = Project::new();
    p.claude_project().write("empty/.keep", "");
    assert_eq!(p.sm(&["scan"]).code, 0);
    let run = p.sm(&["scan", "empty"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--allow-empty"), "{}", run.stderr);
    assert_eq!(p.db_count("scan_nodes"), 4);
    let allowed = p.sm(&["scan", "empty", "--allow-empty"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert_eq!(p.db_count("scan_nodes"), 0);
}

#[test]
fn ignore_rules_apply_and_hidden_dirs_are_walked() {
    let p = Project::new();
    p.write(".claude/skills/a/SKILL.md", "---\nname: a\n---\n")
        .write("node_modules/pkg/README.md", "# dep\n")
        .write("generated/x.md", "# gen\n")
        .write("private/y.md", "# private\n")
        .write("drafts/z.md", "# draft\n")
        .write("keep.md", "# keep\n")
        .write(".gitignore", "generated/\n")
        .write(".skillmapignore", "private/\n")
        .write(".skill-map/settings.json", "{\"ignore\": [\"drafts/\"]}\n");
    let doc = p.sm(&["scan", "--json", "--dry-run"]).json();
    let paths: Vec<&str> =
        doc["nodes"].as_array().expect("nodes").iter().map(|n| n["path"].as_str().expect("p")).collect();
    assert_eq!(paths, vec![".claude/skills/a/SKILL.md", "keep.md"]);
}

#[test]
fn recovered_frontmatter_keeps_the_node_and_warns_with_the_line() {
    let p = Project::new();
    p.write(
        ".claude/agents/helper.md",
        "---\nname: helper\ndescription: Use this agent when: things break. <example>Context: x\nuser: hi\nassistant: ok</example>\nargument-hint: [file] | all\ntools: Read, Grep\n---\n\nBody.\n",
    );
    let run = p.sm(&["scan", "--json"]);
    assert_eq!(run.code, 0, "warnings do not fail the scan: {}", run.stderr);
    let doc = run.json();
    let node = &doc["nodes"][0];
    assert_eq!(node["kind"], "agent");
    assert_eq!(node["frontmatter"]["name"], "helper");
    assert_eq!(node["frontmatter"]["argument-hint"], "[file] | all");
    assert!(node["description"].as_str().expect("description").starts_with("Use this agent when: things break."));
    assert!(node["frontmatter"].get("user").is_none(), "no keys invented from example blocks");
    let issue = doc["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .find(|i| i["ruleId"] == "frontmatter-invalid" && i["data"]["line"].is_u64())
        .expect("a frontmatter-invalid issue with a line");
    assert_eq!(issue["severity"], "warn");
    assert_eq!(issue["data"]["line"], 3);
    assert!(issue["message"].as_str().expect("m").contains("line 3"));

    let strict = p.sm(&["scan", "--strict", "--json"]);
    assert_eq!(strict.code, 1);
    let doc = strict.json();
    let recovered = doc["issues"].as_array().expect("issues").iter().find(|i| i["data"]["line"] == 3).expect("issue");
    assert_eq!(recovered["severity"], "error");
}

#[test]
fn large_binary_and_non_utf8_files_are_reported_not_fatal() {
    let p = Project::new();
    p.write("big.md", "x".repeat(2000))
        .write("binary.md", b"\x00\x01\x02binary")
        .write("latin1.md", b"caf\xe9\n")
        .write("ok.md", "# ok\n")
        .write(".skill-map/settings.json", "{\"scan\": {\"maxFileSizeBytes\": 1000}}\n");
    let run = p.sm(&["scan", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["stats"]["nodesCount"], 1);
    assert_eq!(doc["stats"]["filesSkipped"], 3);
    let rules: Vec<(&str, &str, &str)> = doc["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            (i["nodeIds"][0].as_str().expect("n"), i["ruleId"].as_str().expect("r"), i["severity"].as_str().expect("s"))
        })
        .collect();
    assert_eq!(
        rules,
        vec![
            ("big.md", "file-too-large", "info"),
            ("binary.md", "file-not-text", "warn"),
            ("latin1.md", "file-not-text", "warn"),
        ]
    );
}

#[test]
fn broken_frontmatter_reference_is_a_warning_and_error_issues_exit_1() {
    let p = Project::new();
    p.write("notes/a.md", "---\nname: a\nmetadata:\n  requires: [notes/missing.md]\n---\n");
    let run = p.sm(&["scan", "--json"]);
    assert_eq!(run.code, 0);
    let doc = run.json();
    assert_eq!(doc["issues"][0]["ruleId"], "broken-ref");
    assert_eq!(doc["issues"][0]["severity"], "warn");
    assert_eq!(doc["issues"][0]["data"]["target"], "notes/missing.md");
    // Malformed frontmatter under --strict is an error: exit 1, and the scan is still persisted.
    p.write("notes/b.md", "---\nname: b\ndescription: x\n");
    let strict = p.sm(&["scan", "--strict"]);
    assert_eq!(strict.code, 1, "{}", strict.stdout);
    assert!(strict.stdout.contains("frontmatter-malformed"), "{}", strict.stdout);
    assert_eq!(p.db_count("scan_nodes"), 2);
}

#[test]
fn invalid_settings_are_exit_2_naming_the_file() {
    let p = Project::new();
    p.claude_project().write(".skill-map/settings.json", "{\"scan\": {\"maxFileSizeBytes\": \"big\"}}\n");
    let run = p.sm(&["scan"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("settings.json"), "{}", run.stderr);
    assert!(run.stderr.contains("maxFileSizeBytes"), "{}", run.stderr);
    p.write(".skill-map/settings.json", "{ nope");
    let run = p.sm(&["scan"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("settings.json:1:"), "{}", run.stderr);
    assert!(!p.db().exists());
}

#[test]
fn json_written_to_a_pipe_is_complete() {
    let p = Project::new();
    for i in 0..1500 {
        p.write(&format!(".claude/skills/s{i:04}/SKILL.md"), format!("---\nname: s{i:04}\ndescription: Skill number {i} that does a thing.\n---\n\n# Skill {i}\n\nSome body text for skill {i}.\n"));
    }
    let direct = p.sm(&["scan", "--json", "--no-tokens", "--dry-run"]);
    assert!(direct.stdout.len() > 256 * 1024, "needs to exceed several pipe buffers");
    let doc = direct.json();
    assert_eq!(doc["stats"]["nodesCount"], 1500);
    // Through a real pipe into another process; the reference truncated this at 64 KiB.
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!("'{SM}' scan --json --no-tokens --dry-run | cat > piped.json"))
        .current_dir(&p.root)
        .env("HOME", &p.home)
        .status()
        .expect("sh");
    assert!(piped.success());
    let text = std::fs::read_to_string(p.root.join("piped.json")).expect("piped output");
    assert!(text.len() > 256 * 1024 && text.ends_with("}\n"), "truncated at {} bytes", text.len());
    let piped_doc: Value = serde_json::from_str(&text).expect("complete JSON through a pipe");
    assert_eq!(piped_doc["nodes"], doc["nodes"]);
}

#[test]
fn progress_ndjson_events_have_the_envelope() {
    let p = Project::new();
    p.claude_project();
    let run = p.sm(&["scan", "--json", "--progress", "ndjson", "--dry-run"]);
    assert_eq!(run.code, 0);
    run.json();
    let events: Vec<Value> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect();
    assert_eq!(events.first().expect("events")["type"], "scan.started");
    assert_eq!(events.last().expect("events")["type"], "scan.completed");
    assert_eq!(events.iter().filter(|e| e["type"] == "scan.progress").count(), 4);
    for e in &events {
        for key in ["type", "timestamp", "runId", "jobId", "data"] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
        assert_eq!(e["runId"], events[0]["runId"]);
    }
}

#[test]
fn global_scope_scans_the_agent_home() {
    let p = Project::new();
    for (rel, text) in [
        (".claude/skills/x/SKILL.md", "---\nname: x\n---\n"),
        (".claude/agents/a.md", "---\nname: a\n---\n"),
        (".claude/commands/c.md", "---\nname: c\n---\n"),
    ] {
        let path = p.home.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let run = p.sm(&["-g", "scan", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["scope"], "global");
    let kinds: Vec<&str> =
        doc["nodes"].as_array().expect("nodes").iter().map(|n| n["kind"].as_str().expect("k")).collect();
    assert_eq!(kinds, vec!["agent", "command", "skill"]);
    assert!(p.home.join(".skill-map/skill-map.db").exists());
    assert!(!p.db().exists());
    // The env var selects the same scope.
    let mut cmd = p.command(SM, &["scan", "--json", "--dry-run"]);
    let out = cmd.env("SKILL_MAP_SCOPE", "global").output().expect("run");
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).expect("json")["scope"], "global");
}

#[test]
fn db_flag_and_env_choose_the_database() {
    let p = Project::new();
    p.claude_project();
    let custom = p.home.join("custom.db");
    assert_eq!(p.sm(&["scan", "--db", custom.to_str().expect("utf8")]).code, 0);
    assert_eq!(db_count(&custom, "scan_nodes"), 4);
    let from_env = p.home.join("env.db");
    let out = p.command(SM, &["scan"]).env("SKILL_MAP_DB", &from_env).output().expect("run");
    assert!(out.status.success());
    assert_eq!(db_count(&from_env, "scan_nodes"), 4);
    assert!(!p.db().exists());
}

#[test]
fn json_env_var_switches_output() {
    let p = Project::new();
    p.claude_project();
    let out = p.command(SM, &["version"]).env("SKILL_MAP_JSON", "1").output().expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["dbSchema"], Value::Null);
    assert_eq!(doc["spec"], "0.1.0");
}

// ---------------------------------------------------------------------------------------------
// version, help, usage errors, alias, conformance
// ---------------------------------------------------------------------------------------------

#[test]
fn version_reports_the_matrix() {
    let p = Project::new();
    let before = p.sm(&["version", "--json"]).json();
    assert_eq!(before["dbSchema"], Value::Null);
    assert_eq!(before["sm"], env!("CARGO_PKG_VERSION"));
    p.claude_project();
    p.sm(&["scan"]);
    let after = p.sm(&["version", "--json"]).json();
    assert_eq!(after["dbSchema"], after["dbSchemaLatest"]);
    let human = p.sm(&["version"]);
    for label in ["sm ", "kernel ", "spec ", "db-schema "] {
        assert!(human.stdout.contains(label), "{}", human.stdout);
    }
}

#[test]
fn help_is_generated_in_three_formats() {
    let p = Project::new();
    let bare = p.sm(&[]);
    assert_eq!(bare.code, 0);
    assert!(bare.stdout.contains("Usage: sm"), "{}", bare.stdout);
    assert_eq!(p.sm(&["--help"]).code, 0);
    let json = p.sm(&["help", "--format", "json"]).json();
    let verbs: Vec<&str> =
        json["verbs"].as_array().expect("verbs").iter().map(|v| v["name"].as_str().expect("n")).collect();
    for verb in ["init", "scan", "version", "help", "conformance run"] {
        assert!(verbs.contains(&verb), "{verb} missing: {verbs:?}");
    }
    let globals: Vec<&str> =
        json["globalFlags"].as_array().expect("g").iter().filter_map(|f| f["long"].as_str()).collect();
    for flag in ["--global", "--json", "--verbose", "--quiet", "--no-color", "--db"] {
        assert!(globals.contains(&flag), "{flag} missing: {globals:?}");
    }
    let scan = json["verbs"].as_array().expect("verbs").iter().find(|v| v["name"] == "scan").expect("scan");
    let flags: Vec<&str> = scan["flags"].as_array().expect("f").iter().filter_map(|f| f["long"].as_str()).collect();
    assert_eq!(
        flags,
        vec![
            "--dry-run",
            "--changed",
            "--node",
            "--no-tokens",
            "--allow-empty",
            "--strict",
            "--profile",
            "--compare-with"
        ]
    );
    let md = p.sm(&["help", "scan", "--format", "md"]);
    assert!(md.stdout.contains("## `sm scan`") && md.stdout.contains("`--allow-empty`"), "{}", md.stdout);
    let human = p.sm(&["help", "init"]);
    assert!(human.stdout.contains("--no-scan"), "{}", human.stdout);
    let unknown = p.sm(&["help", "scna"]);
    assert_eq!(unknown.code, 5);
    assert!(
        unknown.stderr.contains("did you mean \"scan\"") || unknown.stderr.contains("did you mean scan"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn unknown_verbs_and_flags_are_exit_2_with_suggestions() {
    let p = Project::new();
    let verb = p.sm(&["scna"]);
    assert_eq!(verb.code, 2);
    assert!(verb.stderr.contains("scan"), "{}", verb.stderr);
    let flag = p.sm(&["scan", "--dry-rn"]);
    assert_eq!(flag.code, 2);
    assert!(flag.stderr.contains("--dry-run"), "{}", flag.stderr);
    let json = p.sm(&["scan", "--bogus", "--json"]);
    assert_eq!(json.code, 2);
    assert_eq!(json.json()["error"]["code"], "usage");
}

#[test]
fn skill_map_alias_is_the_same_tool() {
    let p = Project::new();
    p.claude_project();
    let out = p.command(env!("CARGO_BIN_EXE_skill-map"), &["scan", "--json", "--dry-run"]).output().expect("run");
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["stats"]["nodesCount"], 4);
}

#[test]
fn conformance_run_passes_every_embedded_case() {
    let p = Project::new();
    let run = p.sm(&["conformance", "run"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("PASS basic-scan"), "{}", run.stdout);
    assert!(run.stdout.contains("PASS kernel-empty-boot"), "{}", run.stdout);
    let cases = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/conformance/cases"))
        .expect("cases dir")
        .count();
    assert!(run.stdout.trim_end().ends_with(&format!("{cases} passed, 0 failed")), "{}", run.stdout);
}

#[test]
fn conformance_run_fails_loudly_on_bad_cases_and_failed_assertions() {
    let p = Project::new();
    p.write("suite/fixtures/one/notes/a.md", "# a\n");
    p.write(
        "suite/cases/wrong-count.json",
        r#"{"id":"wrong-count","description":"expects two nodes","fixture":"one","invoke":{"verb":"scan","flags":["--json"]},
            "assertions":[{"type":"json-path","path":"$.stats.nodesCount","equals":2},{"type":"file-exists","path":"notes/*.md"},
                          {"type":"stderr-matches","pattern":"done in"}]}"#,
    );
    let run = p.sm(&["conformance", "run", "--dir", "suite"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("FAIL wrong-count"), "{}", run.stdout);
    assert!(run.stdout.contains("assertion 0 (json-path)"), "{}", run.stdout);
    assert!(!run.stdout.contains("assertion 1"), "glob file-exists passes: {}", run.stdout);
    assert!(!run.stdout.contains("assertion 2"), "stderr-matches passes: {}", run.stdout);

    p.write(
        "suite/cases/odd.json",
        r#"{"id":"odd","description":"unknown assertion","invoke":{"verb":"version"},"assertions":[{"type":"stdout-equals","value":"x"}]}"#,
    );
    let run = p.sm(&["conformance", "run", "--dir", "suite"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown assertion type \"stdout-equals\""), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Real corpus
// ---------------------------------------------------------------------------------------------

fn corpus(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora").join(name);
    dir.is_dir().then_some(dir)
}

#[test]
fn scans_a_real_corpus_and_persists_every_node() {
    let Some(dir) = corpus("wshobson-agents") else {
        eprintln!("skipped: ../shared/corpora/wshobson-agents is not beside the repository");
        return;
    };
    let p = Project::new();
    let db = p.home.join("corpus.db");
    let run = p.sm(&["scan", dir.to_str().expect("utf8"), "--json", "--no-tokens", "--db", db.to_str().expect("utf8")]);
    assert!(run.code == 0 || run.code == 1, "crash or operational error: {}", run.stderr);
    let doc = run.json();
    validate("scan-result.schema.json", &doc);
    let md_files = walk_md(&dir);
    let nodes = doc["stats"]["nodesCount"].as_i64().expect("n");
    assert_eq!(nodes as usize, md_files, "every Markdown file becomes a node");
    assert_eq!(db_count(&db, "scan_nodes"), nodes);
    assert_eq!(db_count(&db, "scan_links"), doc["stats"]["linksCount"].as_i64().expect("n"));
    assert_eq!(db_count(&db, "scan_issues"), doc["stats"]["issuesCount"].as_i64().expect("n"));
    let kinds = |k: &str| doc["nodes"].as_array().expect("nodes").iter().filter(|n| n["kind"] == k).count();
    assert!(kinds("agent") > 100 && kinds("skill") > 100 && kinds("command") > 50);
}

fn walk_md(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            n += walk_md(&path);
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("md")) {
            n += 1;
        }
    }
    n
}

#[test]
fn stdout_stays_clean_when_stdin_is_closed() {
    let p = Project::new();
    p.claude_project();
    let out = p.command(SM, &["scan", "--json", "--dry-run"]).stdin(Stdio::null()).output().expect("run");
    assert!(out.status.success());
    serde_json::from_slice::<Value>(&out.stdout).expect("only JSON on stdout");
}

#[test]
fn the_committed_cli_reference_is_generated_from_the_definitions() {
    let p = Project::new();
    let md = p.sm(&["help", "--format", "md"]);
    assert_eq!(md.code, 0);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cli-reference.md");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &md.stdout).expect("write");
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("docs/cli-reference.md exists");
    assert!(committed == md.stdout, "docs/cli-reference.md is stale: run UPDATE_GOLDEN=1 cargo test");
}

#[test]
fn compare_with_reports_drift_and_never_touches_the_database() {
    let p = Project::new();
    p.claude_project();
    let base = p.sm(&["scan", "--json"]);
    assert_eq!(base.code, 0);
    p.write("base.json", &base.stdout);
    let db_before = std::fs::read(p.db()).expect("db");
    let same = p.sm(&["scan", "--compare-with", "base.json"]);
    assert_eq!(same.code, 0, "{}", same.stdout);
    assert!(same.stdout.contains("No drift"), "{}", same.stdout);
    p.write("notes/new.md", "---\nname: new-note\n---\nSee [gone](gone.md).\n");
    p.write("README.md", "# Project\n\nChanged.\n");
    std::fs::remove_file(p.root.join(".claude/commands/deploy.md")).expect("rm");
    let drift = p.sm(&["scan", "--compare-with", "base.json", "--json"]);
    assert_eq!(drift.code, 1);
    let doc = drift.json();
    assert_eq!(doc["drift"], true);
    assert_eq!(doc["delta"]["nodes"]["added"], serde_json::json!(["notes/new.md"]));
    assert_eq!(doc["delta"]["nodes"]["removed"], serde_json::json!([".claude/commands/deploy.md"]));
    assert_eq!(doc["delta"]["nodes"]["changed"][0]["path"], "README.md");
    assert_eq!(doc["delta"]["nodes"]["changed"][0]["reason"], "body");
    assert_eq!(doc["delta"]["links"]["added"][0]["target"], "notes/gone.md");
    assert_eq!(doc["delta"]["issues"]["added"][0]["ruleId"], "broken-ref");
    assert_eq!(std::fs::read(p.db()).expect("db"), db_before, "compare-with never writes");
    assert_eq!(p.sm(&["scan", "--compare-with", "missing.json"]).code, 5);
    p.write("bad.json", "{\"schemaVersion\": 1}");
    let bad = p.sm(&["scan", "--compare-with", "bad.json"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("not a ScanResult"), "{}", bad.stderr);
}

#[test]
fn renames_move_state_and_orphans_can_be_reconciled_or_undone() {
    let p = Project::new();
    p.write("notes/a.md", "---\nname: a\n---\nAlpha body.\n")
        .write("notes/b.md", "---\nname: shared\n---\nOne.\n")
        .write("notes/c.md", "---\nname: c\n---\nGamma.\n")
        .write("notes/x.md", "---\nname: twin\n---\nX.\n")
        .write("notes/y.md", "---\nname: twin\n---\nY.\n");
    assert_eq!(p.sm(&["scan"]).code, 0);
    let conn = rusqlite::Connection::open(p.db()).expect("open");
    for node in ["notes/a.md", "notes/b.md", "notes/c.md"] {
        conn.execute("INSERT INTO state_plugin_kv VALUES ('p', ?1, 'k', '1', 0)", [node]).expect("insert");
    }
    drop(conn);
    std::fs::rename(p.root.join("notes/a.md"), p.root.join("notes/a2.md")).expect("mv");
    std::fs::remove_file(p.root.join("notes/b.md")).expect("rm");
    p.write("notes/b2.md", "---\nname: shared\n---\nTwo, rewritten.\n");
    std::fs::remove_file(p.root.join("notes/x.md")).expect("rm");
    std::fs::remove_file(p.root.join("notes/y.md")).expect("rm");
    p.write("notes/w.md", "---\nname: twin\n---\nW.\n");
    std::fs::remove_file(p.root.join("notes/c.md")).expect("rm");
    let doc = p.sm(&["scan", "--json"]).json();
    let issues: Vec<(String, String)> = doc["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| (i["ruleId"].as_str().expect("r").to_owned(), i["nodeIds"][0].as_str().expect("n").to_owned()))
        .collect();
    let has = |r: &str, n: &str| issues.iter().any(|(a, b)| a == r && b == n);
    assert!(has("auto-rename-medium", "notes/b2.md"), "{issues:?}");
    assert!(has("auto-rename-ambiguous", "notes/w.md"), "{issues:?}");
    assert!(has("orphan", "notes/c.md") && has("orphan", "notes/x.md") && has("orphan", "notes/y.md"), "{issues:?}");
    assert!(!issues.iter().any(|(_, n)| n == "notes/a2.md"), "a high-confidence rename is silent");
    let kv = |node: &str| -> i64 {
        rusqlite::Connection::open(p.db())
            .expect("open")
            .query_row("SELECT COUNT(*) FROM state_plugin_kv WHERE node_id = ?1", [node], |r| r.get(0))
            .expect("count")
    };
    assert_eq!((kv("notes/a2.md"), kv("notes/b2.md"), kv("notes/a.md")), (1, 1, 0), "state followed both renames");

    let listed = p.sm(&["orphans", "--kind", "orphan", "--json"]).json();
    assert_eq!(listed.as_array().expect("list").len(), 3);
    assert_eq!(p.sm(&["orphans", "undo-rename", "notes/b2.md"]).code, 2, "asks first; no terminal");
    let undone = p.sm(&["orphans", "undo-rename", "notes/b2.md", "--from", "notes/b.md", "--force"]);
    assert_eq!(undone.code, 0, "{}", undone.stderr);
    assert_eq!((kv("notes/b2.md"), kv("notes/b.md")), (0, 1), "state moved back");
    assert_eq!(p.sm(&["orphans", "undo-rename", "notes/w.md"]).code, 5, "an ambiguous rename moved nothing");
    let dry = p.sm(&["orphans", "reconcile", "notes/c.md", "--to", "notes/w.md", "--dry-run", "--json"]).json();
    assert_eq!(dry["moved"][0]["rows"], 1);
    assert_eq!(kv("notes/c.md"), 1, "dry run");
    assert_eq!(p.sm(&["orphans", "reconcile", "notes/c.md", "--to", "notes/w.md"]).code, 0);
    assert_eq!((kv("notes/c.md"), kv("notes/w.md")), (0, 1));
    assert_eq!(p.sm(&["orphans", "reconcile", "notes/nope.md", "--to", "notes/w.md"]).code, 5);
    // The next scan still remembers history stranded on a path that no node has.
    let again = p.sm(&["scan", "--json"]).json();
    let stranded: Vec<&Value> =
        again["issues"].as_array().expect("i").iter().filter(|i| i["data"]["stranded"] == true).collect();
    assert_eq!(stranded.len(), 1);
    assert_eq!(stranded[0]["nodeIds"][0], "notes/b.md");
}

#[test]
fn incremental_scans_track_renames_and_orphans_and_skip_the_lookup_when_nothing_vanished() {
    let p = Project::new();
    p.write("notes/a.md", "---\nname: a\n---\nAlpha body.\n").write("notes/c.md", "---\nname: c\n---\nGamma.\n");
    assert_eq!(p.sm(&["scan"]).code, 0);
    let conn = rusqlite::Connection::open(p.db()).expect("open");
    conn.execute("INSERT INTO state_plugin_kv VALUES ('p', 'notes/a.md', 'k', '1', 0)", []).expect("insert");
    drop(conn);
    let rules = |doc: &Value| -> Vec<(String, String)> {
        doc["issues"]
            .as_array()
            .expect("issues")
            .iter()
            .map(|i| (i["ruleId"].as_str().expect("r").to_owned(), i["nodeIds"][0].as_str().expect("n").to_owned()))
            .collect()
    };
    std::fs::rename(p.root.join("notes/a.md"), p.root.join("notes/a2.md")).expect("mv");
    std::fs::remove_file(p.root.join("notes/c.md")).expect("rm");
    let moved = rules(&p.sm(&["scan", "--changed", "--json"]).json());
    assert!(moved.contains(&("orphan".into(), "notes/c.md".into())), "{moved:?}");
    assert!(!moved.iter().any(|(_, n)| n == "notes/a2.md"), "a high-confidence rename is silent: {moved:?}");
    let kv: i64 = rusqlite::Connection::open(p.db())
        .expect("open")
        .query_row("SELECT COUNT(*) FROM state_plugin_kv WHERE node_id = 'notes/a2.md'", [], |r| r.get(0))
        .expect("count");
    assert_eq!(kv, 1, "state followed the rename found by an incremental scan");
    // An edit, nothing vanished: no rename or orphan report (they are one-shot), and state rows
    // pointing at no node are still found.
    p.write("notes/a2.md", "---\nname: a\n---\nAlpha body, edited.\n");
    let conn = rusqlite::Connection::open(p.db()).expect("open");
    conn.execute("INSERT INTO state_plugin_kv VALUES ('p', 'notes/gone.md', 'k', '1', 0)", []).expect("insert");
    drop(conn);
    let doc = p.sm(&["scan", "--changed", "--json"]).json();
    let edited = rules(&doc);
    assert!(!edited.iter().any(|(r, _)| r.starts_with("auto-rename")), "{edited:?}");
    assert!(!edited.contains(&("orphan".into(), "notes/c.md".into())), "reported once: {edited:?}");
    let stranded: Vec<&Value> =
        doc["issues"].as_array().expect("i").iter().filter(|i| i["data"]["stranded"] == true).collect();
    assert_eq!(stranded.len(), 1, "{edited:?}");
    assert_eq!(stranded[0]["nodeIds"][0], "notes/gone.md");
}

/// A small deterministic pseudo-random sequence (no dependency, same on every machine).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn strip_timing(mut v: Value) -> Value {
    v["scannedAt"] = Value::Null;
    v["stats"]["durationMs"] = Value::Null;
    v
}

#[test]
fn incremental_scans_equal_full_scans_after_random_changes() {
    let p = Project::new();
    for i in 0..40 {
        let (dir, kind) = match i % 4 {
            0 => (format!(".claude/skills/skill-{i:02}/SKILL.md"), "skill"),
            1 => (format!(".claude/agents/agent-{i:02}.md"), "agent"),
            2 => (format!(".claude/commands/cmd-{i:02}.md"), "command"),
            _ => (format!("notes/note-{i:02}.md"), "note"),
        };
        let next = (i + 3) % 40;
        p.write(
            &dir,
            format!(
                "---\nname: {kind}-{i:02}\ndescription: The {kind} number {i}.\n---\n\n# {kind} {i}\n\nUse /cmd-{next:02} and ask @agent-{:02}.\nSee [note](../notes/note-{:02}.md) and skill-{:02} as well.\n",
                (i + 1) % 40,
                (i + 3) % 40,
                (i + 4) % 40
            ),
        );
    }
    assert!(p.sm(&["scan"]).code <= 1);
    // Two copies of the same project and database: one rescanned fully, one incrementally.
    let twin = Project::new();
    copy_dir(&p.root, &twin.root);
    let mut rng = Lcg(7);
    for round in 0..3 {
        for project in [&p, &twin] {
            let mut rng = Lcg(rng.0);
            let mut files: Vec<String> = Vec::new();
            collect_md(&project.root, &project.root, &mut files);
            files.sort();
            for step in 0..8 {
                let pick = files[rng.next(files.len())].clone();
                let path = project.root.join(&pick);
                if !path.exists() {
                    continue;
                }
                match rng.next(5) {
                    0 => {
                        let mut text = std::fs::read_to_string(&path).expect("read");
                        text.push_str(&format!("\nRound {round} step {step}: also /cmd-{:02}.\n", rng.next(40)));
                        std::fs::write(&path, text).expect("write");
                    }
                    1 => {
                        let target = path.with_file_name(format!("moved-{round}-{step}.md"));
                        std::fs::rename(&path, target).expect("rename");
                    }
                    2 => std::fs::remove_file(&path).expect("rm"),
                    3 => {
                        let text = std::fs::read_to_string(&path).expect("read").replace("name: ", "name: renamed-");
                        std::fs::write(&path, text).expect("write");
                    }
                    _ => {
                        project.write(
                            &format!("notes/new-{round}-{step}.md"),
                            format!(
                                "---\nname: fresh-note-{round}-{step}\n---\nMentions skill-{:02} and agent-{:02}.\n",
                                rng.next(40),
                                rng.next(40)
                            ),
                        );
                    }
                }
            }
        }
        rng.next(1000);
        let full = p.sm(&["scan", "--json"]);
        let incremental = twin.sm(&["scan", "--changed", "--json", "--progress", "ndjson"]);
        assert!(full.code <= 1 && incremental.code <= 1, "{}\n{}", full.stderr, incremental.stderr);
        let cached = incremental.stderr.lines().filter(|l| l.contains("\"cached\":true")).count();
        if round > 0 {
            assert!(cached > 20, "round {round}: only {cached} files came from the cache");
        }
        assert!(!incremental.stderr.contains("running a full scan"), "the twin had a stored scan to reuse");
        let (a, b) = (strip_timing(full.json()), strip_timing(incremental.json()));
        if a != b {
            let (an, bn) = (a["nodes"].as_array().expect("n"), b["nodes"].as_array().expect("n"));
            for (x, y) in an.iter().zip(bn) {
                assert_eq!(x, y, "round {round}: first differing node");
            }
            assert_eq!(a["links"], b["links"], "round {round}: links differ");
            assert_eq!(a["issues"], b["issues"], "round {round}: issues differ");
            assert_eq!(a, b, "round {round}");
        }
        // The incremental side updated its database in place; what it stored must equal too.
        let (stored_full, stored_incremental) = (p.sm(&["graph", "--json"]), twin.sm(&["graph", "--json"]));
        assert_eq!(stored_incremental.code, 0, "{}", stored_incremental.stderr);
        assert_eq!(stored_full.stdout, stored_incremental.stdout, "round {round}: stored scans differ");
    }
    // Edits that keep every name and path: unchanged files come from the cache untouched, while
    // the nodes they now link to get new incoming counts that must reach the stored rows.
    let mut files: Vec<String> = Vec::new();
    collect_md(&p.root, &p.root, &mut files);
    files.sort();
    let targets: Vec<&String> = files.iter().filter(|f| f.contains("cmd-")).take(2).collect();
    assert_eq!(targets.len(), 2, "{files:?}");
    let name_of = |f: &str| Path::new(f).file_stem().expect("stem").to_string_lossy().into_owned();
    for project in [&p, &twin] {
        let path = project.root.join(&files[0]);
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str(&format!("\nNow also /{} and /{}.\n", name_of(targets[0]), name_of(targets[1])));
        std::fs::write(&path, text).expect("write");
    }
    let full = p.sm(&["scan", "--json"]);
    let incremental = twin.sm(&["scan", "--changed", "--json", "--progress", "ndjson"]);
    let fresh = incremental.stderr.lines().filter(|l| l.contains("\"cached\":false")).count();
    assert_eq!(fresh, 1, "only the edited file is read");
    assert_eq!(strip_timing(full.json()), strip_timing(incremental.json()));
    assert_eq!(p.sm(&["graph", "--json"]).stdout, twin.sm(&["graph", "--json"]).stdout, "stored scans differ");
}

#[test]
fn a_corrupt_incremental_cache_is_a_clear_error_that_a_full_scan_repairs() {
    let p = Project::new();
    p.write("notes/a.md", "---\nname: a\n---\nSee [b](b.md).\n").write("notes/b.md", "---\nname: b\n---\nB.\n");
    assert_eq!(p.sm(&["scan"]).code, 0);
    let conn = rusqlite::Connection::open(p.db()).expect("open");
    conn.execute("UPDATE scan_node_cache SET detections_json = '{not json'", []).expect("corrupt");
    drop(conn);
    p.write("notes/a.md", "---\nname: a\n---\nSee [b](b.md) again.\n");
    let broken = p.sm(&["scan", "--changed"]);
    assert_eq!(broken.code, 2, "{}", broken.stderr);
    assert!(broken.stderr.contains("scan_node_cache.detections_json"), "{}", broken.stderr);
    assert!(broken.stderr.contains("a full `sm scan`"), "{}", broken.stderr);
    assert_eq!(p.db_count("scan_nodes"), 2, "the stored scan is untouched");
    assert_eq!(p.sm(&["scan"]).code, 0);
    let repaired = p.sm(&["scan", "--changed", "--json"]);
    assert_eq!(repaired.code, 0, "{}", repaired.stderr);
    assert_eq!(repaired.json()["stats"]["linksCount"], 1);
}

/// How many files a scan went through (read, or taken from the cache), from its ndjson progress.
fn files_visited(run: &Run) -> usize {
    run.stderr.lines().filter(|l| l.contains("\"scan.progress\"")).count()
}

#[test]
fn changed_with_nothing_changed_reuses_the_stored_result() {
    let p = Project::new();
    p.write("notes/a.md", "---\nname: a\n---\nSee [b](b.md) and [gone](missing.md).\n")
        .write("notes/b.md", "---\nname: b\n---\nBeta.\n")
        .write("notes/c.md", "---\nname: c\n---\nGamma.\n");
    assert_eq!(p.sm(&["scan"]).code, 0);
    std::fs::remove_file(p.root.join("notes/c.md")).expect("rm");
    let deleted = p.sm(&["scan", "--changed", "--json"]).json();
    let orphan = |doc: &Value, node: &str| {
        doc["issues"].as_array().expect("issues").iter().any(|i| i["ruleId"] == "orphan" && i["nodeIds"][0] == node)
    };
    assert!(orphan(&deleted, "notes/c.md"), "the deletion is reported once");

    let args = ["scan", "--changed", "--json", "--progress", "ndjson"];
    let reused = p.sm(&args);
    assert_eq!(reused.code, 0, "{}", reused.stderr);
    assert_eq!(files_visited(&reused), 0, "nothing changed, nothing read: {}", reused.stderr);
    let reused = reused.json();
    assert!(!orphan(&reused, "notes/c.md"), "a reported deletion is not reported again");
    let full = p.sm(&["scan", "--json"]).json();
    assert_eq!(strip_timing(reused.clone()), strip_timing(full.clone()));
    assert!(reused["scannedAt"].as_u64() > deleted["scannedAt"].as_u64(), "a fresh scan time");
    let verbose = p.sm(&["scan", "--changed", "-v"]);
    assert!(verbose.stderr.contains("nothing changed since the stored scan"), "{}", verbose.stderr);
    let text = p.sm(&["scan", "--changed"]).stdout;
    assert!(text.contains("2 nodes, 2 links, 1 issues"), "{text}");
    assert_eq!(text, p.sm(&["scan"]).stdout, "the summary of a full scan");

    // History stranded on a path no node has appears without any file changing.
    let conn = rusqlite::Connection::open(p.db()).expect("open");
    conn.execute("INSERT INTO state_plugin_kv VALUES ('p', 'notes/gone.md', 'k', '1', 0)", []).expect("insert");
    drop(conn);
    let stranded = p.sm(&args);
    assert_eq!(files_visited(&stranded), 0);
    let stranded = stranded.json();
    assert!(orphan(&stranded, "notes/gone.md"), "{stranded}");
    assert_eq!(strip_timing(stranded), strip_timing(p.sm(&["scan", "--json"]).json()));

    // Anything a scan depends on invalidates the shortcut: a flag, a file's mtime.
    assert_eq!(files_visited(&p.sm(&["scan", "--changed", "--no-tokens", "--progress", "ndjson"])), 2);
    assert_eq!(files_visited(&p.sm(&["scan", "--changed", "--no-tokens", "--progress", "ndjson"])), 0);
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(p.root.join("notes/b.md"))
        .and_then(|f| f.set_modified(later))
        .expect("touch");
    assert_eq!(files_visited(&p.sm(&["scan", "--changed", "--no-tokens", "--progress", "ndjson"])), 2);
}

fn collect_md(base: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == ".skill-map") {
            continue;
        }
        if path.is_dir() {
            collect_md(base, &path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path.strip_prefix(base).expect("inside").to_string_lossy().into_owned());
        }
    }
}

/// Reads a child's stdout lines on a thread, so the test can wait with a timeout.
/// An `sm watch` child that is killed and reaped when the test ends, also when an assertion fails
/// first (a watcher left behind would run on forever).
struct Reaped(std::process::Child);

fn spawn_watch(p: &Project, args: &[&str]) -> Reaped {
    Reaped(p.command(SM, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("sm watch starts"))
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn line_reader(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_json(rx: &std::sync::mpsc::Receiver<String>) -> Value {
    let line = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("a batch within 30 s");
    serde_json::from_str(&line).expect("one ScanResult per line")
}

/// The small Claude project scanned and stored, then watched (`--json -v`) past its initial scan,
/// which answers from the stored scan (the watch then loads the cache before any change arrives).
/// Returns the watch and its stdout and stderr lines.
fn watch_stored_project(p: &Project) -> (Reaped, std::sync::mpsc::Receiver<String>, std::sync::mpsc::Receiver<String>) {
    p.claude_project();
    assert_eq!(p.sm(&["scan"]).code, 0);
    let mut child = spawn_watch(p, &["watch", "--json", "-v"]);
    let out = line_reader(child.0.stdout.take().expect("stdout"));
    let err = line_reader(child.0.stderr.take().expect("stderr"));
    assert_eq!(next_json(&out)["stats"]["nodesCount"], 4);
    (child, out, err)
}

/// Waits on `sm watch -v`'s stderr for the note a scan prints when it follows the reported files:
/// the watch has started on the changes (ahead of the debounce, as nothing else runs).
fn wait_for_work_ahead(err: &std::sync::mpsc::Receiver<String>) {
    while !err.recv_timeout(std::time::Duration::from_secs(30)).expect("a note").contains("updated the last walk") {}
}

/// `sm watch` computes a batch once the changes settle and persists it when the debounce ends.
/// Changes made after it started on a batch (to another file, then to the settings) must still
/// be in that batch and in the database: the batch is computed again on top of the first
/// computation, and the database gets the rows both changed.
#[test]
fn watch_batches_keep_changes_made_while_they_were_computed_ahead() {
    let p = Project::new();
    let (mut child, out, err) = watch_stored_project(&p);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let stored_equals_full_scan = |batch: &Value, step: &str| {
        let full = strip_timing(p.sm(&["scan", "--dry-run", "--json"]).json());
        assert_eq!(strip_timing(batch.clone())["nodes"], full["nodes"], "{step}: batch nodes");
        let stored = p.sm(&["graph", "--json"]).json();
        assert_eq!(stored["nodes"], full["nodes"], "{step}: stored nodes");
        assert_eq!(stored["links"], full["links"], "{step}: stored links");
        assert_eq!(stored["issues"], batch["issues"], "{step}: stored issues");
    };
    let names = |batch: &Value| -> Vec<String> {
        let nodes = batch["nodes"].as_array().expect("nodes");
        nodes.iter().filter_map(|n| n["frontmatter"]["name"].as_str().map(str::to_owned)).collect()
    };

    // One file, then (once the watch has started on it) another: one batch with both.
    p.write(".claude/agents/reviewer.md", "---\nname: critic\ndescription: Reviews code.\n---\n\nReviews.\n");
    wait_for_work_ahead(&err);
    p.write(".claude/commands/deploy.md", "---\nname: ship\ndescription: Deploys.\n---\n\nSee [gone](gone.md).\n");
    let batch = next_json(&out);
    assert!(names(&batch).contains(&"critic".to_owned()), "{:?}", names(&batch));
    assert!(names(&batch).contains(&"ship".to_owned()), "{:?}", names(&batch));
    let broken = |batch: &Value, target: &str| {
        batch["issues"].as_array().expect("issues").iter().any(|i| i["data"]["target"] == target)
    };
    assert!(broken(&batch, ".claude/commands/gone.md"));
    stored_equals_full_scan(&batch, "two files");

    // A file, then the settings (which reload before a batch and are never worked ahead of):
    // the batch scans with the new settings and keeps the file's change.
    std::thread::sleep(std::time::Duration::from_millis(400));
    p.write("README.md", "# Project\n\nSee [missing](missing.md).\n");
    wait_for_work_ahead(&err);
    p.write(".skill-map/settings.json", "{\"schemaVersion\": 1, \"ignore\": [\".claude/agents/\"]}\n");
    let batch = next_json(&out);
    assert_eq!(batch["stats"]["nodesCount"], 3, "the agent is ignored now");
    assert!(broken(&batch, "missing.md"));
    stored_equals_full_scan(&batch, "a file and the settings");
    Command::new("kill").args(["-INT", &child.0.id().to_string()]).status().expect("kill");
    assert_eq!(child.0.wait().expect("wait").code(), Some(0));
}

/// A batch whose issues differ from the stored ones in the middle rows only (the same number of
/// issues) updates just those rows, found while the debounce ran; a batch computed again on top
/// of that (a second change meanwhile), or scanned on top of it after a settings reload, finds
/// them again for its own issues.
#[test]
fn watch_batches_update_the_issue_rows_that_changed_in_the_middle() {
    let p = Project::new();
    for (name, target) in [("a", "a-gone"), ("b", "b-gone"), ("c", "c-gone")] {
        p.write(&format!("notes/{name}.md"), format!("# {name}\n\nSee [x]({target}.md).\n"));
    }
    assert_eq!(p.sm(&["scan"]).code, 0);
    let mut child = spawn_watch(&p, &["watch", "--json", "-v"]);
    let out = line_reader(child.0.stdout.take().expect("stdout"));
    let err = line_reader(child.0.stderr.take().expect("stderr"));
    next_json(&out);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let targets = |batch: &Value| -> Vec<String> {
        let issues = batch["issues"].as_array().expect("issues");
        issues.iter().filter_map(|i| i["data"]["target"].as_str().map(str::to_owned)).collect()
    };
    // Points `b.md` at `b`, then, once the watch works on that, `c.md` at `c` (and touches the
    // settings with `settings`); the batch's broken targets and the stored issues are checked.
    let step = |b: &str, c: Option<&str>, settings: bool, what: &str| {
        std::thread::sleep(std::time::Duration::from_millis(400));
        while err.recv_timeout(std::time::Duration::from_millis(100)).is_ok() {}
        p.write("notes/b.md", format!("# b\n\nSee [x]({b}.md).\n"));
        if let Some(c) = c {
            wait_for_work_ahead(&err);
            p.write("notes/c.md", format!("# c\n\nSee [x]({c}.md).\n"));
        }
        if settings {
            p.write(".skill-map/settings.json", "{\"schemaVersion\": 1}\n");
        }
        let batch = next_json(&out);
        let c = format!("notes/{}.md", c.unwrap_or("c-gone"));
        assert_eq!(targets(&batch), ["notes/a-gone.md", &format!("notes/{b}.md"), &c], "{what}");
        let stored = p.sm(&["graph", "--json"]).json();
        assert_eq!(stored["issues"], batch["issues"], "{what}: stored issues");
    };
    step("b-lost", None, false, "the middle issue");
    step("b-away", Some("c-away"), false, "two issues, the second after the work ahead");
    // That batch is not worked ahead (the settings reload first) and starts from the one prepared
    // for the middle file, whose rows found unchanged are not this batch's.
    step("b-far", Some("c-far"), true, "two issues and the settings");
    Command::new("kill").args(["-INT", &child.0.id().to_string()]).status().expect("kill");
    assert_eq!(child.0.wait().expect("wait").code(), Some(0));
}

#[test]
fn watch_rescans_on_change_and_stops_cleanly_on_ctrl_c() {
    let p = Project::new();
    p.claude_project();
    let mut child = spawn_watch(&p, &["watch", "--json"]);
    let rx = line_reader(child.0.stdout.take().expect("stdout"));
    let first = next_json(&rx);
    assert_eq!(first["stats"]["nodesCount"], 4);
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.write("notes/live.md", "---\nname: live-note\n---\nSee [gone](gone.md).\n");
    let second = next_json(&rx);
    assert_eq!(second["stats"]["nodesCount"], 5);
    assert!(second["issues"].as_array().expect("issues").iter().any(|i| i["data"]["target"] == "notes/gone.md"));
    assert_eq!(p.db_count("scan_nodes"), 5, "each batch is persisted");
    Command::new("kill").args(["-INT", &child.0.id().to_string()]).status().expect("kill");
    let status = child.0.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "Ctrl-C is a clean exit");
}

#[test]
fn watch_reloads_its_kept_cache_when_another_scan_wrote_the_database() {
    let p = Project::new();
    p.claude_project();
    let mut child = spawn_watch(&p, &["watch", "--json"]);
    let rx = line_reader(child.0.stdout.take().expect("stdout"));
    assert_eq!(next_json(&rx)["stats"]["nodesCount"], 4);
    // Another process stores a scan without token counts behind the watcher's back.
    assert_eq!(p.sm(&["scan", "--no-tokens"]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    // An edit that keeps every name: the other nodes would come from the watcher's cache.
    p.write("README.md", "# Project\n\nHello again.\n");
    assert_eq!(next_json(&rx)["stats"]["nodesCount"], 4);
    // The watcher's batch must not trust its in-memory cache (with tokens) for rows it did not
    // write: every stored node has its token counts again.
    let stored = p.sm(&["graph", "--json"]).json();
    let nodes = stored["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 4);
    for n in nodes {
        assert!(n["tokens"].is_object(), "{} has no tokens: {n}", n["path"]);
    }
}

/// The watch holds one connection; a database deleted behind its back is created again by the
/// next batch (not written into the deleted file), and held from then on.
#[test]
fn watch_writes_a_new_database_when_its_database_was_deleted() {
    let p = Project::new();
    p.claude_project();
    let mut child = spawn_watch(&p, &["watch", "--json"]);
    let rx = line_reader(child.0.stdout.take().expect("stdout"));
    assert_eq!(next_json(&rx)["stats"]["nodesCount"], 4);
    let db = p.db();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.write("notes/one.md", "# One\n");
    assert_eq!(next_json(&rx)["stats"]["nodesCount"], 5);
    assert!(db.exists(), "the batch created the database again");
    assert_eq!(p.db_count("scan_nodes"), 5);
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.write("notes/two.md", "# Two\n");
    assert_eq!(next_json(&rx)["stats"]["nodesCount"], 6);
    assert_eq!(p.db_count("scan_nodes"), 6, "later batches write into the new database too");
}

#[test]
fn watch_sees_an_edit_made_while_the_initial_scan_runs() {
    let p = Project::new();
    p.claude_project();
    let mut child = spawn_watch(&p, &["watch", "--json", "--progress", "ndjson"]);
    let out = line_reader(child.0.stdout.take().expect("stdout"));
    let err = line_reader(child.0.stderr.take().expect("stderr"));
    // The initial scan has started: write now, before its result comes out.
    while !err.recv_timeout(std::time::Duration::from_secs(30)).expect("a progress event").contains("scan.started") {}
    p.write("notes/early.md", "---\nname: early-note\n---\nWritten during the first scan.\n");
    // Whether or not the initial scan already read the file, the watcher was listening when it was
    // written, so a second batch follows and has it.
    let _initial = next_json(&out);
    let batch = next_json(&out);
    assert_eq!(batch["stats"]["nodesCount"], 5);
    assert!(batch["nodes"].as_array().expect("nodes").iter().any(|n| n["path"] == "notes/early.md"));
    Command::new("kill").args(["-INT", &child.0.id().to_string()]).status().expect("kill");
    assert_eq!(child.0.wait().expect("wait").code(), Some(0));
}

#[test]
fn watch_batches_equal_full_scans_whether_they_walk_or_follow_the_reported_files() {
    let p = Project::new();
    let (mut child, out, err) = watch_stored_project(&p);
    let full_scan = || strip_timing(p.sm(&["scan", "--dry-run", "--json"]).json());
    let same_as_full = |batch: Value, step: &str| {
        let (batch, full) = (strip_timing(batch), full_scan());
        assert_eq!(batch["nodes"], full["nodes"], "{step}: nodes");
        assert_eq!(batch["links"], full["links"], "{step}: links");
        assert_eq!(batch["stats"]["filesWalked"], full["stats"]["filesWalked"], "{step}: files walked");
        // And the database holds the batch (issues are not rewritten when a batch leaves them as
        // they were).
        let stored = p.sm(&["graph", "--json"]).json();
        assert_eq!(stored["issues"], batch["issues"], "{step}: stored issues");
        assert_eq!(stored["links"], batch["links"], "{step}: stored links");
        batch
    };
    // Whether the batch followed the reported files (no walk) — read from `-v`'s note on stderr.
    let followed = || {
        let mut seen = false;
        while let Ok(line) = err.recv_timeout(std::time::Duration::from_millis(300)) {
            seen |= line.contains("updated the last walk");
        }
        seen
    };
    let step = |write: &dyn Fn(), what: &str| {
        std::thread::sleep(std::time::Duration::from_millis(400));
        followed(); // drain
        write();
        let batch = same_as_full(next_json(&out), what);
        (batch, followed())
    };

    let (edited, no_walk) = step(
        &|| {
            p.write("README.md", "# Project\n\nSee [gone](gone.md).\n");
        },
        "edit",
    );
    assert!(no_walk, "an edit of a known file needs no walk");
    assert!(edited["issues"].as_array().expect("issues").iter().any(|i| i["data"]["target"] == "gone.md"));

    let reviewer = "---\nname: reviewer\ndescription: Reviews code.\n---\n\nReviews twice.\n";
    let (same_issues, no_walk) = step(
        &|| {
            p.write(".claude/agents/reviewer.md", reviewer);
        },
        "same issues",
    );
    assert!(no_walk);
    assert_eq!(same_issues["issues"], edited["issues"]);

    let (deleted, no_walk) =
        step(&|| std::fs::remove_file(p.root.join(".claude/commands/deploy.md")).expect("rm"), "deletion");
    assert!(no_walk, "a deletion of a known file needs no walk");
    assert_eq!(deleted["stats"]["nodesCount"], 3);

    let (added, no_walk) = step(
        &|| {
            p.write("notes/new.md", "---\nname: new-note\n---\nNew.\n");
        },
        "addition",
    );
    assert!(!no_walk, "a new file is found by walking (ignore rules apply to it)");
    assert_eq!(added["stats"]["nodesCount"], 4);

    let (ignored, no_walk) = step(
        &|| {
            p.write(".gitignore", "notes/\n");
        },
        "ignore file",
    );
    assert!(!no_walk, "an ignore file changes what the walk yields");
    assert_eq!(ignored["stats"]["nodesCount"], 3, "notes/new.md is ignored now");
    // The batch stored the input fingerprint a one-shot scan computes (the watch hashes it while
    // the batch runs): `--changed` answers from the stored scan.
    let changed = p.sm(&["scan", "--changed", "-v"]);
    assert!(changed.stderr.contains("nothing changed since the stored scan"), "{}", changed.stderr);
    Command::new("kill").args(["-INT", &child.0.id().to_string()]).status().expect("kill");
    assert_eq!(child.0.wait().expect("wait").code(), Some(0));
}

#[test]
fn watch_gives_up_after_consecutive_failed_batches() {
    let p = Project::new();
    p.write("docs/guide.md", "# Guide\n").write("docs/other.md", "# Other\n");
    let mut child = spawn_watch(&p, &["watch", "docs", "--json", "--max-consecutive-failures", "1"]);
    let rx = line_reader(child.0.stdout.take().expect("stdout"));
    assert_eq!(next_json(&rx)["stats"]["nodesCount"], 2);
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::fs::remove_dir_all(p.root.join("docs")).expect("rm");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("try_wait") {
            break s;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "watch did not give up");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(2));
}

#[test]
fn scan_n_rescans_one_node() {
    let p = Project::new();
    p.claude_project();
    assert_eq!(p.sm(&["scan"]).code, 0);
    let run = p.sm(&["scan", "-n", ".claude/agents/reviewer.md", "--json", "--progress", "ndjson"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let read: Vec<&str> = run.stderr.lines().filter(|l| l.contains("\"cached\":false")).collect();
    assert_eq!(read.len(), 1, "only the named node is read: {read:?}");
    assert!(read[0].contains("reviewer.md"));
    assert_eq!(run.json()["stats"]["nodesCount"], 4);
    assert_eq!(p.sm(&["scan", "-n", "nope.md"]).code, 5);
}

#[test]
fn a_full_scan_reuses_stored_token_counts_only_for_the_same_text() {
    const SKILL: &str = ".claude/skills/pdf/SKILL.md";
    // With CRLF line ends the text has the same content hash and another count.
    let lf = "---\nname: pdf\ndescription: PDF tools.\n---\n# PDF\n\n\n\nRun:\n\n\n  tool --x\n\n";
    let crlf = lf.replace('\n', "\r\n");
    let tokens = |doc: &Value| {
        let nodes = doc["nodes"].as_array().expect("nodes");
        nodes.iter().find(|n| n["path"] == SKILL).expect("the skill")["tokens"].clone()
    };
    let cold = |text: &str| {
        let p = Project::new();
        p.write(SKILL, text);
        tokens(&p.sm(&["scan", "--json", "--dry-run"]).json())
    };
    let (cold_lf, cold_crlf) = (cold(lf), cold(&crlf));
    assert_ne!(cold_lf, cold_crlf, "the case needs line ends that change the count");

    let p = Project::new();
    p.claude_project().write(SKILL, lf);
    assert_eq!(p.sm(&["scan", "-q"]).code, 0);
    let again = p.sm(&["scan", "--json", "-v"]);
    assert!(again.stderr.contains("counted by the stored scan are reused"), "{}", again.stderr);
    assert_eq!(tokens(&again.json()), cold_lf);
    // Same hash, other bytes: counted again.
    p.write(SKILL, &crlf);
    assert_eq!(tokens(&p.sm(&["scan", "--json"]).json()), cold_crlf);
    // And back: the stored count is the CRLF text's, so the LF text is counted again too.
    p.write(SKILL, lf);
    assert_eq!(tokens(&p.sm(&["scan", "--json"]).json()), cold_lf);
    // An edited text is counted, not looked up.
    let edited = lf.replace("tool --x", "tool --x --y --z and more words");
    p.write(SKILL, &edited);
    assert_eq!(tokens(&p.sm(&["scan", "--json"]).json()), cold(&edited));
}

/// A scan killed mid-write leaves its scratch files beside the database (`.building-<pid>`,
/// `.rows-<pid>`); a later scan deletes those of processes that no longer run once they have not
/// changed for an hour, and leaves those of running ones, recent ones and anything else alone.
#[cfg(target_os = "linux")]
#[test]
fn a_scan_deletes_scratch_files_that_killed_scans_left() {
    let p = Project::new();
    p.claude_project();
    let state = p.root.join(".skill-map");
    std::fs::create_dir_all(&state).expect("mkdir");
    // No process has the pid `pid_max`: pids stay below it.
    let dead = std::fs::read_to_string("/proc/sys/kernel/pid_max").expect("pid_max").trim().to_owned();
    let alive = std::process::id().to_string();
    // (name, last changed two hours ago, kept)
    let files = [
        (format!("skill-map.db.building-{dead}"), true, false),
        (format!("skill-map.db.rows-{dead}"), true, false),
        (format!("skill-map.db.rows-{dead}0"), false, true),
        (format!("skill-map.db.rows-{alive}"), true, true),
        ("skill-map.db.rows-notes".to_owned(), true, true),
        (format!("other.db.rows-{dead}"), true, true),
    ];
    let leave = |name: &str, old: bool| {
        std::fs::write(state.join(name), "left behind").expect("write");
        if old {
            let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
            let file = std::fs::File::options().write(true).open(state.join(name)).expect("open");
            file.set_modified(two_hours_ago).expect("set mtime");
        }
    };
    for (name, old, _) in &files {
        leave(name, *old);
    }
    // Without a database (a new one is built) and with one.
    for round in ["new database", "existing database"] {
        assert_eq!(p.sm(&["scan"]).code, 0, "{round}");
        for (name, _, kept) in &files {
            assert_eq!(state.join(name).exists(), *kept, "{round}: {name}");
        }
        for (name, old, kept) in &files {
            if !kept {
                leave(name, *old);
            }
        }
    }
}

/// A cache row that lacks a detector's output (a damaged or hand-edited database) is not trusted:
/// an incremental scan reads that file again, and its links equal a full scan's.
#[test]
fn a_cache_row_without_every_detectors_output_is_read_again() {
    let p = Project::new();
    p.claude_project();
    p.write("README.md", "# Project\n\nSee [gone](gone.md), run /deploy, ask @reviewer.\n");
    assert_eq!(p.sm(&["scan"]).code, 0);
    let conn = rusqlite::Connection::open(p.db()).expect("open");
    let emptied =
        conn.execute("UPDATE scan_node_cache SET detections_json = '{}' WHERE path = 'README.md'", []).expect("update");
    assert_eq!(emptied, 1);
    drop(conn);
    // Another file changes, so that the scan starts from the cache rather than the stored result.
    p.write(".claude/agents/reviewer.md", "---\nname: reviewer\ndescription: Reviews code.\n---\n\nReviews twice.\n");
    let full = strip_timing(p.sm(&["scan", "--dry-run", "--json"]).json());
    let incremental = strip_timing(p.sm(&["scan", "--changed", "--json"]).json());
    assert!(full["links"].as_array().expect("links").iter().any(|l| l["source"] == "README.md"));
    assert_eq!(incremental["links"], full["links"]);
    assert_eq!(incremental["nodes"], full["nodes"]);
}

/// A full scan opens its database while it scans (and reads the stored token counts beside its
/// walk). When the scan then fails (here the walk, on a bad ignore pattern), nothing is left: no
/// database and no build file where there was none, and an existing database as it was, byte for
/// byte, without a `-wal` file (a reader still running at exit left one in ~1 run in 10: ten runs).
#[test]
fn a_scan_that_fails_while_its_database_opens_leaves_nothing_behind() {
    let p = Project::new();
    p.claude_project();
    let state = p.root.join(".skill-map");
    p.write(".skill-map/settings.json", "{\"ignore\": [\"{a\"]}\n");
    let entries = || {
        let mut names: Vec<String> = std::fs::read_dir(&state)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    for _ in 0..10 {
        let run = p.sm(&["scan"]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("invalid ignore pattern"), "{}", run.stderr);
        assert_eq!(entries(), ["settings.json"]);
    }
    p.write(".skill-map/settings.json", "{}\n");
    assert_eq!(p.sm(&["scan"]).code, 0);
    let before = std::fs::read(state.join("skill-map.db")).expect("database");
    p.write(".skill-map/settings.json", "{\"ignore\": [\"{a\"]}\n");
    for _ in 0..10 {
        assert_eq!(p.sm(&["scan"]).code, 2);
        assert_eq!(entries(), ["settings.json", "skill-map.db"]);
        assert!(std::fs::read(state.join("skill-map.db")).expect("database") == before, "the database changed");
    }
}
