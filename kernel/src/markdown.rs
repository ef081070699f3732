//! Markdown helpers shared by detectors: masking what is not prose, and line numbers.

/// `body` with fenced code blocks, inline code spans and HTML comments replaced by spaces.
///
/// Byte offsets and newlines are preserved, so a match in the masked text has the same offset and
/// line in the original. Fences are ``` or ~~~ (3+), closed by the same character at least as long;
/// an unclosed fence masks to the end. Code spans close on a backtick run of the same length on the
/// same line.
pub fn mask_non_prose(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut out: Vec<u8> = bytes.to_vec();
    let mut fence: Option<(u8, usize)> = None;
    let mut in_comment = false;
    let mut offset = 0usize;
    while offset < bytes.len() {
        if fence.is_none() && !in_comment {
            // Outside fences and comments only a line holding a backtick, a tilde or a `<` can
            // open or hold anything to mask: the lines before the next one are skipped whole.
            let Some(next) = memchr::memchr3(b'`', b'~', b'<', &bytes[offset..]) else { break };
            offset += memchr::memrchr(b'\n', &bytes[offset..offset + next]).map_or(0, |i| i + 1);
        }
        let start = offset;
        offset = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i + 1);
        let line = &body[start..offset];
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        if let Some((ch, len)) = fence {
            blank(&mut out, start, offset);
            let run = trimmed.bytes().take_while(|&b| b == ch).count();
            if indent < 4 && run >= len && trimmed[run..].trim().is_empty() {
                fence = None;
            }
            continue;
        }
        if indent < 4
            && let Some(ch) = trimmed.bytes().next().filter(|&b| b == b'`' || b == b'~')
        {
            let run = trimmed.bytes().take_while(|&b| b == ch).count();
            if run >= 3 && !(ch == b'`' && trimmed[run..].contains('`')) {
                fence = Some((ch, run));
                blank(&mut out, start, offset);
                continue;
            }
        }
        in_comment = mask_line(body, &mut out, start, offset, in_comment);
    }
    String::from_utf8(out).expect("only whole ASCII-delimited ranges are replaced by ASCII spaces")
}

/// Like `split_inclusive('\n')`, finding line ends with the `memchr` crate's vectorised search.
pub fn lines_inclusive(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest.as_bytes()).map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// Masks code spans and HTML comments within one line; returns whether a comment is still open.
fn mask_line(body: &str, out: &mut [u8], start: usize, end: usize, mut in_comment: bool) -> bool {
    let bytes = body.as_bytes();
    let mut i = start;
    while i < end {
        if in_comment {
            match body[i..end].find("-->") {
                Some(p) => {
                    blank(out, i, i + p + 3);
                    i += p + 3;
                    in_comment = false;
                }
                None => {
                    blank(out, i, end);
                    return true;
                }
            }
            continue;
        }
        // Only `<` and backticks start something to mask: jump to the next one.
        match memchr::memchr2(b'<', b'`', &bytes[i..end]) {
            Some(skip) => i += skip,
            None => return false,
        }
        if bytes[i] == b'<' && body[i..end].starts_with("<!--") {
            in_comment = true;
            continue;
        }
        if bytes[i] == b'`' {
            let run = bytes[i..end].iter().take_while(|&&b| b == b'`').count();
            let after = i + run;
            if let Some(close) = find_run(bytes, after, end, run) {
                blank(out, i, close + run);
                i = close + run;
            } else {
                i = after;
            }
            continue;
        }
        i += 1;
    }
    in_comment
}

fn find_run(bytes: &[u8], from: usize, end: usize, len: usize) -> Option<usize> {
    let mut j = from;
    while j < end {
        if bytes[j] == b'`' {
            let run = bytes[j..end].iter().take_while(|&&b| b == b'`').count();
            if run == len {
                return Some(j);
            }
            j += run;
        } else {
            j += 1;
        }
    }
    None
}

/// Replaces bytes in `[from, to)` with spaces, keeping newlines. Multi-byte characters inside the
/// range become several spaces, which keeps offsets and stays valid UTF-8.
fn blank(out: &mut [u8], from: usize, to: usize) {
    for b in &mut out[from..to] {
        if *b != b'\n' && *b != b'\r' {
            *b = b' ';
        }
    }
}

/// Maps byte offsets to 1-based line numbers.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Self { starts }
    }

    /// 1-based line of `offset` within the text.
    pub fn line(&self, offset: usize) -> u64 {
        (self.starts.partition_point(|&s| s <= offset)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_fences_spans_and_comments_keeping_offsets() {
        let body = "see /a and `/b`\n```sh\n/c\n```\n<!-- /d -->\n/e ``x ` y`` /f\n~~~~\n/g\n~~~\n";
        let masked = mask_non_prose(body);
        assert_eq!(masked.len(), body.len());
        assert!(masked.contains("/a"));
        for hidden in ["/b", "/c", "/d", "/g", "` y"] {
            assert!(!masked.contains(hidden), "{hidden} should be masked: {masked:?}");
        }
        assert!(masked.contains("/e") && masked.contains("/f"));
        assert_eq!(masked.matches('\n').count(), body.matches('\n').count());
    }

    #[test]
    fn multi_line_comment_and_unicode() {
        let body = "é <!-- a\nb --> c\n";
        let masked = mask_non_prose(body);
        assert_eq!(masked.len(), body.len());
        assert!(masked.starts_with("é "));
        assert!(masked.ends_with(" c\n"));
    }

    /// Prose lines are skipped to the next line holding a backtick, tilde or `<`: what follows a
    /// skipped stretch (a fence after indented text, a comment closing lines later, a fence left
    /// open to the end) is masked exactly as line by line.
    #[test]
    fn skipped_prose_lines_change_nothing() {
        let body = "plain /a\n   ```\n/b\n   ```\n/c text\n    ``` not a fence /d\nx <!--\n/e\n\n--> /f\n~~~\n/g\n";
        let masked = mask_non_prose(body);
        let expected = "plain /a\n      \n  \n      \n/c text\n    ``` not a fence /d\nx     \n  \n\n    /f\n   \n  \n";
        assert_eq!(masked, expected);
        assert_eq!(mask_non_prose("no markup at all\r\nnone\n"), "no markup at all\r\nnone\n");
    }

    #[test]
    fn lines_inclusive_splits_like_split_inclusive() {
        for text in ["", "a", "\n", "a\n", "a\nb", "\n\nx\r\n", "é\nü\n\n"] {
            let ours: Vec<&str> = lines_inclusive(text).collect();
            let std: Vec<&str> = text.split_inclusive('\n').collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }

    #[test]
    fn line_index() {
        let idx = LineIndex::new("a\nbc\n\nd");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(5), 3);
        assert_eq!(idx.line(6), 4);
    }
}
