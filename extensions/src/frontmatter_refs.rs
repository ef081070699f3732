//! The `frontmatter-refs` detector: references declared in frontmatter `metadata`.
//!
//! - `metadata.requires` / `metadata.related` (string or list) → `references`, this → target
//! - `metadata.supersedes` (string or list) → `supersedes`, this → target
//! - `metadata.supersededBy` (string) → `supersedes`, target → this (inverted)
//! - an agent's `skills:` (string or list) → `references` to those skill names
//! - a skill's or command's `agent:` (string) → `references` to that agent name
//!
//! Confidence is high: the author declared the edge. Targets are kept as written (a root-relative
//! path or a node name); the kernel's node index resolves them.

use serde_json::Value;
use sm_kernel::extensions::{DetectContext, Detector, ExtensionInfo, ExtensionKind};
use sm_kernel::frontmatter::field;
use sm_kernel::model::{Confidence, Link, LinkKind};

pub const ID: &str = "frontmatter-refs";

/// The built-in frontmatter reference detector.
#[derive(Debug, Default, Clone, Copy)]
pub struct FrontmatterRefs;

impl Detector for FrontmatterRefs {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(
            ID,
            ExtensionKind::Detector,
            "metadata.requires/related/supersedes/supersededBy, agent skills: and skill agent: in frontmatter",
        )
    }

    fn depends_on_index(&self) -> bool {
        false
    }

    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        let this = ctx.node.path.as_str();
        let fm = &ctx.node.frontmatter;
        let mut links = Vec::new();
        if ctx.node.kind == "agent" {
            for skill in strings(field(fm, "skills")) {
                links.push(link(this, &skill, LinkKind::References));
            }
        }
        if matches!(ctx.node.kind.as_str(), "skill" | "command") {
            for agent in strings(field(fm, "agent")) {
                links.push(link(this, &agent, LinkKind::References));
            }
        }
        let Some(metadata) = field(fm, "metadata").and_then(Value::as_object) else {
            return links;
        };
        for target in strings(metadata.get("supersedes")) {
            links.push(link(this, &target, LinkKind::Supersedes));
        }
        for other in strings(metadata.get("supersededBy")) {
            links.push(link(&other, this, LinkKind::Supersedes));
        }
        for key in ["requires", "related"] {
            for target in strings(metadata.get(key)) {
                links.push(link(this, &target, LinkKind::References));
            }
        }
        links
    }
}

fn link(source: &str, target: &str, kind: LinkKind) -> Link {
    Link {
        source: source.to_owned(),
        target: target.to_owned(),
        kind,
        confidence: Confidence::High,
        sources: vec![ID.to_owned()],
        trigger: None,
        location: None,
        raw: None,
    }
}

/// Non-empty trimmed strings from a string or a list of strings.
fn strings(v: Option<&Value>) -> Vec<String> {
    let items: Vec<&Value> = match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    };
    items.into_iter().filter_map(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}
