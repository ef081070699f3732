//! One module per verb, plus what the read-only verbs share.

pub mod actions;
pub mod audit;
pub mod check;
pub mod config;
pub mod conformance;
pub mod db;
pub mod export;
pub mod graph;
pub mod help;
pub mod init;
pub mod list;
pub mod orphans;
pub mod plugins;
pub mod scan;
pub mod show;
pub mod version;
pub mod watch;

use std::path::PathBuf;

use sm_kernel::model::ScanResult;

use crate::args::GlobalArgs;
use crate::output::CliError;
use crate::settings::ScopeContext;
use crate::wiring;

/// The database path of this invocation: `--db` / `SKILL_MAP_DB`, else the scope's default.
pub fn db_path(global: &GlobalArgs, global_scope: bool) -> Result<PathBuf, CliError> {
    match &global.db {
        Some(p) => Ok(p.clone()),
        None => Ok(ScopeContext::resolve(global_scope)?.default_db()),
    }
}

/// The persisted scan; exit 5 when there is no database or no scan in it.
pub fn load_persisted(global: &GlobalArgs, global_scope: bool) -> Result<ScanResult, CliError> {
    let db = db_path(global, global_scope)?;
    let shown = scan::display_path(&db);
    let storage = wiring::open_existing_storage(&db)?
        .ok_or_else(|| CliError::not_found("no-database", format!("no database at {shown}; run `sm scan` first")))?;
    storage
        .load_scan()
        .map_err(|e| wiring::storage_error(&db, &e))?
        .ok_or_else(|| CliError::not_found("no-scan", format!("{shown} holds no scan yet; run `sm scan` first")))
}

/// The node at `wanted` (a leading `./` ignored), or exit 5 with "did you mean" suggestions.
pub fn find_node<'a>(scan: &'a ScanResult, wanted: &str) -> Result<&'a sm_kernel::model::Node, CliError> {
    let wanted = wanted.trim_start_matches("./");
    scan.nodes.iter().find(|n| n.path == wanted).ok_or_else(|| {
        let hints = similar_paths(wanted, scan.nodes.iter().map(|n| n.path.as_str()));
        let hint = if hints.is_empty() { String::new() } else { format!("; did you mean {}?", hints.join(", ")) };
        CliError::not_found("node-not-found", format!("no node {wanted:?} in the stored graph{hint}"))
    })
}

/// Paths similar to `wanted`, for "did you mean" hints.
fn similar_paths<'a>(wanted: &str, paths: impl Iterator<Item = &'a str>) -> Vec<String> {
    let file = wanted.rsplit('/').next().unwrap_or(wanted);
    let mut scored: Vec<(usize, &str)> = paths
        .map(|p| {
            let d = crate::settings::edit_distance(p, wanted);
            let same_file = p.rsplit('/').next() == Some(file);
            (if same_file { d.min(1) } else { d }, p)
        })
        .filter(|(d, _)| *d <= 3)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, p)| p.to_owned()).collect()
}

/// The error for an extension id no registered extension of that kind has, listing those that are.
pub fn unknown_extension(code: &'static str, kind: &str, id: &str, known: Vec<String>) -> CliError {
    let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
    CliError::not_found(code, format!("no {kind} {id:?} (registered: {known})"))
}
