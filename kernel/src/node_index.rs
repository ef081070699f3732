//! Lookup of link targets against the nodes (and files) of a scan.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;

use crate::model::Node;
use crate::normalize::normalize_trigger;

/// Paths, normalised names and every walked file of a scan, for resolving link targets.
#[derive(Debug, Default)]
pub struct NodeIndex {
    /// Identifies this build (see [`generation`](Self::generation)); 0 for the empty index.
    generation: u64,
    paths: HashMap<String, usize>,
    /// normalised name → node paths (sorted).
    names: BTreeMap<String, Vec<String>>,
    /// Every file the walk yielded (nodes or not), root-relative, sorted.
    files: Vec<String>,
    /// Every directory that holds a walked file or a node, at any depth (`a` and `a/b` for
    /// `a/b/c.md`).
    dirs: HashSet<String>,
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
        let mut files: Vec<String> = files.into_iter().collect();
        if !files.is_sorted() {
            files.sort();
        }
        files.dedup();
        let mut index = Self { generation, files, ..Self::default() };
        let nodes: Vec<&Node> = nodes.into_iter().collect();
        // Names and their normalised keys on both cores; the maps are filled in node order.
        let named: Vec<Vec<(String, String)>> = nodes
            .par_iter()
            .map(|node| {
                node_names(node)
                    .into_iter()
                    .map(|name| (normalize_trigger(&name), name))
                    .filter(|(key, _)| !key.is_empty())
                    .collect()
            })
            .collect();
        index.paths.reserve(nodes.len());
        for (i, (node, names)) in nodes.iter().zip(named).enumerate() {
            index.paths.insert(node.path.clone(), i);
            index.kinds.push(node.kind.clone());
            for (key, name) in names {
                index.names.entry(key).or_default().push(node.path.clone());
                index.named.push((name, node.path.clone(), node.kind.clone()));
            }
        }
        index.named.par_sort_unstable();
        index.named.dedup();
        for path in index.files.iter().chain(index.paths.keys()) {
            let mut dir = path.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/') {
                if !index.dirs.insert(parent.to_owned()) {
                    break; // its own parents are in already
                }
                dir = parent;
            }
        }
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

    /// The number of nodes indexed: positions are below it.
    pub fn node_count(&self) -> usize {
        self.kinds.len()
    }

    /// The position of the node at `path` among the nodes the index was built from.
    pub fn position(&self, path: &str) -> Option<usize> {
        self.paths.get(path).copied()
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
        if self.files.binary_search_by(|f| f.as_str().cmp(as_path)).is_ok() || self.has_files_under(as_path) {
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

impl NodeIndex {
    /// A link to a directory that holds walked files resolves.
    fn has_files_under(&self, dir: &str) -> bool {
        let dir = dir.trim_end_matches('/');
        !dir.is_empty() && self.dirs.contains(dir)
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

#[cfg(test)]
mod tests {
    use super::{NodeIndex, Resolution};
    use crate::model::{Node, TripleSplit};

    fn node(path: &str, kind: &str, name: Option<&str>) -> Node {
        let mut frontmatter = serde_json::Map::new();
        if let Some(name) = name {
            frontmatter.insert("name".into(), name.into());
        }
        Node {
            path: path.into(),
            kind: kind.into(),
            adapter: "claude".into(),
            title: None,
            description: None,
            stability: None,
            version: None,
            author: None,
            frontmatter,
            body_hash: String::new(),
            frontmatter_hash: String::new(),
            bytes: TripleSplit::new(0, 0),
            tokens: None,
            links_out_count: 0,
            links_in_count: 0,
            external_refs_count: 0,
        }
    }

    /// Paths, files, directories (a sibling sharing a prefix is not a parent), names and
    /// `plugin:name`, with positions and counts.
    #[test]
    fn targets_resolve_to_nodes_files_directories_or_nothing() {
        let nodes = [
            node(".claude/skills/pdf/SKILL.md", "skill", None),
            node(".claude/commands/deploy.md", "command", Some("Ship-It")),
            node("docs/guide.md", "note", None),
        ];
        let files =
            ["docs/guide.md", "scripts/run.sh", "tools-x/a.txt", ".claude/skills/pdf/SKILL.md"].map(String::from);
        let index = NodeIndex::with_files(&nodes, files);
        let node = |p| Resolution::Node(p);
        let cases = [
            ("docs/guide.md", node("docs/guide.md")),
            ("./docs/guide.md", node("docs/guide.md")),
            (" docs/guide.md ", node("docs/guide.md")),
            ("scripts/run.sh", Resolution::File),
            ("scripts", Resolution::File),
            ("scripts/", Resolution::File),
            (".claude", Resolution::File),
            (".claude/skills", Resolution::File),
            ("tools", Resolution::Missing),
            ("tools-x", Resolution::File),
            ("scripts/run", Resolution::Missing),
            ("/pdf", node(".claude/skills/pdf/SKILL.md")),
            ("@pdf", node(".claude/skills/pdf/SKILL.md")),
            ("ship_it", node(".claude/commands/deploy.md")),
            ("/deploy", node(".claude/commands/deploy.md")),
            ("acme:deploy", node(".claude/commands/deploy.md")),
            ("guide", Resolution::Missing),
            ("", Resolution::Missing),
            ("/", Resolution::Missing),
        ];
        for (target, expected) in cases {
            assert_eq!(index.resolve_target(target), expected, "{target:?}");
        }
        assert_eq!(index.node_count(), 3);
        assert_eq!(index.position("docs/guide.md"), Some(2));
        assert_eq!(index.position("scripts/run.sh"), None);
        let listed: Vec<&str> = index.files().collect();
        assert_eq!(listed, [".claude/skills/pdf/SKILL.md", "docs/guide.md", "scripts/run.sh", "tools-x/a.txt"]);
    }
}
