//! Selecting part of a persisted scan: the export query language and focused subgraphs.
//!
//! Query language: whitespace-separated `key=value[,value…]` tokens, keys case-insensitive and each
//! at most once; AND across keys, OR within a key's values.
//!
//! | key | values |
//! |---|---|
//! | `kind` | node kinds (`skill`, `agent`, …) |
//! | `has` | `issues` (nodes named by any issue), `links` (nodes with a link in or out) |
//! | `path` | globs over node paths: `*` any characters but `/`, `**` any characters, `?` one character |
//! | `severity` | with issues of at least this severity (`error`, `warn`, `info`) |
//!
//! The subset keeps the matching nodes, the links whose source is kept (and whose target, when it
//! resolves to a node, is kept too), and the issues naming any kept node.

use std::collections::{BTreeSet, VecDeque};

use crate::model::{ScanResult, Severity};
use crate::node_index::NodeIndex;

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub kinds: Vec<String>,
    pub has_issues: bool,
    pub has_links: bool,
    pub path_globs: Vec<String>,
    pub min_severity: Option<Severity>,
}

/// A query that does not parse; `token` is the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad query token {token:?}: {reason}")]
pub struct QueryError {
    pub token: String,
    pub reason: String,
}

impl Query {
    /// Parses the query language (an empty query selects everything).
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let mut q = Query::default();
        let mut seen = BTreeSet::new();
        for token in text.split_whitespace() {
            let err = |reason: &str| QueryError { token: token.to_owned(), reason: reason.to_owned() };
            let (key, values) = token.split_once('=').ok_or_else(|| err("expected key=value"))?;
            let key = key.to_ascii_lowercase();
            if !seen.insert(key.clone()) {
                return Err(err("key given twice"));
            }
            let values: Vec<&str> = values.split(',').filter(|v| !v.is_empty()).collect();
            if values.is_empty() {
                return Err(err("no value"));
            }
            match key.as_str() {
                "kind" => q.kinds = values.iter().map(|v| (*v).to_owned()).collect(),
                "path" => q.path_globs = values.iter().map(|v| (*v).to_owned()).collect(),
                "has" => {
                    for v in values {
                        match v {
                            "issues" => q.has_issues = true,
                            "links" => q.has_links = true,
                            _ => return Err(err("has= takes issues or links")),
                        }
                    }
                }
                "severity" => {
                    if values.len() != 1 {
                        return Err(err("severity= takes one value"));
                    }
                    q.min_severity =
                        Some(Severity::parse(values[0]).ok_or_else(|| err("severity= takes error, warn or info"))?);
                }
                _ => return Err(err("unknown key (known: kind, has, path, severity)")),
            }
        }
        Ok(q)
    }

    /// The part of `scan` this query selects.
    pub fn apply(&self, scan: &ScanResult) -> ScanResult {
        let with_issues: BTreeSet<&str> = scan
            .issues
            .iter()
            .filter(|i| self.min_severity.is_none_or(|min| i.severity <= min))
            .flat_map(|i| i.node_ids.iter().map(String::as_str))
            .collect();
        let keep: BTreeSet<String> = scan
            .nodes
            .iter()
            .filter(|n| self.kinds.is_empty() || self.kinds.contains(&n.kind))
            .filter(|n| !(self.has_issues || self.min_severity.is_some()) || with_issues.contains(n.path.as_str()))
            .filter(|n| !self.has_links || n.links_in_count + n.links_out_count > 0)
            .filter(|n| self.path_globs.is_empty() || self.path_globs.iter().any(|g| glob_match(g, &n.path)))
            .map(|n| n.path.clone())
            .collect();
        subset(scan, &keep)
    }
}

/// The nodes within `depth` link hops of `root` (following links in both directions).
pub fn neighbourhood(scan: &ScanResult, root: &str, depth: usize) -> ScanResult {
    let index = NodeIndex::build(&scan.nodes);
    let edges: Vec<(&str, &str)> =
        scan.links.iter().filter_map(|l| index.resolve(&l.target).map(|t| (l.source.as_str(), t))).collect();
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let mut queue = VecDeque::from([(root.to_owned(), 0usize)]);
    keep.insert(root.to_owned());
    while let Some((path, d)) = queue.pop_front() {
        if d == depth {
            continue;
        }
        for (s, t) in &edges {
            let next = if *s == path {
                *t
            } else if *t == path {
                *s
            } else {
                continue;
            };
            if keep.insert(next.to_owned()) {
                queue.push_back((next.to_owned(), d + 1));
            }
        }
    }
    subset(scan, &keep)
}

fn subset(scan: &ScanResult, keep: &BTreeSet<String>) -> ScanResult {
    let index = NodeIndex::build(&scan.nodes);
    let mut out = scan.clone();
    out.nodes.retain(|n| keep.contains(&n.path));
    out.links.retain(|l| keep.contains(&l.source) && index.resolve(&l.target).is_none_or(|t| keep.contains(t)));
    out.issues.retain(|i| i.node_ids.iter().any(|n| keep.contains(n)));
    out.stats.nodes_count = out.nodes.len() as u64;
    out.stats.links_count = out.links.len() as u64;
    out.stats.issues_count = out.issues.len() as u64;
    out
}

/// Glob match over a whole path: `**` any characters, `*` any but `/`, `?` one character but `/`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = if p.get(2) == Some(&b'/') { &p[3..] } else { &p[2..] };
                (0..=s.len()).any(|i| go(rest, &s[i..])) || (p.get(2) == Some(&b'/') && go(&p[2..], s))
            }
            Some(b'*') => (0..=s.len()).take_while(|&i| i == 0 || s[i - 1] != b'/').any(|i| go(&p[1..], &s[i..])),
            Some(b'?') => s.first().is_some_and(|&c| c != b'/') && go(&p[1..], &s[1..]),
            Some(&c) => s.first() == Some(&c) && go(&p[1..], &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_tokens() {
        let q = Query::parse("kind=skill,agent has=issues path=.claude/**").expect("parses");
        assert_eq!(q.kinds, vec!["skill", "agent"]);
        assert!(q.has_issues);
        assert_eq!(Query::parse("").expect("empty"), Query::default());
        assert_eq!(Query::parse("kind=skill bogus").expect_err("bad").token, "bogus");
        assert_eq!(Query::parse("colour=red").expect_err("bad").token, "colour=red");
        assert_eq!(Query::parse("kind=a KIND=b").expect_err("dup").token, "KIND=b");
        assert_eq!(Query::parse("has=stars").expect_err("bad").token, "has=stars");
        assert_eq!(Query::parse("kind=").expect_err("empty").token, "kind=");
    }

    #[test]
    fn globs() {
        assert!(glob_match(".claude/**", ".claude/skills/a/SKILL.md"));
        assert!(glob_match("**/SKILL.md", ".claude/skills/a/SKILL.md"));
        assert!(glob_match("**/SKILL.md", "SKILL.md"));
        assert!(glob_match("notes/*.md", "notes/a.md"));
        assert!(!glob_match("notes/*.md", "notes/x/a.md"));
        assert!(glob_match("n?tes/a.md", "notes/a.md"));
        assert!(!glob_match(".claude/**", "README.md"));
    }
}
