//! The `broken-ref` rule (warn): a link whose target is neither a node nor an existing file.
//!
//! A target resolves when it is a node path (a leading `./` ignored), a walked file that is not a
//! node (a script, an image), a directory holding walked files, or — after dropping one leading `/`
//! or `@` — the normalised `name` of a node (or a skill's directory name). Low-confidence links
//! (name mentions, `@scope/pkg`, non-Markdown `@file` imports) are guesses and are ignored. An
//! inverted `supersededBy` link whose source is missing is reported on the node that declared it.
//!
//! `data`: `{target, kind, trigger, line}` — `trigger` is the normalised trigger or `null`, `line`
//! the source line or `null`.

use serde_json::json;
use sm_kernel::extensions::{ExtensionInfo, ExtensionKind, Rule, RuleContext};
use sm_kernel::model::{Confidence, Issue, Link, Severity};
use sm_kernel::node_index::Resolution;

pub const ID: &str = "broken-ref";

/// The built-in broken reference rule.
#[derive(Debug, Default, Clone, Copy)]
pub struct BrokenRef;

impl Rule for BrokenRef {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(ID, ExtensionKind::Rule, "links whose target is neither a node, a file, nor a node name")
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        let mut issues = Vec::new();
        for link in ctx.links.iter().filter(|l| l.confidence != Confidence::Low) {
            if !ctx.index.contains_path(&link.source) {
                if ctx.index.contains_path(&link.target) {
                    let message = format!(
                        "Broken {} link: {} names {} as its successor, which does not exist",
                        link.kind.as_str(),
                        link.target,
                        link.source
                    );
                    issues.push(Issue::new(ID, Severity::Warn, &link.target, message).with_data(data(link)));
                }
                continue;
            }
            if ctx.index.resolve_target(&link.target) == Resolution::Missing {
                let at = link.location.map(|l| format!(" (line {})", l.line)).unwrap_or_default();
                let message = format!(
                    "Broken {} link from {}{at} → {}: no such node or file",
                    link.kind.as_str(),
                    link.source,
                    link.target
                );
                issues.push(Issue::new(ID, Severity::Warn, &link.source, message).with_data(data(link)));
            }
        }
        issues
    }
}

fn data(link: &Link) -> serde_json::Value {
    json!({
        "target": link.target,
        "kind": link.kind.as_str(),
        "trigger": link.trigger.as_ref().map(|t| t.normalized_trigger.clone()),
        "line": link.location.map(|l| l.line),
    })
}
