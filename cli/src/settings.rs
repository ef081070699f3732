//! Scope resolution and layered settings.
//!
//! Layers, low to high: `defaults` → `user` (`~/.skill-map/settings.json`) → `user-local`
//! (`~/.skill-map/settings.local.json`) → `project` (`<project>/.skill-map/settings.json`) →
//! `project-local` (`settings.local.json`) → `env` (`SKILL_MAP__<KEY>__<SUBKEY>=value`) → `flag`
//! (`--config key=value`, `--profile`). Global scope skips the project layers. Every file layer is
//! validated against `spec/schemas/project-config.schema.json`; a bad file is an error naming the
//! file (exit 2), never silently half-applied.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sm_kernel::model::Scope;

use crate::output::CliError;

/// Patterns always ignored (and written into a fresh `.skillmapignore` by `sm init`).
pub const DEFAULT_IGNORES: &[&str] = &[
    ".git/",
    "node_modules/",
    "dist/",
    "build/",
    "out/",
    "target/",
    ".next/",
    ".cache/",
    ".tmp/",
    ".skill-map/",
    ".DS_Store",
    "Thumbs.db",
    "*.swp",
    "*.swo",
    "*~",
    "*.log",
];

/// The per-directory ignore file.
pub const IGNORE_FILE: &str = ".skillmapignore";

/// Prefix of environment variables that set config keys (`SKILL_MAP__SCAN__STRICT=true`).
pub const ENV_PREFIX: &str = "SKILL_MAP__";

/// Where this invocation works.
#[derive(Debug, Clone)]
pub struct ScopeContext {
    pub scope: Scope,
    /// Project: the working directory. Global: the home directory.
    pub root: PathBuf,
    pub home: Option<PathBuf>,
}

impl ScopeContext {
    pub fn resolve(global: bool) -> Result<Self, CliError> {
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::operational("no-cwd", format!("cannot read the working directory: {e}")))?;
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        if global {
            let home = home.ok_or_else(|| CliError::operational("no-home", "-g needs HOME to be set"))?;
            return Ok(Self { scope: Scope::Global, root: home.clone(), home: Some(home) });
        }
        Ok(Self { scope: Scope::Project, root: cwd, home })
    }

    /// `<scope root>/.skill-map`
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".skill-map")
    }

    pub fn default_db(&self) -> PathBuf {
        self.state_dir().join("skill-map.db")
    }

    /// Settings files in merge order, with their layer names.
    pub fn layer_files(&self) -> Vec<(&'static str, PathBuf)> {
        let mut layers = Vec::new();
        if let Some(home) = &self.home {
            layers.push(("user", home.join(".skill-map/settings.json")));
            layers.push(("user-local", home.join(".skill-map/settings.local.json")));
        }
        if self.scope == Scope::Project {
            layers.push(("project", self.state_dir().join("settings.json")));
            layers.push(("project-local", self.state_dir().join("settings.local.json")));
        }
        layers
    }
}

/// Built-in defaults.
pub fn defaults() -> Value {
    json!({
        "schemaVersion": 1,
        "autoMigrate": true,
        "tokenizer": "cl100k_base",
        "profile": "claude",
        "roots": [],
        "ignore": [],
        "scan": {
            "tokenize": true,
            "strict": false,
            "followSymlinks": false,
            "maxFileSizeBytes": 1_048_576,
            "watch": { "debounceMs": 300 }
        },
        "rules": {},
        "plugins": {}
    })
}

/// Merged settings, remembering which layer set each key.
#[derive(Debug, Clone)]
pub struct Settings {
    layers: Vec<(String, Value)>,
    merged: Value,
}

impl Settings {
    /// Loads every layer. `overrides` are `key=value` strings from flags.
    pub fn load_with(ctx: &ScopeContext, overrides: &[String]) -> Result<Self, CliError> {
        let mut layers = vec![("defaults".to_owned(), defaults())];
        let mut seen: Vec<PathBuf> = Vec::new();
        for (source, path) in ctx.layer_files() {
            if seen.contains(&path) || !path.is_file() {
                continue;
            }
            seen.push(path.clone());
            layers.push((source.to_owned(), read_layer(&path, source)?));
        }
        let env = env_layer()?;
        if env.as_object().is_some_and(|m| !m.is_empty()) {
            layers.push(("env".to_owned(), env));
        }
        let mut flag = Value::Object(Map::new());
        for item in overrides {
            let (key, raw) = item.split_once('=').ok_or_else(|| {
                CliError::operational("bad-config-flag", format!("--config {item:?}: expected key=value"))
            })?;
            check_key(key)?;
            set_path(&mut flag, key, parse_value(raw));
        }
        validate_layer(&flag, "--config flags", "flag")?;
        if flag.as_object().is_some_and(|m| !m.is_empty()) {
            layers.push(("flag".to_owned(), flag));
        }
        let mut merged = Value::Object(Map::new());
        for (_, layer) in &layers {
            deep_merge(&mut merged, layer.clone());
        }
        Ok(Self { layers, merged })
    }

    pub fn merged(&self) -> &Value {
        &self.merged
    }

    /// The merged settings as one string: equal digests, equal effective configuration.
    pub fn digest(&self) -> String {
        self.merged.to_string()
    }

    pub fn get(&self, dotted: &str) -> Option<&Value> {
        get_path(&self.merged, dotted)
    }

    /// The last layer that set `dotted`.
    pub fn source_of(&self, dotted: &str) -> Option<&str> {
        self.layers.iter().rev().find(|(_, v)| get_path(v, dotted).is_some()).map(|(n, _)| n.as_str())
    }

    fn bool_at(&self, dotted: &str, default: bool) -> bool {
        self.get(dotted).and_then(Value::as_bool).unwrap_or(default)
    }

    fn strings_at(&self, dotted: &str) -> Vec<String> {
        self.get(dotted)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    }

    pub fn roots(&self) -> Vec<String> {
        self.strings_at("roots")
    }

    /// Bundled defaults followed by config `ignore`.
    pub fn ignore_patterns(&self) -> Vec<String> {
        let mut patterns: Vec<String> = DEFAULT_IGNORES.iter().map(|s| (*s).to_owned()).collect();
        patterns.extend(self.strings_at("ignore"));
        patterns
    }

    pub fn tokenize(&self) -> bool {
        self.bool_at("scan.tokenize", true)
    }

    pub fn strict(&self) -> bool {
        self.bool_at("scan.strict", false)
    }

    pub fn follow_symlinks(&self) -> bool {
        self.bool_at("scan.followSymlinks", false)
    }

    pub fn max_file_size_bytes(&self) -> u64 {
        self.get("scan.maxFileSizeBytes").and_then(Value::as_u64).unwrap_or(1_048_576)
    }

    /// What rules see: `{"profile", "rules"}`.
    pub fn rule_config(&self) -> Value {
        json!({
            "profile": self.get("profile").cloned().unwrap_or_else(|| json!("claude")),
            "rules": self.get("rules").cloned().unwrap_or_else(|| json!({})),
        })
    }
}

/// Reads and validates one settings file.
pub fn read_layer(path: &Path, source: &str) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::operational("config-unreadable", format!("{}: {e}", path.display())))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        CliError::operational(
            "config-invalid",
            format!("{}:{}:{}: not valid JSON ({source} settings): {e}", path.display(), e.line(), e.column()),
        )
    })?;
    validate_layer(&value, &path.display().to_string(), source)?;
    Ok(value)
}

/// Validates a layer against the project-config schema.
pub fn validate_layer(value: &Value, what: &str, source: &str) -> Result<(), CliError> {
    let errors = sm_conformance::spec::validate("project-config.schema.json", value)
        .map_err(|e| CliError::operational("spec-broken", e))?;
    if errors.is_empty() {
        return Ok(());
    }
    Err(CliError::operational(
        "config-invalid",
        format!("{what} ({source} settings) does not match project-config.schema.json: {}", errors.join("; ")),
    )
    .with_details(json!({ "file": what, "errors": errors })))
}

fn env_layer() -> Result<Value, CliError> {
    let mut layer = Value::Object(Map::new());
    let mut vars: Vec<(String, String)> =
        std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.len() > ENV_PREFIX.len()).collect();
    vars.sort();
    for (var, raw) in vars {
        let wanted: Vec<String> = var[ENV_PREFIX.len()..].split("__").map(str::to_ascii_lowercase).collect();
        let key = known_keys()
            .into_iter()
            .find(|k| {
                let parts: Vec<String> = k.split('.').map(|p| p.replace('-', "_").to_ascii_lowercase()).collect();
                parts == wanted
            })
            .ok_or_else(|| {
                CliError::not_found("unknown-config-key", format!("environment variable {var} names no config key"))
            })?;
        set_path(&mut layer, &key, parse_value(&raw));
    }
    validate_layer(&layer, "SKILL_MAP__* environment variables", "env")?;
    Ok(layer)
}

/// `true`, `42`, `[..]`, `null` as JSON; anything else as a string.
pub fn parse_value(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

pub fn get_path<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

pub fn set_path(root: &mut Value, dotted: &str, value: Value) {
    let mut cur = root;
    let parts: Vec<&str> = dotted.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let map = cur.as_object_mut().expect("made an object above");
        if i == parts.len() - 1 {
            map.insert((*part).to_owned(), value);
            return;
        }
        cur = map.entry((*part).to_owned()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Removes `dotted`; returns whether it was there. Empty parent objects are pruned.
pub fn remove_path(root: &mut Value, dotted: &str) -> bool {
    let parts: Vec<&str> = dotted.split('.').collect();
    fn go(v: &mut Value, parts: &[&str]) -> bool {
        let Some(map) = v.as_object_mut() else {
            return false;
        };
        if parts.len() == 1 {
            return map.remove(parts[0]).is_some();
        }
        let Some(child) = map.get_mut(parts[0]) else {
            return false;
        };
        let removed = go(child, &parts[1..]);
        if removed && child.as_object().is_some_and(Map::is_empty) {
            map.remove(parts[0]);
        }
        removed
    }
    go(root, &parts)
}

fn deep_merge(base: &mut Value, layer: Value) {
    match (base, layer) {
        (Value::Object(b), Value::Object(l)) => {
            for (k, v) in l {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, l) => *b = l,
    }
}

/// Every settable key path, from the schema (`*` stands for a free map key such as a rule id).
pub fn key_patterns() -> Vec<String> {
    fn join(prefix: &str, key: &str) -> String {
        if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") }
    }
    fn walk(schema: &Value, prefix: &str, out: &mut Vec<String>) {
        if !prefix.is_empty() {
            out.push(prefix.to_owned());
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, sub) in props {
                walk(sub, &join(prefix, k), out);
            }
        }
        if let Some(sub) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            walk(sub, &join(prefix, "*"), out);
        }
    }
    let schema = sm_conformance::spec::schema("project-config.schema.json").unwrap_or(Value::Null);
    let mut out = Vec::new();
    walk(&schema, "", &mut out);
    out.sort();
    out.dedup();
    out
}

/// Concrete keys (no `*`), for suggestions and env mapping.
pub fn known_keys() -> Vec<String> {
    key_patterns().into_iter().filter(|k| !k.contains('*')).collect()
}

fn pattern_matches(pattern: &str, key: &str) -> bool {
    let (p, k): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), key.split('.').collect());
    p.len() == k.len() && p.iter().zip(&k).all(|(a, b)| *a == "*" || a == b)
}

/// Fails with exit 5 and suggestions when `key` is not a config key.
pub fn check_key(key: &str) -> Result<(), CliError> {
    if key_patterns().iter().any(|p| pattern_matches(p, key)) {
        return Ok(());
    }
    let mut scored: Vec<(usize, String)> = known_keys()
        .into_iter()
        .map(|k| {
            let close = k.starts_with(key) || key.starts_with(&k) || k.to_lowercase() == key.to_lowercase();
            (if close { 1 } else { edit_distance(&k, key) }, k)
        })
        .collect();
    scored.sort();
    let suggestions: Vec<String> = scored.into_iter().filter(|(d, _)| *d <= 4).take(3).map(|(_, k)| k).collect();
    let hint =
        if suggestions.is_empty() { String::new() } else { format!("; did you mean {}?", suggestions.join(", ")) };
    Err(CliError::not_found("unknown-config-key", format!("unknown config key {key:?}{hint}"))
        .with_details(json!({ "key": key, "suggestions": suggestions })))
}

/// Levenshtein distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// An empty object, for `settings.local.json`.
pub fn empty_layer() -> Value {
    Value::Object(Map::new())
}
