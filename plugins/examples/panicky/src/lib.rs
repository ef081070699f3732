//! Test plugin: a detector that panics on every node. sm must report it and finish the scan.

use sm_plugin_sdk::{DetectInput, DetectorPlugin, Link, export_plugin};

/// Always panics.
pub struct Panicky;

impl DetectorPlugin for Panicky {
    fn detect(&self, input: &DetectInput) -> Vec<Link> {
        panic!("panicky detector refuses {}", input.node.path)
    }
}

export_plugin! {
    id: "panicky",
    extensions: [
        detector "panicky" ("panics on every node") => Panicky,
    ]
}
