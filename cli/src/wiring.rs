//! The composition root: the only code that names adapter crates.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sm_adapter_fs::LocalFilesystem;
use sm_adapter_sqlite::SqliteStorage;
use sm_kernel::ports::{Clock, StoragePort};
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
    let mut storage = SqliteStorage::open(path).map_err(|e| storage_error(path, &e))?;
    storage.migrate().map_err(|e| storage_error(path, &e))?;
    Ok(Box::new(storage))
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
