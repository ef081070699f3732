//! `sm-adapter-plugin-loader`: the PluginLoaderPort.
//!
//! Discovery: every direct child directory of a search dir that holds a `plugin.json`. The
//! manifest must parse, carry the required fields (`id`, `version`, `specCompat`, `extensions`),
//! and its `id` must equal the directory name; otherwise the plugin is `invalid-manifest`. The same
//! id in two search dirs marks both `id-collision`. Loading compiled extensions from the cdylib is
//! not part of this adapter yet: a valid manifest is reported as `disabled` with that reason, so
//! nothing third-party runs until the ABI lands.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use sm_kernel::ports::{DiscoveredPlugin, PluginLoaderPort, PluginStatus};
use sm_kernel::registry::is_kebab;

/// Reads plugin directories from disk.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirectoryPluginLoader;

impl PluginLoaderPort for DirectoryPluginLoader {
    fn discover(&self, search_dirs: &[String]) -> Vec<DiscoveredPlugin> {
        let mut found = Vec::new();
        for dir in search_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut children: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            children.sort();
            for child in children {
                let manifest_path = child.join("plugin.json");
                if child.is_dir() && manifest_path.is_file() {
                    found.push(inspect(&child, &manifest_path));
                }
            }
        }
        mark_collisions(&mut found);
        found
    }
}

fn inspect(dir: &Path, manifest_path: &Path) -> DiscoveredPlugin {
    let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let invalid = |reason: String, manifest: Option<Value>| DiscoveredPlugin {
        id: dir_name.clone(),
        path: dir.display().to_string(),
        manifest,
        status: PluginStatus::InvalidManifest,
        status_reason: Some(reason),
    };
    let text = match std::fs::read_to_string(manifest_path) {
        Ok(t) => t,
        Err(e) => return invalid(format!("cannot read plugin.json: {e}"), None),
    };
    let manifest: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return invalid(format!("plugin.json is not valid JSON: {e}"), None),
    };
    if let Some(problem) = manifest_problem(&manifest, &dir_name) {
        return invalid(problem, Some(manifest));
    }
    DiscoveredPlugin {
        id: dir_name,
        path: dir.display().to_string(),
        manifest: Some(manifest),
        status: PluginStatus::Disabled,
        status_reason: Some("loading compiled plugins is not available in this build".into()),
    }
}

fn manifest_problem(manifest: &Value, dir_name: &str) -> Option<String> {
    let Some(obj) = manifest.as_object() else {
        return Some("plugin.json must be an object".into());
    };
    let id = match obj.get("id").and_then(Value::as_str) {
        Some(id) if is_kebab(id) => id,
        Some(id) => return Some(format!("id {id:?} is not kebab-case")),
        None => return Some("missing required field \"id\"".into()),
    };
    if id != dir_name {
        return Some(format!("id {id:?} does not match its directory {dir_name:?}"));
    }
    for field in ["version", "specCompat"] {
        if !obj.get(field).is_some_and(Value::is_string) {
            return Some(format!("missing required string field {field:?}"));
        }
    }
    match obj.get("extensions").and_then(Value::as_array) {
        Some(list) if !list.is_empty() && list.iter().all(Value::is_string) => None,
        _ => Some("\"extensions\" must be a non-empty list of strings".into()),
    }
}

fn mark_collisions(found: &mut [DiscoveredPlugin]) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for p in found.iter() {
        *counts.entry(p.id.clone()).or_default() += 1;
    }
    for p in found.iter_mut() {
        if counts.get(&p.id).copied().unwrap_or(0) > 1 {
            p.status = PluginStatus::IdCollision;
            p.status_reason = Some(format!("another plugin directory also declares id {:?}", p.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(root: &Path, dir: &str, manifest: &str) {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        std::fs::write(root.join(dir).join("plugin.json"), manifest).expect("write");
    }

    #[test]
    fn statuses_for_bad_good_and_colliding_manifests() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        plugin(a.path(), "good", r#"{"id":"good","version":"1.0.0","specCompat":"^0.1","extensions":["x"]}"#);
        plugin(a.path(), "wrong-dir", r#"{"id":"other","version":"1","specCompat":"*","extensions":["x"]}"#);
        plugin(a.path(), "broken", "{not json");
        plugin(a.path(), "twin", r#"{"id":"twin","version":"1","specCompat":"*","extensions":["x"]}"#);
        plugin(b.path(), "twin", r#"{"id":"twin","version":"1","specCompat":"*","extensions":["x"]}"#);
        let dirs = vec![a.path().display().to_string(), b.path().display().to_string()];
        let found = DirectoryPluginLoader.discover(&dirs);
        let status: Vec<(&str, PluginStatus)> = found.iter().map(|p| (p.id.as_str(), p.status)).collect();
        assert_eq!(
            status,
            vec![
                ("broken", PluginStatus::InvalidManifest),
                ("good", PluginStatus::Disabled),
                ("twin", PluginStatus::IdCollision),
                ("wrong-dir", PluginStatus::InvalidManifest),
                ("twin", PluginStatus::IdCollision),
            ]
        );
    }
}
