//! Example detector: `[[Note]]`, `[[Note|alias]]` and `[[Note#Heading]]` wikilinks → `references`,
//! medium confidence, target = the note name (resolved by the host against node names and file
//! stems). Code is skipped because the detector reads the prose view of the body.

use std::collections::BTreeSet;

use sm_plugin_sdk::{Confidence, DetectInput, DetectorPlugin, Link, LinkKind, Location, Trigger, export_plugin};

/// Finds wikilinks.
pub struct WikiLink;

impl DetectorPlugin for WikiLink {
    fn detect(&self, input: &DetectInput) -> Vec<Link> {
        let prose = &input.prose;
        let mut seen = BTreeSet::new();
        let mut links = Vec::new();
        for (start, _) in prose.match_indices("[[") {
            let rest = &prose[start + 2..];
            let Some(end) = rest.find("]]") else { continue };
            let inner = &rest[..end];
            if inner.contains('\n') || inner.is_empty() {
                continue;
            }
            let name = inner.split(['|', '#']).next().unwrap_or("").trim();
            if name.is_empty() || !seen.insert(name.to_lowercase()) {
                continue;
            }
            let line = input.body_start_line + prose[..start].matches('\n').count() as u64;
            links.push(Link {
                source: input.node.path.clone(),
                target: name.to_owned(),
                kind: LinkKind::References,
                confidence: Confidence::Medium,
                sources: vec!["wikilink".into()],
                trigger: Some(Trigger {
                    original_trigger: format!("[[{inner}]]"),
                    normalized_trigger: name.to_lowercase(),
                }),
                location: Some(Location { line, column: None, offset: None }),
                raw: None,
            });
        }
        links
    }
}

export_plugin! {
    id: "wikilink",
    extensions: [
        detector "wikilink" ("[[Note]] wikilinks as references") => WikiLink,
    ]
}
