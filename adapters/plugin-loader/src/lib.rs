//! `sm-adapter-plugin-loader`: the PluginLoaderPort.
//!
//! A plugin is a directory `<search dir>/<id>/` holding `plugin.json` and a compiled library. Each
//! is checked in order, and the first failure decides its status:
//!
//! 1. `plugin.json` parses and has `id` (kebab-case, equal to the directory), `version`,
//!    `specCompat` (a semver range), `library` (a relative path) and `extensions` (ids) — else
//!    `invalid-manifest`;
//! 2. the same id in two search directories — `id-collision` (both);
//! 3. `specCompat` admits our spec version — else `incompatible-spec`;
//! 4. not switched off (database toggle, then settings) — else `disabled`;
//! 5. the library loads: a libloading probe tells "not a loadable library" and "not an sm plugin"
//!    apart from abi_stable's "built against another ABI"; the protocol version matches; every
//!    extension listed in `plugin.json` is exported and instantiates — else `load-error`
//!    (`invalid-manifest` when `plugin.json` names an extension the library does not export).
//!
//! Loaded extensions are wrapped in kernel trait objects (`wrappers.rs`) that speak the JSON
//! protocol over `invoke`, so the kernel cannot tell them from built-ins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sm_kernel::ports::{
    DiscoveredPlugin, PluginExtensions, PluginLoadOutcome, PluginLoadRequest, PluginLoaderPort, PluginStatus,
    PluginStorageMode,
};
use sm_kernel::registry::is_kebab;
use sm_plugin_abi::abi_stable::std_types::RStr;
use sm_plugin_abi::{ExtKind, PROTOCOL_VERSION, ROOT_MODULE_SYMBOL};

mod check;
mod host;
mod wrappers;

pub use check::{CheckLine, check_plugin};

pub use wrappers::Reporter;

/// Reads plugin directories from disk and loads their libraries.
#[derive(Clone)]
pub struct DirectoryPluginLoader {
    reporter: Reporter,
}

impl Default for DirectoryPluginLoader {
    fn default() -> Self {
        Self { reporter: Arc::new(|_| {}) }
    }
}

impl DirectoryPluginLoader {
    /// A loader whose plugins report their runtime failures (a panic, bad output) through `reporter`.
    pub fn with_reporter(reporter: Reporter) -> Self {
        Self { reporter }
    }
}

/// A plugin directory and what its manifest says.
struct Candidate {
    dir: PathBuf,
    plugin: DiscoveredPlugin,
}

impl PluginLoaderPort for DirectoryPluginLoader {
    fn discover(&self, search_dirs: &[String]) -> Vec<DiscoveredPlugin> {
        candidates(search_dirs).into_iter().map(|c| c.plugin).collect()
    }

    fn load(&self, request: &PluginLoadRequest) -> PluginLoadOutcome {
        let mut outcome = PluginLoadOutcome::default();
        for mut candidate in candidates(&request.search_dirs) {
            if candidate.plugin.status == PluginStatus::Enabled {
                self.load_one(&mut candidate, request, &mut outcome.extensions);
            }
            outcome.plugins.push(candidate.plugin);
        }
        outcome
    }
}

impl DirectoryPluginLoader {
    fn load_one(&self, c: &mut Candidate, request: &PluginLoadRequest, into: &mut PluginExtensions) {
        let manifest = c.plugin.manifest.clone().unwrap_or(Value::Null);
        let id = c.plugin.id.clone();
        let range = manifest["specCompat"].as_str().unwrap_or_default();
        match spec_compatible(range, &request.spec_version) {
            Err(reason) => return set(&mut c.plugin, PluginStatus::InvalidManifest, reason),
            Ok(false) => {
                let reason = format!("specCompat {range:?} does not admit spec {}", request.spec_version);
                return set(&mut c.plugin, PluginStatus::IncompatibleSpec, reason);
            }
            Ok(true) => {}
        }
        if request.enabled.get(&id) == Some(&false) {
            return set(&mut c.plugin, PluginStatus::Disabled, "disabled by the user".into());
        }
        let library = manifest["library"].as_str().unwrap_or_default();
        let path = match library_path(&c.dir, library) {
            Ok(p) => p,
            Err(reason) => return set(&mut c.plugin, PluginStatus::LoadError, reason),
        };
        if let Err(reason) = probe(&path) {
            return set(&mut c.plugin, PluginStatus::LoadError, reason);
        }
        let module = match sm_plugin_abi::load_root_module(&path) {
            Ok(m) => m,
            Err(e) => return set(&mut c.plugin, PluginStatus::LoadError, abi_failure(library, &e)),
        };
        let protocol = (module.protocol_version())();
        if protocol != PROTOCOL_VERSION {
            let reason = format!("{library} speaks plugin protocol {protocol}; this sm speaks {PROTOCOL_VERSION}");
            return set(&mut c.plugin, PluginStatus::LoadError, reason);
        }
        let exported: Value = serde_json::from_str((module.manifest_json())().as_str()).unwrap_or(Value::Null);
        let exported_kinds: BTreeMap<String, String> = exported["extensions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e["id"].as_str()?.to_owned(), e["kind"].as_str()?.to_owned())))
            .collect();
        let storage_mode = match manifest["storage"]["mode"].as_str() {
            Some("kv") => Some(PluginStorageMode::Kv),
            Some("dedicated") => Some(PluginStorageMode::Dedicated),
            _ => None,
        };
        if let (Some(mode), Some(storage)) = (storage_mode, &request.storage) {
            let migrations = match read_migrations(&c.dir, &manifest) {
                Ok(m) => m,
                Err(reason) => return set(&mut c.plugin, PluginStatus::InvalidManifest, reason),
            };
            if let Err(e) = storage.prepare(&id, mode, &migrations) {
                let reason = format!("storage could not be prepared: {e}");
                return set(&mut c.plugin, PluginStatus::LoadError, reason);
            }
        }
        let mut loaded = PluginExtensions::default();
        for ext_id in manifest["extensions"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !exported_kinds.contains_key(ext_id) {
                let known: Vec<&String> = exported_kinds.keys().collect();
                let reason = format!("plugin.json lists extension {ext_id:?}, but {library} exports {known:?}");
                return set(&mut c.plugin, PluginStatus::InvalidManifest, reason);
            }
            let config = manifest["config"][ext_id].to_string();
            let host = host::host_for(&id, storage_mode, request.storage.clone());
            let instance = match (module.instantiate())(RStr::from_str(ext_id), RStr::from_str(&config), host) {
                sm_plugin_abi::abi_stable::std_types::RResult::ROk(ext) => ext,
                sm_plugin_abi::abi_stable::std_types::RResult::RErr(e) => {
                    let reason = format!("extension {ext_id:?} failed to start ({}): {}", e.code, e.message);
                    return set(&mut c.plugin, PluginStatus::LoadError, reason);
                }
            };
            let wrapped = wrappers::PluginExt::new(&id, ext_id, instance, self.reporter.clone());
            let pid = id.clone();
            match wrapped.kind() {
                ExtKind::Adapter => loaded.adapters.push((pid, Arc::new(wrapped))),
                ExtKind::Detector => loaded.detectors.push((pid, Arc::new(wrapped))),
                ExtKind::Rule => loaded.rules.push((pid, Arc::new(wrapped))),
                ExtKind::Action => loaded.actions.push((pid, Arc::new(wrapped))),
                ExtKind::Audit => loaded.audits.push((pid, Arc::new(wrapped))),
                ExtKind::Renderer => match wrapped.format_id_checked() {
                    Ok(()) => loaded.renderers.push((pid, Arc::new(wrapped))),
                    Err(reason) => return set(&mut c.plugin, PluginStatus::LoadError, reason),
                },
            }
        }
        into.adapters.extend(loaded.adapters);
        into.detectors.extend(loaded.detectors);
        into.rules.extend(loaded.rules);
        into.actions.extend(loaded.actions);
        into.audits.extend(loaded.audits);
        into.renderers.extend(loaded.renderers);
    }
}

/// `storage.migrations` of a dedicated plugin: files inside the plugin directory, versioned by
/// their leading digits (`migrations/001_pages.sql` is version 1), applied in version order.
fn read_migrations(dir: &Path, manifest: &Value) -> Result<Vec<(u32, String, String)>, String> {
    let mut out = Vec::new();
    for rel in manifest["storage"]["migrations"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let path = library_path(dir, rel).map_err(|e| e.replace("library", "migration"))?;
        let file = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let digits: String = file.chars().take_while(char::is_ascii_digit).collect();
        let version: u32 =
            digits.parse().map_err(|_| format!("migration {rel}: the file name must start with its version number"))?;
        let name = file[digits.len()..].trim_start_matches(['_', '-']).to_owned();
        let sql = std::fs::read_to_string(&path).map_err(|e| format!("migration {rel}: {e}"))?;
        out.push((version, name, sql));
    }
    out.sort_by_key(|m| m.0);
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err("two migrations share a version number".into());
    }
    Ok(out)
}

/// One readable line for an abi_stable load failure.
fn abi_failure(library: &str, e: &sm_plugin_abi::abi_stable::library::LibraryError) -> String {
    use sm_plugin_abi::abi_stable::library::LibraryError as E;
    let why = match e {
        E::AbiInstability(_) => {
            "its ABI types differ from this sm's (rebuild it against this sm's sm-plugin-abi)".to_owned()
        }
        E::IncompatibleVersionNumber { .. } => {
            "it was built against another version of sm-plugin-abi (rebuild it against this sm)".to_owned()
        }
        E::InvalidAbiHeader(_) => "it was built with another abi_stable ABI".to_owned(),
        other => other.to_string().split_whitespace().take(40).collect::<Vec<_>>().join(" "),
    };
    format!("{library} cannot be loaded: {why}")
}

fn set(p: &mut DiscoveredPlugin, status: PluginStatus, reason: String) {
    p.status = status;
    p.status_reason = Some(reason);
}

/// Whether `spec` satisfies the semver range `range`; `Err` when the range does not parse.
pub fn spec_compatible(range: &str, spec: &str) -> Result<bool, String> {
    let req =
        semver::VersionReq::parse(range).map_err(|e| format!("specCompat {range:?} is not a semver range: {e}"))?;
    let version = semver::Version::parse(spec).map_err(|e| format!("spec version {spec:?}: {e}"))?;
    Ok(req.matches(&version))
}

fn library_path(dir: &Path, library: &str) -> Result<PathBuf, String> {
    let rel = Path::new(library);
    if library.is_empty() || rel.is_absolute() || rel.components().any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("library {library:?} must be a path inside the plugin directory"));
    }
    let path = dir.join(rel);
    if !path.is_file() {
        return Err(format!("library {library} not found in {}", dir.display()));
    }
    Ok(path)
}

/// Opens the library with libloading and looks for abi_stable's root-module symbol, so "not an sm
/// plugin" gets its own message instead of an ABI error.
fn probe(path: &Path) -> Result<(), String> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // SAFETY: loading a library runs its initialisers. The user put it in their plugin directory to
    // be loaded; this is the same trust abi_stable's own load extends a moment later.
    let lib =
        unsafe { libloading::Library::new(path) }.map_err(|e| format!("{name} is not a loadable library: {e}"))?;
    // SAFETY: only the symbol's presence is checked; it is never called or dereferenced here.
    let found = unsafe { lib.get::<*const ()>(ROOT_MODULE_SYMBOL) }.is_ok();
    if found { Ok(()) } else { Err(format!("{name} is a library but not an sm plugin (no abi_stable root module)")) }
}

fn candidates(search_dirs: &[String]) -> Vec<Candidate> {
    let mut found = Vec::new();
    for dir in search_dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut children: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
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

fn inspect(dir: &Path, manifest_path: &Path) -> Candidate {
    let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let make = |status, reason: Option<String>, manifest| Candidate {
        dir: dir.to_path_buf(),
        plugin: DiscoveredPlugin {
            id: dir_name.clone(),
            path: dir.display().to_string(),
            manifest,
            status,
            status_reason: reason,
        },
    };
    let text = match std::fs::read_to_string(manifest_path) {
        Ok(t) => t,
        Err(e) => return make(PluginStatus::InvalidManifest, Some(format!("cannot read plugin.json: {e}")), None),
    };
    let manifest: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let reason = format!("plugin.json:{}:{}: not valid JSON: {e}", e.line(), e.column());
            return make(PluginStatus::InvalidManifest, Some(reason), None);
        }
    };
    match manifest_problem(&manifest, &dir_name) {
        Some(problem) => make(PluginStatus::InvalidManifest, Some(problem), Some(manifest)),
        None => make(PluginStatus::Enabled, None, Some(manifest)),
    }
}

const MANIFEST_FIELDS: &[&str] = &[
    "id",
    "version",
    "specCompat",
    "library",
    "extensions",
    "description",
    "storage",
    "author",
    "license",
    "homepage",
    "config",
];

fn manifest_problem(manifest: &Value, dir_name: &str) -> Option<String> {
    let Some(obj) = manifest.as_object() else { return Some("plugin.json must be an object".into()) };
    if let Some(unknown) = obj.keys().find(|k| !MANIFEST_FIELDS.contains(&k.as_str())) {
        return Some(format!("unknown field {unknown:?} (allowed: {})", MANIFEST_FIELDS.join(", ")));
    }
    let id = match obj.get("id").and_then(Value::as_str) {
        Some(id) if is_kebab(id) => id,
        Some(id) => return Some(format!("id {id:?} is not kebab-case")),
        None => return Some("missing required field \"id\"".into()),
    };
    if id != dir_name {
        return Some(format!("id {id:?} does not match its directory {dir_name:?}"));
    }
    for field in ["version", "specCompat", "library"] {
        if !obj.get(field).is_some_and(Value::is_string) {
            return Some(format!("missing required string field {field:?}"));
        }
    }
    match obj.get("extensions").and_then(Value::as_array) {
        Some(list) if !list.is_empty() && list.iter().all(|e| e.as_str().is_some_and(is_kebab)) => {}
        _ => return Some("\"extensions\" must be a non-empty list of kebab-case extension ids".into()),
    }
    if let Some(storage) = obj.get("storage") {
        match storage.get("mode").and_then(Value::as_str) {
            Some("kv") if storage.get("migrations").is_none() => {}
            Some("kv") => return Some("storage mode kv takes no migrations".into()),
            Some("dedicated") if storage.get("migrations").and_then(Value::as_array).is_some_and(|m| !m.is_empty()) => {
            }
            Some("dedicated") => return Some("storage mode dedicated needs a non-empty \"migrations\" list".into()),
            _ => return Some("storage.mode must be exactly one of \"kv\" or \"dedicated\"".into()),
        }
    }
    None
}

fn mark_collisions(found: &mut [Candidate]) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in found.iter() {
        *counts.entry(c.plugin.id.clone()).or_default() += 1;
    }
    for c in found.iter_mut() {
        let n = counts.get(&c.plugin.id).copied().unwrap_or(0);
        if n > 1 {
            c.plugin.status = PluginStatus::IdCollision;
            c.plugin.status_reason =
                Some(format!("{n} plugin directories declare id {:?}; none is loaded", c.plugin.id));
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
        let ok = r#"{"id":"good","version":"1.0.0","specCompat":"^0.1","library":"x.so","extensions":["x"]}"#;
        plugin(a.path(), "good", ok);
        plugin(a.path(), "wrong-dir", &ok.replace("\"good\"", "\"other\""));
        plugin(a.path(), "broken", "{not json");
        plugin(a.path(), "twin", &ok.replace("\"good\"", "\"twin\""));
        plugin(b.path(), "twin", &ok.replace("\"good\"", "\"twin\""));
        let dirs = vec![a.path().display().to_string(), b.path().display().to_string()];
        let found = DirectoryPluginLoader::default().discover(&dirs);
        let status: Vec<(&str, PluginStatus)> = found.iter().map(|p| (p.id.as_str(), p.status)).collect();
        assert_eq!(
            status,
            vec![
                ("broken", PluginStatus::InvalidManifest),
                ("good", PluginStatus::Enabled),
                ("twin", PluginStatus::IdCollision),
                ("wrong-dir", PluginStatus::InvalidManifest),
                ("twin", PluginStatus::IdCollision),
            ]
        );
        let loaded = DirectoryPluginLoader::default().load(&PluginLoadRequest {
            search_dirs: dirs,
            spec_version: "0.1.0".into(),
            enabled: BTreeMap::new(),
            storage: None,
        });
        let good = loaded.plugins.iter().find(|p| p.id == "good").expect("good");
        assert_eq!(good.status, PluginStatus::LoadError);
        assert!(good.status_reason.as_deref().unwrap_or("").contains("not found"), "{:?}", good.status_reason);
    }

    #[test]
    fn spec_compat_ranges() {
        assert_eq!(spec_compatible("^0.1", "0.1.0"), Ok(true));
        assert_eq!(spec_compatible(">=0.2", "0.1.0"), Ok(false));
        assert_eq!(spec_compatible("*", "0.1.0"), Ok(true));
        assert!(spec_compatible("banana", "0.1.0").is_err());
    }

    #[test]
    fn a_text_file_is_not_a_loadable_library() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lib = dir.path().join("fake.so");
        std::fs::write(&lib, "not an ELF file").expect("write");
        let err = probe(&lib).expect_err("rejected");
        assert!(err.contains("not a loadable library"), "{err}");
    }
}
