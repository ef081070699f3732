//! The `name-mention` detector: plain-prose mentions of another node's name → `mentions`, low.
//!
//! Plain mentions ("use the code-reviewer agent", "superpowers:brainstorming") are the most common
//! reference form in real corpora, but most single words that happen to be names ("deploy",
//! "review", "pdf") are ordinary prose. So only names that look like identifiers count:
//!
//! - the name of a skill, agent or command (notes and hooks are not mention targets);
//! - at least 6 characters, made of `[A-Za-z0-9_:-]`, with at least one `-`, `_` or `:` and a letter;
//! - not a common hyphenated English word (`follow-up`, `real-time`, `step-by-step`, …).
//!
//! Prose is split into identifier-like tokens (`[A-Za-z0-9_:-]+`, trailing `:`, `-`, `_` dropped);
//! a token that contains a separator is looked up, ASCII case-insensitively, among the names. A
//! token must stand alone: not preceded by `/`, `@`, `.` or `\` (slash commands and @-mentions
//! have their own detectors) and not followed by `/`, `\` or a `.` that continues a file name
//! (`code-reviewer.md`). Self-mentions are ignored; one link per mentioned node per source. Code is
//! skipped. The target is the node's path when exactly one node has the name, else the name.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use sm_kernel::extensions::{DetectContext, Detector, ExtensionInfo, ExtensionKind, Prepared};
use sm_kernel::model::{Confidence, Link, LinkKind, Location, Node};
use sm_kernel::node_index::NodeIndex;

use crate::text::{char_at, char_before, triggered_link};

pub const ID: &str = "name-mention";

const COMMON_COMPOUNDS: &[&str] = &[
    "follow-up",
    "real-time",
    "step-by-step",
    "end-to-end",
    "built-in",
    "read-only",
    "up-to-date",
    "long-term",
    "short-term",
    "high-level",
    "low-level",
    "open-source",
    "third-party",
    "well-known",
    "best-practices",
    "cross-platform",
    "full-stack",
    "front-end",
    "back-end",
    "self-hosted",
    "multi-step",
    "one-time",
    "on-demand",
    "day-to-day",
    "out-of-the-box",
    "state-of-the-art",
    "trade-offs",
    "code-review",
    "pull-request",
    "error-handling",
    "unit-tests",
    "test-driven",
    "read-write",
    "key-value",
    "non-blocking",
    "how-to",
];

/// The built-in name mention detector.
#[derive(Default)]
pub struct NameMention {
    /// Lowercase name → target, and the generation of the index it was built from: rebuilt for
    /// every scan whose index is a new one.
    names: RwLock<(u64, Option<Names>)>,
}

/// Lowercase name → the node it names.
type Names = Arc<HashMap<String, String>>;

impl Detector for NameMention {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(
            ID,
            ExtensionKind::Detector,
            "plain-prose mentions of identifier-like skill, agent and command names",
        )
    }

    fn begin_scan(&self, index: &NodeIndex) {
        if index.generation() != 0 && self.names.read().is_ok_and(|slot| slot.0 == index.generation()) {
            return; // the same index as the last scan's (a watch batch that changed no name)
        }
        let names = build_names(index);
        if let Ok(mut slot) = self.names.write() {
            *slot = (index.generation(), (!names.is_empty()).then(|| Arc::new(names)));
        }
    }

    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        self.prepare(ctx).map(|p| self.complete(ctx.node, p, ctx.index)).unwrap_or_default()
    }

    fn prepares(&self) -> bool {
        true
    }

    /// Keeps every word that could be a name (first occurrence of each, ASCII case-insensitively)
    /// with its line; `complete` looks them up among the names.
    fn prepare(&self, ctx: &DetectContext<'_>) -> Option<Prepared> {
        let prose = ctx.prose;
        let bytes = prose.as_bytes();
        let mut words = Words::default();
        // Lower-cased forms already kept: only the first occurrence of a name counts.
        let mut kept: HashSet<String> = HashSet::new();
        let mut lower = String::new();
        let (mut line, mut counted_to) = (ctx.body_start_line, 0usize);
        for (start, end) in joined_tokens(prose) {
            let token = &prose[start..end];
            if token.len() < 6
                || !token.contains(['-', '_', ':'])
                || !token.bytes().any(|b| b.is_ascii_alphabetic())
                || !stands_alone(prose, start, end)
            {
                continue;
            }
            lower.clear();
            lower.extend(token.chars().map(|c| c.to_ascii_lowercase()));
            if kept.contains(lower.as_str()) {
                continue;
            }
            kept.insert(lower.clone());
            line += memchr::memchr_iter(b'\n', &bytes[counted_to..start]).count() as u64;
            counted_to = start;
            words.found.push((token.into(), line));
        }
        (!words.found.is_empty()).then(|| Box::new(words) as Prepared)
    }

    fn complete(&self, node: &Node, prepared: Prepared, _index: &NodeIndex) -> Vec<Link> {
        let (Ok(words), Some(names)) = (prepared.downcast::<Words>(), self.names.read().ok().and_then(|m| m.1.clone()))
        else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let mut links = Vec::new();
        let mut lower = String::new();
        for (token, line) in &words.found {
            lower.clear();
            lower.extend(token.chars().map(|c| c.to_ascii_lowercase()));
            let Some(target) = names.get(lower.as_str()) else { continue };
            if target == &node.path || !seen.insert(target.clone()) {
                continue;
            }
            links.push(triggered_link(
                &node.path,
                target,
                token,
                LinkKind::Mentions,
                Confidence::Low,
                ID,
                Location { line: *line, column: None, offset: None },
            ));
        }
        links
    }
}

/// What `prepare` keeps of a body: the words that could be names, in order, with their lines.
#[derive(Default)]
struct Words {
    found: Vec<(Box<str>, u64)>,
}

/// The [`tokens`] that hold a `-`, `_` or `:` before trimming — the only ones a name can be —
/// found from those bytes instead of walking every word.
fn joined_tokens(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = s.as_bytes();
    let is_token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-');
    let mut done_to = 0usize;
    memchr::memchr3_iter(b'-', b'_', b':', bytes).filter_map(move |hit| {
        if hit < done_to {
            return None;
        }
        let mut start = hit;
        while start > 0 && is_token(bytes[start - 1]) {
            start -= 1;
        }
        let mut stop = hit + 1;
        while stop < bytes.len() && is_token(bytes[stop]) {
            stop += 1;
        }
        done_to = stop;
        let mut end = stop;
        while end > start && matches!(bytes[end - 1], b':' | b'-' | b'_') {
            end -= 1;
        }
        (end > start).then_some((start, end))
    })
}

/// Whether a name qualifies as a mention target (see the module docs).
pub fn is_mentionable(name: &str) -> bool {
    name.len() >= 6
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
        && name.contains(['-', '_', ':'])
        && name.chars().any(|c| c.is_ascii_alphabetic())
        && !name.starts_with(['-', '_', ':'])
        && !name.ends_with(['-', '_', ':'])
        && !COMMON_COMPOUNDS.contains(&name.to_ascii_lowercase().as_str())
}

fn build_names(index: &NodeIndex) -> HashMap<String, String> {
    let mut by_name: std::collections::BTreeMap<String, BTreeSet<String>> = std::collections::BTreeMap::new();
    for (name, path, kind) in index.named_nodes() {
        if matches!(kind, "skill" | "agent" | "command") && is_mentionable(name) {
            by_name.entry(name.to_ascii_lowercase()).or_default().insert(path.to_owned());
        }
    }
    by_name
        .into_iter()
        .map(|(name, paths)| {
            let target = if paths.len() == 1 { paths.into_iter().next().unwrap_or_default() } else { name.clone() };
            (name, target)
        })
        .collect()
}

fn stands_alone(s: &str, start: usize, end: usize) -> bool {
    if char_before(s, start).is_some_and(|c| "/@.\\".contains(c)) {
        return false;
    }
    match char_at(s, end) {
        Some('/' | '\\') => false,
        Some('.') => !char_at(s, end + 1).is_some_and(|c| c.is_alphanumeric()),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{detect_with_nodes, node};

    /// One detector across scans (as in a watch): each new index — here a renamed node — rebuilds
    /// the name table, so old names stop matching.
    #[test]
    fn a_new_index_rebuilds_the_name_table() {
        let detector = NameMention::default();
        let body = "Use pdf-tools here, or pdf-kit.";
        let targets = |name: &str| -> Vec<String> {
            let others = [node(".claude/skills/x/SKILL.md", "skill", name)];
            detect_with_nodes(&detector, "notes/a.md", body, &others).into_iter().map(|l| l.target).collect()
        };
        assert_eq!(targets("pdf-tools"), [".claude/skills/x/SKILL.md"]);
        assert_eq!(targets("pdf-kit"), [".claude/skills/x/SKILL.md"]);
        assert_eq!(targets("docx-kit"), Vec::<String>::new(), "the old names are gone");
    }

    /// Byte ranges of `[A-Za-z0-9_:-]+` runs, without trailing `:`, `-`, `_`.
    fn tokens(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
        let bytes = s.as_bytes();
        let is_token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-');
        let mut i = 0;
        std::iter::from_fn(move || {
            while i < bytes.len() && !is_token(bytes[i]) {
                i += 1;
            }
            if i >= bytes.len() {
                return None;
            }
            let start = i;
            while i < bytes.len() && is_token(bytes[i]) {
                i += 1;
            }
            let mut end = i;
            while end > start && matches!(bytes[end - 1], b':' | b'-' | b'_') {
                end -= 1;
            }
            Some((start, end))
        })
        .filter(|(start, end)| end > start)
    }

    #[test]
    fn joined_tokens_are_the_tokens_that_can_be_names() {
        let pieces = ["a", "Z9", "-", "_", ":", " ", "\n", "é", "x-y", "--", "::", ".", "/", "`", "foo_bar:", "-q"];
        let mut state = 0x9e37_79b9_u64;
        for _ in 0..4000 {
            let mut text = String::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let expected: Vec<(usize, usize)> =
                tokens(&text).filter(|&(a, b)| text[a..b].contains(['-', '_', ':'])).collect();
            let got: Vec<(usize, usize)> =
                joined_tokens(&text).filter(|&(a, b)| text[a..b].contains(['-', '_', ':'])).collect();
            assert_eq!(got, expected, "{text:?}");
            state = state.wrapping_add(1);
        }
    }

    #[test]
    fn mentions_identifier_like_names_only() {
        let nodes = vec![
            node(".claude/agents/code-reviewer.md", "agent", "code-reviewer"),
            node(".claude/skills/pdf/SKILL.md", "skill", "pdf"),
            node(".claude/skills/brainstorming/SKILL.md", "skill", "superpowers:brainstorming"),
            node("notes/real-notes.md", "note", "release-notes"),
        ];
        let body = "Ask the Code-Reviewer agent, then superpowers:brainstorming.\nThe pdf skill, release-notes, /code-reviewer, code-reviewer.md, `code-reviewer`, x-code-reviewer.\n";
        let links = detect_with_nodes(&NameMention::default(), "CLAUDE.md", body, &nodes);
        let got: Vec<(&str, &str)> = links
            .iter()
            .map(|l| (l.target.as_str(), l.trigger.as_ref().map_or("", |t| t.original_trigger.as_str())))
            .collect();
        assert_eq!(
            got,
            vec![
                (".claude/agents/code-reviewer.md", "Code-Reviewer"),
                (".claude/skills/brainstorming/SKILL.md", "superpowers:brainstorming"),
            ]
        );
        assert!(links.iter().all(|l| l.confidence == Confidence::Low && l.kind == LinkKind::Mentions));
    }

    #[test]
    fn common_words_are_not_names() {
        assert!(!is_mentionable("pdf"));
        assert!(!is_mentionable("follow-up"));
        assert!(!is_mentionable("Architecture notes"));
        assert!(is_mentionable("test-driven-development"));
    }
}
