//! `sm show PATH`

use std::collections::BTreeMap;

use serde_json::json;
use sm_kernel::model::{Link, Node};
use sm_kernel::node_index::NodeIndex;

use crate::args::{GlobalArgs, ShowArgs};
use crate::commands::{find_node, load_persisted};
use crate::output::{CliError, Output, exit, sanitize};

pub fn run(args: &ShowArgs, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let scan = load_persisted(global, global_scope)?;
    let node = find_node(&scan, &args.path)?;
    let index = NodeIndex::build(&scan.nodes);
    let links_out: Vec<&Link> = scan.links.iter().filter(|l| l.source == node.path).collect();
    let links_in: Vec<&Link> = scan
        .links
        .iter()
        .filter(|l| l.source != node.path && index.resolve(&l.target) == Some(node.path.as_str()))
        .collect();
    let issues: Vec<_> = scan.issues.iter().filter(|i| i.node_ids.contains(&node.path)).collect();
    if out.json {
        out.print_json(&json!({ "node": node, "linksOut": links_out, "linksIn": links_in, "issues": issues }));
        return Ok(exit::OK);
    }
    let mut text = header(node);
    text.push_str("\nfrontmatter\n");
    let fm = serde_json::to_string_pretty(&node.frontmatter).expect("frontmatter serialises");
    for line in fm.lines() {
        text.push_str(&format!("  {}\n", sanitize(line)));
    }
    let broken: Vec<&str> = issues
        .iter()
        .filter(|i| i.rule_id == "broken-ref")
        .filter_map(|i| i.data.as_ref()?.get("target")?.as_str())
        .collect();
    text.push_str(&grouped("links out", &links_out, |l| {
        let note = match index.resolve(&l.target) {
            Some(t) if t != l.target => format!(" → {t}"),
            Some(_) => String::new(),
            None if broken.contains(&l.target.as_str()) => " (broken)".to_owned(),
            None => " (not a node)".to_owned(),
        };
        format!("{}{note}", l.target)
    }));
    text.push_str(&grouped("links in", &links_in, |l| format!("from {}", l.source)));
    text.push_str(&format!("\nissues ({})\n", issues.len()));
    for i in issues {
        text.push_str(&format!("  [{}] {}: {}\n", i.severity.as_str(), i.rule_id, sanitize(&i.message)));
    }
    out.print_text(&text);
    Ok(exit::OK)
}

fn header(n: &Node) -> String {
    let opt = |v: &Option<String>| v.as_deref().map(sanitize).unwrap_or_else(|| "-".into());
    let tokens = n
        .tokens
        .map(|t| format!("{} tokens ({} frontmatter + {} body)", t.total, t.frontmatter, t.body))
        .unwrap_or_else(|| "tokens not counted".into());
    format!(
        "{}\n  kind         {} (adapter {})\n  title        {}\n  description  {}\n  stability    {}\n  version      {}\n  author       {}\n  weight       {} bytes ({} frontmatter + {} body), {tokens}\n  links        {} out, {} in, {} external URLs\n",
        sanitize(&n.path),
        n.kind,
        n.adapter,
        opt(&n.title),
        opt(&n.description),
        n.stability.map_or("-", |s| s.as_str()),
        opt(&n.version),
        opt(&n.author),
        n.bytes.total,
        n.bytes.frontmatter,
        n.bytes.body,
        n.links_out_count,
        n.links_in_count,
        n.external_refs_count,
    )
}

/// Links grouped by kind, each line `<what>  [confidence] sources (line N)`.
fn grouped(title: &str, links: &[&Link], what: impl Fn(&Link) -> String) -> String {
    let mut by_kind: BTreeMap<&str, Vec<&Link>> = BTreeMap::new();
    for l in links {
        by_kind.entry(l.kind.as_str()).or_default().push(l);
    }
    let mut s = format!("\n{title} ({})\n", links.len());
    for (kind, group) in by_kind {
        s.push_str(&format!("  {kind} ({})\n", group.len()));
        for l in group {
            let line = l.location.map(|x| format!(" (line {})", x.line)).unwrap_or_default();
            s.push_str(&format!(
                "    {}  [{}] {}{line}\n",
                sanitize(&what(l)),
                l.confidence.as_str(),
                l.sources.join(",")
            ));
        }
    }
    s
}
