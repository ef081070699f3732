//! Example rule `weak-description` (warn): a skill, agent or command whose `description` has fewer
//! than `rules.weak-description.minWords` words (default 6). Agents pick skills and subagents by
//! their descriptions; a three-word description is rarely picked. `data`: `{words, minWords}`.

use sm_plugin_sdk::serde_json::json;
use sm_plugin_sdk::{Issue, RuleInput, RulePlugin, Severity, export_plugin};

/// The rule.
pub struct WeakDescription;

impl RulePlugin for WeakDescription {
    fn evaluate(&self, input: &RuleInput) -> Vec<Issue> {
        let min = input.config["rules"]["weak-description"]["minWords"].as_u64().unwrap_or(6) as usize;
        input
            .nodes
            .iter()
            .filter(|n| matches!(n.kind.as_str(), "skill" | "agent" | "command"))
            .filter(|n| n.path.ends_with("SKILL.md") || n.kind != "skill")
            .filter_map(|n| {
                let words = n.description.as_deref().map_or(0, |d| d.split_whitespace().count());
                (words < min).then(|| {
                    Issue::new(
                        "weak-description",
                        Severity::Warn,
                        &n.path,
                        format!(
                            "{} has a {words}-word description; agents choose by description (aim for {min}+)",
                            n.path
                        ),
                    )
                    .with_data(json!({ "words": words, "minWords": min }))
                })
            })
            .collect()
    }
}

export_plugin! {
    id: "weak-description",
    extensions: [
        rule "weak-description" ("descriptions too short for an agent to choose by") => WeakDescription,
    ]
}
