//! The `at-mention` detector: `@agent`, `@scope/name`, `@plugin:agent` → `mentions`.
//!
//! An `@` counts at the start of a word (e-mail addresses and `x@y` are not mentions). Real files
//! are full of `@` that are not agents — social handles (`@reidhoffman`), annotations (`@Nested`),
//! npm packages (`@playwright/test`) — so confidence decides what `broken-ref` may report:
//!
//! - `@name` / `@plugin:name`: medium when it resolves to a node or looks like an agent name
//!   (lowercase with a `-` or `:`), else low;
//! - `@scope/name`: low (almost always an npm package);
//! - `@path/file.ext` (Claude Code's file import): resolved against the source's directory, then
//!   the scan root; medium when the file exists, or when the source is a memory file
//!   (`CLAUDE.md`, `AGENTS.md`, `GEMINI.md`, `CLAUDE.local.md`) whose imports must resolve; else low.
//!
//! Code is skipped; one link per normalised trigger per node.

use std::collections::BTreeSet;

use sm_kernel::extensions::{DetectContext, Detector, ExtensionInfo, ExtensionKind, Prepared};
use sm_kernel::model::{Confidence, Link, LinkKind, Location, Node};
use sm_kernel::node_index::{NodeIndex, Resolution};
use sm_kernel::normalize::normalize_trigger;

use crate::text::{BodyLines, char_at, char_before, dir_of, join_normalized, triggered_link};

pub const ID: &str = "at-mention";

/// The built-in @-mention detector.
#[derive(Debug, Default, Clone, Copy)]
pub struct AtMention;

impl Detector for AtMention {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(
            ID,
            ExtensionKind::Detector,
            "@agent, @scope/name and @plugin:agent mentions; @path file imports",
        )
    }

    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        self.prepare(ctx).map(|p| self.complete(ctx.node, p, ctx.index)).unwrap_or_default()
    }

    fn prepares(&self) -> bool {
        true
    }

    /// Keeps each mention (first occurrence per normalised trigger) with its line; `complete`
    /// resolves them.
    fn prepare(&self, ctx: &DetectContext<'_>) -> Option<Prepared> {
        let prose = ctx.prose;
        let lines = BodyLines::new(prose, ctx.body_start_line);
        let mut seen = BTreeSet::new();
        let mut found: Mentions = Vec::new();
        for i in memchr::memchr_iter(b'@', prose.as_bytes()) {
            let Some(handle) = handle_at(prose, i) else {
                continue;
            };
            let original = &prose[i..i + 1 + handle.len()];
            if seen.insert(normalize_trigger(original)) {
                found.push((original.to_owned(), lines.location(i)));
            }
        }
        (!found.is_empty()).then(|| Box::new(found) as Prepared)
    }

    fn complete(&self, node: &Node, prepared: Prepared, index: &NodeIndex) -> Vec<Link> {
        let Ok(found) = prepared.downcast::<Mentions>() else {
            return Vec::new();
        };
        found
            .iter()
            .map(|(original, location)| {
                let (target, confidence) = classify(&node.path, index, &original[1..], original);
                triggered_link(&node.path, &target, original, LinkKind::Mentions, confidence, ID, *location)
            })
            .collect()
    }
}

/// What `prepare` keeps: each mention as written (with its `@`) and where.
type Mentions = Vec<(String, Location)>;

fn is_handle_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':')
}

/// The handle after the `@` at `i`, without trailing punctuation.
fn handle_at(s: &str, i: usize) -> Option<&str> {
    if let Some(prev) = char_before(s, i)
        && (prev.is_alphanumeric() || "_.-+@/\\=:'\"`".contains(prev))
    {
        return None;
    }
    if !char_at(s, i + 1).is_some_and(|c| c.is_ascii_alphanumeric() || c == '.') {
        return None;
    }
    let rest = &s[i + 1..];
    let end = rest.find(|c: char| !is_handle_char(c)).unwrap_or(rest.len());
    let handle = rest[..end].trim_end_matches(['.', ':', '-', '/']);
    (handle.len() >= 2 && handle.chars().any(|c| c.is_ascii_alphabetic())).then_some(handle)
}

fn has_extension(handle: &str) -> bool {
    let last = handle.rsplit('/').next().unwrap_or(handle);
    last.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && (1..=8).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

const MEMORY_FILES: &[&str] = &["CLAUDE.md", "AGENTS.md", "GEMINI.md", "CLAUDE.local.md"];

fn classify(source: &str, index: &NodeIndex, handle: &str, original: &str) -> (String, Confidence) {
    if has_extension(handle) {
        let relative = join_normalized(dir_of(source), handle).unwrap_or_else(|| handle.to_owned());
        for candidate in [relative.as_str(), handle] {
            if index.resolve_target(candidate) != Resolution::Missing {
                return (candidate.to_owned(), Confidence::Medium);
            }
        }
        let file = source.rsplit('/').next().unwrap_or(source);
        let confidence = if MEMORY_FILES.contains(&file) { Confidence::Medium } else { Confidence::Low };
        return (relative, confidence);
    }
    if handle.contains('/') {
        return (original.to_owned(), Confidence::Low);
    }
    let agent_like = handle.contains(['-', ':']) && !handle.chars().any(|c| c.is_ascii_uppercase());
    let confidence = if index.resolve(original).is_some() || agent_like { Confidence::Medium } else { Confidence::Low };
    (original.to_owned(), confidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::detect_on;

    #[test]
    fn mentions_files_and_not_emails() {
        let body = "Ask @code-reviewer or @sc:analyzer. Mail me@example.com.\nSee @docs/guide.md and @package.json, @playwright/test.\n`@in-code` @Nested @reidhoffman\n";
        let links = detect_on(&AtMention, "CLAUDE.md", body);
        let got: Vec<(&str, Confidence)> = links.iter().map(|l| (l.target.as_str(), l.confidence)).collect();
        assert_eq!(
            got,
            vec![
                ("@code-reviewer", Confidence::Medium),
                ("@sc:analyzer", Confidence::Medium),
                ("docs/guide.md", Confidence::Medium),
                ("package.json", Confidence::Medium),
                ("@playwright/test", Confidence::Low),
                ("@Nested", Confidence::Low),
                ("@reidhoffman", Confidence::Low),
            ]
        );
        let elsewhere = detect_on(&AtMention, "notes/x.md", "See @README.md (if it exists).\n");
        assert_eq!(elsewhere[0].confidence, Confidence::Low, "a missing @file outside a memory file is a hint");
    }
}
