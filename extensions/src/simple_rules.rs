//! Small graph rules: `superseded`, `link-conflict`, `duplicate-name`, `name-dir-mismatch`,
//! `oversized-node`, `orphan-node`. Each documents its id, severity and `data` below.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sm_kernel::extensions::{ExtensionInfo, ExtensionKind, Rule, RuleContext};
use sm_kernel::frontmatter::field;
use sm_kernel::model::{Confidence, Issue, Link, Node, Severity};
use sm_kernel::node_index::skill_dir_name;
use sm_kernel::normalize::normalize_trigger;
use unicode_normalization::UnicodeNormalization;

use crate::trigger_collision::advertised_trigger;

fn info(id: &str, description: &str) -> ExtensionInfo {
    crate::builtin_info(id, ExtensionKind::Rule, description)
}

fn metadata_str<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    field(&node.frontmatter, "metadata")
        .and_then(|m| m.as_object())
        .and_then(|m| field(m, key))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn name_of(node: &Node) -> Option<std::borrow::Cow<'_, str>> {
    match field(&node.frontmatter, "name") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().into()),
        Some(Value::Number(n)) => Some(n.to_string().into()),
        _ => skill_dir_name(&node.path).map(Into::into),
    }
}

fn is_skill_manifest(node: &Node) -> bool {
    node.kind == "skill" && skill_dir_name(&node.path).is_some()
}

// ---------------------------------------------------------------------------------------------

/// `superseded` (info): a node whose `metadata.supersededBy` names a successor.
/// `data`: `{supersededBy}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Superseded;

impl Rule for Superseded {
    fn info(&self) -> ExtensionInfo {
        info("superseded", "nodes that declare metadata.supersededBy")
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        ctx.nodes
            .iter()
            .filter_map(|n| {
                let by = metadata_str(n, "supersededBy")?;
                Some(
                    Issue::new("superseded", Severity::Info, &n.path, format!("{} is superseded by {by}", n.path))
                        .with_data(json!({ "supersededBy": by })),
                )
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------

/// `link-conflict` (warn): detectors disagree on the kind of the edge between the same source and
/// target (as written). Low-confidence links are ignored.
/// `data`: `{source, target, variants: [{kind, sources, confidence}]}` sorted by kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkConflict;

impl Rule for LinkConflict {
    fn info(&self) -> ExtensionInfo {
        info("link-conflict", "detectors disagree on the kind of one source → target edge")
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        type Variant<'a> = (BTreeSet<&'a str>, Confidence);
        // One (source, target) edge at a time: the links sorted by it (a stable sort, so cheap on
        // the kernel's already sorted links), then each run on its own.
        let mut edges: Vec<&Link> = ctx.links.iter().filter(|l| l.confidence != Confidence::Low).collect();
        edges.sort_by(|a, b| (a.source.as_str(), a.target.as_str()).cmp(&(b.source.as_str(), b.target.as_str())));
        let mut issues = Vec::new();
        for run in edges.chunk_by(|a, b| a.source == b.source && a.target == b.target) {
            let mut variants: BTreeMap<&str, Variant<'_>> = BTreeMap::new();
            for link in run {
                let variant = variants.entry(link.kind.as_str()).or_insert_with(|| (BTreeSet::new(), link.confidence));
                variant.0.extend(link.sources.iter().map(String::as_str));
                variant.1 = variant.1.max(link.confidence);
            }
            if variants.len() < 2 {
                continue;
            }
            let (source, target) = (run[0].source.as_str(), run[0].target.as_str());
            let kinds: Vec<&str> = variants.keys().copied().collect();
            let list: Vec<Value> = variants
                .iter()
                .map(|(kind, (sources, conf))| json!({ "kind": kind, "sources": sources, "confidence": conf.as_str() }))
                .collect();
            let mut issue = Issue::new(
                "link-conflict",
                Severity::Warn,
                source,
                format!("Detectors disagree on link kind for {source} → {target} ({})", kinds.join(" / ")),
            )
            .with_data(json!({ "source": source, "target": target, "variants": list }));
            if let Some(t) = ctx.index.resolve(target).filter(|t| *t != source) {
                issue.node_ids.push(t.to_owned());
            }
            issues.push(issue);
        }
        issues
    }
}

// ---------------------------------------------------------------------------------------------

/// `duplicate-name` (warn): two or more nodes of one kind (notes excepted) share a normalised name
/// (frontmatter `name`, else a skill's directory). Distinct commands or skills sharing a name are
/// already a `trigger-collision` error and are not reported twice; byte-identical copies are
/// reported here with `identicalCopies: true`.
/// `data`: `{kind, name, paths, identicalCopies}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DuplicateName;

impl Rule for DuplicateName {
    fn info(&self) -> ExtensionInfo {
        info("duplicate-name", "nodes of one kind that share a normalised name")
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        // Grouped by hash; only groups of two or more are reported, in key order.
        let named = ctx.nodes.iter().filter(|n| n.kind != "note" && (n.kind != "skill" || is_skill_manifest(n)));
        let mut shared = crate::shared_keys(named.filter_map(|node| {
            let key = normalize_trigger(&name_of(node)?);
            (!key.is_empty()).then_some(((node.kind.as_str(), key), node))
        }));
        shared.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut issues = Vec::new();
        for ((kind, name), nodes) in shared {
            let identical = nodes
                .iter()
                .map(|n| (n.body_hash.as_str(), n.frontmatter_hash.as_str()))
                .collect::<BTreeSet<_>>()
                .len()
                == 1;
            let advertises = nodes.iter().all(|n| advertised_trigger(n).is_some());
            if advertises && !identical {
                continue;
            }
            let paths: Vec<String> = nodes.iter().map(|n| n.path.clone()).collect();
            let what = if identical { " (identical copies)" } else { "" };
            let mut issue = Issue::new(
                "duplicate-name",
                Severity::Warn,
                &paths[0],
                format!("{} {kind} nodes share the name \"{name}\"{what}: {}", paths.len(), paths.join(", ")),
            )
            .with_data(json!({ "kind": kind, "name": name, "paths": paths, "identicalCopies": identical }));
            issue.node_ids = paths;
            issues.push(issue);
        }
        issues
    }
}

// ---------------------------------------------------------------------------------------------

/// `name-dir-mismatch` (warn): a skill manifest whose `name` differs from its directory (compared
/// after Unicode NFKC, as the Agent Skills spec does). `data`: `{name, directory}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NameDirMismatch;

impl Rule for NameDirMismatch {
    fn info(&self) -> ExtensionInfo {
        info("name-dir-mismatch", "a SKILL.md whose name differs from its directory")
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        let mut issues = Vec::new();
        for node in ctx.nodes.iter().filter(|n| n.kind == "skill") {
            let Some(dir) = skill_dir_name(&node.path) else {
                continue;
            };
            let name = match field(&node.frontmatter, "name") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            // NFKC leaves ASCII as it is: only other text is normalised before comparing.
            let differ = if name.is_ascii() && dir.is_ascii() { name != dir } else { !name.nfkc().eq(dir.nfkc()) };
            if differ {
                issues.push(
                    Issue::new(
                        "name-dir-mismatch",
                        Severity::Warn,
                        &node.path,
                        format!("Skill name \"{name}\" does not match its directory \"{dir}\" ({})", node.path),
                    )
                    .with_data(json!({ "name": name, "directory": dir })),
                );
            }
        }
        issues
    }
}

// ---------------------------------------------------------------------------------------------

/// Default token budget of `oversized-node` (config `rules.oversized-node.maxTokens`).
pub const DEFAULT_MAX_TOKENS: u64 = 5000;

/// `oversized-node` (info): a skill manifest, agent, command or hook whose total tokens exceed the
/// budget. Without token counts (`--no-tokens`) the size is estimated as bytes / 4.
/// `data`: `{tokens, limit, estimated}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OversizedNode;

impl Rule for OversizedNode {
    fn info(&self) -> ExtensionInfo {
        info("oversized-node", "skills, agents, commands and hooks over the token budget")
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        let limit = ctx.option("oversized-node", "maxTokens").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_TOKENS);
        let mut issues = Vec::new();
        for node in ctx.nodes {
            let eligible = match node.kind.as_str() {
                "skill" => is_skill_manifest(node),
                "agent" | "command" | "hook" => true,
                _ => false,
            };
            if !eligible {
                continue;
            }
            let (tokens, estimated) = match node.tokens {
                Some(t) => (t.total, false),
                None => (node.bytes.total / 4, true),
            };
            if tokens > limit {
                let approx = if estimated { "~" } else { "" };
                issues.push(
                    Issue::new(
                        "oversized-node",
                        Severity::Info,
                        &node.path,
                        format!("{} is {approx}{tokens} tokens, over the budget of {limit}", node.path),
                    )
                    .with_data(json!({ "tokens": tokens, "limit": limit, "estimated": estimated })),
                );
            }
        }
        issues
    }
}

// ---------------------------------------------------------------------------------------------

/// `orphan-node` (info): a skill manifest, agent or command that no link reaches and that the user
/// cannot invoke. Commands are always user-invocable (`/name`); skills are unless
/// `user-invocable: false`; agents are not (they are delegated to). `data`: `{kind}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OrphanNode;

impl Rule for OrphanNode {
    fn info(&self) -> ExtensionInfo {
        info("orphan-node", "skills and agents nothing references and the user cannot invoke")
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        let mut issues = Vec::new();
        for node in ctx.nodes {
            let user_invocable = match node.kind.as_str() {
                "skill" if is_skill_manifest(node) => {
                    field(&node.frontmatter, "user-invocable").and_then(Value::as_bool) != Some(false)
                }
                "agent" => false,
                _ => continue,
            };
            if user_invocable || node.links_in_count > 0 {
                continue;
            }
            issues.push(
                Issue::new(
                    "orphan-node",
                    Severity::Info,
                    &node.path,
                    format!(
                        "{} ({}) is not referenced by any node and cannot be invoked by the user",
                        node.path, node.kind
                    ),
                )
                .with_data(json!({ "kind": node.kind })),
            );
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{data_strings, evaluate, node};

    /// Names are compared with their directory after NFKC: compatibility forms and composed or
    /// decomposed accents match, a different spelling or case does not.
    #[test]
    fn name_dir_mismatch_compares_after_nfkc() {
        let cases = [
            ("pdf", "pdf", false),
            ("pdf", "PDF", true),
            ("pdf", "pdf-tools", true),
            ("ｐｄｆ", "pdf", false),
            ("café", "cafe\u{301}", false),
            ("café", "cafe", true),
            ("  pdf ", "pdf", false),
        ];
        for (name, dir, reported) in cases {
            let skill = node(&format!(".claude/skills/{dir}/SKILL.md"), "skill", name);
            let issues = evaluate(&NameDirMismatch, &[skill]);
            assert_eq!(issues.len() == 1, reported, "{name:?} in {dir:?}: {issues:?}");
        }
    }

    /// Groups are reported in (kind, name) order whatever the order of the nodes.
    #[test]
    fn duplicate_names_are_reported_in_key_order() {
        let mut nodes = vec![
            node("b/zeta.md", "agent", "zeta"),
            node("a/zeta.md", "agent", "Zeta"),
            node("c/alpha.md", "agent", "alpha"),
            node("d/alpha.md", "agent", "alpha"),
            node("e/solo.md", "agent", "solo"),
        ];
        nodes[1].body_hash = "1".repeat(64);
        let names = |nodes: &[Node]| data_strings(&evaluate(&DuplicateName, nodes), "name");
        assert_eq!(names(&nodes), ["alpha", "zeta"]);
        nodes.reverse();
        assert_eq!(names(&nodes), ["alpha", "zeta"]);
    }
}
