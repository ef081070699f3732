//! Small text helpers shared by the body detectors (not an extension).

use sm_kernel::markdown::LineIndex;
use sm_kernel::model::{Confidence, Link, LinkKind, Location, Trigger};
use sm_kernel::normalize::normalize_trigger;

/// Identifier characters of command and agent names.
pub fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The char before byte offset `i`, if any.
pub fn char_before(s: &str, i: usize) -> Option<char> {
    s[..i].chars().next_back()
}

/// The char at byte offset `i`, if any.
pub fn char_at(s: &str, i: usize) -> Option<char> {
    s[i..].chars().next()
}

/// Length in bytes of the identifier run starting at `i`.
pub fn ident_len(s: &str, i: usize) -> usize {
    s[i..].find(|c: char| !is_ident(c)).unwrap_or(s.len() - i)
}

/// Converts a byte offset of the body into a 1-based file line. The line index is built on the
/// first lookup: most bodies have nothing a given detector reports.
pub struct BodyLines<'a> {
    body: &'a str,
    index: std::cell::OnceCell<LineIndex>,
    first_line: u64,
}

impl<'a> BodyLines<'a> {
    pub fn new(body: &'a str, body_start_line: u64) -> Self {
        Self { body, index: std::cell::OnceCell::new(), first_line: body_start_line }
    }

    pub fn location(&self, offset: usize) -> Location {
        let index = self.index.get_or_init(|| LineIndex::new(self.body));
        Location { line: self.first_line + index.line(offset) - 1, column: None, offset: None }
    }
}

/// A link with a trigger (original text and its normalised form).
pub fn triggered_link(
    source: &str,
    target: &str,
    original: &str,
    kind: LinkKind,
    confidence: Confidence,
    detector: &str,
    location: Location,
) -> Link {
    Link {
        source: source.to_owned(),
        target: target.to_owned(),
        kind,
        confidence,
        sources: vec![detector.to_owned()],
        trigger: Some(Trigger {
            original_trigger: original.to_owned(),
            normalized_trigger: normalize_trigger(original),
        }),
        location: Some(location),
        raw: None,
    }
}

/// The directory of a root-relative path (`""` at the root).
pub fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Joins `rel` onto `dir` and resolves `.` and `..`; `None` when it climbs above the root.
pub fn join_normalized(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if dir.is_empty() { Vec::new() } else { dir.split('/').collect() };
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// Decodes `%XX` escapes (invalid ones are kept as written).
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_normalises() {
        assert_eq!(join_normalized(".claude/skills/a", "ref/b.md").as_deref(), Some(".claude/skills/a/ref/b.md"));
        assert_eq!(join_normalized(".claude/skills/a", "../b/SKILL.md").as_deref(), Some(".claude/skills/b/SKILL.md"));
        assert_eq!(join_normalized("", "./x.md").as_deref(), Some("x.md"));
        assert_eq!(join_normalized("a", "../../x.md"), None);
        assert_eq!(percent_decode("my%20file.md"), "my file.md");
    }
}
