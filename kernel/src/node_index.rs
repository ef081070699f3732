//! Lookup of link targets against the nodes (and files) of a scan.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::Node;
use crate::normalize::normalize_trigger;

/// Paths, normalised names and every walked file of a scan, for resolving link targets.
#[derive(Debug, Default)]
pub struct NodeIndex {
    /// Identifies this build (see [`generation`](Self::generation)); 0 for the empty index.
    generation: u64,
    paths: BTreeMap<String, usize>,
    /// normalised name → node paths (sorted).
    names: BTreeMap<String, Vec<String>>,
    /// Every file the walk yielded (nodes or not), root-relative.
    files: BTreeSet<String>,
    kinds: Vec<String>,
    /// (raw name as written, node path, node kind) for every named node, sorted.
    named: Vec<(String, String, String)>,
}

/// What a link target resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution<'a> {
    /// A node, by path or by name.
    Node(&'a str),
    /// A file that exists but is not a node (a script, an image, a JSON file).
    File,
    /// Nothing.
    Missing,
}

impl NodeIndex {
    /// Indexes paths, frontmatter `name`s and skill directory names.
    pub fn build(nodes: &[Node]) -> Self {
        Self::with_files(nodes, std::iter::empty::<String>())
    }

    /// Like [`build`](Self::build), also knowing every walked file path.
    pub fn with_files<'a>(nodes: impl IntoIterator<Item = &'a Node>, files: impl IntoIterator<Item = String>) -> Self {
        static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let generation = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut index = Self { generation, files: files.into_iter().collect(), ..Self::default() };
        for (i, node) in nodes.into_iter().enumerate() {
            index.paths.insert(node.path.clone(), i);
            index.kinds.push(node.kind.clone());
            for name in node_names(node) {
                let key = normalize_trigger(&name);
                if !key.is_empty() {
                    index.names.entry(key).or_default().push(node.path.clone());
                    index.named.push((name, node.path.clone(), node.kind.clone()));
                }
            }
        }
        index.named.sort();
        index.named.dedup();
        for paths in index.names.values_mut() {
            paths.sort();
            paths.dedup();
        }
        index
    }

    /// A number unique to this build of an index within the process (0: the empty default
    /// index). A scan that finds the graph's names and files unchanged keeps its index, and the
    /// generation with it: a detector that derives tables from the index rebuilds them only when
    /// the generation changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Every walked file, sorted.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(String::as_str)
    }

    pub fn contains_path(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }

    /// The kind of the node at `path`.
    pub fn kind_of(&self, path: &str) -> Option<&str> {
        self.paths.get(path).map(|&i| self.kinds[i].as_str())
    }

    /// Every `(raw name, node path, node kind)`, sorted: what name-based detectors match on.
    pub fn named_nodes(&self) -> &[(String, String, String)] {
        &self.named
    }

    /// Every normalised name with the node paths that answer to it.
    pub fn names(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.names.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The node path a link target points at, if any: an exact path (a leading `./` is dropped),
    /// else a node whose normalised name equals the target with one leading `/` or `@` removed,
    /// else — for `plugin:name` — a node named `name`.
    pub fn resolve(&self, target: &str) -> Option<&str> {
        match self.resolve_target(target) {
            Resolution::Node(p) => Some(p),
            _ => None,
        }
    }

    /// Like [`resolve`](Self::resolve), telling a non-node file apart from nothing.
    pub fn resolve_target(&self, target: &str) -> Resolution<'_> {
        let trimmed = target.trim();
        let as_path = trimmed.strip_prefix("./").unwrap_or(trimmed);
        if let Some((p, _)) = self.paths.get_key_value(as_path) {
            return Resolution::Node(p.as_str());
        }
        if self.files.contains(as_path) || self.has_files_under(as_path) {
            return Resolution::File;
        }
        let bare = trimmed.strip_prefix('/').or_else(|| trimmed.strip_prefix('@')).unwrap_or(trimmed);
        if let Some(p) = self.names.get(&normalize_trigger(bare)).and_then(|paths| paths.first()) {
            return Resolution::Node(p.as_str());
        }
        // `plugin:name` (Claude Code's namespaced commands, skills and agents) falls back to `name`.
        if let Some((_, name)) = bare.rsplit_once(':')
            && let Some(p) = self.names.get(&normalize_trigger(name)).and_then(|paths| paths.first())
        {
            return Resolution::Node(p.as_str());
        }
        Resolution::Missing
    }
}

/// Equal content, whatever the generation.
impl PartialEq for NodeIndex {
    fn eq(&self, other: &Self) -> bool {
        self.paths == other.paths
            && self.names == other.names
            && self.files == other.files
            && self.kinds == other.kinds
            && self.named == other.named
    }
}

impl NodeIndex {
    /// A link to a directory that holds walked files resolves.
    fn has_files_under(&self, dir: &str) -> bool {
        let dir = dir.trim_end_matches('/');
        if dir.is_empty() {
            return false;
        }
        let prefix = format!("{dir}/");
        self.files.range(prefix.clone()..).next().is_some_and(|f| f.starts_with(&prefix))
            || self.paths.range(prefix.clone()..).next().is_some_and(|(p, _)| p.starts_with(&prefix))
    }
}

/// The names a node answers to: its frontmatter `name`; for a `SKILL.md`, its directory name;
/// for any other node that is not a note or a skill file, its file stem (commands are invoked by
/// file name, and agents are commonly referred to by it).
pub fn node_names(node: &Node) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(name) = node.frontmatter.get("name").and_then(scalar_name)
        && !name.trim().is_empty()
    {
        names.push(name);
    }
    if let Some(dir) = skill_dir_name(&node.path) {
        names.push(dir.to_owned());
    } else if node.kind != "note" && node.kind != "skill" {
        let file = node.path.rsplit('/').next().unwrap_or(&node.path);
        let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
        if !stem.is_empty() && !names.iter().any(|n| n == stem) {
            names.push(stem.to_owned());
        }
    }
    names
}

/// The directory name of a `SKILL.md` (any case) path.
pub fn skill_dir_name(path: &str) -> Option<&str> {
    let (dir, file) = path.rsplit_once('/')?;
    if !file.eq_ignore_ascii_case("skill.md") {
        return None;
    }
    Some(dir.rsplit('/').next().unwrap_or(dir))
}

/// A name given as a string or a plain scalar (`name: 123`).
fn scalar_name(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
