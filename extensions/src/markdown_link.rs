//! The `markdown-link` detector: `[text](relative/path.md#anchor)` and reference definitions
//! `[id]: path` → `references`, high.
//!
//! Destinations are resolved against the source's directory (`./` and `../` normalised, `%20`
//! decoded, `#anchor` and `?query` cut, `${CLAUDE_SKILL_DIR}` expanded to the source's directory).
//! Skipped: images (`![..](..)`), URLs and other schemes (`https:`, `mailto:`), anchors only (`#x`),
//! absolute paths (`/x`), template placeholders (`{{x}}`, `${VAR}`, `{expr}`), and paths that climb above
//! the scan root. Code is skipped. One link per resolved target per node.

use std::collections::BTreeSet;

use sm_kernel::extensions::{DetectContext, Detector, ExtensionInfo, ExtensionKind};
use sm_kernel::model::{Confidence, Link, LinkKind, Location, Trigger};

use crate::text::{BodyLines, char_before, dir_of, join_normalized, percent_decode};

pub const ID: &str = "markdown-link";

/// The built-in Markdown link detector.
#[derive(Debug, Default, Clone, Copy)]
pub struct MarkdownLink;

impl Detector for MarkdownLink {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(ID, ExtensionKind::Detector, "[text](relative/path.md) links and [id]: path definitions")
    }

    fn depends_on_index(&self) -> bool {
        false
    }

    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        let prose = ctx.prose;
        let lines = BodyLines::new(prose, ctx.body_start_line);
        let mut seen = BTreeSet::new();
        let mut links = Vec::new();
        let mut emit = |raw: &str, offset: usize| {
            let Some(target) = resolve(&ctx.node.path, raw) else {
                return;
            };
            if seen.insert(target.clone()) {
                links.push(link(&ctx.node.path, &target, raw, lines.location(offset)));
            }
        };
        for (offset, raw) in inline_destinations(prose) {
            emit(raw, offset);
        }
        for (offset, raw) in reference_definitions(prose) {
            emit(raw, offset);
        }
        links
    }
}

fn link(source: &str, target: &str, raw: &str, location: Location) -> Link {
    Link {
        source: source.to_owned(),
        target: target.to_owned(),
        kind: LinkKind::References,
        confidence: Confidence::High,
        sources: vec![ID.to_owned()],
        trigger: Some(Trigger { original_trigger: raw.to_owned(), normalized_trigger: target.to_owned() }),
        location: Some(location),
        raw: None,
    }
}

/// `(offset of '[', destination)` for every inline link that is not an image.
fn inline_destinations(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    // memmem is vectorised; `str::match_indices` with a string pattern is not.
    for close in memchr::memmem::find_iter(s.as_bytes(), b"](") {
        let line_start = s[..close].rfind('\n').map_or(0, |i| i + 1);
        let Some(open) = matching_open(&s[line_start..close]).map(|o| line_start + o) else {
            continue;
        };
        if char_before(s, open) == Some('!') {
            continue;
        }
        let rest = &s[close + 2..];
        let dest = if let Some(inner) = rest.strip_prefix('<') {
            inner.find('>').map(|e| &inner[..e])
        } else {
            destination_end(rest).map(|e| &rest[..e])
        };
        if let Some(d) = dest.map(str::trim).filter(|d| !d.is_empty()) {
            out.push((open, d));
        }
    }
    out
}

/// Offset of the `[` that opens the link text ending at the end of `text`.
fn matching_open(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' if depth == 0 => return Some(i),
            '[' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// End of a bare destination: whitespace or the `)` that balances.
fn destination_end(rest: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            c if c.is_whitespace() => return Some(i),
            _ => {}
        }
    }
    None
}

/// `(offset, destination)` of `[id]: destination` lines (up to three spaces of indent).
fn reference_definitions(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    // One search for `]:` spares walking the lines of the many bodies without a definition.
    if memchr::memmem::find(s.as_bytes(), b"]:").is_none() {
        return out;
    }
    let mut offset = 0;
    for line in s.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start_matches(' ');
        if line.len() - trimmed.len() > 3 || !trimmed.starts_with('[') || trimmed.starts_with("[^") {
            continue;
        }
        let Some(close) = trimmed.find("]:") else {
            continue;
        };
        if close < 2 {
            continue;
        }
        let dest = trimmed[close + 2..].trim();
        let dest = dest
            .strip_prefix('<')
            .and_then(|d| d.split_once('>').map(|(a, _)| a))
            .unwrap_or_else(|| dest.split_whitespace().next().unwrap_or(""));
        if !dest.is_empty() {
            out.push((start, dest));
        }
    }
    out
}

/// The root-relative path a destination points at, or `None` when it is not a local file link.
fn resolve(source: &str, raw: &str) -> Option<String> {
    let cut = raw.split(['#', '?']).next().unwrap_or("").trim();
    if cut.is_empty() || cut.starts_with('/') || has_scheme(cut) {
        return None;
    }
    let decoded = percent_decode(cut);
    let dir = dir_of(source);
    let expanded = match decoded.strip_prefix("${CLAUDE_SKILL_DIR}") {
        Some(rest) => rest.trim_start_matches('/').to_owned(),
        None => decoded,
    };
    if expanded.contains(['{', '}', '<']) {
        return None;
    }
    join_normalized(dir, &expanded).filter(|p| !p.is_empty())
}

fn has_scheme(s: &str) -> bool {
    s.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::detect_on;

    #[test]
    fn resolves_relative_links_and_skips_the_rest() {
        let body = "See [ref](reference/forms.md#top), [up](../other/SKILL.md), [dup](./reference/forms.md).\n![img](logo.png) [web](https://x.io) [mail](mailto:a@b) [anchor](#x) [abs](/etc/passwd)\n[sp](my%20file.md \"Title\") [tpl]({{path}}) [skill](${CLAUDE_SKILL_DIR}/scripts/run.md)\n`[code](nope.md)`\n[def]: docs/def.md \"t\"\n[esc](../../../../outside.md)\n";
        let links = detect_on(&MarkdownLink, ".claude/skills/pdf/SKILL.md", body);
        let got: Vec<(&str, u64)> =
            links.iter().map(|l| (l.target.as_str(), l.location.map_or(0, |x| x.line))).collect();
        assert_eq!(
            got,
            vec![
                (".claude/skills/pdf/reference/forms.md", 1),
                (".claude/skills/other/SKILL.md", 1),
                (".claude/skills/pdf/my file.md", 3),
                (".claude/skills/pdf/scripts/run.md", 3),
                (".claude/skills/pdf/docs/def.md", 5),
            ]
        );
        assert_eq!(links[0].trigger.as_ref().map(|t| t.original_trigger.as_str()), Some("reference/forms.md#top"));
    }
}
