//! Lookup of link targets against the nodes of a scan.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::Node;
use crate::normalize::normalize_trigger;

/// Paths and normalised names of every node, for resolving link targets.
#[derive(Debug, Default)]
pub struct NodeIndex {
    paths: BTreeSet<String>,
    /// normalised name → node paths (sorted).
    names: BTreeMap<String, Vec<String>>,
}

impl NodeIndex {
    /// Indexes paths, frontmatter `name`s and skill directory names.
    pub fn build(nodes: &[Node]) -> Self {
        let mut index = Self::default();
        for node in nodes {
            index.paths.insert(node.path.clone());
            for name in node_names(node) {
                let key = normalize_trigger(&name);
                if !key.is_empty() {
                    index.names.entry(key).or_default().push(node.path.clone());
                }
            }
        }
        for paths in index.names.values_mut() {
            paths.sort();
            paths.dedup();
        }
        index
    }

    pub fn contains_path(&self, path: &str) -> bool {
        self.paths.contains(path)
    }

    /// The node path a link target points at, if any: an exact path (a leading `./` is dropped),
    /// else a node whose normalised name equals the target with one leading `/` or `@` removed.
    pub fn resolve(&self, target: &str) -> Option<&str> {
        let trimmed = target.trim();
        let as_path = trimmed.strip_prefix("./").unwrap_or(trimmed);
        if let Some(p) = self.paths.get(as_path) {
            return Some(p.as_str());
        }
        let bare = trimmed
            .strip_prefix('/')
            .or_else(|| trimmed.strip_prefix('@'))
            .unwrap_or(trimmed);
        self.names
            .get(&normalize_trigger(bare))
            .and_then(|paths| paths.first())
            .map(String::as_str)
    }
}

/// The names a node answers to: frontmatter `name`, and for `SKILL.md` its directory name.
fn node_names(node: &Node) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(serde_json::Value::String(name)) = node.frontmatter.get("name")
        && !name.trim().is_empty()
    {
        names.push(name.clone());
    }
    if let Some(dir) = node.path.strip_suffix("/SKILL.md")
        && let Some(last) = dir.rsplit('/').next()
    {
        names.push(last.to_owned());
    }
    names
}
