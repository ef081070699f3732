//! Example action `word-count` (local): words, lines, headings and code blocks of one node's body.

use sm_plugin_sdk::serde_json::{Value, json};
use sm_plugin_sdk::{ActionInput, ActionPlugin, export_plugin};

/// The action.
pub struct WordCount;

impl ActionPlugin for WordCount {
    fn invoke(&self, input: &ActionInput) -> Result<Value, String> {
        let body = &input.body;
        let fences = body.lines().filter(|l| l.trim_start().starts_with("```")).count();
        Ok(json!({
            "path": input.node.path,
            "words": body.split_whitespace().count(),
            "lines": body.lines().count(),
            "headings": body.lines().filter(|l| l.starts_with('#')).count(),
            "codeBlocks": fences / 2,
        }))
    }
}

export_plugin! {
    id: "word-count",
    extensions: [
        action "word-count" ("words, lines, headings and code blocks of a node") => WordCount,
    ]
}
