//! The composition root: the only code that names adapter crates.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sm_adapter_fs::LocalFilesystem;
use sm_adapter_sqlite::SqliteStorage;
use sm_kernel::ports::{Clock, StorageAdminPort, StoragePort};
use sm_kernel::registry::{KindFilter, Registry};

use crate::output::CliError;

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    fn new_run_id(&self) -> String {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("r-{:x}-{:x}", nanos, std::process::id())
    }
}

/// The filesystem adapter, rooted at the working directory.
pub fn filesystem() -> Result<LocalFilesystem, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::operational("no-cwd", format!("cannot read the working directory: {e}")))?;
    Ok(LocalFilesystem::new(cwd))
}

/// The registry of built-ins, minus the kinds the environment disables
/// (`SKILL_MAP_DISABLE_ALL_ADAPTERS|DETECTORS|RULES=1`, used by conformance `setup`).
pub fn registry() -> Registry {
    let on = |var: &str| std::env::var(var).is_ok_and(|v| v == "1");
    sm_extensions::builtin_registry().filtered(KindFilter {
        no_adapters: on("SKILL_MAP_DISABLE_ALL_ADAPTERS"),
        no_detectors: on("SKILL_MAP_DISABLE_ALL_DETECTORS"),
        no_rules: on("SKILL_MAP_DISABLE_ALL_RULES"),
    })
}

/// Opens (creating if needed) and migrates the database.
pub fn open_storage(path: &Path) -> Result<Box<dyn StoragePort>, CliError> {
    Ok(Box::new(migrated(path, SqliteStorage::open)?))
}

/// The database at `path` opened with `open`, then migrated.
fn migrated(
    path: &Path,
    open: fn(&Path) -> Result<SqliteStorage, sm_kernel::ports::StorageError>,
) -> Result<SqliteStorage, CliError> {
    let mut storage = open(path).map_err(|e| storage_error(path, &e))?;
    storage.migrate().map_err(|e| storage_error(path, &e))?;
    Ok(storage)
}

/// A database connection a long-running command (`sm watch`) holds across its runs, handed out
/// only while the file at its path is the one it opened: a database replaced or deleted meanwhile
/// (`sm db restore`, `rm`) is opened again.
pub struct HeldStorage {
    path: PathBuf,
    identity: Option<(u64, u64)>,
    storage: Box<dyn StorageAdminPort>,
}

impl HeldStorage {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, CliError> {
        Ok(Self::holding(path, migrated(path, SqliteStorage::open)?))
    }

    /// Opens the database at `path` when it exists and needs no migration: holding it then
    /// changes nothing on disk. `None` otherwise.
    pub fn open_current(path: &Path) -> Result<Option<Self>, CliError> {
        let Some(storage) = SqliteStorage::open_existing(path).map_err(|e| storage_error(path, &e))? else {
            return Ok(None);
        };
        let version = storage.schema_version().map_err(|e| storage_error(path, &e))?;
        Ok((version == latest_schema_version()).then(|| Self::holding(path, storage)))
    }

    fn holding(path: &Path, storage: SqliteStorage) -> Self {
        Self { path: path.to_owned(), identity: file_identity(path), storage: Box::new(storage) }
    }

    /// The connection, when the database at `path` is still the one it opened.
    pub fn get(&mut self, path: &Path) -> Option<&mut dyn StorageAdminPort> {
        let current = self.path == path && self.identity.is_some() && file_identity(path) == self.identity;
        if current { Some(self.storage.as_mut()) } else { None }
    }
}

/// A file's device and inode; `None` where the platform does not tell (then nothing is held).
#[cfg(unix)]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// Like [`open_storage`], for a command about to persist a whole scan: a database that does not
/// exist yet is built aside and moved into place by that persist (see
/// `SqliteStorage::open_for_scan`).
pub fn open_storage_for_scan(path: &Path) -> Result<Box<dyn StoragePort>, CliError> {
    Ok(Box::new(migrated(path, SqliteStorage::open_for_scan)?))
}

/// [`open_storage_for_scan`] when that changes nothing the user keeps: the database does not exist
/// yet (a new one is built aside until a persist moves it into place) or needs no migration.
/// `None` otherwise, and on any error (the persist opens it again and reports that).
pub fn open_storage_for_scan_if_current(path: &Path) -> Option<Box<dyn StoragePort>> {
    let existed = path.exists();
    let mut storage = SqliteStorage::open_for_scan(path).ok()?;
    if existed && storage.schema_version().ok()? != latest_schema_version() {
        return None;
    }
    storage.migrate().ok()?;
    Some(Box::new(storage))
}

/// Opens an existing database without creating it; `None` when it does not exist.
pub fn open_existing_storage(path: &Path) -> Result<Option<Box<dyn StoragePort>>, CliError> {
    let storage = SqliteStorage::open_existing(path).map_err(|e| storage_error(path, &e))?;
    Ok(storage.map(|s| Box::new(s) as Box<dyn StoragePort>))
}

/// The newest schema version this build migrates to.
pub fn latest_schema_version() -> u32 {
    sm_adapter_sqlite::latest_schema_version()
}

pub fn storage_error(path: &Path, e: &sm_kernel::ports::StorageError) -> CliError {
    CliError::operational("database", format!("{}: {e}", path.display()))
}

/// Opens an existing database for administration (no migrations); `None` when absent.
pub fn open_admin(path: &Path) -> Result<Option<Box<dyn sm_kernel::ports::StorageAdminPort>>, CliError> {
    let storage = SqliteStorage::open_existing(path).map_err(|e| storage_error(path, &e))?;
    Ok(storage.map(|s| Box::new(s) as Box<dyn sm_kernel::ports::StorageAdminPort>))
}

/// Opens (creating if needed) a database for administration without migrating it.
pub fn open_admin_create(path: &Path) -> Result<Box<dyn sm_kernel::ports::StorageAdminPort>, CliError> {
    let storage = SqliteStorage::open(path).map_err(|e| storage_error(path, &e))?;
    Ok(Box::new(storage))
}

/// Replaces the database at `dest` with the backup at `src`.
pub fn restore_database(src: &Path, dest: &Path) -> Result<u32, CliError> {
    sm_adapter_sqlite::restore_database(src, dest).map_err(|e| storage_error(src, &e))
}

/// Deletes the database file and its sidecars.
pub fn delete_database(path: &Path) -> Result<Vec<std::path::PathBuf>, CliError> {
    sm_adapter_sqlite::delete_database(path).map_err(|e| storage_error(path, &e))
}

// ---------------------------------------------------------------------------------------------
// Extensions: built-ins plus plugins
// ---------------------------------------------------------------------------------------------

use sm_adapter_plugin_loader::DirectoryPluginLoader;
use sm_kernel::ports::{DiscoveredPlugin, PluginLoadRequest, PluginLoaderPort, PluginStatus};

use crate::args::GlobalArgs;
use crate::settings::{ScopeContext, Settings};

/// The registry of this run and what became of every plugin.
pub struct Extensions {
    pub registry: Registry,
    pub plugins: Vec<DiscoveredPlugin>,
}

/// Where plugins are looked for: `--plugin-dir`, else `<project>/.skill-map/plugins` and
/// `~/.skill-map/plugins` (global scope: the user directory only).
pub fn plugin_dirs(ctx: &ScopeContext, global: &GlobalArgs) -> Vec<String> {
    if !global.plugin_dir.is_empty() {
        return global.plugin_dir.iter().map(|p| p.display().to_string()).collect();
    }
    let mut dirs = Vec::new();
    if ctx.scope == sm_kernel::model::Scope::Project {
        dirs.push(ctx.state_dir().join("plugins").display().to_string());
    }
    if let Some(home) = &ctx.home {
        let user = home.join(".skill-map/plugins").display().to_string();
        if !dirs.contains(&user) {
            dirs.push(user);
        }
    }
    dirs
}

/// Plugin toggles: settings `plugins.<id>.enabled`, overridden by the database (`sm plugins enable`).
pub fn plugin_toggles(settings: &Settings, db: &Path) -> Result<std::collections::BTreeMap<String, bool>, CliError> {
    match open_admin(db)? {
        Some(storage) => plugin_toggles_in(settings, storage.as_ref(), db),
        None => Ok(settings_toggles(settings)),
    }
}

/// [`plugin_toggles`] through an open database.
fn plugin_toggles_in(
    settings: &Settings,
    storage: &dyn StorageAdminPort,
    db: &Path,
) -> Result<std::collections::BTreeMap<String, bool>, CliError> {
    let mut toggles = settings_toggles(settings);
    toggles.extend(storage.plugin_toggles().map_err(|e| storage_error(db, &e))?);
    Ok(toggles)
}

fn settings_toggles(settings: &Settings) -> std::collections::BTreeMap<String, bool> {
    let mut toggles = std::collections::BTreeMap::new();
    if let Some(map) = settings.get("plugins").and_then(|v| v.as_object()) {
        for (id, cfg) in map {
            if let Some(enabled) = cfg.get("enabled").and_then(|v| v.as_bool()) {
                toggles.insert(id.clone(), enabled);
            }
        }
    }
    toggles
}

/// What a registry is built from: the settings, the plugin toggles and the plugin directories'
/// entries (their modification times). A long-running command (`sm watch`) builds its registry
/// again only when these change.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryInputs {
    settings: String,
    toggles: std::collections::BTreeMap<String, bool>,
    plugin_dirs: Vec<Option<SystemTime>>,
    writable: bool,
}

/// [`RegistryInputs`] now, reading the toggles through `storage` (the database at `db`).
pub fn registry_inputs(
    ctx: &ScopeContext,
    global: &GlobalArgs,
    settings: &Settings,
    writable: bool,
    storage: &dyn StorageAdminPort,
    db: &Path,
) -> Result<RegistryInputs, CliError> {
    let dirs = plugin_dirs(ctx, global);
    Ok(RegistryInputs {
        settings: settings.digest(),
        toggles: plugin_toggles_in(settings, storage, db)?,
        plugin_dirs: dirs.iter().map(|d| std::fs::metadata(d).and_then(|m| m.modified()).ok()).collect(),
        writable,
    })
}

/// Loads plugins (unless `--no-plugins`) and builds the registry: plugin adapters are consulted
/// before the built-in `claude` adapter (which claims every Markdown file); other plugin extensions
/// run after the built-ins. Problems print one line each on stderr and never stop the command.
///
/// Plugins that declare storage get it on the run's database; `writable: false` (dry runs, read
/// verbs) makes it read-only.
pub fn extensions(
    ctx: &ScopeContext,
    global: &GlobalArgs,
    settings: &Settings,
    writable: bool,
) -> Result<Extensions, CliError> {
    if global.no_plugins {
        return Ok(Extensions { registry: registry(), plugins: Vec::new() });
    }
    let db = global.db.clone().unwrap_or_else(|| ctx.default_db());
    extensions_with(ctx, global, writable, plugin_toggles(settings, &db)?)
}

/// [`extensions`] from the inputs a caller read already.
pub fn extensions_from(
    ctx: &ScopeContext,
    global: &GlobalArgs,
    inputs: &RegistryInputs,
) -> Result<Extensions, CliError> {
    if global.no_plugins {
        return Ok(Extensions { registry: registry(), plugins: Vec::new() });
    }
    extensions_with(ctx, global, inputs.writable, inputs.toggles.clone())
}

fn extensions_with(
    ctx: &ScopeContext,
    global: &GlobalArgs,
    writable: bool,
    enabled: std::collections::BTreeMap<String, bool>,
) -> Result<Extensions, CliError> {
    let builtins = registry();
    let db = global.db.clone().unwrap_or_else(|| ctx.default_db());
    let request = PluginLoadRequest {
        search_dirs: plugin_dirs(ctx, global),
        spec_version: sm_kernel::model::SPEC_VERSION.to_owned(),
        enabled,
        storage: Some(std::sync::Arc::new(sm_adapter_sqlite::plugin_storage::SqlitePluginStorage::new(&db, !writable))),
    };
    let reporter: sm_adapter_plugin_loader::Reporter = std::sync::Arc::new(|line: &str| eprintln!("{line}"));
    let outcome = DirectoryPluginLoader::with_reporter(reporter).load(&request);
    let mut plugins = outcome.plugins;
    let ext = outcome.extensions;
    let on = |var: &str| std::env::var(var).is_ok_and(|v| v == "1");
    let mut reg = Registry::new();
    let mut conflicts: Vec<(String, String)> = Vec::new();
    let mut note = |plugin: &str, r: Result<(), sm_kernel::registry::RegistryError>| {
        if let Err(e) = r {
            conflicts.push((plugin.to_owned(), e.to_string()));
        }
    };
    for (p, a) in &ext.adapters {
        note(p, reg.add_adapter(a.clone()));
    }
    for a in builtins.adapters() {
        reg.add_adapter(a.clone()).expect("built-in adapters are unique");
    }
    for d in builtins.detectors() {
        reg.add_detector(d.clone()).expect("built-in detectors are unique");
    }
    for r in builtins.rules() {
        reg.add_rule(r.clone()).expect("built-in rules are unique");
    }
    for r in builtins.renderers() {
        reg.add_renderer(r.clone()).expect("built-in renderers are unique");
    }
    for (p, d) in &ext.detectors {
        note(p, reg.add_detector(d.clone()));
    }
    for (p, r) in &ext.rules {
        note(p, reg.add_rule(r.clone()));
    }
    for (p, a) in &ext.actions {
        note(p, reg.add_action(a.clone()));
    }
    for (p, a) in &ext.audits {
        note(p, reg.add_audit(a.clone()));
    }
    for (p, r) in &ext.renderers {
        if reg.renderers().iter().any(|b| b.format_id() == r.format_id()) {
            note(
                p,
                Err(sm_kernel::registry::RegistryError::DuplicateId { kind: "renderer format", id: r.format_id() }),
            );
            continue;
        }
        note(p, reg.add_renderer(r.clone()));
    }
    for (plugin, reason) in conflicts {
        if let Some(p) = plugins.iter_mut().find(|x| x.id == plugin) {
            p.status = PluginStatus::LoadError;
            p.status_reason = Some(format!("{reason} (its other extensions stay loaded)"));
        }
    }
    for p in &plugins {
        if !matches!(p.status, PluginStatus::Enabled | PluginStatus::Disabled) {
            eprintln!("plugin {}: {} — {}", p.id, p.status.as_str(), p.status_reason.as_deref().unwrap_or(""));
        }
    }
    let registry = reg.filtered(KindFilter {
        no_adapters: on("SKILL_MAP_DISABLE_ALL_ADAPTERS"),
        no_detectors: on("SKILL_MAP_DISABLE_ALL_DETECTORS"),
        no_rules: on("SKILL_MAP_DISABLE_ALL_RULES"),
    });
    Ok(Extensions { registry, plugins })
}

/// Discovery only (manifest checks), for verbs that must not load libraries.
pub fn discover_plugins(ctx: &ScopeContext, global: &GlobalArgs) -> Vec<DiscoveredPlugin> {
    DirectoryPluginLoader::default().discover(&plugin_dirs(ctx, global))
}

/// The plugin conformance check, in this process.
pub fn check_plugin(path: &Path) -> Vec<sm_adapter_plugin_loader::CheckLine> {
    let fixture: sm_kernel::model::ScanResult = serde_json::from_value(serde_json::json!({
        "schemaVersion": 1, "scannedAt": 0, "scope": "project", "roots": ["."], "adapters": ["claude"],
        "scannedBy": null,
        "nodes": [
            { "path": "vault/Ideas.md", "kind": "note", "adapter": "claude", "title": "Ideas", "description": "Loose ideas.",
              "stability": null, "version": null, "author": null, "frontmatter": { "name": "ideas" },
              "bodyHash": "0".repeat(64), "frontmatterHash": "1".repeat(64),
              "bytes": { "frontmatter": 12, "body": 40, "total": 52 }, "linksOutCount": 1, "linksInCount": 0, "externalRefsCount": 0 },
            { "path": ".claude/skills/pdf/SKILL.md", "kind": "skill", "adapter": "claude", "title": "pdf", "description": "PDF.",
              "stability": null, "version": null, "author": null, "frontmatter": { "name": "pdf", "description": "PDF." },
              "bodyHash": "2".repeat(64), "frontmatterHash": "3".repeat(64),
              "bytes": { "frontmatter": 30, "body": 80, "total": 110 }, "linksOutCount": 0, "linksInCount": 1, "externalRefsCount": 0 }
        ],
        "links": [ { "source": "vault/Ideas.md", "target": ".claude/skills/pdf/SKILL.md", "kind": "references",
                     "confidence": "high", "sources": ["markdown-link"] } ],
        "issues": [ { "ruleId": "broken-ref", "severity": "warn", "nodeIds": ["vault/Ideas.md"], "message": "example" } ],
        "stats": { "filesWalked": 2, "filesSkipped": 0, "nodesCount": 2, "linksCount": 1, "issuesCount": 1, "durationMs": 0 }
    }))
    .expect("the built-in plugin check fixture is a valid ScanResult");
    sm_adapter_plugin_loader::check_plugin(path, &fixture)
}

/// Stores a plugin toggle in the database (creating it if needed).
pub fn set_plugin_enabled(db: &Path, id: &str, enabled: bool) -> Result<(), CliError> {
    let mut storage = open_admin_create(db)?;
    storage.migrate().map_err(|e| storage_error(db, &e))?;
    storage.set_plugin_enabled(id, enabled, SystemClock.now_ms()).map_err(|e| storage_error(db, &e))
}
