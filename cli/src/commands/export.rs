//! `sm export QUERY --format json|md|mermaid|dot`

use std::collections::BTreeMap;

use serde_json::json;
use sm_kernel::graph_query::Query;
use sm_kernel::model::{Node, ScanResult};

use crate::args::{ExportArgs, GlobalArgs};
use crate::commands::load_persisted;
use crate::output::{CliError, Output, exit, sanitize};
use crate::wiring;

pub fn run(args: &ExportArgs, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let query = Query::parse(&args.query).map_err(|e| {
        CliError::operational("bad-query", e.to_string()).with_details(json!({ "token": e.token, "reason": e.reason }))
    })?;
    let scan = load_persisted(global, global_scope)?;
    let subset = query.apply(&scan);
    let format = if out.json { "json" } else { args.format.as_str() };
    match format {
        "json" => out.print_json(&json!({
            "query": args.query,
            "filters": {
                "kinds": query.kinds,
                "hasIssues": query.has_issues,
                "hasLinks": query.has_links,
                "pathGlobs": query.path_globs,
                "severity": query.min_severity.map(|s| s.as_str()),
            },
            "counts": { "nodes": subset.nodes.len(), "links": subset.links.len(), "issues": subset.issues.len() },
            "nodes": subset.nodes,
            "links": subset.links,
            "issues": subset.issues,
        })),
        "md" => out.print_text(&markdown(&args.query, &subset)),
        other => {
            let ctx = crate::settings::ScopeContext::resolve(global_scope)?;
            let settings = crate::settings::Settings::load_with(&ctx, &global.config)?;
            let registry = wiring::extensions(&ctx, global, &settings, false)?.registry;
            let renderer = registry
                .renderers()
                .iter()
                .find(|r| r.format_id() == other)
                .ok_or_else(|| CliError::operational("unknown-format", format!("no renderer {other:?}")))?;
            out.print_text(&renderer.render(&subset));
        }
    }
    Ok(exit::OK)
}

fn markdown(query: &str, scan: &ScanResult) -> String {
    let mut s = String::from("# skill-map export\n\n");
    let q = if query.trim().is_empty() { "(everything)" } else { query };
    s.push_str(&format!("Query: `{}`\n\n", q.replace('`', "'")));
    s.push_str(&format!("{} nodes, {} links, {} issues.\n", scan.nodes.len(), scan.links.len(), scan.issues.len()));
    let mut by_kind: BTreeMap<(usize, &str), Vec<&Node>> = BTreeMap::new();
    for n in &scan.nodes {
        let rank = ["agent", "command", "skill", "hook", "note"].iter().position(|k| *k == n.kind).unwrap_or(5);
        by_kind.entry((rank, n.kind.as_str())).or_default().push(n);
    }
    for ((_, kind), nodes) in by_kind {
        s.push_str(&format!("\n## {kind} ({})\n\n", nodes.len()));
        for n in nodes {
            let issues = scan.issues.iter().filter(|i| i.node_ids.contains(&n.path)).count();
            let title = n.title.as_deref().map(|t| format!(" — {}", sanitize(t))).unwrap_or_default();
            let issue_note = match issues {
                0 => String::new(),
                1 => " (1 issue)".to_owned(),
                n => format!(" ({n} issues)"),
            };
            s.push_str(&format!("- `{}`{title}{issue_note}\n", n.path));
        }
    }
    s.push_str(&format!("\n## links ({})\n\n", scan.links.len()));
    for l in &scan.links {
        s.push_str(&format!("- `{}` {} `{}` ({})\n", l.source, l.kind.as_str(), l.target, l.confidence.as_str()));
    }
    s.push_str(&format!("\n## issues ({})\n\n", scan.issues.len()));
    for i in &scan.issues {
        s.push_str(&format!("- **{}** `{}`: {}\n", i.severity.as_str(), i.rule_id, sanitize(&i.message)));
    }
    s
}
