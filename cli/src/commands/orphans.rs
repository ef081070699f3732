//! `sm orphans [--kind K] | reconcile OLD --to NEW | undo-rename NEW [--from OLD]`

use serde_json::{Value, json};
use sm_kernel::model::{Issue, Severity};
use sm_kernel::rename_tracking::ids;

use crate::args::{GlobalArgs, OrphansArgs, OrphansVerb};
use crate::commands::{db_path, find_node, load_persisted};
use crate::output::{CliError, Output, confirm, exit, sanitize};
use crate::wiring;

pub fn run(args: &OrphansArgs, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let scan = load_persisted(global, global_scope)?;
    let db = db_path(global, global_scope)?;
    match &args.action {
        None => {
            let wanted: Vec<&str> = match args.kind.as_deref() {
                Some("orphan") => vec![ids::ORPHAN],
                Some("medium") => vec![ids::AUTO_RENAME_MEDIUM],
                Some("ambiguous") => vec![ids::AUTO_RENAME_AMBIGUOUS],
                _ => vec![ids::ORPHAN, ids::AUTO_RENAME_MEDIUM, ids::AUTO_RENAME_AMBIGUOUS],
            };
            let issues: Vec<&Issue> = scan.issues.iter().filter(|i| wanted.contains(&i.rule_id.as_str())).collect();
            if out.json {
                out.print_json(&issues);
            } else if issues.is_empty() {
                out.print_text("no orphans or pending renames\n");
            } else {
                let text: String =
                    issues.iter().map(|i| format!("{}  {}\n", i.rule_id, sanitize(&i.message))).collect();
                out.print_text(&text);
            }
            Ok(exit::OK)
        }
        Some(OrphansVerb::Reconcile { old, to, dry_run }) => {
            find_node(&scan, to)?;
            let orphan = scan.issues.iter().any(|i| i.rule_id == ids::ORPHAN && i.node_ids.contains(old));
            let ambiguous = scan.issues.iter().find(|i| {
                i.rule_id == ids::AUTO_RENAME_AMBIGUOUS
                    && i.node_ids.contains(to)
                    && i.data
                        .as_ref()
                        .and_then(|d| d.get("candidates"))
                        .and_then(Value::as_array)
                        .is_some_and(|c| c.iter().any(|x| x == old.as_str()))
            });
            if !orphan && ambiguous.is_none() {
                return Err(CliError::not_found(
                    "no-orphan",
                    format!(
                        "no orphan issue for {old:?} (and no ambiguous rename of {to:?} from it); see `sm orphans`"
                    ),
                ));
            }
            let mut drop = vec![(ids::ORPHAN.to_owned(), old.clone())];
            if ambiguous.is_some() {
                drop.push((ids::AUTO_RENAME_AMBIGUOUS.to_owned(), to.clone()));
            }
            let moved = apply(&db, old, to, &drop, None, *dry_run)?;
            report(out, "reconciled", old, to, &moved, *dry_run);
            Ok(exit::OK)
        }
        Some(OrphansVerb::UndoRename { new, from, force, dry_run }) => {
            let issue = scan
                .issues
                .iter()
                .find(|i| i.rule_id == ids::AUTO_RENAME_MEDIUM && i.node_ids.contains(new))
                .ok_or_else(|| {
                let ambiguous =
                    scan.issues.iter().any(|i| i.rule_id == ids::AUTO_RENAME_AMBIGUOUS && i.node_ids.contains(new));
                let hint = if ambiguous {
                    "; that rename was ambiguous, so nothing moved: use `sm orphans reconcile`"
                } else {
                    ""
                };
                CliError::not_found("no-rename", format!("no automatic rename to {new:?}{hint}"))
            })?;
            let old =
                issue.data.as_ref().and_then(|d| d.get("from")).and_then(Value::as_str).unwrap_or_default().to_owned();
            if let Some(f) = from
                && f != &old
            {
                return Err(CliError::operational(
                    "rename-mismatch",
                    format!("{new} was renamed from {old}, not from {f}"),
                ));
            }
            if !dry_run {
                confirm(&format!("Move the state of {new} back to {old}, leaving {old} as an orphan?"), *force)?;
            }
            let orphan = Issue::new(
                ids::ORPHAN,
                Severity::Info,
                &old,
                format!("Orphan history: {old} (rename to {new} undone)."),
            )
            .with_data(json!({ "path": old }));
            let drop = vec![(ids::AUTO_RENAME_MEDIUM.to_owned(), new.clone())];
            let moved = apply(&db, new, &old, &drop, Some(&orphan), *dry_run)?;
            report(out, "undid rename", new, &old, &moved, *dry_run);
            Ok(exit::OK)
        }
    }
}

fn apply(
    db: &std::path::Path,
    from: &str,
    to: &str,
    drop: &[(String, String)],
    add: Option<&Issue>,
    dry_run: bool,
) -> Result<Vec<sm_kernel::ports::TableCount>, CliError> {
    let mut storage = wiring::open_admin(db)?.ok_or_else(|| CliError::not_found("no-database", "no database"))?;
    storage.reconcile_node(from, to, drop, add, dry_run).map_err(|e| wiring::storage_error(db, &e))
}

fn report(out: &Output, what: &str, from: &str, to: &str, moved: &[sm_kernel::ports::TableCount], dry_run: bool) {
    if out.json {
        out.print_json(&json!({ "ok": true, "dryRun": dry_run, "from": from, "to": to, "moved": moved }));
        return;
    }
    let verb = if dry_run { "would move" } else { "moved" };
    let mut text = format!("{what}: {from} → {to}\n");
    if moved.is_empty() {
        text.push_str("  no state rows to move\n");
    }
    for m in moved {
        text.push_str(&format!("  {verb} {} rows in {}\n", m.rows, m.table));
    }
    out.print_text(&text);
}
