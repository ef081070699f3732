//! The `broken-ref` rule (warn): a link whose endpoint is not a node.
//!
//! A target resolves when it is a node path (a leading `./` ignored) or, after dropping one leading
//! `/` or `@`, the normalised `name` of a node (or a skill's directory name). Low-confidence links
//! are ignored: they are guesses, not references. An inverted `supersededBy` link whose source is
//! missing is reported on the node that declared it.
//!
//! `data`: `{target, kind, trigger}` where `trigger` is the normalised trigger or `null`.

use serde_json::json;
use sm_kernel::extensions::{ExtensionInfo, ExtensionKind, Rule, RuleContext};
use sm_kernel::model::{Confidence, Issue, Severity};

pub const ID: &str = "broken-ref";

/// The built-in broken reference rule.
#[derive(Debug, Default, Clone, Copy)]
pub struct BrokenRef;

impl Rule for BrokenRef {
    fn info(&self) -> ExtensionInfo {
        ExtensionInfo {
            id: ID.into(),
            kind: ExtensionKind::Rule,
            version: crate::BUILTIN_VERSION.into(),
            description: "links whose target is neither a node path nor a node name".into(),
        }
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        let mut issues = Vec::new();
        for link in ctx.links.iter().filter(|l| l.confidence != Confidence::Low) {
            let data = json!({
                "target": link.target,
                "kind": link.kind.as_str(),
                "trigger": link.trigger.as_ref().map(|t| t.normalized_trigger.clone()),
            });
            if !ctx.index.contains_path(&link.source) {
                if ctx.index.contains_path(&link.target) {
                    issues.push(
                        Issue::new(
                            ID,
                            Severity::Warn,
                            &link.target,
                            format!(
                                "Broken {} reference: {} names {} as its successor, which does not exist",
                                link.kind.as_str(),
                                link.target,
                                link.source
                            ),
                        )
                        .with_data(data),
                    );
                }
                continue;
            }
            if ctx.index.resolve(&link.target).is_none() {
                issues.push(
                    Issue::new(
                        ID,
                        Severity::Warn,
                        &link.source,
                        format!(
                            "Broken {} reference from {} → {}",
                            link.kind.as_str(),
                            link.source,
                            link.target
                        ),
                    )
                    .with_data(data),
                );
            }
        }
        issues
    }
}
