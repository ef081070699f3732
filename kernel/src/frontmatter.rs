//! Splitting a Markdown file into frontmatter and body, and parsing the frontmatter leniently.
//!
//! Real agent files often carry YAML that strict parsers reject but Claude Code loads (unquoted
//! `: ` in descriptions, `argument-hint: [x] | y`, `globs: *.ts`, `{{placeholders}}`). We parse
//! strictly first; on failure we recover the top-level keys line by line and report where strict
//! parsing stopped, so the node keeps its metadata and the user learns what to fix.

use serde_json::{Map, Value};

/// A file cut at its frontmatter fences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFile<'a> {
    /// Text between the fences (without them), if the file has a frontmatter block.
    pub raw_frontmatter: Option<&'a str>,
    /// Everything after the closing fence line (the whole file when there is no block).
    pub body: &'a str,
    /// 1-based file line of the first frontmatter line (2 when the file starts with a fence).
    pub frontmatter_start_line: u64,
    /// 1-based file line on which the body starts.
    pub body_start_line: u64,
    /// Why a file that looks like it has frontmatter was not recognised.
    pub malformed: Option<MalformedHint>,
}

/// Near-miss frontmatter shapes worth telling the user about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedHint {
    /// Opening fence found, no closing `---` line.
    MissingClose,
    /// The fence is indented (pasted with leading spaces).
    PasteWithIndent,
}

impl MalformedHint {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingClose => "missing-close",
            Self::PasteWithIndent => "paste-with-indent",
        }
    }
}

/// `fm[key]`, for the handful of keys a frontmatter holds: comparing each key (by length first) is
/// faster than hashing `key`, as the map's own lookup does, and every rule asks for a few fields
/// of every node.
#[inline]
pub fn field<'a>(fm: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if fm.len() <= 16 { fm.iter().find_map(|(k, v)| (k == key).then_some(v)) } else { fm.get(key) }
}

/// Splits `text` at a `---` fence on the first line (column 0; a UTF-8 BOM and CRLF tolerated).
pub fn split(text: &str) -> SplitFile<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let no_block = |malformed| SplitFile {
        raw_frontmatter: None,
        body: text,
        frontmatter_start_line: 1,
        body_start_line: 1,
        malformed,
    };
    let Some(after_open) = strip_fence_line(text) else {
        let hint = looks_like_indented_fence(text).then_some(MalformedHint::PasteWithIndent);
        return no_block(hint);
    };
    let open_len = text.len() - after_open.len();
    let mut offset = 0usize;
    let mut line_no = 2u64;
    while offset <= after_open.len() {
        let rest = &after_open[offset..];
        let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let line = &rest[..line_end];
        let content = line.trim_end_matches(['\n', '\r']).trim_end_matches([' ', '\t']);
        if content == "---" || content == "..." {
            let raw = &after_open[..offset];
            let raw = raw.strip_suffix('\n').map_or(raw, |r| r.strip_suffix('\r').unwrap_or(r));
            let body_start = open_len + offset + line_end;
            return SplitFile {
                raw_frontmatter: Some(raw),
                body: &text[body_start..],
                frontmatter_start_line: 2,
                body_start_line: line_no + 1,
                malformed: None,
            };
        }
        if line_end == 0 {
            break;
        }
        offset += line_end;
        line_no += 1;
    }
    let hint = first_line_is_key(after_open).then_some(MalformedHint::MissingClose);
    no_block(hint)
}

/// If `text` starts with a `---` line, the text after that line.
fn strip_fence_line(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("---")?;
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if let Some(r) = trimmed.strip_prefix("\r\n") { Some(r) } else { trimmed.strip_prefix('\n') }
}

fn looks_like_indented_fence(text: &str) -> bool {
    let indented = text.trim_start_matches([' ', '\t']);
    indented.len() != text.len()
        && strip_fence_line(indented).is_some_and(|rest| first_line_is_key(rest.trim_start_matches([' ', '\t'])))
}

fn first_line_is_key(text: &str) -> bool {
    let line = text.lines().next().unwrap_or("");
    top_level_key(line).is_some()
}

/// The result of parsing a frontmatter block.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFrontmatter {
    /// The top-level mapping (strict, or recovered).
    pub map: Map<String, Value>,
    /// Set when the block was not strict YAML or not a mapping.
    pub problem: Option<FrontmatterProblem>,
}

/// Where and why strict parsing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontmatterProblem {
    /// 1-based file line.
    pub line: u64,
    pub reason: String,
    /// Keys recovered line by line (empty when nothing could be recovered).
    pub recovered_keys: Vec<String>,
}

/// Parses `raw` (the text between the fences). `first_line` is its 1-based line in the file.
pub fn parse(raw: &str, first_line: u64) -> ParsedFrontmatter {
    if raw.trim().is_empty() {
        return ParsedFrontmatter { map: Map::new(), problem: None };
    }
    if let Some(map) = parse_simple(raw) {
        return ParsedFrontmatter { map: sanitize(map), problem: None };
    }
    match serde_saphyr::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => ParsedFrontmatter { map: sanitize(map), problem: None },
        Ok(Value::Null) => ParsedFrontmatter { map: Map::new(), problem: None },
        Ok(other) => ParsedFrontmatter {
            map: Map::new(),
            problem: Some(FrontmatterProblem {
                line: first_line,
                reason: format!("frontmatter is a {}, not a mapping of keys", json_type(&other)),
                recovered_keys: Vec::new(),
            }),
        },
        Err(err) => {
            let rel_line = err.location().map_or(1, |l| l.line().max(1));
            let map = recover(raw);
            let recovered_keys = map.keys().cloned().collect();
            ParsedFrontmatter {
                map,
                problem: Some(FrontmatterProblem {
                    line: first_line + rel_line - 1,
                    reason: short_reason(&err.to_string()),
                    recovered_keys,
                }),
            }
        }
    }
}

/// The common shape of agent frontmatter, read without a YAML parser: column-0 `key: value` lines
/// whose values are plain words, simply quoted strings, flow lists `[a, b]` of those, block lists
/// (`key:` then `  - item` lines) or nothing (null). `None` for anything else — comments,
/// multi-line scalars, escapes, numbers, booleans, anchors, duplicate keys — which the YAML parser
/// then reads. Where it answers, the answer is the parser's (`kernel/tests/frontmatter_fast_path.rs`
/// compares them over the corpus and generated text).
pub fn parse_simple(raw: &str) -> Option<Map<String, Value>> {
    // Sized for its keys (lines that are not list items or continuations): a map that grows by
    // doubling keeps up to twice the room, for every node of a scan.
    let keys = raw.lines().filter(|l| !l.is_empty() && !l.starts_with([' ', '-'])).count();
    let mut map = Map::with_capacity(keys);
    let mut lines = raw.lines().peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let (key, rest) = line.split_once(':')?;
        if !is_simple_key(key) || map.contains_key(key) {
            return None;
        }
        let value = if rest.is_empty() {
            let mut items = Vec::new();
            let mut indent = None;
            while let Some(item) = lines.peek().and_then(|l| block_item(l)) {
                if *indent.get_or_insert(item.0) != item.0 {
                    return None;
                }
                items.push(Value::String(simple_scalar(item.1, false)?));
                lines.next();
            }
            if items.is_empty() { Value::Null } else { Value::Array(items) }
        } else {
            let text = rest.strip_prefix(' ')?.trim_matches(' ');
            match text.strip_prefix('[') {
                Some(list) => {
                    let inner = list.strip_suffix(']')?.trim_matches(' ');
                    if inner.is_empty() {
                        Value::Array(Vec::new())
                    } else {
                        let items: Option<Vec<Value>> = inner
                            .split(',')
                            .map(|i| simple_scalar(i.trim_matches(' '), true).map(Value::String))
                            .collect();
                        Value::Array(items?)
                    }
                }
                None => Value::String(simple_scalar(text, false)?),
            }
        };
        map.insert(key.to_owned(), value);
    }
    Some(map)
}

/// `  - item` (any indentation): the indentation and the item.
fn block_item(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start_matches(' ');
    let item = trimmed.strip_prefix("- ")?.trim_matches(' ');
    Some((line.len() - trimmed.len(), item))
}

/// Words YAML resolves to something other than a string, in any case.
const NOT_STRINGS: &[&str] = &["true", "false", "null", "yes", "no", "on", "off", "y", "n"];

fn is_simple_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !NOT_STRINGS.iter().any(|w| w.eq_ignore_ascii_case(key))
}

/// A string value as YAML reads it, when that is certain: a plain scalar starting with a letter
/// (not a boolean or null word; no `: `, ` #` or trailing `:`), or a quoted one without escapes.
/// In a flow list, `,[]{}` (which end a plain scalar there) and `:` `#` are refused.
fn simple_scalar(text: &str, in_flow: bool) -> Option<String> {
    if !text.chars().all(is_simple_char) {
        return None;
    }
    let quoted = |q: char| {
        let inner = text.strip_prefix(q)?.strip_suffix(q)?;
        (!inner.contains([q, '\\'])).then(|| inner.to_owned())
    };
    if text.starts_with('"') {
        return quoted('"');
    }
    if text.starts_with('\'') {
        return quoted('\'');
    }
    let plain = text.starts_with(|c: char| c.is_alphabetic())
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && (!in_flow || !text.contains([',', '[', ']', '{', '}', ':', '#']))
        && !NOT_STRINGS.iter().any(|w| w.eq_ignore_ascii_case(text));
    plain.then(|| text.to_owned())
}

/// Printable characters YAML gives no special meaning to as whitespace or line breaks.
fn is_simple_char(c: char) -> bool {
    (c >= ' ' && c != '\u{7f}' && c < '\u{80}')
        || (c >= '\u{a0}' && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'))
}

/// Drops prototype-polluting keys that some loaders choke on.
fn sanitize(mut map: Map<String, Value>) -> Map<String, Value> {
    for key in ["__proto__", "constructor", "prototype"] {
        map.remove(key);
    }
    map
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// First line of a parser message, without the `error: line N column M:` prefix.
fn short_reason(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let first = first.strip_prefix("error:").unwrap_or(first).trim();
    let without_pos = match first.find(": ") {
        Some(i) if first.starts_with("line ") => &first[i + 2..],
        _ => first,
    };
    without_pos.trim().to_owned()
}

/// A column-0 `key:` line: the key, and the text after the colon.
fn top_level_key(line: &str) -> Option<(&str, &str)> {
    let first = line.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let end = line
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .map_or(line.len(), |(i, _)| i);
    let rest = &line[end..];
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t', '\r'])) {
        return None;
    }
    Some((&line[..end], rest))
}

/// Line-by-line recovery of top-level keys.
///
/// A column-0 `key:` line starts an entry, unless the current entry has an unclosed `<example>`
/// block (Claude agent descriptions embed `Context: … user: … assistant:` inside those). Each entry
/// is parsed as YAML on its own; if that fails its value is kept as a plain string.
fn recover(raw: &str) -> Map<String, Value> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in raw.lines() {
        let inside_example = entries
            .last()
            .is_some_and(|(_, text)| text.matches("<example>").count() > text.matches("</example>").count());
        match top_level_key(line) {
            Some((key, _)) if !inside_example => entries.push((key.to_owned(), format!("{line}\n"))),
            _ => {
                if let Some((_, text)) = entries.last_mut() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    let mut map = Map::new();
    for (key, text) in entries {
        if map.contains_key(&key) {
            continue;
        }
        let value = match serde_saphyr::from_str::<Value>(&text) {
            Ok(Value::Object(mut m)) if m.len() == 1 && m.contains_key(&key) => m.remove(&key).unwrap_or(Value::Null),
            _ => Value::String(plain_value(&text)),
        };
        map.insert(key, value);
    }
    sanitize(map)
}

/// The text of an entry after `key:`, continuation lines joined, outer quotes removed.
fn plain_value(entry: &str) -> String {
    let mut lines = entry.lines();
    let first = lines.next().unwrap_or("");
    let after = first.split_once(':').map_or("", |(_, v)| v).trim();
    let block = matches!(after, "|" | ">" | "|-" | ">-" | "|+" | ">+");
    let mut parts: Vec<&str> = Vec::new();
    if !after.is_empty() && !block {
        parts.push(after);
    }
    parts.extend(lines.map(str::trim).filter(|l| !l.is_empty()));
    let joined = if after.starts_with('>') { parts.join(" ") } else { parts.join("\n") };
    let joined = joined.trim();
    for q in ['"', '\''] {
        if joined.len() >= 2 && joined.starts_with(q) && joined.ends_with(q) {
            return joined[1..joined.len() - 1].to_owned();
        }
    }
    joined.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lf_crlf_and_bom() {
        let s = split("---\nname: a\n---\nbody\n");
        assert_eq!(s.raw_frontmatter, Some("name: a"));
        assert_eq!(s.body, "body\n");
        assert_eq!(s.body_start_line, 4);
        let s = split("\u{feff}---\r\nname: a\r\n---\r\nbody\r\n");
        assert_eq!(s.raw_frontmatter, Some("name: a"));
        assert_eq!(s.body, "body\r\n");
        let s = split("# title\n---\nname: a\n---\n");
        assert_eq!(s.raw_frontmatter, None);
    }

    #[test]
    fn reports_near_misses() {
        assert_eq!(split("---\nname: a\nbody\n").malformed, Some(MalformedHint::MissingClose));
        assert_eq!(split("  ---\n  name: a\n  ---\n").malformed, Some(MalformedHint::PasteWithIndent));
        assert_eq!(split("---\n\nSome prose\n").malformed, None);
    }

    #[test]
    fn empty_block_and_file_ending_at_fence() {
        let s = split("---\n---\nbody");
        assert_eq!(s.raw_frontmatter, Some(""));
        let s = split("---\nname: x\n---");
        assert_eq!(s.raw_frontmatter, Some("name: x"));
        assert_eq!(s.body, "");
    }

    #[test]
    fn strict_yaml_parses_without_problem() {
        let p = parse("name: a\ntools: [Read, Edit]\nmetadata:\n  version: 1.0.0\n", 2);
        assert!(p.problem.is_none());
        assert_eq!(p.map["tools"], serde_json::json!(["Read", "Edit"]));
        assert_eq!(p.map["metadata"]["version"], "1.0.0");
    }

    #[test]
    fn recovers_claude_style_yaml() {
        let raw = "name: reviewer\ndescription: Use this agent: it reviews. <example>Context: x\nuser: \"hi\"\nassistant: ok</example>\nargument-hint: [name] | setup\nglobs: *.ts\nmodel: {{MODEL}}\ntools: Read, Edit\n";
        let p = parse(raw, 2);
        let problem = p.problem.expect("not strict yaml");
        assert_eq!(problem.line, 3);
        assert_eq!(p.map["name"], "reviewer");
        assert!(p.map["description"].as_str().unwrap_or("").contains("assistant: ok"));
        assert!(!p.map.contains_key("user"));
        assert!(!p.map.contains_key("Context"));
        assert_eq!(p.map["argument-hint"], "[name] | setup");
        assert_eq!(p.map["globs"], "*.ts");
        assert_eq!(p.map["model"], "{{MODEL}}");
        assert_eq!(p.map["tools"], "Read, Edit");
    }

    #[test]
    fn non_mapping_is_a_problem() {
        let p = parse("- a\n- b\n", 2);
        assert!(p.map.is_empty());
        assert!(p.problem.is_some_and(|pr| pr.reason.contains("list")));
    }

    /// `field` answers as the map's own lookup does, for small maps (compared key by key) and
    /// large ones, keys of equal length included.
    #[test]
    fn field_finds_what_get_finds() {
        for size in [0usize, 1, 3, 16, 17, 40] {
            let map: Map<String, Value> = (0..size).map(|i| (format!("k{i:02}"), Value::from(i))).collect();
            for key in ["k00", "k02", "k16", "k39", "k40", "k0", "", "name"] {
                assert_eq!(field(&map, key), map.get(key), "{size} keys, {key:?}");
            }
        }
    }
}
