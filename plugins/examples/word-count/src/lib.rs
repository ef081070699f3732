//! Example action `word-count` (local): words, lines, headings and code blocks of one node's body.
//! With storage mode `kv` it remembers each node's last count and reports the change.

use sm_plugin_sdk::serde_json::{Value, json};
use sm_plugin_sdk::{ActionInput, ActionPlugin, export_plugin, storage};

/// The action.
pub struct WordCount;

impl ActionPlugin for WordCount {
    fn invoke(&self, input: &ActionInput) -> Result<Value, String> {
        let body = &input.body;
        let words = body.split_whitespace().count();
        let fences = body.lines().filter(|l| l.trim_start().starts_with("```")).count();
        // Storage is optional: without it (e.g. `sm plugins check`) there is simply no history.
        let store = storage();
        let node = Some(input.node.path.as_str());
        let previous = store.kv_get("words", node).ok().flatten();
        let _ = store.kv_set("words", &json!(words), node);
        Ok(json!({
            "path": input.node.path,
            "words": words,
            "lines": body.lines().count(),
            "headings": body.lines().filter(|l| l.starts_with('#')).count(),
            "codeBlocks": fences / 2,
            "previousWords": previous,
        }))
    }
}

export_plugin! {
    id: "word-count",
    extensions: [
        action "word-count" ("words, lines, headings and code blocks of a node") => WordCount,
    ]
}
