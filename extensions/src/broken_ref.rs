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
        for (i, link) in ctx.links.iter().enumerate().filter(|(_, l)| l.confidence != Confidence::Low) {
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
            if ctx.resolution(i) == Resolution::Missing {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{data_strings, node};
    use sm_kernel::model::{LinkKind, Location};
    use sm_kernel::node_index::NodeIndex;

    fn link(source: &str, target: &str) -> Link {
        Link {
            source: source.into(),
            target: target.into(),
            kind: LinkKind::References,
            confidence: Confidence::High,
            sources: vec!["markdown-link".into()],
            trigger: None,
            location: Some(Location { line: 3, column: None, offset: None }),
            raw: None,
        }
    }

    /// Only targets that are neither a node, a walked file nor a name are broken, whether the
    /// scan hands the rule its resolutions or the rule resolves them itself.
    #[test]
    fn reports_missing_targets_with_or_without_the_scans_resolutions() {
        let nodes = [node("a.md", "note", ""), node(".claude/skills/pdf/SKILL.md", "skill", "")];
        let index = NodeIndex::with_files(&nodes, ["a.md", "run.sh", ".claude/skills/pdf/SKILL.md"].map(String::from));
        let links = [link("a.md", "run.sh"), link("a.md", "gone.md"), link("a.md", "/pdf"), link("a.md", "docs")];
        let resolutions: Vec<Resolution<'_>> = links.iter().map(|l| index.resolve_target(&l.target)).collect();
        let config = json!({});
        let broken = |resolutions: &[Resolution<'_>]| -> Vec<String> {
            let ctx = RuleContext { nodes: &nodes, links: &links, index: &index, resolutions, config: &config };
            data_strings(&BrokenRef.evaluate(&ctx), "target")
        };
        assert_eq!(broken(&resolutions), ["gone.md", "docs"]);
        assert_eq!(broken(&[]), broken(&resolutions));
    }
}
