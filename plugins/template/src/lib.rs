//! Template plugin: a detector that turns `TODO(@name)` markers into mentions of `@name`.
//! Copy this crate, rename it, change the id in `export_plugin!` and `plugin.json`, and implement.

use sm_plugin_sdk::{Confidence, DetectInput, DetectorPlugin, Link, LinkKind, export_plugin};

/// Finds `TODO(@owner)` markers.
pub struct TodoOwner;

impl DetectorPlugin for TodoOwner {
    fn detect(&self, input: &DetectInput) -> Vec<Link> {
        input
            .prose
            .match_indices("TODO(@")
            .filter_map(|(i, m)| {
                let rest = &input.prose[i + m.len()..];
                let owner = &rest[..rest.find(')')?];
                Some(Link {
                    source: input.node.path.clone(),
                    target: format!("@{owner}"),
                    kind: LinkKind::Mentions,
                    confidence: Confidence::Low,
                    sources: vec!["todo-owner".into()],
                    trigger: None,
                    location: None,
                    raw: None,
                })
            })
            .collect()
    }
}

export_plugin! {
    id: "template",
    extensions: [
        detector "todo-owner" ("TODO(@owner) markers as mentions") => TodoOwner,
    ]
}
