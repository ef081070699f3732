//! `sm init`: settings, ignore file, .gitignore entries, database, first scan.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use sm_kernel::model::Scope;

use crate::args::{GlobalArgs, InitArgs};
use crate::commands::scan::{ScanPlan, choose_roots, display_path, scan_and_persist};
use crate::output::{CliError, Output, exit};
use crate::settings::{DEFAULT_IGNORES, IGNORE_FILE, ScopeContext, Settings, empty_layer};
use crate::wiring;

/// Lines `sm init` makes sure `.gitignore` has (project scope only).
const GITIGNORE_LINES: &[&str] = &[".skill-map/skill-map.db*", ".skill-map/settings.local.json"];

#[derive(Debug)]
enum Step {
    Write { path: PathBuf, contents: String, overwrite: bool },
    AppendGitignore { path: PathBuf, lines: Vec<String> },
}

pub fn run(args: &InitArgs, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let started = Instant::now();
    let ctx = ScopeContext::resolve(global_scope)?;
    let settings_path = ctx.state_dir().join("settings.json");
    if settings_path.exists() && !args.force {
        return Err(CliError::operational(
            "already-initialised",
            format!(
                "{} already exists; nothing changed (use --force to overwrite the setup)",
                display_path(&settings_path)
            ),
        ));
    }
    let db = global.db.clone().unwrap_or_else(|| ctx.default_db());
    let steps = plan(&ctx, args.force)?;
    if args.dry_run {
        return dry_run(&steps, &db, args, out);
    }
    let mut written = Vec::new();
    for step in &steps {
        apply(step)?;
        written.push(describe(step));
    }
    // Provision the database even when the first scan is skipped.
    drop(wiring::open_storage(&db)?);
    written.push(format!("provisioned {}", display_path(&db)));
    let mut code = exit::OK;
    let mut scan_json = serde_json::Value::Null;
    if !args.no_scan {
        let settings = Settings::load_with(&ctx, &global.config)?;
        let plan = ScanPlan {
            roots: choose_roots(&[], &settings, &ctx),
            tokens: settings.tokenize(),
            strict: settings.strict(),
            dry_run: false,
            allow_empty: true,
            db: db.clone(),
            track_renames: true,
            incremental: false,
            refresh: None,
            full_result: false,
            keep_cache: false,
        };
        let result = scan_and_persist(&ctx, &settings, &plan, global, out)?;
        if result.has_errors() {
            code = exit::ISSUES;
        }
        written.push(format!(
            "first scan: {} nodes, {} links, {} issues",
            result.stats.nodes_count, result.stats.links_count, result.stats.issues_count
        ));
        scan_json = json!({ "stats": result.stats });
    }
    if out.json {
        out.print_json(&json!({
            "ok": true,
            "scope": ctx.scope.as_str(),
            "root": ctx.root.display().to_string(),
            "database": db.display().to_string(),
            "actions": written,
            "scan": scan_json,
        }));
    } else {
        let mut text = String::new();
        for line in &written {
            text.push_str(&format!("{line}\n"));
        }
        out.print_text(&text);
    }
    out.done_in(started.elapsed());
    Ok(code)
}

fn plan(ctx: &ScopeContext, force: bool) -> Result<Vec<Step>, CliError> {
    let dir = ctx.state_dir();
    let mut steps = vec![
        Step::Write {
            path: dir.join("settings.json"),
            contents: pretty(&json!({ "schemaVersion": 1 })),
            overwrite: force,
        },
        Step::Write { path: dir.join("settings.local.json"), contents: pretty(&empty_layer()), overwrite: force },
    ];
    let ignore_path = ctx.root.join(IGNORE_FILE);
    if force || !ignore_path.exists() {
        steps.push(Step::Write { path: ignore_path, contents: default_ignore_file(), overwrite: force });
    }
    if ctx.scope == Scope::Project {
        let path = ctx.root.join(".gitignore");
        let existing = std::fs::read_to_string(&path).unwrap_or_default();
        let have: Vec<&str> = existing.lines().map(str::trim).collect();
        let lines: Vec<String> =
            GITIGNORE_LINES.iter().filter(|l| !have.contains(l)).map(|l| (*l).to_owned()).collect();
        if !lines.is_empty() {
            steps.push(Step::AppendGitignore { path, lines });
        }
    }
    Ok(steps)
}

fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialise");
    s.push('\n');
    s
}

fn default_ignore_file() -> String {
    let mut text = String::from(
        "# Files sm does not scan (gitignore syntax). .gitignore is honoured as well.\n\
         # These defaults always apply; add your own patterns below.\n",
    );
    for p in DEFAULT_IGNORES {
        text.push_str(p);
        text.push('\n');
    }
    text
}

fn describe(step: &Step) -> String {
    match step {
        Step::Write { path, overwrite, .. } => {
            let verb = if path.exists() && *overwrite { "overwrote" } else { "created" };
            format!("{verb} {}", display_path(path))
        }
        Step::AppendGitignore { path, lines } => {
            format!("added {} to {}", lines.join(", "), display_path(path))
        }
    }
}

fn apply(step: &Step) -> Result<(), CliError> {
    let io = |p: &Path, e: std::io::Error| CliError::operational("write-failed", format!("{}: {e}", p.display()));
    match step {
        Step::Write { path, contents, .. } => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            // Write then rename, so an interrupted init never leaves a half-written file.
            let tmp = path.with_extension("tmp-sm");
            std::fs::write(&tmp, contents).map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, path).map_err(|e| io(path, e))
        }
        Step::AppendGitignore { path, lines } => {
            let mut text = std::fs::read_to_string(path).unwrap_or_default();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            for l in lines {
                text.push_str(l);
                text.push('\n');
            }
            std::fs::write(path, text).map_err(|e| io(path, e))
        }
    }
}

fn dry_run(steps: &[Step], db: &Path, args: &InitArgs, out: &Output) -> Result<u8, CliError> {
    let mut actions: Vec<String> = steps
        .iter()
        .map(|s| match s {
            Step::Write { path, .. } if path.exists() => {
                format!("would overwrite {}", display_path(path))
            }
            Step::Write { path, .. } => format!("would create {}", display_path(path)),
            Step::AppendGitignore { path, lines } => {
                format!("would add {} to {}", lines.join(", "), display_path(path))
            }
        })
        .collect();
    actions.push(format!("would provision {}", display_path(db)));
    if !args.no_scan {
        actions.push("would run a first scan".to_owned());
    }
    if out.json {
        out.print_json(&json!({ "ok": true, "dryRun": true, "actions": actions }));
    } else {
        out.print_text(&actions.iter().map(|a| format!("{a}\n")).collect::<String>());
    }
    Ok(exit::OK)
}
