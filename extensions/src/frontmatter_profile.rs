//! The `frontmatter-invalid` rule (warn): frontmatter checked per node kind against a harness
//! **profile**, chosen with `sm scan --profile` or config `profile`.
//!
//! - `claude` (default): the fields Claude Code documents. Skills (`SKILL.md`) need a
//!   `description`; a `name` is lowercase letters, digits and hyphens, at most 64 characters.
//!   Agents need `name` and `description`. Commands need nothing. Known fields must have the
//!   documented types and values (`model` string, `tools` string or list, `permissionMode`,
//!   `color`, `effort`, `memory`, `isolation`, `context` enums, `maxTurns` ≥ 1, booleans, …).
//!   Unknown fields are allowed: Claude Code ignores them.
//! - `agentskills`: the strict Agent Skills specification for skills: only `name`, `description`,
//!   `license`, `compatibility`, `metadata`, `allowed-tools`; `name` required, at most 64
//!   characters after NFKC, lowercase, letters, digits and hyphens, no leading, trailing or double
//!   hyphen; `description` required, at most 1024 characters; `compatibility` at most 500.
//!   Agents and commands are checked as in `claude`.
//!
//! YAML that is not strict is reported by the kernel under the same rule id. Notes and hooks are
//! not checked. `data`: `{kind, profile, errors}`.

use serde_json::{Map, Value, json};
use sm_kernel::extensions::{ExtensionInfo, ExtensionKind, Rule, RuleContext};
use sm_kernel::frontmatter::field;
use sm_kernel::model::{Issue, Node, Severity};
use sm_kernel::node_index::skill_dir_name;
use unicode_normalization::UnicodeNormalization;

pub const ID: &str = "frontmatter-invalid";

/// The profiles this rule knows.
pub const PROFILES: &[&str] = &["claude", "agentskills"];

/// The built-in per-profile frontmatter rule.
#[derive(Debug, Default, Clone, Copy)]
pub struct FrontmatterProfile;

impl Rule for FrontmatterProfile {
    fn info(&self) -> ExtensionInfo {
        crate::builtin_info(
            ID,
            ExtensionKind::Rule,
            "frontmatter fields per node kind and harness profile (claude, agentskills)",
        )
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        let profile = ctx.profile();
        let mut issues = Vec::new();
        for node in ctx.nodes {
            let errors = match node.kind.as_str() {
                "skill" if skill_dir_name(&node.path).is_some() => {
                    if profile == "agentskills" {
                        agentskills_skill(&node.frontmatter)
                    } else {
                        claude_skill(&node.frontmatter)
                    }
                }
                "agent" => claude_agent(&node.frontmatter),
                "command" => claude_command(&node.frontmatter),
                _ => continue,
            };
            if !errors.is_empty() {
                issues.push(issue(node, profile, errors));
            }
        }
        issues
    }
}

fn issue(node: &Node, profile: &str, errors: Vec<String>) -> Issue {
    Issue::new(
        ID,
        Severity::Warn,
        &node.path,
        format!("Frontmatter of {} ({}, {profile} profile): {}", node.path, node.kind, errors.join("; ")),
    )
    .with_data(json!({ "kind": node.kind, "profile": profile, "errors": errors }))
}

/// Collects type errors for one field.
struct Check<'a> {
    fm: &'a Map<String, Value>,
    errors: Vec<String>,
}

impl<'a> Check<'a> {
    fn new(fm: &'a Map<String, Value>) -> Self {
        Self { fm, errors: Vec::new() }
    }

    fn required_text(&mut self, key: &str) -> Option<String> {
        match field(self.fm, key) {
            None | Some(Value::Null) => {
                self.errors.push(format!("missing required field `{key}`"));
                None
            }
            Some(v) => match scalar_text(v) {
                Some(s) if !s.trim().is_empty() => Some(s),
                _ => {
                    self.errors.push(format!("`{key}` must be a non-empty string"));
                    None
                }
            },
        }
    }

    fn string(&mut self, key: &str) {
        if let Some(v) = field(self.fm, key)
            && !v.is_string()
        {
            self.errors.push(format!("`{key}` must be a string"));
        }
    }

    fn string_or_list(&mut self, key: &str) {
        if let Some(v) = field(self.fm, key) {
            let ok = v.is_string() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
            if !ok {
                self.errors.push(format!("`{key}` must be a string or a list of strings"));
            }
        }
    }

    fn boolean(&mut self, key: &str) {
        if let Some(v) = field(self.fm, key)
            && !v.is_boolean()
        {
            self.errors.push(format!("`{key}` must be true or false"));
        }
    }

    fn object(&mut self, key: &str) {
        if let Some(v) = field(self.fm, key)
            && !v.is_object()
        {
            self.errors.push(format!("`{key}` must be a mapping"));
        }
    }

    fn one_of(&mut self, key: &str, allowed: &[&str]) {
        if let Some(v) = field(self.fm, key) {
            match v.as_str() {
                Some(s) if allowed.contains(&s) => {}
                _ => self.errors.push(format!("`{key}` must be one of {}", allowed.join(", "))),
            }
        }
    }

    fn positive_int(&mut self, key: &str) {
        if let Some(v) = field(self.fm, key)
            && v.as_u64().is_none_or(|n| n < 1)
        {
            self.errors.push(format!("`{key}` must be an integer ≥ 1"));
        }
    }

    fn max_chars(&mut self, key: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            let n = v.chars().count();
            if n > max {
                self.errors.push(format!("`{key}` is {n} characters, over the limit of {max}"));
            }
        }
    }
}

/// A scalar as text (`123` and `true` count: YAML gives them types the author did not intend).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

const EFFORT: &[&str] = &["low", "medium", "high", "xhigh", "max"];

fn claude_name(check: &mut Check<'_>, name: &str, allow_digits: bool) {
    let ok = name.chars().all(|c| c.is_ascii_lowercase() || c == '-' || (allow_digits && c.is_ascii_digit()));
    if !ok {
        let what = if allow_digits { "lowercase letters, digits and hyphens" } else { "lowercase letters and hyphens" };
        check.errors.push(format!("`name` \"{name}\" must use only {what}"));
    }
    check.max_chars("name", Some(name), 64);
}

fn claude_skill(fm: &Map<String, Value>) -> Vec<String> {
    let mut c = Check::new(fm);
    if let Some(name) = field(fm, "name") {
        match scalar_text(name) {
            Some(n) => claude_name(&mut c, &n, true),
            None => c.errors.push("`name` must be a string".into()),
        }
    }
    let description = c.required_text("description");
    c.max_chars("description", description.as_deref(), 1024);
    c.string_or_list("allowed-tools");
    c.string("model");
    c.string_or_list("argument-hint");
    c.string("when_to_use");
    c.boolean("disable-model-invocation");
    c.boolean("user-invocable");
    c.one_of("context", &["fork"]);
    c.string("agent");
    c.object("hooks");
    c.string_or_list("paths");
    c.one_of("shell", &["bash", "powershell"]);
    c.one_of("effort", EFFORT);
    c.errors
}

fn claude_agent(fm: &Map<String, Value>) -> Vec<String> {
    let mut c = Check::new(fm);
    if let Some(name) = c.required_text("name") {
        claude_name(&mut c, &name, true);
    }
    c.required_text("description");
    c.string_or_list("tools");
    c.string_or_list("disallowedTools");
    c.string("model");
    c.one_of("permissionMode", &["default", "acceptEdits", "auto", "dontAsk", "bypassPermissions", "plan"]);
    c.positive_int("maxTurns");
    c.string_or_list("skills");
    c.one_of("memory", &["user", "project", "local"]);
    c.boolean("background");
    c.one_of("effort", EFFORT);
    c.one_of("isolation", &["worktree"]);
    c.one_of("color", &["red", "blue", "green", "yellow", "purple", "orange", "pink", "cyan"]);
    c.object("hooks");
    if let Some(v) = field(fm, "mcpServers")
        && !(v.is_object() || v.is_array())
    {
        c.errors.push("`mcpServers` must be a mapping or a list".into());
    }
    c.string("initialPrompt");
    c.errors
}

fn claude_command(fm: &Map<String, Value>) -> Vec<String> {
    let mut c = Check::new(fm);
    c.string("description");
    c.string_or_list("argument-hint");
    c.string_or_list("allowed-tools");
    c.string("model");
    c.boolean("disable-model-invocation");
    c.errors
}

const AGENTSKILLS_FIELDS: &[&str] = &["name", "description", "license", "compatibility", "metadata", "allowed-tools"];

fn agentskills_skill(fm: &Map<String, Value>) -> Vec<String> {
    let mut c = Check::new(fm);
    let mut unexpected: Vec<&str> = fm.keys().map(String::as_str).filter(|k| !AGENTSKILLS_FIELDS.contains(k)).collect();
    unexpected.sort_unstable();
    if !unexpected.is_empty() {
        c.errors.push(format!(
            "unexpected field(s) {}: the Agent Skills spec allows only {}",
            unexpected.join(", "),
            AGENTSKILLS_FIELDS.join(", ")
        ));
    }
    if let Some(name) = c.required_text("name") {
        let name: String = name.trim().nfkc().collect();
        c.max_chars("name", Some(&name), 64);
        if name != name.to_lowercase() {
            c.errors.push(format!("`name` \"{name}\" must be lowercase"));
        }
        if name.starts_with('-') || name.ends_with('-') {
            c.errors.push("`name` cannot start or end with a hyphen".into());
        }
        if name.contains("--") {
            c.errors.push("`name` cannot contain consecutive hyphens".into());
        }
        if !name.chars().all(|ch| ch.is_alphanumeric() || ch == '-') {
            c.errors.push(format!("`name` \"{name}\" may contain only letters, digits and hyphens"));
        }
    }
    let description = c.required_text("description");
    c.max_chars("description", description.as_deref(), 1024);
    if let Some(v) = field(fm, "compatibility") {
        match v.as_str() {
            Some(s) => c.max_chars("compatibility", Some(s), 500),
            None => c.errors.push("`compatibility` must be a string".into()),
        }
    }
    c.string("license");
    c.object("metadata");
    c.string_or_list("allowed-tools");
    c.errors
}
