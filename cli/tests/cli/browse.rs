//! `sm list`, `show`, `check`, `graph`, `export` on the rich fixture: golden files and structure.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::*;

fn out(p: &Project, args: &[&str], code: i32) -> String {
    let run = p.sm(args);
    assert_eq!(run.code, code, "sm {args:?}: {}", run.stderr);
    run.stdout
}

#[test]
fn renderers_match_their_golden_files() {
    let p = rich_project();
    golden("graph.ascii.txt", &out(&p, &["graph"], 0));
    golden("graph.mermaid.txt", &out(&p, &["graph", "--format", "mermaid"], 0));
    golden("graph.dot.txt", &out(&p, &["graph", "--format", "dot"], 0));
    golden("graph.json", &out(&p, &["graph", "--format", "json"], 0));
    golden("graph.root.ascii.txt", &out(&p, &["graph", "--root", ".claude/commands/deploy.md", "--depth", "1"], 0));
}

#[test]
fn browse_verbs_match_their_golden_files() {
    let p = rich_project();
    golden("list.txt", &out(&p, &["list"], 0));
    golden(
        "list.agents-by-links-in.txt",
        &out(&p, &["list", "--kind", "agent,command", "--sort-by", "links-in", "--limit", "3"], 0),
    );
    golden("show.audit.txt", &out(&p, &["show", ".claude/skills/audit/SKILL.md"], 0));
    golden("check.txt", &out(&p, &["check"], 1));
    golden("check.warn-node.txt", &out(&p, &["check", "-n", ".claude/skills/audit/SKILL.md", "--severity", "warn"], 0));
    golden("export.md", &out(&p, &["export", "kind=skill,agent has=issues", "--format", "md"], 0));
}

#[test]
fn mermaid_output_is_structurally_valid() {
    let p = rich_project();
    let text = out(&p, &["graph", "--format", "mermaid"], 0);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("flowchart LR"));
    let mut defined = BTreeSet::new();
    let mut classes = BTreeSet::new();
    let mut edges = Vec::new();
    for line in lines {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("classDef ") {
            classes.insert(rest.split_whitespace().next().expect("class name").to_owned());
        } else if let Some(rest) = line.strip_prefix("class ") {
            let mut parts = rest.split_whitespace();
            edges.push((parts.next().expect("id").to_owned(), String::new()));
            assert!(parts.next().is_some(), "class line names a class: {line}");
        } else if line.contains("[\"") {
            let (id, rest) = line.split_once("[\"").expect("node");
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "node id {id}");
            assert!(rest.contains("\"]:::"), "node shape and class: {line}");
            assert!(!rest[..rest.rfind("\"]").expect("close")].contains('"'), "quotes escaped: {line}");
            defined.insert(id.to_owned());
        } else {
            let parts: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(parts.len(), 3, "edge line: {line}");
            assert!(
                parts[1] == "-->"
                    || parts[1] == "-.->"
                    || parts[1].starts_with("-->|")
                    || parts[1].starts_with("-.->|")
            );
            edges.push((parts[0].to_owned(), parts[2].to_owned()));
        }
    }
    for (from, to) in &edges {
        assert!(defined.contains(from), "edge from undefined node {from}");
        assert!(to.is_empty() || defined.contains(to), "edge to undefined node {to}");
    }
    assert!(classes.contains("k_agent") && classes.contains("missing") && classes.contains("hub"));
    assert_eq!(defined.len(), 18 + 7, "18 nodes plus 7 unresolved targets");
}

#[test]
fn dot_output_renders_with_graphviz() {
    let p = rich_project();
    let text = out(&p, &["graph", "--format", "dot"], 0);
    let dot = std::process::Command::new("dot").arg("-V").output();
    if dot.is_err() {
        eprintln!("skipped: Graphviz `dot` is not installed (apt-get install graphviz)");
        return;
    }
    let file = p.root.join("graph.dot");
    std::fs::write(&file, &text).expect("write");
    let svg = std::process::Command::new("dot").arg("-Tsvg").arg(&file).output().expect("dot runs");
    assert!(svg.status.success(), "dot rejected the graph: {}", String::from_utf8_lossy(&svg.stderr));
    let svg = String::from_utf8_lossy(&svg.stdout);
    assert!(svg.contains("<svg") && svg.contains("architect"), "{svg}");
    assert_eq!(svg.matches("class=\"node\"").count(), 25, "every node and unresolved target is drawn");
}

#[test]
fn list_json_and_filters() {
    let p = rich_project();
    let nodes: Value = p.sm(&["list", "--json", "--issue", "--kind", "skill"]).json();
    let paths: Vec<&str> = nodes.as_array().expect("array").iter().map(|n| n["path"].as_str().expect("p")).collect();
    assert_eq!(paths, vec![".claude/skills/audit/SKILL.md", ".claude/skills/pdf-tools/SKILL.md"]);
    for n in nodes.as_array().expect("array") {
        validate("node.schema.json", n);
    }
    let bad = p.sm(&["list", "--sort-by", "colour"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("links-in"), "lists valid values: {}", bad.stderr);
}

#[test]
fn show_json_groups_links_and_missing_nodes_are_exit_5() {
    let p = rich_project();
    let doc = p.sm(&["show", ".claude/commands/lint.md", "--json"]).json();
    assert_eq!(doc["node"]["path"], ".claude/commands/lint.md");
    assert_eq!(doc["linksIn"].as_array().expect("in").len(), 3, "three /lint invocations resolve by file stem");
    assert_eq!(doc["linksOut"][0]["sources"][0], "name-mention");
    let missing = p.sm(&["show", "nope.md"]);
    assert_eq!(missing.code, 5);
    let json = p.sm(&["show", "nope.md", "--json"]);
    assert_eq!(json.json()["error"]["code"], "node-not-found");
}

#[test]
fn read_verbs_without_a_database_are_exit_5() {
    let p = Project::new();
    for args in [vec!["list"], vec!["show", "a.md"], vec!["check"], vec!["graph"], vec!["export"]] {
        let run = p.sm(&args);
        assert_eq!(run.code, 5, "sm {args:?}: {}", run.stderr);
        assert!(run.stderr.contains("sm scan"), "{}", run.stderr);
    }
    assert!(!p.db().exists(), "reading never creates a database");
}

#[test]
fn graph_rejects_unknown_formats_and_roots() {
    let p = rich_project();
    let bad = p.sm(&["graph", "--format", "svg"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("ascii, mermaid, dot, json"), "{}", bad.stderr);
    assert_eq!(p.sm(&["graph", "--root", "nope.md"]).code, 5);
    let focused = out(&p, &["graph", "--root", ".claude/commands/deploy.md", "--depth", "1", "--format", "json"], 0);
    let doc: Value = serde_json::from_str(&focused).expect("json");
    let paths: Vec<&str> = doc["nodes"].as_array().expect("n").iter().map(|n| n["path"].as_str().expect("p")).collect();
    assert_eq!(
        paths,
        vec![
            ".claude/agents/code-reviewer.md",
            ".claude/commands/deploy.md",
            ".claude/commands/deploy2.md",
            ".claude/commands/lint.md"
        ]
    );
}

#[test]
fn export_json_validates_and_bad_queries_name_the_token() {
    let p = rich_project();
    let doc = p.sm(&["export", "path=notes/**", "--json"]).json();
    assert_eq!(doc["counts"]["nodes"], 4);
    for n in doc["nodes"].as_array().expect("nodes") {
        validate("node.schema.json", n);
    }
    for l in doc["links"].as_array().expect("links") {
        validate("link.schema.json", l);
        assert!(l["source"].as_str().expect("s").starts_with("notes/"));
    }
    let bad = p.sm(&["export", "kind=skill has=stars", "--json"]);
    assert_eq!(bad.code, 2);
    assert_eq!(bad.json()["error"]["details"]["token"], "has=stars");
    let mermaid = out(&p, &["export", "kind=command", "--format", "mermaid"], 0);
    assert!(mermaid.starts_with("flowchart LR\n"));
}
