//! The difference between two scan results: the drift guard behind `sm scan --compare-with`.
//!
//! Identities: a node is its path (changed when its body or frontmatter hash differs); a link is
//! `(source, target, kind, normalised trigger)`; an issue is `(ruleId, sorted nodeIds, message)`.
//! Everything is sorted, so the same two inputs always give the same delta.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{Issue, Link, ScanResult};

/// Why a node counts as changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeReason {
    Body,
    Frontmatter,
    Both,
}

/// A node present in both scans with different content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedNode {
    pub path: String,
    pub reason: ChangeReason,
}

/// Node differences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeDelta {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<ChangedNode>,
}

/// Added and removed items of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetDelta<T> {
    pub added: Vec<T>,
    pub removed: Vec<T>,
}

/// Everything that differs between `before` and `after`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanDelta {
    pub nodes: NodeDelta,
    pub links: SetDelta<Link>,
    pub issues: SetDelta<Issue>,
}

impl ScanDelta {
    pub fn is_empty(&self) -> bool {
        self.nodes.added.is_empty()
            && self.nodes.removed.is_empty()
            && self.nodes.changed.is_empty()
            && self.links.added.is_empty()
            && self.links.removed.is_empty()
            && self.issues.added.is_empty()
            && self.issues.removed.is_empty()
    }
}

fn link_key(l: &Link) -> (String, String, &'static str, String) {
    (
        l.source.clone(),
        l.target.clone(),
        l.kind.as_str(),
        l.trigger.as_ref().map(|t| t.normalized_trigger.clone()).unwrap_or_default(),
    )
}

fn issue_key(i: &Issue) -> (String, Vec<String>, String) {
    let mut ids = i.node_ids.clone();
    ids.sort();
    (i.rule_id.clone(), ids, i.message.clone())
}

fn set_delta<T: Clone, K: Ord>(before: &[T], after: &[T], key: impl Fn(&T) -> K) -> SetDelta<T> {
    let b: BTreeMap<K, &T> = before.iter().map(|x| (key(x), x)).collect();
    let a: BTreeMap<K, &T> = after.iter().map(|x| (key(x), x)).collect();
    SetDelta {
        added: a.iter().filter(|(k, _)| !b.contains_key(*k)).map(|(_, v)| (*v).clone()).collect(),
        removed: b.iter().filter(|(k, _)| !a.contains_key(*k)).map(|(_, v)| (*v).clone()).collect(),
    }
}

/// The delta from `before` to `after`.
pub fn diff(before: &ScanResult, after: &ScanResult) -> ScanDelta {
    let b: BTreeMap<&str, (&str, &str)> =
        before.nodes.iter().map(|n| (n.path.as_str(), (n.body_hash.as_str(), n.frontmatter_hash.as_str()))).collect();
    let a: BTreeMap<&str, (&str, &str)> =
        after.nodes.iter().map(|n| (n.path.as_str(), (n.body_hash.as_str(), n.frontmatter_hash.as_str()))).collect();
    let paths: BTreeSet<&str> = b.keys().chain(a.keys()).copied().collect();
    let mut nodes = NodeDelta::default();
    for path in paths {
        match (b.get(path), a.get(path)) {
            (None, Some(_)) => nodes.added.push(path.to_owned()),
            (Some(_), None) => nodes.removed.push(path.to_owned()),
            (Some(x), Some(y)) if x != y => {
                let reason = match (x.0 != y.0, x.1 != y.1) {
                    (true, true) => ChangeReason::Both,
                    (true, false) => ChangeReason::Body,
                    _ => ChangeReason::Frontmatter,
                };
                nodes.changed.push(ChangedNode { path: path.to_owned(), reason });
            }
            _ => {}
        }
    }
    ScanDelta {
        nodes,
        links: set_delta(&before.links, &after.links, link_key),
        issues: set_delta(&before.issues, &after.issues, issue_key),
    }
}
