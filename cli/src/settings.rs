//! Scope resolution and layered settings.
//!
//! Layers, low to high: built-in defaults → `~/.skill-map/settings.json` →
//! `~/.skill-map/settings.local.json` → `<project>/.skill-map/settings.json` →
//! `<project>/.skill-map/settings.local.json` (global scope stops after the user layers) → env →
//! flags. Every file layer is validated against `spec/schemas/project-config.schema.json`; a bad
//! file is an error naming the file (exit 2), never silently half-applied.

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
        let cwd = std::env::current_dir().map_err(|e| {
            CliError::operational("no-cwd", format!("cannot read the working directory: {e}"))
        })?;
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        if global {
            let home =
                home.ok_or_else(|| CliError::operational("no-home", "-g needs HOME to be set"))?;
            return Ok(Self {
                scope: Scope::Global,
                root: home.clone(),
                home: Some(home),
            });
        }
        Ok(Self {
            scope: Scope::Project,
            root: cwd,
            home,
        })
    }

    /// `<scope root>/.skill-map`
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".skill-map")
    }

    pub fn default_db(&self) -> PathBuf {
        self.state_dir().join("skill-map.db")
    }

    /// Settings files in merge order, with their source names.
    fn layer_files(&self) -> Vec<(&'static str, PathBuf)> {
        let mut layers = Vec::new();
        if let Some(home) = &self.home {
            layers.push(("user", home.join(".skill-map/settings.json")));
            layers.push(("user-local", home.join(".skill-map/settings.local.json")));
        }
        if self.scope == Scope::Project {
            layers.push(("project", self.state_dir().join("settings.json")));
            layers.push((
                "project-local",
                self.state_dir().join("settings.local.json"),
            ));
        }
        layers
    }
}

/// Merged settings.
#[derive(Debug, Clone)]
pub struct Settings {
    merged: Value,
}

/// Built-in defaults.
pub fn defaults() -> Value {
    json!({
        "schemaVersion": 1,
        "autoMigrate": true,
        "tokenizer": "cl100k_base",
        "roots": [],
        "ignore": [],
        "scan": {
            "tokenize": true,
            "strict": false,
            "followSymlinks": false,
            "maxFileSizeBytes": 1_048_576,
            "watch": { "debounceMs": 300 }
        },
        "plugins": {}
    })
}

impl Settings {
    pub fn load(ctx: &ScopeContext) -> Result<Self, CliError> {
        let mut merged = defaults();
        let mut seen: Vec<PathBuf> = Vec::new();
        for (source, path) in ctx.layer_files() {
            if seen.contains(&path) || !path.is_file() {
                continue;
            }
            seen.push(path.clone());
            let layer = read_layer(&path, source)?;
            deep_merge(&mut merged, layer);
        }
        Ok(Self { merged })
    }

    pub fn get(&self, dotted: &str) -> Option<&Value> {
        dotted.split('.').try_fold(&self.merged, |v, k| v.get(k))
    }

    fn bool_at(&self, dotted: &str, default: bool) -> bool {
        self.get(dotted).and_then(Value::as_bool).unwrap_or(default)
    }

    fn strings_at(&self, dotted: &str) -> Vec<String> {
        self.get(dotted)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
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
        self.get("scan.maxFileSizeBytes")
            .and_then(Value::as_u64)
            .unwrap_or(1_048_576)
    }
}

fn read_layer(path: &Path, source: &str) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::operational("config-unreadable", format!("{}: {e}", path.display()))
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        CliError::operational(
            "config-invalid",
            format!(
                "{}:{}:{}: not valid JSON ({source} settings): {e}",
                path.display(),
                e.line(),
                e.column()
            ),
        )
    })?;
    let errors = sm_conformance::spec::validate("project-config.schema.json", &value)
        .map_err(|e| CliError::operational("spec-broken", e))?;
    if !errors.is_empty() {
        return Err(CliError::operational(
            "config-invalid",
            format!(
                "{} ({source} settings) does not match project-config.schema.json: {}",
                path.display(),
                errors.join("; ")
            ),
        )
        .with_details(json!({ "file": path.display().to_string(), "errors": errors })));
    }
    Ok(value)
}

fn deep_merge(base: &mut Value, layer: Value) {
    match (base, layer) {
        (Value::Object(b), Value::Object(l)) => {
            for (k, v) in l {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, l) => *b = l,
    }
}

/// An empty object, for `settings.local.json`.
pub fn empty_layer() -> Value {
    Value::Object(Map::new())
}
