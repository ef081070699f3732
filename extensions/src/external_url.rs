//! The `external-url` detector: distinct `http(s)://` URLs in prose.
//!
//! It emits one link per URL; the kernel turns links to URLs into the source's `externalRefsCount`
//! (distinct per node) and does not store them. URLs end at whitespace or `<>"'`)]}|`, lose trailing
//! `.,;:!?*_` and their `#fragment`; scheme and host are lowercased. Code is skipped.

use std::collections::BTreeSet;

use sm_kernel::extensions::{DetectContext, Detector, ExtensionInfo, ExtensionKind};
use sm_kernel::model::{Confidence, Link, LinkKind};

use crate::text::{BodyLines, char_before};

pub const ID: &str = "external-url";

/// The built-in external URL counter.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExternalUrl;

impl Detector for ExternalUrl {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(ID, ExtensionKind::Detector, "counts distinct http(s) URLs into externalRefsCount")
    }

    fn depends_on_index(&self) -> bool {
        false
    }

    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        let prose = ctx.prose;
        let bytes = prose.as_bytes();
        let lines = BodyLines::new(prose, ctx.body_start_line);
        let mut seen = BTreeSet::new();
        let mut links = Vec::new();
        // Every URL has a `://`: find those, then look back for `http` or `https` in any case.
        for colon in memchr::memmem::find_iter(prose.as_bytes(), b"://") {
            let scheme_is = |scheme: &[u8]| {
                colon >= scheme.len() && bytes[colon - scheme.len()..colon].eq_ignore_ascii_case(scheme)
            };
            let (i, scheme_len) = if scheme_is(b"https") {
                (colon - 5, 8)
            } else if scheme_is(b"http") {
                (colon - 4, 7)
            } else {
                continue;
            };
            if char_before(prose, i).is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            let tail = &prose[i..];
            let end = tail.find(|c: char| c.is_whitespace() || "<>\"'`)]}|".contains(c)).unwrap_or(tail.len());
            let url = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', '*', '_']);
            if url.len() <= scheme_len {
                continue;
            }
            let normalized = normalize_url(url, scheme_len);
            if seen.insert(normalized.clone()) {
                links.push(Link {
                    source: ctx.node.path.clone(),
                    target: normalized,
                    kind: LinkKind::References,
                    confidence: Confidence::Low,
                    sources: vec![ID.to_owned()],
                    trigger: None,
                    location: Some(lines.location(i)),
                    raw: None,
                });
            }
        }
        links
    }
}

fn normalize_url(url: &str, scheme_len: usize) -> String {
    let without_fragment = url.split('#').next().unwrap_or(url);
    let (scheme, rest) = without_fragment.split_at(scheme_len);
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{}{}{}", scheme.to_ascii_lowercase(), rest[..host_end].to_ascii_lowercase(), &rest[host_end..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::detect_on;

    #[test]
    fn counts_distinct_normalised_urls() {
        let body = "See https://Example.com/a#x, HTTPS://example.com/a and (http://b.io/p).\n`https://code.io`\n";
        let links = detect_on(&ExternalUrl, "a.md", body);
        let got: Vec<&str> = links.iter().map(|l| l.target.as_str()).collect();
        assert_eq!(got, vec!["https://example.com/a", "http://b.io/p"]);
    }
}
