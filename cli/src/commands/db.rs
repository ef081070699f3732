//! `sm db reset|backup|restore|dump|migrate`

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use sm_kernel::ports::ResetScope;

use crate::args::{DbVerb, GlobalArgs};
use crate::commands::{db_path, scan::display_path};
use crate::output::{CliError, Output, confirm, exit};
use crate::wiring;

pub fn run(verb: &DbVerb, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let db = db_path(global, global_scope)?;
    let shown = display_path(&db);
    let missing = || CliError::not_found("no-database", format!("no database at {shown}"));
    match verb {
        DbVerb::Reset { state, hard, yes, dry_run } => {
            if *hard {
                if !db.exists() {
                    return Err(missing());
                }
                if *dry_run {
                    out.print_text(&format!("would delete {shown} and its -wal/-shm files\n"));
                    return Ok(exit::OK);
                }
                confirm(&format!("Delete {shown} (all scans, job state and settings overrides)?"), *yes)?;
                let removed = wiring::delete_database(&db)?;
                report(
                    out,
                    json!({ "ok": true, "deleted": removed.iter().map(|p| p.display().to_string()).collect::<Vec<_>>() }),
                    &format!("deleted {}\n", removed.iter().map(|p| display_path(p)).collect::<Vec<_>>().join(", ")),
                );
                return Ok(exit::OK);
            }
            let mut storage = wiring::open_admin(&db)?.ok_or_else(missing)?;
            let scope = if *state { ResetScope::ScanAndState } else { ResetScope::Scan };
            if *state && !*dry_run {
                confirm(&format!("Delete the scan and job state in {shown}?"), *yes)?;
            }
            let counts = storage.reset(scope, *dry_run).map_err(|e| wiring::storage_error(&db, &e))?;
            let verb = if *dry_run { "would delete" } else { "deleted" };
            let text: String = counts.iter().map(|c| format!("{verb} {:>7} rows from {}\n", c.rows, c.table)).collect();
            report(out, json!({ "ok": true, "dryRun": dry_run, "tables": counts }), &text);
        }
        DbVerb::Backup { out: dest } => {
            let storage = wiring::open_admin(&db)?.ok_or_else(missing)?;
            let dest = match dest {
                Some(d) => d.clone(),
                None => {
                    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
                    db.parent().unwrap_or(std::path::Path::new(".")).join("backups").join(format!("skill-map-{ms}.db"))
                }
            };
            storage.backup_to(&dest.display().to_string()).map_err(|e| wiring::storage_error(&db, &e))?;
            report(
                out,
                json!({ "ok": true, "backup": dest.display().to_string() }),
                &format!("backed up to {}\n", display_path(&dest)),
            );
        }
        DbVerb::Restore { path, yes, dry_run } => {
            if !path.is_file() {
                return Err(CliError::not_found("no-backup", format!("no backup at {}", path.display())));
            }
            if *dry_run {
                report(
                    out,
                    json!({ "ok": true, "dryRun": true, "from": path.display().to_string(), "to": db.display().to_string() }),
                    &format!("would replace {shown} with {}\n", path.display()),
                );
                return Ok(exit::OK);
            }
            if db.exists() {
                confirm(&format!("Replace {shown} with {}?", path.display()), *yes)?;
            }
            let version = wiring::restore_database(path, &db)?;
            report(
                out,
                json!({ "ok": true, "from": path.display().to_string(), "to": db.display().to_string(), "schema": version }),
                &format!("restored {shown} from {} (schema {version})\n", path.display()),
            );
        }
        DbVerb::Dump { tables } => {
            let storage = wiring::open_admin(&db)?.ok_or_else(missing)?;
            let sql = storage.dump(tables).map_err(|e| CliError::not_found("no-table", e.to_string()))?;
            if out.json {
                out.print_json(&json!({ "sql": sql }));
            } else {
                out.print_text(&sql);
            }
        }
        DbVerb::Migrate { status, dry_run } => {
            let mut storage = if *status || *dry_run {
                wiring::open_admin(&db)?.ok_or_else(missing)?
            } else {
                wiring::open_admin_create(&db)?
            };
            let states = storage.migration_status().map_err(|e| wiring::storage_error(&db, &e))?;
            if *status || *dry_run {
                let pending: Vec<_> = states.iter().filter(|s| !s.applied).collect();
                let text: String = if *status {
                    states
                        .iter()
                        .map(|s| {
                            format!(
                                "{:03} {:<24} {}\n",
                                s.version,
                                s.name,
                                if s.applied { "applied" } else { "pending" }
                            )
                        })
                        .collect()
                } else if pending.is_empty() {
                    "nothing to apply\n".into()
                } else {
                    pending.iter().map(|s| format!("would apply {:03} {}\n", s.version, s.name)).collect()
                };
                report(out, json!({ "migrations": states }), &text);
            } else {
                let applied = storage.migrate().map_err(|e| wiring::storage_error(&db, &e))?;
                let text = if applied.is_empty() {
                    "database is up to date\n".to_owned()
                } else {
                    applied.iter().map(|m| format!("applied {:03} {}\n", m.version, m.name)).collect()
                };
                report(out, json!({ "ok": true, "applied": applied }), &text);
            }
        }
    }
    Ok(exit::OK)
}

fn report(out: &Output, json: serde_json::Value, text: &str) {
    if out.json {
        out.print_json(&json);
    } else {
        out.print_text(text);
    }
}
