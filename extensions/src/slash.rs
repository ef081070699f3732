//! The `slash` detector: `/command` and `/plugin:command` invocations in prose → `invokes`, medium.
//!
//! A `/` counts when it starts a word — at the start of a line or after whitespace or one of
//! `( [ { " “ ‘ * > , ;` (not inside a Markdown link's `](`) — so `a/b`, `10%/yr`, `$/year` and `(s)/mask` are not
//! commands. It must be followed by a name (`[A-Za-z0-9][A-Za-z0-9_-]*`, at least two characters, not
//! all digits) and optionally `:name`, and not start a path (`/usr/bin`, `/file.md`) or a call
//! (`/mask(s)`). Well-known root directories (`/etc`, `/tmp`, …) are not commands. Code is skipped.
//! One link per normalised trigger per node, at its first occurrence.

use std::collections::BTreeSet;

use sm_kernel::extensions::{DetectContext, Detector, ExtensionInfo, ExtensionKind};
use sm_kernel::model::{Confidence, Link, LinkKind};
use sm_kernel::normalize::normalize_trigger;

use crate::text::{BodyLines, char_at, char_before, ident_len, triggered_link};

pub const ID: &str = "slash";

const ROOT_DIRS: &[&str] = &[
    "bin",
    "boot",
    "dev",
    "etc",
    "home",
    "lib",
    "media",
    "mnt",
    "opt",
    "proc",
    "root",
    "run",
    "sbin",
    "srv",
    "sys",
    "tmp",
    "usr",
    "var",
    "workspace",
    "workspaces",
    "users",
    "api",
    "src",
];

/// The built-in slash command detector.
#[derive(Debug, Default, Clone, Copy)]
pub struct Slash;

impl Detector for Slash {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(ID, ExtensionKind::Detector, "/command and /plugin:command invocations")
    }

    fn depends_on_index(&self) -> bool {
        false
    }

    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        let prose = ctx.prose;
        let lines = BodyLines::new(prose, ctx.body_start_line);
        let mut seen = BTreeSet::new();
        let mut links = Vec::new();
        for (i, _) in prose.match_indices('/') {
            let Some(len) = command_at(prose, i) else {
                continue;
            };
            let original = &prose[i..i + len];
            let name = &original[1..];
            let head = name.split(':').next().unwrap_or(name);
            if ROOT_DIRS.contains(&head.to_ascii_lowercase().as_str()) && !name.contains(':') {
                continue;
            }
            if seen.insert(normalize_trigger(original)) {
                links.push(triggered_link(
                    &ctx.node.path,
                    original,
                    original,
                    LinkKind::Invokes,
                    Confidence::Medium,
                    ID,
                    lines.location(i),
                ));
            }
        }
        links
    }
}

/// Byte length of a slash command starting at `i` (the `/` included), if one starts there.
fn command_at(s: &str, i: usize) -> Option<usize> {
    if let Some(prev) = char_before(s, i) {
        // Only where a command can start: after whitespace or opening punctuation. Everything else
        // (`a/b`, `10%/yr`, `$/year`, `+/−/reset`, `(s)/mask`) is a path, a unit or an alternation.
        if !(prev.is_whitespace() || "([{\"“‘*>,;".contains(prev)) {
            return None;
        }
        if prev == '(' && char_before(s, i - 1) == Some(']') {
            return None;
        }
    }
    let start = i + 1;
    if !char_at(s, start).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut end = start + ident_len(s, start);
    if char_at(s, end) == Some(':') && char_at(s, end + 1).is_some_and(|c| c.is_ascii_alphanumeric()) {
        end = end + 1 + ident_len(s, end + 1);
    }
    let name = &s[start..end];
    if name.len() < 2 || name.chars().all(|c| c.is_ascii_digit()) || name.ends_with('-') {
        return None;
    }
    match char_at(s, end) {
        Some('/') | Some('\\') => return None,
        Some('.') if char_at(s, end + 1).is_some_and(|c| c.is_alphanumeric()) => return None,
        Some(c) if c.is_alphanumeric() || c == '(' => return None,
        _ => {}
    }
    Some(end - i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::detect_on;

    #[test]
    fn finds_commands_and_skips_paths_urls_code() {
        let body = "Run /deploy then /sc:research and /Deploy again.\nNot a/b, /usr/bin, /etc, https://x.io/path, [l](/abs), 1/2, /file.md, (s)/mask, 5%/yr, $/year, +/−/reset.\n`/code` and\n```\n/fenced\n```\n(/paren) /review-pr.\n";
        let links = detect_on(&Slash, "commands/x.md", body);
        let got: Vec<(&str, u64)> =
            links.iter().map(|l| (l.target.as_str(), l.location.map_or(0, |x| x.line))).collect();
        assert_eq!(got, vec![("/deploy", 1), ("/sc:research", 1), ("/paren", 7), ("/review-pr", 7)]);
        assert_eq!(links[0].trigger.as_ref().map(|t| t.normalized_trigger.as_str()), Some("/deploy"));
        assert!(links.iter().all(|l| l.kind == LinkKind::Invokes && l.confidence == Confidence::Medium));
    }
}
