//! What an incremental scan reuses from the previous one.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use serde::{Deserialize, Serialize};

use crate::model::{Confidence, Issue, Link, LinkKind, Location, Node, Trigger};
use crate::node_index::NodeIndex;

/// What an incremental scan changed relative to the cache it started from, so persistence can
/// update the stored scan in place. Node rows not listed equal the stored ones; stored nodes absent
/// from the result are to be deleted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersistDelta {
    /// Paths whose `scan_nodes` row is new or changed.
    pub nodes_written: BTreeSet<String>,
    /// Paths whose cache row is new or changed (files read in this scan).
    pub cache_written: BTreeSet<String>,
    /// Nodes of the prior cache that are nodes no more (deleted, renamed, now ignored).
    pub vanished: BTreeSet<String>,
    /// Set by the caller when it knows the stored issues, in stored order (a watch batch keeps
    /// the last one's): persistence then writes only the rows that differ from the result's.
    pub stored_issues: Option<Vec<crate::model::Issue>>,
    /// [`equal_ends`] of `stored_issues` and the result's issues, when the caller worked them out
    /// ahead of persisting (a watch, while the debounce runs); persistence compares them otherwise.
    pub issue_ends: Option<(usize, usize)>,
}

impl PersistDelta {
    /// The delta of two scans in a row, `self` relative to the stored scan and `later` relative
    /// to `self`'s result, as one relative to the stored scan: every row either wrote (a row
    /// written twice is written once, with the later content), and the stored issues `self` knew.
    pub fn join(mut self, later: PersistDelta) -> PersistDelta {
        self.nodes_written.extend(later.nodes_written);
        self.cache_written.extend(later.cache_written);
        self.vanished.extend(later.vanished);
        self.stored_issues = self.stored_issues.or(later.stored_issues);
        // Worked out for `self`'s result, not for the later one.
        self.issue_ends = None;
        self
    }
}

/// How many of `stored` equal `issues` from the start, and how many of the rest from the end: the
/// rows an update of the stored issues leaves as they are.
pub fn equal_ends(stored: &[crate::model::Issue], issues: &[crate::model::Issue]) -> (usize, usize) {
    let head = stored.iter().zip(issues).take_while(|(a, b)| a == b).count();
    let tail = stored[head..].iter().rev().zip(issues[head..].iter().rev()).take_while(|(a, b)| a == b).count();
    (head, tail)
}

/// Everything about one node that lets the next scan skip reading its file.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedNode {
    /// The node exactly as stored (link counts included).
    pub node: Node,
    pub file_size: u64,
    pub file_mtime_ms: i64,
    pub body_start_line: u64,
    /// Raw output per detector id, before links are merged.
    pub detections: BTreeMap<String, Vec<Link>>,
    /// Issues about the file itself (frontmatter problems), before `--strict` is applied.
    pub file_issues: Vec<Issue>,
}

/// One cache row of a hollow cache: what persistence writes about a node's file besides the node,
/// which is the result's.
#[derive(Debug, Clone, PartialEq)]
pub struct HollowRow {
    pub file_size: u64,
    pub file_mtime_ms: i64,
    pub body_start_line: u64,
    /// The detector output in its stored form ([`encode_detections`]); `None` for a file an
    /// incremental scan did not read (its stored row stays).
    pub encoded_detections: Option<String>,
    /// Issues about the file itself (frontmatter problems), before `--strict` is applied.
    pub file_issues: Vec<Issue>,
}

/// The previous scan, as an incremental scan needs it.
#[derive(Debug, Clone, Default)]
pub struct ScanCache {
    /// By path; empty in a hollow cache.
    pub nodes: BTreeMap<String, CachedNode>,
    /// A hollow cache's rows, one per node of the scan's result, in the result's order.
    pub hollow_rows: Vec<HollowRow>,
    /// `<producers>:<index>` of the scan that wrote this cache: a hash of what produced it (sm's
    /// version, adapters and detectors with their versions, the file size limit; a different one
    /// discards the whole cache) and its [`index_fingerprint`].
    pub index_fingerprint: Option<String>,
    /// [`Walked::input_fingerprint`](crate::scan_orchestrator::Walked::input_fingerprint) of the
    /// scan that wrote this cache, when the caller computed one.
    pub input_fingerprint: Option<String>,
    /// Set on a scan's output when every node came unchanged from the previous cache and the index
    /// is the same: the stored nodes, links and cache rows are already right.
    pub reused_all: bool,
    /// Set when the scan started from a prior cache: what changed since. `None`: store everything.
    pub delta: Option<PersistDelta>,
    /// The nodes went into the result and the cache keeps only `hollow_rows` (see
    /// `ScanRequest::keep_cache_nodes`). Persisting needs nothing more; a scan refuses a hollow
    /// cache as its prior.
    pub hollow: bool,
    /// A kept cache's nodes went into its scan's result (`ScanResult::nodes`) and each
    /// [`CachedNode::node`] is a stand-in until [`restore_nodes`](Self::restore_nodes) gives them
    /// back. A scan refuses a cache with lent nodes as its prior (it reads every file instead).
    pub lent: bool,
    /// The index the scan resolved against, kept with a cache kept for the next scan (not a hollow
    /// one): a next scan whose node names, kinds and walked files are the same uses it again.
    pub index: Option<std::sync::Arc<crate::node_index::NodeIndex>>,
    /// With a kept cache (not a hollow one): its scan's links, which a next scan takes for the
    /// nodes it does not read again instead of building them from the cached detections.
    pub links: Option<KeptLinks>,
}

/// External references per source node: the distinct targets with a URL scheme.
pub(crate) type ExternalRefs = std::collections::HashMap<String, BTreeSet<String>>;

/// The links of the scan that wrote a kept cache. They are its result's (`ScanResult::links`)
/// until the caller gives them back with the nodes ([`ScanCache::take_back`]); a next scan uses
/// them only then.
#[derive(Debug, Clone, Default)]
pub struct KeptLinks {
    /// The result's links once given back, in its order (by source first).
    pub(crate) links: Option<Vec<Link>>,
    /// How many links the result was given.
    pub(crate) lent: usize,
    /// The scan's external references (they are not links of the result).
    pub(crate) external: ExternalRefs,
}

impl ScanCache {
    /// Gives back the nodes this cache lent to its scan's result (that result's `nodes`, as the
    /// scan returned them). `false` when they are not this cache's nodes: the cache stays lent
    /// (and useless as a prior).
    pub fn restore_nodes(&mut self, mut nodes: Vec<Node>) -> bool {
        if !self.lent || nodes.len() != self.nodes.len() {
            return false;
        }
        // Paths are unique in a result: as many nodes as entries, each with a path of the cache,
        // is all of them. A result in path order (one root's) pairs up without a lookup.
        if !nodes.iter().zip(self.nodes.keys()).all(|(n, path)| n.path == *path) {
            if !nodes.iter().all(|n| self.nodes.contains_key(&n.path)) {
                return false;
            }
            nodes.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        }
        for (cached, node) in self.nodes.values_mut().zip(nodes) {
            cached.node = node;
        }
        self.lent = false;
        true
    }

    /// Gives back what this cache lent to `result`, the result of its own scan, once the caller is
    /// done with it: the nodes ([`restore_nodes`](Self::restore_nodes), which decides the answer)
    /// and the links, which then leave `result`. Links that are not the ones lent (another
    /// number of them) stay, and the next scan builds every link from the detections.
    pub fn take_back(&mut self, result: &mut crate::model::ScanResult) -> bool {
        if !self.restore_nodes(std::mem::take(&mut result.nodes)) {
            return false;
        }
        match self.links.as_mut() {
            Some(kept) if kept.links.is_none() && kept.lent == result.links.len() => {
                kept.links = Some(std::mem::take(&mut result.links));
            }
            _ => self.links = None,
        }
        true
    }

    /// The number of cache rows this cache stands for (one per node of its scan).
    pub fn row_count(&self) -> usize {
        if self.hollow { self.hollow_rows.len() } else { self.nodes.len() }
    }
}

/// A hash of every node path, node name and walked file: detectors that look at the whole graph
/// (name mentions, @-mentions) give the same answer for an unchanged file only if this is equal.
pub fn index_fingerprint(index: &NodeIndex) -> String {
    let mut h = Sha256::new();
    for (name, path, kind) in index.named_nodes() {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(path.as_bytes());
        h.update([0]);
        h.update(kind.as_bytes());
        h.update([1]);
    }
    h.update([2]);
    for f in index.files() {
        h.update(f.as_bytes());
        h.update([0]);
    }
    crate::hashing::hex(&h.finalize())
}

/// A cached link in its stored form: a JSON array of target, kind, confidence, trigger (original,
/// normalised), location (line, column, offset), raw, and the producing detectors only when they
/// are not just the detector the link is filed under. The source is the node's path. A third of
/// the size of the `Link` objects, and as much faster to read.
#[derive(Serialize, Deserialize)]
struct StoredLink(
    String,
    LinkKind,
    Confidence,
    Option<(String, String)>,
    Option<(u64, Option<u64>, Option<u64>)>,
    Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")] Option<Vec<String>>,
);

/// [`StoredLink`] borrowing the link's strings, to write it: serialises to the same JSON.
#[derive(Serialize)]
struct StoredLinkRef<'a>(
    &'a str,
    LinkKind,
    Confidence,
    Option<(&'a str, &'a str)>,
    Option<(u64, Option<u64>, Option<u64>)>,
    Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")] Option<&'a [String]>,
);

/// One node's detector output as storage keeps it (`scan_node_cache.detections_json`): a JSON
/// object of detector id → [`StoredLink`] arrays. `detections` come in id order (a map's order).
pub fn encode_detections<'a>(detections: impl IntoIterator<Item = (&'a str, &'a [Link])>) -> String {
    let stored: Vec<(&str, Vec<StoredLinkRef<'_>>)> = detections
        .into_iter()
        .map(|(detector, links)| {
            let links = links
                .iter()
                .map(|l| {
                    StoredLinkRef(
                        &l.target,
                        l.kind,
                        l.confidence,
                        l.trigger.as_ref().map(|t| (t.original_trigger.as_str(), t.normalized_trigger.as_str())),
                        l.location.map(|x| (x.line, x.column, x.offset)),
                        l.raw.as_deref(),
                        (l.sources.len() != 1 || l.sources[0] != detector).then_some(l.sources.as_slice()),
                    )
                })
                .collect();
            (detector, links)
        })
        .collect();
    serde_json::to_string(&InOrder(&stored)).expect("detector output always serialises")
}

/// Pairs serialised as a JSON object, in the order given.
struct InOrder<'a, V>(&'a [(&'a str, V)]);

impl<V: Serialize> Serialize for InOrder<'_, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// The inverse of [`encode_detections`] for the node at `path`.
pub fn decode_detections(path: &str, text: &str) -> Result<BTreeMap<String, Vec<Link>>, String> {
    let stored: BTreeMap<String, Vec<StoredLink>> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(stored
        .into_iter()
        .map(|(detector, links)| {
            let links = links
                .into_iter()
                .map(|StoredLink(target, kind, confidence, trigger, location, raw, sources)| Link {
                    source: path.to_owned(),
                    target,
                    kind,
                    confidence,
                    sources: sources.unwrap_or_else(|| vec![detector.clone()]),
                    trigger: trigger.map(|(o, n)| Trigger { original_trigger: o, normalized_trigger: n }),
                    location: location.map(|(line, column, offset)| Location { line, column, offset }),
                    raw,
                })
                .collect();
            (detector, links)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lent_cache(paths: &[&str]) -> ScanCache {
        let stand_in = |_: &&str| CachedNode {
            node: Node::new("", "", ""),
            file_size: 1,
            file_mtime_ms: 1,
            body_start_line: 1,
            detections: BTreeMap::new(),
            file_issues: Vec::new(),
        };
        ScanCache {
            nodes: paths.iter().map(|p| ((*p).to_owned(), stand_in(p))).collect(),
            lent: true,
            ..Default::default()
        }
    }

    /// Lent nodes come back to their own paths whatever the result's order; nodes that are not
    /// the cache's (another path, one missing) are refused and the cache stays lent.
    #[test]
    fn restoring_lent_nodes_pairs_them_by_path() {
        let node = |path: &str| Node::new(path, "note", "claude");
        let mut cache = lent_cache(&["a.md", "b.md"]);
        assert!(!cache.restore_nodes(vec![node("a.md")]));
        assert!(!cache.restore_nodes(vec![node("a.md"), node("c.md")]));
        assert!(cache.lent);
        assert!(cache.restore_nodes(vec![node("b.md"), node("a.md")]));
        assert!(!cache.lent);
        assert!(cache.nodes.iter().all(|(path, c)| c.node.path == *path));
        assert!(!cache.restore_nodes(vec![node("a.md"), node("b.md")]), "nothing is lent any more");
    }
}
