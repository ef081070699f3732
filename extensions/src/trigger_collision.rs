//! The `trigger-collision` rule (error): two different commands or skills answer to the same
//! `/trigger`.
//!
//! A command advertises `/` + its frontmatter `name` (else its file stem); a skill's `SKILL.md`
//! advertises `/` + its `name` (else its directory name). Triggers are compared after
//! normalisation, so `/Deploy`, `/deploy` and `/de_ploy` collide. Byte-identical copies are not a
//! collision (`duplicate-name` reports them).
//!
//! `data`: `{normalizedTrigger, advertiserPaths (sorted), invocations (sorted distinct slash
//! targets in the graph with that trigger)}`.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};
use sm_kernel::extensions::{ExtensionInfo, ExtensionKind, Rule, RuleContext};
use sm_kernel::frontmatter::field;
use sm_kernel::model::{Issue, LinkKind, Node, Severity};
use sm_kernel::node_index::skill_dir_name;
use sm_kernel::normalize::normalize_trigger_into;

pub const ID: &str = "trigger-collision";

/// The built-in trigger collision rule.
#[derive(Debug, Default, Clone, Copy)]
pub struct TriggerCollision;

/// The `/trigger` a node answers to, if it is a command or a skill manifest.
pub fn advertised_trigger(node: &Node) -> Option<String> {
    let fallback = match node.kind.as_str() {
        "command" => {
            let file = node.path.rsplit('/').next().unwrap_or(&node.path);
            file.rsplit_once('.').map_or(file, |(stem, _)| stem)
        }
        // Only a skill's manifest advertises; reference files inside the skill directory do not.
        "skill" => skill_dir_name(&node.path)?,
        _ => return None,
    };
    // `/` and the normalised name in one string.
    let mut trigger = String::from("/");
    match field(&node.frontmatter, "name") {
        Some(Value::String(s)) if !s.trim().is_empty() => normalize_trigger_into(&mut trigger, s.trim()),
        Some(Value::Number(n)) => normalize_trigger_into(&mut trigger, &n.to_string()),
        _ => normalize_trigger_into(&mut trigger, fallback),
    }
    (trigger.len() > 1).then_some(trigger)
}

impl Rule for TriggerCollision {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(ID, ExtensionKind::Rule, "two different commands or skills answer to the same /trigger")
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        // Grouped by hash; only triggers claimed twice or more are reported, in trigger order.
        let mut claimed = crate::shared_keys(ctx.nodes.iter().filter_map(|n| advertised_trigger(n).map(|t| (t, n))));
        claimed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // How the claimed triggers are invoked (the others' invocations are never reported).
        let mut invocations: HashMap<&str, BTreeSet<&str>> =
            claimed.iter().map(|(trigger, _)| (trigger.as_str(), BTreeSet::new())).collect();
        for link in ctx.links.iter().filter(|l| l.kind == LinkKind::Invokes) {
            if let Some(t) = &link.trigger
                && let Some(targets) = invocations.get_mut(t.normalized_trigger.as_str())
            {
                targets.insert(link.target.as_str());
            }
        }
        let mut issues = Vec::new();
        for (trigger, nodes) in &claimed {
            let distinct: BTreeSet<(&str, &str)> =
                nodes.iter().map(|n| (n.body_hash.as_str(), n.frontmatter_hash.as_str())).collect();
            if nodes.len() < 2 || distinct.len() < 2 {
                continue;
            }
            let paths: Vec<String> = nodes.iter().map(|n| n.path.clone()).collect();
            let forms: Vec<&str> =
                invocations.get(trigger.as_str()).map(|s| s.iter().copied().collect()).unwrap_or_default();
            let message = format!("Trigger \"{trigger}\" is claimed by {} nodes: {}", paths.len(), paths.join(", "));
            let mut issue = Issue::new(ID, Severity::Error, &paths[0], message).with_data(json!({
                "normalizedTrigger": trigger,
                "advertiserPaths": paths,
                "invocations": forms,
            }));
            issue.node_ids = paths;
            issues.push(issue);
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{data_strings, evaluate, node};

    /// Different nodes claiming one normalised trigger collide, reported in trigger order
    /// whatever the nodes' order; identical copies and single claims do not.
    #[test]
    fn collisions_are_reported_in_trigger_order() {
        let mut nodes = vec![
            node(".claude/commands/zip.md", "command", ""),
            node("other/.claude/commands/zip.md", "command", "Zip"),
            node(".claude/skills/de-ploy/SKILL.md", "skill", ""),
            node(".claude/commands/ship.md", "command", "de_ploy"),
            node(".claude/commands/solo.md", "command", ""),
            node("copy/.claude/commands/same.md", "command", ""),
            node(".claude/commands/same.md", "command", ""),
        ];
        nodes[0].body_hash = "1".repeat(64);
        nodes[3].body_hash = "2".repeat(64);
        let triggers = |nodes: &[Node]| data_strings(&evaluate(&TriggerCollision, nodes), "normalizedTrigger");
        assert_eq!(triggers(&nodes), ["/de ploy", "/zip"]);
        nodes.reverse();
        assert_eq!(triggers(&nodes), ["/de ploy", "/zip"]);
    }
}
