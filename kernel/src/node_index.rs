//! Lookup of link targets against the nodes (and files) of a scan.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rayon::prelude::*;

use crate::model::Node;
use crate::normalize::normalize_trigger;

/// The index's hash maps hash paths with foldhash instead of SipHash: every link's target is
/// looked up in them, and the keys are the project's own file paths (nothing to defend against).
type FastHash = foldhash::fast::RandomState;

/// Paths, normalised names and every walked file of a scan, for resolving link targets.
#[derive(Debug, Default)]
pub struct NodeIndex {
    /// Identifies this build (see [`generation`](Self::generation)); 0 for the empty index.
    generation: u64,
    /// Node path → position. Each node's path and kind are held once, shared with `nodes`.
    paths: HashMap<Arc<str>, u32, FastHash>,
    /// (path, kind) by position.
    nodes: Vec<(Arc<str>, Arc<str>)>,
    /// normalised name → the position of the node with the smallest path that answers to it.
    names: HashMap<String, u32, FastHash>,
    /// Every file the walk yielded (nodes or not), root-relative, sorted.
    files: Vec<String>,
    /// Every directory that holds a walked file or a node, at any depth (`a` and `a/b` for
    /// `a/b/c.md`).
    dirs: HashSet<String, FastHash>,
    /// (raw name as written, node position) for every named node, sorted by name, path and kind.
    named: Vec<(String, u32)>,
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
        index.nodes.reserve(nodes.len());
        // Kinds are few: one shared copy of each.
        let mut kinds: HashMap<&str, Arc<str>> = HashMap::new();
        for (node, names) in nodes.iter().zip(named) {
            let at = index.nodes.len() as u32;
            let path: Arc<str> = Arc::from(node.path.as_str());
            let kind = Arc::clone(kinds.entry(&node.kind).or_insert_with(|| Arc::from(node.kind.as_str())));
            // A path seen again (a caller passing a node twice) keeps its first position.
            let at = *index.paths.entry(Arc::clone(&path)).or_insert(at);
            if at as usize == index.nodes.len() {
                index.nodes.push((path, kind));
            }
            for (key, name) in names {
                index
                    .names
                    .entry(key)
                    .and_modify(|kept| {
                        if nodes_path(&index.nodes, at) < nodes_path(&index.nodes, *kept) {
                            *kept = at;
                        }
                    })
                    .or_insert(at);
                index.named.push((name, at));
            }
        }
        let nodes = &index.nodes;
        index.named.par_sort_unstable_by(|(a_name, a), (b_name, b)| {
            let ((a_path, a_kind), (b_path, b_kind)) = (&nodes[*a as usize], &nodes[*b as usize]);
            (a_name, a_path, a_kind).cmp(&(b_name, b_path, b_kind))
        });
        index.named.dedup();
        for path in index.files.iter().map(String::as_str).chain(index.nodes.iter().map(|(p, _)| &**p)) {
            let mut dir = path;
            while let Some((parent, _)) = dir.rsplit_once('/') {
                if index.dirs.contains(parent) {
                    break; // its own parents are in already
                }
                index.dirs.insert(parent.to_owned());
                dir = parent;
            }
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
        self.nodes.len()
    }

    /// The position of the node at `path` among the nodes the index was built from.
    pub fn position(&self, path: &str) -> Option<usize> {
        self.paths.get(path).map(|&i| i as usize)
    }

    /// The kind of the node at `path`.
    pub fn kind_of(&self, path: &str) -> Option<&str> {
        self.paths.get(path).map(|&i| &*self.nodes[i as usize].1)
    }

    /// Every `(raw name, node path, node kind)`, sorted: what name-based detectors match on.
    pub fn named_nodes(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.named.iter().map(|(name, at)| {
            let (path, kind) = &self.nodes[*at as usize];
            (name.as_str(), &**path, &**kind)
        })
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
            return Resolution::Node(p);
        }
        if self.files.binary_search_by(|f| f.as_str().cmp(as_path)).is_ok() || self.has_files_under(as_path) {
            return Resolution::File;
        }
        let bare = trimmed.strip_prefix('/').or_else(|| trimmed.strip_prefix('@')).unwrap_or(trimmed);
        if let Some(&at) = self.names.get(&normalize_trigger(bare)) {
            return Resolution::Node(nodes_path(&self.nodes, at));
        }
        // `plugin:name` (Claude Code's namespaced commands, skills and agents) falls back to `name`.
        if let Some((_, name)) = bare.rsplit_once(':')
            && let Some(&at) = self.names.get(&normalize_trigger(name))
        {
            return Resolution::Node(nodes_path(&self.nodes, at));
        }
        Resolution::Missing
    }
}

/// The path of the node at position `at` (a function of `nodes` alone: building the index reads it
/// while it updates `names`).
fn nodes_path(nodes: &[(Arc<str>, Arc<str>)], at: u32) -> &str {
    &nodes[at as usize].0
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
    if let Some(name) = crate::frontmatter::field(&node.frontmatter, "name").and_then(scalar_name)
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
    use crate::model::Node;

    fn node(path: &str, kind: &str, name: Option<&str>) -> Node {
        let mut frontmatter = serde_json::Map::new();
        if let Some(name) = name {
            frontmatter.insert("name".into(), name.into());
        }
        Node { frontmatter, ..Node::new(path, kind, "claude") }
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

    /// A name several nodes answer to resolves to the smallest path, whatever the nodes' order;
    /// the named nodes are listed by name, path and kind.
    #[test]
    fn a_shared_name_resolves_to_the_smallest_path() {
        let nodes = [
            node("z/review.md", "agent", Some("review-bot")),
            node("b/review.md", "command", Some("review-bot")),
            node("m/review.md", "agent", Some("Review-Bot")),
        ];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let index = NodeIndex::build(&order.map(|i| nodes[i].clone()));
            assert_eq!(index.resolve("review-bot"), Some("b/review.md"), "{order:?}");
            assert_eq!(index.resolve("/review"), Some("b/review.md"), "{order:?}");
            assert_eq!(index.kind_of("m/review.md"), Some("agent"));
            let named: Vec<(&str, &str, &str)> = index.named_nodes().collect();
            assert_eq!(
                named,
                [
                    ("Review-Bot", "m/review.md", "agent"),
                    ("review", "b/review.md", "command"),
                    ("review", "m/review.md", "agent"),
                    ("review", "z/review.md", "agent"),
                    ("review-bot", "b/review.md", "command"),
                    ("review-bot", "z/review.md", "agent"),
                ],
                "{order:?}"
            );
        }
    }
}
