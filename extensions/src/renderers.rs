//! The built-in renderers: `ascii`, `mermaid`, `dot`, `json`.
//!
//! All four draw the same view of a scan: nodes (grouped by kind in `ascii`), links whose targets
//! resolve to nodes as edges, and unresolved targets as extra endpoints — **missing** when
//! `broken-ref` reported them, otherwise **not a node** (an existing script, a package, a guess).
//! Two marks: **orphans** (no link in or out) and **hubs** (the five nodes with the highest
//! in-degree, at least two). Low-confidence links are drawn dashed. Output is deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::json;
use sm_kernel::extensions::{ExtensionInfo, ExtensionKind, Renderer};
use sm_kernel::model::{Confidence, Link, Node, ScanResult};
use sm_kernel::node_index::NodeIndex;

/// How many top in-degree nodes are marked as hubs.
pub const HUB_COUNT: usize = 5;

fn info(id: &str, description: &str) -> ExtensionInfo {
    crate::builtin_info(id, ExtensionKind::Renderer, description)
}

/// The resolved picture every renderer draws.
struct View<'a> {
    nodes: Vec<&'a Node>,
    /// (source, target) pairs that `broken-ref` reported.
    broken: BTreeSet<(&'a str, &'a str)>,
    /// (source, resolved target or None, link)
    edges: Vec<(&'a str, Option<String>, &'a Link)>,
    hubs: BTreeSet<&'a str>,
    orphans: BTreeSet<&'a str>,
    in_degree: BTreeMap<&'a str, usize>,
}

fn view(scan: &ScanResult) -> View<'_> {
    let index = NodeIndex::build(&scan.nodes);
    let mut nodes: Vec<&Node> = scan.nodes.iter().collect();
    nodes.sort_by(|a, b| a.path.cmp(&b.path));
    let mut edges = Vec::new();
    let mut in_degree: BTreeMap<&str, usize> = BTreeMap::new();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for link in &scan.links {
        let target = index.resolve(&link.target).map(str::to_owned);
        if let Some(t) = &target {
            if let Some(n) = nodes.iter().find(|n| &n.path == t) {
                *in_degree.entry(n.path.as_str()).or_default() += 1;
            }
            touched.insert(t.clone());
        }
        touched.insert(link.source.clone());
        edges.push((link.source.as_str(), target, link));
    }
    edges.sort_by(|a, b| {
        let shown = |e: &(&str, Option<String>, &Link)| e.1.clone().unwrap_or_else(|| e.2.target.clone());
        (a.0, shown(a), a.2.kind).cmp(&(b.0, shown(b), b.2.kind))
    });
    let mut ranked: Vec<(&str, usize)> = in_degree.iter().filter(|(_, v)| **v >= 2).map(|(k, v)| (*k, *v)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let hubs = ranked.iter().take(HUB_COUNT).map(|(p, _)| *p).collect();
    let orphans = nodes.iter().filter(|n| !touched.contains(&n.path)).map(|n| n.path.as_str()).collect();
    let broken = scan
        .issues
        .iter()
        .filter(|i| i.rule_id == "broken-ref")
        .filter_map(|i| {
            let target = i.data.as_ref()?.get("target")?.as_str()?;
            Some((i.node_ids.first()?.as_str(), target))
        })
        .collect();
    View { nodes, broken, edges, hubs, orphans, in_degree }
}

fn kind_order(kind: &str) -> (usize, &str) {
    let rank = ["agent", "command", "skill", "hook", "note"].iter().position(|k| *k == kind).unwrap_or(5);
    (rank, kind)
}

fn marks(v: &View<'_>, path: &str) -> String {
    let mut m = String::new();
    if v.hubs.contains(path) {
        let _ = write!(m, " [hub: {} in]", v.in_degree.get(path).copied().unwrap_or(0));
    }
    if v.orphans.contains(path) {
        m.push_str(" [orphan]");
    }
    m
}

/// One-line, control-free text for labels.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

// ---------------------------------------------------------------------------------------------

/// `ascii`: a text outline — nodes by kind, links, issues.
#[derive(Debug, Default, Clone, Copy)]
pub struct AsciiRenderer;

impl Renderer for AsciiRenderer {
    fn info(&self) -> ExtensionInfo {
        info("ascii", "text outline: nodes by kind with hub/orphan marks, links, issues")
    }

    fn format_id(&self) -> String {
        "ascii".into()
    }

    fn render(&self, scan: &ScanResult) -> String {
        let v = view(scan);
        let mut out = format!(
            "skill-map graph — {} nodes, {} links, {} issues\n",
            scan.nodes.len(),
            scan.links.len(),
            scan.issues.len()
        );
        let mut by_kind: BTreeMap<(usize, &str), Vec<&Node>> = BTreeMap::new();
        for n in &v.nodes {
            by_kind.entry(kind_order(&n.kind)).or_default().push(n);
        }
        for ((_, kind), nodes) in by_kind {
            let _ = write!(out, "\n## {kind} ({})\n", nodes.len());
            for n in nodes {
                let title = n.title.as_deref().map(|t| format!(" — \"{}\"", clean(t))).unwrap_or_default();
                let _ = writeln!(out, "- {}{title}{}", clean(&n.path), marks(&v, &n.path));
            }
        }
        let _ = write!(out, "\n## links ({})\n", v.edges.len());
        for (source, target, link) in &v.edges {
            let shown = target.as_deref().unwrap_or(&link.target);
            let missing = match target {
                Some(_) => "",
                None if v.broken.contains(&(*source, link.target.as_str())) => " (missing)",
                None => " (not a node)",
            };
            let _ = writeln!(
                out,
                "- {} --{}--> {}{missing}  [{}]",
                clean(source),
                link.kind.as_str(),
                clean(shown),
                link.confidence.as_str()
            );
        }
        let _ = write!(out, "\n## issues ({})\n", scan.issues.len());
        for i in &scan.issues {
            let _ = writeln!(out, "- [{}] {}: {}", i.severity.as_str(), i.rule_id, clean(&i.message));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------

fn kind_color(kind: &str) -> &'static str {
    match kind {
        "agent" => "#3b82f6",
        "command" => "#f59e0b",
        "skill" => "#10b981",
        "hook" => "#ef4444",
        "note" => "#5b908c",
        _ => "#9ca3af",
    }
}

/// Whether any source's link to `target` was reported by `broken-ref`.
fn is_broken(v: &View<'_>, target: &str) -> bool {
    v.broken.iter().any(|(_, t)| *t == target)
}

/// Stable ids: `n<i>` for nodes in path order, `x<i>` for missing targets in first-seen order.
fn ids<'a>(v: &View<'a>) -> (BTreeMap<&'a str, String>, BTreeMap<String, String>) {
    let node_ids = v.nodes.iter().enumerate().map(|(i, n)| (n.path.as_str(), format!("n{i}"))).collect();
    let mut missing: BTreeMap<String, String> = BTreeMap::new();
    for (_, target, link) in &v.edges {
        if target.is_none() && !missing.contains_key(&link.target) {
            let id = format!("x{}", missing.len());
            missing.insert(link.target.clone(), id);
        }
    }
    (node_ids, missing)
}

/// `mermaid`: a `flowchart LR` with one class per node kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct MermaidRenderer;

fn mermaid_label(s: &str) -> String {
    clean(s).replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;")
}

impl Renderer for MermaidRenderer {
    fn info(&self) -> ExtensionInfo {
        info("mermaid", "Mermaid flowchart")
    }

    fn format_id(&self) -> String {
        "mermaid".into()
    }

    fn render(&self, scan: &ScanResult) -> String {
        let v = view(scan);
        let (node_ids, missing) = ids(&v);
        let mut out = String::from("flowchart LR\n");
        for n in &v.nodes {
            let _ = writeln!(
                out,
                "  {}[\"{}<br/><small>{}</small>\"]:::{}",
                node_ids[n.path.as_str()],
                mermaid_label(n.title.as_deref().unwrap_or(&n.path)),
                mermaid_label(&n.path),
                css_class(&n.kind)
            );
        }
        for (target, id) in &missing {
            let class = if is_broken(&v, target) { "missing" } else { "external" };
            let _ = writeln!(out, "  {id}[\"{}\"]:::{class}", mermaid_label(target));
        }
        for (source, target, link) in &v.edges {
            let from = &node_ids.get(source).cloned().unwrap_or_default();
            if from.is_empty() {
                continue;
            }
            let to = match target {
                Some(t) => node_ids.get(t.as_str()).cloned().unwrap_or_default(),
                None => missing[&link.target].clone(),
            };
            let arrow = if link.confidence == Confidence::Low { "-.->" } else { "-->" };
            let _ = writeln!(out, "  {from} {arrow}|{}| {to}", link.kind.as_str());
        }
        for hub in &v.hubs {
            let _ = writeln!(out, "  class {} hub", node_ids[hub]);
        }
        for orphan in &v.orphans {
            let _ = writeln!(out, "  class {} orphan", node_ids[orphan]);
        }
        let mut kinds: BTreeSet<&str> = v.nodes.iter().map(|n| n.kind.as_str()).collect();
        kinds.insert("note");
        for kind in kinds {
            let _ = writeln!(out, "  classDef {} fill:{},color:#fff,stroke:#333", css_class(kind), kind_color(kind));
        }
        out.push_str("  classDef missing fill:#fff,stroke:#dc2626,stroke-dasharray:4 2,color:#dc2626\n");
        out.push_str("  classDef external fill:#fff,stroke:#9ca3af,stroke-dasharray:4 2,color:#6b7280\n");
        out.push_str("  classDef hub stroke:#111,stroke-width:3px\n");
        out.push_str("  classDef orphan stroke-dasharray:3 3\n");
        out
    }
}

fn css_class(kind: &str) -> String {
    let k: String = kind.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("k_{k}")
}

// ---------------------------------------------------------------------------------------------

/// `dot`: a Graphviz digraph.
#[derive(Debug, Default, Clone, Copy)]
pub struct DotRenderer;

fn dot_str(s: &str) -> String {
    let escaped: String = s
        .split('\n')
        .map(|line| clean(line).replace('\\', "\\\\").replace('"', "\\\""))
        .collect::<Vec<_>>()
        .join("\\n");
    format!("\"{escaped}\"")
}

impl Renderer for DotRenderer {
    fn info(&self) -> ExtensionInfo {
        info("dot", "Graphviz DOT digraph")
    }

    fn format_id(&self) -> String {
        "dot".into()
    }

    fn render(&self, scan: &ScanResult) -> String {
        let v = view(scan);
        let (node_ids, missing) = ids(&v);
        let mut out = String::from(
            "digraph skillmap {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontcolor=\"white\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
        );
        for n in &v.nodes {
            let label = format!("{}\n{}", n.title.as_deref().unwrap_or(&n.path), n.path);
            let mut attrs = format!("label={}, fillcolor={}", dot_str(&label), dot_str(kind_color(&n.kind)));
            if v.hubs.contains(n.path.as_str()) {
                attrs.push_str(", penwidth=3");
            }
            if v.orphans.contains(n.path.as_str()) {
                attrs.push_str(", style=\"rounded,filled,dashed\"");
            }
            let _ = writeln!(out, "  {} [{attrs}];", node_ids[n.path.as_str()]);
        }
        for (target, id) in &missing {
            let color = if is_broken(&v, target) { "#dc2626" } else { "#6b7280" };
            let _ = writeln!(
                out,
                "  {id} [label={}, style=\"dashed\", color=\"{color}\", fontcolor=\"{color}\"];",
                dot_str(target)
            );
        }
        for (source, target, link) in &v.edges {
            let Some(from) = node_ids.get(source) else {
                continue;
            };
            let to = match target {
                Some(t) => node_ids.get(t.as_str()).cloned().unwrap_or_default(),
                None => missing[&link.target].clone(),
            };
            let style = if link.confidence == Confidence::Low { ", style=dashed" } else { "" };
            let _ = writeln!(out, "  {from} -> {to} [label={}{style}];", dot_str(link.kind.as_str()));
        }
        out.push_str("}\n");
        out
    }
}

// ---------------------------------------------------------------------------------------------

/// `json`: `{nodes, links, issues, hubs, orphans}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonRenderer;

impl Renderer for JsonRenderer {
    fn info(&self) -> ExtensionInfo {
        info("json", "the graph as JSON with hub and orphan lists")
    }

    fn format_id(&self) -> String {
        "json".into()
    }

    fn render(&self, scan: &ScanResult) -> String {
        let v = view(scan);
        let doc = json!({
            "nodes": scan.nodes,
            "links": scan.links,
            "issues": scan.issues,
            "hubs": v.hubs.iter().collect::<Vec<_>>(),
            "orphans": v.orphans.iter().collect::<Vec<_>>(),
        });
        let mut s = serde_json::to_string(&doc).expect("scan values serialise");
        s.push('\n');
        s
    }
}
