//! `sm watch [ROOTS]`: an incremental scan, then one per debounced batch of changes.
//!
//! Each batch is a full incremental scan (`--changed` semantics) persisted like `sm scan`; the
//! batch's path list only decides whether anything relevant happened. Edits to `.skillmapignore` or
//! the settings files reload the configuration before the next scan. Output: one summary line per
//! batch, or one ScanResult per line with `--json`. Ctrl-C exits 0; `--max-consecutive-failures`
//! failed batches in a row exit 2.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sm_kernel::model::{ScanResult, Severity};
use sm_kernel::ports::{FilesystemPort, WatchEvent};

use crate::args::{GlobalArgs, WatchArgs};
use crate::commands::scan::{
    KeptCache, ScanPlan, choose_roots, persist_prepared, prepare_keeping, scan_and_persist_keeping, warm_up_keeping,
};
use crate::output::{CliError, Output, exit, format_elapsed};
use crate::settings::{IGNORE_FILE, ScopeContext, Settings};
use crate::wiring;

pub fn run(args: &WatchArgs, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let ctx = ScopeContext::resolve(global_scope)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| CliError::operational("signal", format!("cannot handle Ctrl-C: {e}")))?;
    let mut settings = Settings::load_with(&ctx, &global.config)?;
    let plan_for = |settings: &Settings| ScanPlan {
        roots: choose_roots(&args.roots, settings, &ctx),
        tokens: settings.tokenize() && !args.no_tokens,
        strict: settings.strict() || args.strict,
        dry_run: false,
        allow_empty: false,
        db: global.db.clone().unwrap_or_else(|| ctx.default_db()),
        track_renames: true,
        incremental: true,
        refresh: None,
        full_result: out.json,
        keep_cache: true,
    };
    let mut plan = plan_for(&settings);
    let debounce = settings.get("scan.watch.debounceMs").and_then(|v| v.as_u64()).unwrap_or(300);
    let fs = wiring::filesystem()?;
    let mut watched: Vec<String> = plan.roots.clone();
    let state_dir = ctx.state_dir();
    if state_dir.is_dir() {
        watched.push(state_dir.display().to_string());
    }
    // Watch first, scan second: an edit made while the initial scan runs (or while a large tree's
    // directories are still being registered) is queued and triggers the next batch, not lost.
    let stream = fs.watch(&watched, debounce);
    let started = Instant::now();
    // One connection held for the whole watch: batches neither open the database (nor build the
    // registry) again, and SQLite, which checkpoints (and deletes) the WAL whenever its last
    // connection closes, checkpoints a batch's commits on its own schedule instead. An existing
    // database is held from the start, so the initial scan's registry is the batches' too.
    let mut kept = KeptCache::default();
    kept.hold_storage(&plan.db, false)?;
    // A scan error (a missing root, a bad database) explains itself better than the watcher's.
    let mut first = scan_and_persist_keeping(&ctx, &settings, &plan, global, out, &mut kept)?;
    let mut stream = stream.map_err(|e| CliError::operational("watch-failed", e.to_string()))?;
    kept.hold_storage(&plan.db, true)?;
    emit(out, &first, "initial scan", started);
    // When the initial scan answered from the stored result, the cache is loaded now, while no
    // change is waiting, instead of by the first batch.
    kept.preload(&plan.db, &first, out)?;
    if plan.tokens {
        // The initial scan may have read no file: the token tables load now, not in the first batch.
        sm_kernel::tokens::warm_up();
    }
    kept.keep_issues(&mut first);
    kept.take_back(&mut first);
    drop(first);
    // The first batch would otherwise be the first to build the graph-sized structures a batch
    // needs, each page of them new to the process: one batch with nothing changed now.
    if let Err(e) = warm_up_keeping(&ctx, &settings, &plan, global, out, &mut kept) {
        out.verbose(1, &format!("watch: could not warm up: {}", e.message));
    }
    out.note(&format!("watching {} (debounce {debounce} ms); Ctrl-C to stop", plan.roots.join(", ")));
    let mut failures = 0u32;
    // Whether `kept` holds a scan prepared on the last `Settled` with no event since: the batch
    // that follows is exactly that scan, persisted.
    let mut ahead = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            out.note("stopped");
            return Ok(exit::OK);
        }
        let paths = match stream.next(200) {
            WatchEvent::Idle => continue,
            WatchEvent::Error(e) => {
                out.note(&format!("watch: {e}"));
                // Events may have been lost: the next batch walks.
                kept.note_changes(None);
                ahead = false;
                continue;
            }
            WatchEvent::Settled(paths) => {
                // The changes have settled but the debounce runs on: the batch is computed now
                // and only persisted (and reported) when the debounce ends, if nothing changed
                // meanwhile. Settings changes reload first, so they wait for the batch.
                ahead = false;
                let relevant = relevant(&paths);
                if relevant.is_empty() || paths.iter().any(|p| is_meta(p)) {
                    continue;
                }
                kept.note_changes(Some(relevant.as_slice()));
                match prepare_keeping(&ctx, &settings, &plan, global, out, &mut kept) {
                    Ok(()) => ahead = true,
                    // The batch will meet the same problem and report it.
                    Err(e) => out.verbose(1, &format!("watch: could not work ahead: {}", e.message)),
                }
                continue;
            }
            WatchEvent::Changed(paths) => paths,
        };
        out.verbose(2, &format!("watch: {}", paths.join(", ")));
        let meta = paths.iter().any(|p| is_meta(p));
        // (A scan prepared ahead always came from relevant paths, which its `Changed` repeats.)
        if !meta && !paths.iter().any(|p| is_relevant(p)) {
            continue;
        }
        let batch = Instant::now();
        let done = if std::mem::take(&mut ahead) {
            out.verbose(1, "watch: the batch was computed while the changes settled");
            persist_prepared(&plan, out, &mut kept).transpose()
        } else {
            None
        };
        let done = match done {
            Some(done) => done,
            None => {
                kept.note_changes((!meta).then_some(relevant(&paths).as_slice()));
                if meta {
                    match Settings::load_with(&ctx, &global.config) {
                        Ok(s) => {
                            settings = s;
                            plan = plan_for(&settings);
                            out.note("settings or ignore rules changed; reloaded");
                        }
                        Err(e) => out.note(&format!("settings not reloaded: {}", e.message)),
                    }
                }
                scan_and_persist_keeping(&ctx, &settings, &plan, global, out, &mut kept)
            }
        };
        match done {
            Ok(mut result) => {
                failures = 0;
                emit(out, &result, &format!("{} change(s)", paths.len()), batch);
                kept.keep_issues(&mut result);
                kept.take_back(&mut result);
                // A database replaced or deleted meanwhile (and written again by this batch) is
                // held from now on.
                if let Err(e) = kept.hold_storage(&plan.db, true) {
                    out.note(&format!("database: {}", e.message));
                }
                // Freeing a large result takes milliseconds the next batch need not wait for.
                std::thread::spawn(move || drop(result));
            }
            Err(e) => {
                failures += 1;
                out.error(&e);
                if args.max_consecutive_failures > 0 && failures >= args.max_consecutive_failures {
                    return Err(CliError::operational(
                        "watch-failing",
                        format!("{failures} batches failed in a row; stopping"),
                    ));
                }
            }
        }
    }
}

/// Settings files and the ignore file: a change reloads the configuration.
fn is_meta(path: &str) -> bool {
    let p = Path::new(path);
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name == IGNORE_FILE
        || (p.parent().is_some_and(|d| d.ends_with(".skill-map"))
            && name.starts_with("settings")
            && name.ends_with(".json"))
}

/// The paths of `paths` that can change a scan (see [`is_relevant`]).
fn relevant(paths: &[String]) -> Vec<String> {
    paths.iter().filter(|p| is_relevant(p)).cloned().collect()
}

/// Changes inside `.skill-map/` (our own database writes) or `.git/` never trigger a scan.
fn is_relevant(path: &str) -> bool {
    !Path::new(path).components().any(|c| {
        let s = c.as_os_str();
        s == ".skill-map" || s == ".git"
    })
}

fn emit(out: &Output, result: &ScanResult, what: &str, started: Instant) {
    if out.json {
        out.print_json(result);
        return;
    }
    let count = |s: Severity| result.issues.iter().filter(|i| i.severity == s).count();
    out.print_text(&format!(
        "{what}: {} nodes, {} links, {} issues ({} errors, {} warnings) in {}\n",
        result.stats.nodes_count,
        result.stats.links_count,
        result.stats.issues_count,
        count(Severity::Error),
        count(Severity::Warn),
        format_elapsed(started.elapsed())
    ));
}
