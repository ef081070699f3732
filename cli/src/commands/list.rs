//! `sm list`

use std::collections::BTreeMap;

use sm_kernel::model::Node;

use crate::args::{GlobalArgs, ListArgs, SortKey};
use crate::commands::load_persisted;
use crate::output::{CliError, Output, exit, sanitize, table};

pub fn run(args: &ListArgs, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let scan = load_persisted(global, global_scope)?;
    let mut issue_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for issue in &scan.issues {
        for id in &issue.node_ids {
            *issue_counts.entry(id.as_str()).or_default() += 1;
        }
    }
    let issues_of = |n: &Node| issue_counts.get(n.path.as_str()).copied().unwrap_or(0);
    let mut nodes: Vec<&Node> = scan
        .nodes
        .iter()
        .filter(|n| args.kind.is_empty() || args.kind.contains(&n.kind))
        .filter(|n| !args.issue || issues_of(n) > 0)
        .collect();
    let tokens = |n: &Node| n.tokens.map_or(0, |t| t.total);
    nodes.sort_by(|a, b| {
        let primary = match args.sort_by {
            SortKey::Path => a.path.cmp(&b.path),
            SortKey::Kind => a.kind.cmp(&b.kind),
            SortKey::Bytes => b.bytes.total.cmp(&a.bytes.total),
            SortKey::Tokens => tokens(b).cmp(&tokens(a)),
            SortKey::LinksOut => b.links_out_count.cmp(&a.links_out_count),
            SortKey::LinksIn => b.links_in_count.cmp(&a.links_in_count),
            SortKey::ExternalRefs => b.external_refs_count.cmp(&a.external_refs_count),
            SortKey::Issues => issues_of(b).cmp(&issues_of(a)),
        };
        primary.then_with(|| a.path.cmp(&b.path))
    });
    if let Some(limit) = args.limit {
        nodes.truncate(limit);
    }
    if out.json {
        out.print_json(&nodes);
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                sanitize(&n.path),
                n.kind.clone(),
                n.links_out_count.to_string(),
                n.links_in_count.to_string(),
                n.external_refs_count.to_string(),
                issues_of(n).to_string(),
                n.tokens.map_or("-".to_owned(), |t| t.total.to_string()),
                n.bytes.total.to_string(),
            ]
        })
        .collect();
    let mut text =
        table(&["PATH", "KIND", "OUT", "IN", "EXT", "ISSUES", "TOKENS", "BYTES"], &rows, &[2, 3, 4, 5, 6, 7]);
    text.push_str(&format!("{} of {} nodes\n", nodes.len(), scan.nodes.len()));
    out.print_text(&text);
    Ok(exit::OK)
}
