//! What happened to nodes that disappeared since the previous scan.
//!
//! Deleted paths (in the prior scan, not in this one) are matched against new paths:
//!
//! 1. **high** — the first unclaimed new path with the same body hash (deleted and new paths are
//!    both taken in sorted order): a rename; job state follows it; no issue.
//! 2. **medium** — a new path whose only unclaimed candidate shares its frontmatter hash: a likely
//!    rename; state follows it; issue `auto-rename-medium` (warn).
//! 3. **ambiguous** — a new path with several such candidates: no migration; issue
//!    `auto-rename-ambiguous` (warn) listing them.
//! 4. **orphan** — every deleted path still unclaimed: issue `orphan` (info).
//!
//! `sm orphans reconcile` and `sm orphans undo-rename` act on these issues.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::model::{Issue, Node, Severity};

/// Rule ids of this use case.
pub mod ids {
    pub const AUTO_RENAME_MEDIUM: &str = "auto-rename-medium";
    pub const AUTO_RENAME_AMBIGUOUS: &str = "auto-rename-ambiguous";
    pub const ORPHAN: &str = "orphan";
}

/// How sure a rename is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenameConfidence {
    High,
    Medium,
}

/// A path whose state moves to another path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RenameOp {
    pub from: String,
    pub to: String,
    pub confidence: RenameConfidence,
}

/// Renames to apply and issues to report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenameOutcome {
    pub renames: Vec<RenameOp>,
    pub issues: Vec<Issue>,
}

/// Path and content hashes of a node: all rename tracking needs of the prior scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub path: String,
    pub body_hash: String,
    pub frontmatter_hash: String,
}

impl From<&Node> for Fingerprint {
    fn from(n: &Node) -> Self {
        Self { path: n.path.clone(), body_hash: n.body_hash.clone(), frontmatter_hash: n.frontmatter_hash.clone() }
    }
}

/// `orphan` issues for paths that `state_*` rows still reference but that are neither live nodes
/// nor renamed, nor already reported.
pub fn stranded(state_refs: &BTreeSet<String>, current: &[Node], outcome: &RenameOutcome) -> Vec<Issue> {
    // Most projects keep no state rows: then no node is looked up (a watch batch asks every time).
    if state_refs.is_empty() {
        return Vec::new();
    }
    let live: BTreeSet<&str> = current.iter().map(|n| n.path.as_str()).collect();
    let moved: BTreeSet<&str> = outcome.renames.iter().map(|r| r.from.as_str()).collect();
    let reported: BTreeSet<&str> = outcome
        .issues
        .iter()
        .filter(|i| i.rule_id == ids::ORPHAN)
        .flat_map(|i| i.node_ids.iter().map(String::as_str))
        .collect();
    state_refs
        .iter()
        .filter(|p| {
            !p.is_empty() && !live.contains(p.as_str()) && !moved.contains(p.as_str()) && !reported.contains(p.as_str())
        })
        .map(|p| stranded_issue(p))
        .collect()
}

/// `orphan` issues for paths that `state_*` rows still reference but that are not among `live`
/// node paths, when the scan found no renames (as when nothing changed).
pub fn stranded_paths<'a>(state_refs: &BTreeSet<String>, live: impl IntoIterator<Item = &'a str>) -> Vec<Issue> {
    let live: BTreeSet<&str> = live.into_iter().collect();
    state_refs.iter().filter(|p| !p.is_empty() && !live.contains(p.as_str())).map(|p| stranded_issue(p)).collect()
}

fn stranded_issue(p: &str) -> Issue {
    Issue::new(
        ids::ORPHAN,
        Severity::Info,
        p,
        format!("Orphan history: {p} has stranded state_* references but no live node."),
    )
    .with_data(json!({ "path": p, "stranded": true }))
}

/// The prior paths that are gone and the current ones that are new, each in path order. Lists
/// already in path order (the stored scan and a scan's result are) are compared in one walk over
/// both; others through sets.
fn vanished_and_new<'a, 'b>(prior: &'a [Fingerprint], current: &'b [Node]) -> (Vec<&'a Fingerprint>, Vec<&'b Node>) {
    let (mut deleted, mut added) = (Vec::new(), Vec::new());
    if prior.is_sorted_by(|a, b| a.path < b.path) && current.is_sorted_by(|a, b| a.path < b.path) {
        let (mut before, mut now) = (prior.iter().peekable(), current.iter().peekable());
        loop {
            match (before.peek(), now.peek()) {
                (Some(old), Some(new)) => match old.path.cmp(&new.path) {
                    std::cmp::Ordering::Less => deleted.extend(before.next()),
                    std::cmp::Ordering::Greater => added.extend(now.next()),
                    std::cmp::Ordering::Equal => {
                        before.next();
                        now.next();
                    }
                },
                (Some(_), None) => deleted.extend(before.by_ref()),
                (None, Some(_)) => added.extend(now.by_ref()),
                (None, None) => break,
            }
        }
        return (deleted, added);
    }
    let now: BTreeSet<&str> = current.iter().map(|n| n.path.as_str()).collect();
    let before: BTreeSet<&str> = prior.iter().map(|n| n.path.as_str()).collect();
    deleted.extend(prior.iter().filter(|n| !now.contains(n.path.as_str())));
    deleted.sort_by(|a, b| a.path.cmp(&b.path));
    added.extend(current.iter().filter(|n| !before.contains(n.path.as_str())));
    added.sort_by(|x, y| x.path.cmp(&y.path));
    (deleted, added)
}

/// Compares the prior scan's fingerprints with the current nodes.
pub fn track(prior: &[Fingerprint], current: &[Node]) -> RenameOutcome {
    let (deleted, added) = vanished_and_new(prior, current);
    let mut out = RenameOutcome::default();
    let mut claimed_new: BTreeSet<&str> = BTreeSet::new();
    let mut claimed_old: BTreeSet<&str> = BTreeSet::new();
    for old in &deleted {
        if let Some(new) = added.iter().find(|n| !claimed_new.contains(n.path.as_str()) && n.body_hash == old.body_hash)
        {
            claimed_new.insert(&new.path);
            claimed_old.insert(&old.path);
            out.renames.push(RenameOp {
                from: old.path.clone(),
                to: new.path.clone(),
                confidence: RenameConfidence::High,
            });
        }
    }
    let mut ambiguous: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let unclaimed: Vec<&Node> = added.iter().filter(|n| !claimed_new.contains(n.path.as_str())).copied().collect();
    for new in unclaimed {
        let candidates: Vec<&str> = deleted
            .iter()
            .filter(|o| !claimed_old.contains(o.path.as_str()) && o.frontmatter_hash == new.frontmatter_hash)
            .map(|o| o.path.as_str())
            .collect();
        match candidates.as_slice() {
            [] => {}
            [only] => {
                claimed_old.insert(only);
                claimed_new.insert(&new.path);
                out.renames.push(RenameOp {
                    from: (*only).to_owned(),
                    to: new.path.clone(),
                    confidence: RenameConfidence::Medium,
                });
                out.issues.push(
                    Issue::new(
                        ids::AUTO_RENAME_MEDIUM,
                        Severity::Warn,
                        &new.path,
                        format!(
                            "Auto-rename (medium confidence): {only} → {}; undo with `sm orphans undo-rename {}`",
                            new.path, new.path
                        ),
                    )
                    .with_data(json!({ "from": only, "to": new.path, "confidence": "medium" })),
                );
            }
            _ => {
                ambiguous.insert(&new.path, candidates);
            }
        }
    }
    for (new, candidates) in ambiguous {
        let open: Vec<&str> = candidates.into_iter().filter(|c| !claimed_old.contains(c)).collect();
        if open.len() < 2 {
            continue;
        }
        out.issues.push(
            Issue::new(
                ids::AUTO_RENAME_AMBIGUOUS,
                Severity::Warn,
                new,
                format!(
                    "{new} may be a rename of {}; pick one with `sm orphans reconcile <old> --to {new}`",
                    open.join(" or ")
                ),
            )
            .with_data(json!({ "to": new, "candidates": open })),
        );
    }
    for old in deleted.iter().filter(|o| !claimed_old.contains(o.path.as_str())) {
        out.issues.push(
            Issue::new(
                ids::ORPHAN,
                Severity::Info,
                &old.path,
                format!("Orphan history: {} was deleted; no rename match found.", old.path),
            )
            .with_data(json!({ "path": old.path })),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, body: char, fm: char) -> Node {
        Node {
            body_hash: body.to_string().repeat(64),
            frontmatter_hash: fm.to_string().repeat(64),
            ..Node::new(path, "note", "t")
        }
    }

    /// Lists in path order are compared in one walk; any other order gives the same outcome.
    #[test]
    fn path_order_or_not_the_outcome_is_the_same() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| crate::xorshift(&mut seed) % n;
        for _ in 0..300 {
            let digit = |d: u64| char::from(b'0' + d as u8);
            let mut prior: Vec<Node> =
                (0..next(12)).map(|i| node(&format!("p{}/{i}.md", next(3)), digit(next(4)), digit(next(3)))).collect();
            let mut current: Vec<Node> =
                (0..next(12)).map(|i| node(&format!("p{}/{i}.md", next(3)), digit(next(4)), digit(next(3)))).collect();
            for list in [&mut prior, &mut current] {
                list.sort_by(|a, b| a.path.cmp(&b.path));
                list.dedup_by(|a, b| a.path == b.path);
            }
            let sorted: Vec<Fingerprint> = prior.iter().map(Fingerprint::from).collect();
            let (mut shuffled_prior, mut shuffled_current) = (sorted.clone(), current.clone());
            shuffled_prior.reverse();
            shuffled_current.rotate_left(current.len() / 2);
            let (a, b) = (track(&sorted, &current), track(&shuffled_prior, &shuffled_current));
            assert_eq!(a.renames, b.renames);
            assert_eq!(a.issues, b.issues);
            let (gone, new) = vanished_and_new(&sorted, &current);
            assert!(gone.iter().all(|f| !current.iter().any(|n| n.path == f.path)));
            assert!(new.iter().all(|n| !sorted.iter().any(|f| f.path == n.path)));
            assert_eq!(gone.len() + current.len(), new.len() + sorted.len(), "every path is kept, gone or new");
        }
    }

    #[test]
    fn the_reference_scenario() {
        // prior {a, b (frontmatter of a), c, d}; a→a2 (same body), c→c-moved (same body),
        // d→d2 (same frontmatter, new body), b deleted, new.md (frontmatter of a/b, new body).
        let prior = [node("a.md", '1', 'f'), node("b.md", '2', 'f'), node("c.md", '3', 'g'), node("d.md", '4', 'h')];
        let current = vec![
            node("a2.md", '1', 'f'),
            node("c-moved.md", '3', 'g'),
            node("d2.md", '5', 'h'),
            node("new.md", '6', 'f'),
        ];
        let prior: Vec<Fingerprint> = prior.iter().map(Fingerprint::from).collect();
        let out = track(&prior, &current);
        let ops: Vec<(&str, &str, RenameConfidence)> =
            out.renames.iter().map(|r| (r.from.as_str(), r.to.as_str(), r.confidence)).collect();
        assert_eq!(
            ops,
            vec![
                ("a.md", "a2.md", RenameConfidence::High),
                ("c.md", "c-moved.md", RenameConfidence::High),
                ("d.md", "d2.md", RenameConfidence::Medium),
                ("b.md", "new.md", RenameConfidence::Medium),
            ]
        );
        let rules: Vec<&str> = out.issues.iter().map(|i| i.rule_id.as_str()).collect();
        assert_eq!(rules, vec!["auto-rename-medium", "auto-rename-medium"]);
    }

    #[test]
    fn ambiguity_and_orphans() {
        let prior = [node("x.md", '1', 'f'), node("y.md", '2', 'f'), node("z.md", '3', 'q')];
        let current = vec![node("w.md", '4', 'f')];
        let prior: Vec<Fingerprint> = prior.iter().map(Fingerprint::from).collect();
        let out = track(&prior, &current);
        assert!(out.renames.is_empty());
        let rules: Vec<(&str, &str)> =
            out.issues.iter().map(|i| (i.rule_id.as_str(), i.node_ids[0].as_str())).collect();
        assert_eq!(
            rules,
            vec![("auto-rename-ambiguous", "w.md"), ("orphan", "x.md"), ("orphan", "y.md"), ("orphan", "z.md")]
        );
    }
}
