//! `sm scan [ROOTS...]`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sm_kernel::model::{SPEC_VERSION, ScanResult, ScannedBy, Scope, Severity};
use sm_kernel::ports::{StoragePort, WalkOptions};
use sm_kernel::registry::Registry;
use sm_kernel::scan_cache::ScanCache;
use sm_kernel::scan_orchestrator::{ScanDeps, ScanError, ScanRequest, Walked, scan_walked, validate_roots, walk_roots};
use sm_kernel::tokens::KnownTokens;

use crate::args::{GlobalArgs, ScanArgs};
use crate::output::{CliError, Output, exit, sanitize};
use crate::progress::{StderrProgress, effective_mode};
use crate::settings::{IGNORE_FILE, ScopeContext, Settings};
use crate::wiring;

/// How many error issues the human summary lists before pointing at `sm check`.
const MAX_LISTED_ERRORS: usize = 20;

/// What a scan should do beyond computing.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub roots: Vec<String>,
    pub tokens: bool,
    pub strict: bool,
    pub dry_run: bool,
    pub allow_empty: bool,
    pub db: PathBuf,
    /// Compare with the stored scan to report renames and orphans (off for `--compare-with`).
    pub track_renames: bool,
    /// Reuse the stored scan for unchanged files.
    pub incremental: bool,
    /// A node to re-read even if it looks unchanged.
    pub refresh: Option<String>,
    /// The caller keeps the scan's cache for its next scan (`sm watch`): the cache must hold full
    /// nodes rather than leave them to the result only.
    pub keep_cache: bool,
    /// The caller uses the result's nodes and links (JSON output), not only its stats and issues.
    /// When an incremental scan finds nothing changed, only then are they loaded from the database.
    pub full_result: bool,
}

pub fn run(args: &ScanArgs, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let started = Instant::now();
    let ctx = ScopeContext::resolve(global_scope)?;
    let mut overrides = global.config.clone();
    if let Some(profile) = &args.profile {
        overrides.push(format!("profile={profile}"));
    }
    let settings = Settings::load_with(&ctx, &overrides)?;
    let baseline = args.compare_with.as_deref().map(load_dump).transpose()?;
    let plan = ScanPlan {
        roots: choose_roots(&args.roots, &settings, &ctx),
        tokens: settings.tokenize() && !args.no_tokens,
        strict: settings.strict() || args.strict,
        dry_run: args.dry_run || baseline.is_some(),
        allow_empty: args.allow_empty,
        db: global.db.clone().unwrap_or_else(|| ctx.default_db()),
        track_renames: baseline.is_none(),
        incremental: args.changed || args.node.is_some(),
        refresh: args.node.as_ref().map(|n| n.trim_start_matches("./").to_owned()),
        full_result: out.json,
        keep_cache: false,
    };
    let result = scan_and_persist(&ctx, &settings, &plan, global, out)?;
    if let Some((path, before)) = &baseline {
        let code = compare(path, before, &result, out);
        out.done_in(started.elapsed());
        return Ok(code);
    }
    report(&result, &plan, out);
    out.done_in(started.elapsed());
    let code = if result.has_errors() { exit::ISSUES } else { exit::OK };
    leave_to_exit(result);
    Ok(code)
}

/// `sm scan` exits right after it reports: its result and cache are left to the process's exit.
/// Freeing a large scan's hundreds of thousands of small allocations one by one took ~4% of a
/// 50k-node scan, on one thread, after everything else was done.
fn leave_to_exit<T>(value: T) {
    std::mem::forget(value);
}

/// Reads and validates a saved ScanResult (exit 5 when missing, 2 when invalid).
fn load_dump(path: &Path) -> Result<(PathBuf, ScanResult), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::not_found("no-dump", format!("cannot read {}: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        CliError::operational("bad-dump", format!("{}:{}:{}: not JSON: {e}", path.display(), e.line(), e.column()))
    })?;
    let errors = sm_conformance::spec::validate("scan-result.schema.json", &value)
        .map_err(|e| CliError::operational("spec-broken", e))?;
    if !errors.is_empty() {
        return Err(CliError::operational(
            "bad-dump",
            format!(
                "{} is not a ScanResult: {}",
                path.display(),
                errors.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
            ),
        ));
    }
    let result = serde_json::from_value(value)
        .map_err(|e| CliError::operational("bad-dump", format!("{}: {e}", path.display())))?;
    Ok((path.to_path_buf(), result))
}

/// Prints the delta against the saved result; exit 1 on drift.
fn compare(path: &Path, before: &ScanResult, after: &ScanResult, out: &Output) -> u8 {
    let delta = sm_kernel::scan_delta::diff(before, after);
    if out.json {
        out.print_json(&serde_json::json!({ "comparedWith": path.display().to_string(), "drift": !delta.is_empty(), "delta": delta }));
    } else if delta.is_empty() {
        out.print_text(&format!("No drift from {}.\n", path.display()));
    } else {
        let mut text = format!("Drift from {}:\n", path.display());
        for p in &delta.nodes.added {
            text.push_str(&format!("  + node {}\n", sanitize(p)));
        }
        for p in &delta.nodes.removed {
            text.push_str(&format!("  - node {}\n", sanitize(p)));
        }
        for c in &delta.nodes.changed {
            text.push_str(&format!("  ~ node {} ({:?})\n", sanitize(&c.path), c.reason));
        }
        for l in &delta.links.added {
            text.push_str(&format!("  + link {} --{}--> {}\n", l.source, l.kind.as_str(), sanitize(&l.target)));
        }
        for l in &delta.links.removed {
            text.push_str(&format!("  - link {} --{}--> {}\n", l.source, l.kind.as_str(), sanitize(&l.target)));
        }
        for i in &delta.issues.added {
            text.push_str(&format!("  + issue [{}] {}: {}\n", i.severity.as_str(), i.rule_id, sanitize(&i.message)));
        }
        for i in &delta.issues.removed {
            text.push_str(&format!("  - issue [{}] {}: {}\n", i.severity.as_str(), i.rule_id, sanitize(&i.message)));
        }
        out.print_text(&text);
    }
    if delta.is_empty() { exit::OK } else { exit::ISSUES }
}

/// Roots from the command line, else config `roots`, else `.` (project) or `~/.claude` (global).
pub fn choose_roots(cli_roots: &[String], settings: &Settings, ctx: &ScopeContext) -> Vec<String> {
    if !cli_roots.is_empty() {
        return cli_roots.to_vec();
    }
    let configured = settings.roots();
    if !configured.is_empty() {
        return configured;
    }
    match ctx.scope {
        Scope::Project => vec![".".to_owned()],
        Scope::Global => vec![ctx.root.join(".claude").display().to_string()],
    }
}

/// Validates roots, scans, and (unless dry-run) persists in one transaction.
pub fn scan_and_persist(
    ctx: &ScopeContext,
    settings: &Settings,
    plan: &ScanPlan,
    global: &GlobalArgs,
    out: &Output,
) -> Result<ScanResult, CliError> {
    scan_and_persist_keeping(ctx, settings, plan, global, out, &mut KeptCache::default())
}

/// The cache a long-running caller (`sm watch`) keeps between scans, so an incremental scan does
/// not decode it from the database again. It is used only while the database still holds the scan
/// that produced it (same `scan_meta.scanned_at`); anything else reloads from the database.
#[derive(Default)]
pub struct KeptCache {
    cache: Option<ScanCache>,
    scanned_at: u64,
    /// The last scan's walk, and the paths a watch reported changed since: the next scan updates
    /// the walk from them instead of walking (`Walked::refresh`) when it can.
    walked: Option<Walked>,
    changed: Option<Vec<String>>,
    /// The issues the last scan stored, trusted with `cache`.
    issues: Option<Vec<sm_kernel::model::Issue>>,
    /// A connection held across scans ([`hold_storage`](Self::hold_storage)), and the registry
    /// with what it was built from: both are set up once instead of for every scan.
    held: Option<wiring::HeldStorage>,
    registry: Option<(wiring::RegistryInputs, Arc<Registry>)>,
    /// A scan computed ahead and not persisted yet ([`prepare_keeping`]): the next scan starts
    /// from it and persists what both changed.
    prepared: Option<Prepared>,
    /// The database a one-shot full scan will persist into, being opened while the scan runs.
    opening: Option<Opening>,
}

/// A database opened for persisting on a thread of its own while the scan runs (~25 ms for an
/// existing one, ~35 ms to start a new one, off the scan's path). Only a database that exists
/// and needs no migration, or none at all, is opened early: one that does is opened by the
/// persist, so a scan that fails before it changes nothing. Dropped unused (the scan failed or
/// answered from the stored scan), it waits for the thread and closes what it opened: a new
/// database's build file is deleted with it.
struct Opening {
    db: PathBuf,
    thread: Option<std::thread::JoinHandle<Option<Box<dyn StoragePort>>>>,
}

impl Opening {
    fn start(db: &Path) -> Self {
        let path = db.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("sm-open-db".into())
            .spawn(move || wiring::open_storage_for_scan_if_current(&path))
            .ok();
        Self { db: db.to_path_buf(), thread }
    }

    /// The storage opened for `db`, if it was.
    fn take(mut self, db: &Path) -> Option<Box<dyn StoragePort>> {
        let opened = self.thread.take()?.join().ok().flatten();
        opened.filter(|_| self.db == db)
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            drop(thread.join());
        }
    }
}

/// A scan computed and not yet persisted: its result, its cache (whose delta is relative to the
/// stored scan) and the stored issues, if known.
struct Prepared {
    result: ScanResult,
    cache: ScanCache,
    stored_issues: Option<Vec<sm_kernel::model::Issue>>,
    /// Renames tracked ahead of persisting (their issues are in `result`), if they were.
    renames: Option<Vec<sm_kernel::rename_tracking::RenameOp>>,
}

/// What [`scan_keeping`] produced.
enum Scanned {
    /// The answer as it is: a dry run's, or the stored scan reused.
    Answered(Box<ScanResult>),
    /// A scan to persist.
    Prepared(Box<Prepared>),
}

impl KeptCache {
    /// Records what a watch reported changed since the last scan. `None`: something it cannot
    /// follow path by path happened (an error, a settings reload): the next scan walks.
    pub fn note_changes(&mut self, paths: Option<&[String]>) {
        match (paths, self.changed.as_mut()) {
            (Some(paths), Some(changed)) => changed.extend_from_slice(paths),
            (Some(paths), None) if self.walked.is_some() => self.changed = Some(paths.to_vec()),
            _ => {
                self.walked = None;
                self.changed = None;
            }
        }
    }

    /// Loads the stored scan's cache when nothing is kept yet (the scan before answered from the
    /// stored result without reading it), so that a watch's first batch does not wait for it.
    /// `result` is what that scan returned: the stored scan.
    pub fn preload(&mut self, db: &Path, result: &ScanResult, out: &Output) -> Result<(), CliError> {
        if self.cache.is_some() {
            return Ok(());
        }
        let Some(storage) = wiring::open_existing_storage(db)? else { return Ok(()) };
        let stored = storage.stored_scan_time().map_err(|e| wiring::storage_error(db, &e))?;
        if stored != Some(result.scanned_at) {
            return Ok(());
        }
        drop(storage);
        self.cache = load_cache(db, out)?;
        if let (Some(cache), Some(walked)) = (self.cache.as_mut(), &self.walked)
            && walked.restore_index(cache)
            && let Some((_, registry)) = &self.registry
        {
            sm_kernel::scan_orchestrator::warm_detectors(registry, cache);
        }
        self.scanned_at = result.scanned_at;
        Ok(())
    }

    /// The last walk brought up to date with the reported changes, if that can be done without
    /// walking.
    fn refreshed_walk(&mut self, deps: &ScanDeps<'_>, request: &ScanRequest) -> Option<Walked> {
        let (mut walked, changed) = (self.walked.take()?, self.changed.take()?);
        let [root] = request.roots.as_slice() else { return None };
        let mut relative: Vec<String> =
            changed.iter().map(|p| deps.fs.relative_path(root, p)).collect::<Option<_>>()?;
        relative.sort();
        relative.dedup();
        walked.refresh(deps, request, &relative).then_some(walked)
    }

    fn take_if_current(&mut self, db: &Path) -> Result<Option<ScanCache>, CliError> {
        let Some(cache) = self.cache.take() else { return Ok(None) };
        Ok(self.db_is_current(db)?.then_some(cache))
    }

    /// Whether the database still holds the scan this keeper last persisted (no other process
    /// wrote a scan since).
    fn db_is_current(&mut self, db: &Path) -> Result<bool, CliError> {
        let scanned_at = self.scanned_at;
        let mut opened = None;
        let Some(storage) = self.storage(db, &mut opened, false)? else { return Ok(false) };
        let stored = storage.stored_scan_time().map_err(|e| wiring::storage_error(db, &e))?;
        Ok(stored == Some(scanned_at))
    }

    /// The held connection when it is to `db`, else one opened into `opened` (an existing
    /// database only, unless `create`: then one the scan's persist creates); `None` when there is
    /// no database and `!create`.
    fn storage<'a>(
        &'a mut self,
        db: &Path,
        opened: &'a mut Option<Box<dyn StoragePort>>,
        create: bool,
    ) -> Result<Option<&'a mut dyn StoragePort>, CliError> {
        if let Some(held) = self.held.as_mut().and_then(|h| h.get(db)) {
            return Ok(Some(held));
        }
        // (Only a persist creates; it is what the early opening is for.)
        let early = if create { self.opening.take().and_then(|opening| opening.take(db)) } else { None };
        *opened = match early {
            Some(storage) => Some(storage),
            None if create => Some(wiring::open_storage_for_scan(db)?),
            None => wiring::open_existing_storage(db)?,
        };
        Ok(match opened {
            Some(storage) => Some(storage.as_mut()),
            None => None,
        })
    }

    /// Takes back the nodes and links the kept cache lent to `result` (the scan that produced
    /// both), for the next scan to start from; a result that borrowed nothing from it is left as it
    /// is. Called once the caller is done with the result's nodes and links.
    pub fn take_back(&mut self, result: &mut ScanResult) {
        let Some(cache) = self.cache.as_mut() else { return };
        if cache.lent && result.scanned_at == self.scanned_at && !cache.take_back(result) {
            self.cache = None;
        }
    }

    /// Takes `result`'s issues (what the scan that produced the kept cache stored), for the next
    /// scan to write only the issue rows that change. Without them it rewrites every row.
    pub fn keep_issues(&mut self, result: &mut ScanResult) {
        if self.cache.is_some() && result.scanned_at == self.scanned_at {
            self.issues = Some(std::mem::take(&mut result.issues));
        }
    }

    /// Holds a connection to the database at `db` for the scans to come: they neither open it
    /// again nor build their registry again while its inputs stay the same. With `create: false`,
    /// only a database that exists and needs no migration is held (nothing on disk changes).
    pub fn hold_storage(&mut self, db: &Path, create: bool) -> Result<(), CliError> {
        if self.held.as_mut().is_some_and(|h| h.get(db).is_some()) {
            return Ok(());
        }
        self.held = if create { Some(wiring::HeldStorage::open(db)?) } else { wiring::HeldStorage::open_current(db)? };
        Ok(())
    }

    /// The registry for a scan: the kept one while the settings, plugin toggles and plugin
    /// directories are those it was built from (only with a held connection to read the toggles
    /// through), else a new one.
    fn registry(
        &mut self,
        ctx: &ScopeContext,
        global: &GlobalArgs,
        settings: &Settings,
        plan: &ScanPlan,
    ) -> Result<Arc<Registry>, CliError> {
        let writable = !plan.dry_run;
        let Some(storage) = self.held.as_mut().and_then(|h| h.get(&plan.db)) else {
            return Ok(Arc::new(wiring::extensions(ctx, global, settings, writable)?.registry));
        };
        let inputs = wiring::registry_inputs(ctx, global, settings, writable, storage, &plan.db)?;
        if let Some((built_from, registry)) = &self.registry
            && *built_from == inputs
        {
            return Ok(registry.clone());
        }
        let registry = Arc::new(wiring::extensions_from(ctx, global, &inputs)?.registry);
        self.registry = Some((inputs, registry.clone()));
        Ok(registry)
    }
}

/// [`scan_and_persist`], reusing and refreshing `kept`.
pub fn scan_and_persist_keeping(
    ctx: &ScopeContext,
    settings: &Settings,
    plan: &ScanPlan,
    global: &GlobalArgs,
    out: &Output,
    kept: &mut KeptCache,
) -> Result<ScanResult, CliError> {
    match scan_keeping(ctx, settings, plan, global, out, kept, true)? {
        Scanned::Answered(result) => Ok(*result),
        Scanned::Prepared(prepared) => persist_keeping(plan, out, kept, *prepared),
    }
}

/// Scans as [`scan_and_persist_keeping`] does and keeps the result in `kept` without persisting
/// it (`sm watch` works while its debounce runs): [`persist_prepared`] persists it, or the next
/// scan starts from it and persists what both changed.
pub fn prepare_keeping(
    ctx: &ScopeContext,
    settings: &Settings,
    plan: &ScanPlan,
    global: &GlobalArgs,
    out: &Output,
    kept: &mut KeptCache,
) -> Result<(), CliError> {
    // A dry run's answer has nothing to persist: nothing is prepared, and the batch scans.
    if let Scanned::Prepared(mut prepared) = scan_keeping(ctx, settings, plan, global, out, kept, false)? {
        // Only a head start: should reading the database fail here, the scan stays prepared and
        // persisting reads and compares again (and reports the error if it persists).
        if let Err(e) = finish_ahead(plan, kept, &mut prepared) {
            out.verbose(1, &format!("watch: could not compare ahead: {}", e.message));
        }
        kept.prepared = Some(*prepared);
    }
    Ok(())
}

/// What persisting a prepared scan reads and compares before it writes, done while the debounce
/// still runs: the renames are tracked against the stored scan, and the issue rows that stay are
/// found. (The batch persists it only while the database holds the scan it was compared with.)
fn finish_ahead(plan: &ScanPlan, kept: &mut KeptCache, prepared: &mut Prepared) -> Result<(), CliError> {
    // (`track_renames` reads everything before it adds its issues: an error leaves `result` as it was.)
    let mut opened = None;
    let Some(storage) = kept.storage(&plan.db, &mut opened, false)? else { return Ok(()) };
    let renames = if plan.track_renames {
        track_renames(storage, &mut prepared.result, &plan.db, known_vanished(&prepared.cache))?
    } else {
        Vec::new()
    };
    prepared.renames = Some(renames);
    if let (Some(delta), Some(stored)) = (prepared.cache.delta.as_mut(), &prepared.stored_issues) {
        delta.issue_ends = Some(sm_kernel::scan_cache::equal_ends(stored, &prepared.result.issues));
    }
    Ok(())
}

/// Runs one scan with nothing changed and keeps only what a batch keeps anyway: the cache (its
/// nodes back from the result) and the stored issues. A watch calls it once after its initial
/// scan: the allocator then holds the pages a batch's graph-sized structures take, which the first
/// batch would otherwise fault in one by one (~40,000 page faults at 50k nodes: the first edit
/// took 0.77 s against 0.45 s for the later ones). Should something have changed after all, the
/// scan stays prepared, and the next batch starts from it.
pub fn warm_up_keeping(
    ctx: &ScopeContext,
    settings: &Settings,
    plan: &ScanPlan,
    global: &GlobalArgs,
    out: &Output,
    kept: &mut KeptCache,
) -> Result<(), CliError> {
    if kept.cache.is_none() || kept.prepared.is_some() {
        return Ok(());
    }
    kept.note_changes(Some(&[]));
    let Scanned::Prepared(prepared) = scan_keeping(ctx, settings, plan, global, out, kept, false)? else {
        return Ok(());
    };
    let Prepared { mut result, mut cache, stored_issues, renames } = *prepared;
    if !cache.reused_all {
        kept.prepared = Some(Prepared { result, cache, stored_issues, renames });
        return Ok(());
    }
    if cache.take_back(&mut result) {
        let delta = cache.delta.take();
        kept.cache = Some(cache);
        kept.issues = stored_issues;
        std::thread::spawn(move || drop((result, delta)));
    }
    // (Nodes that were not the cache's own, which cannot happen, leave no cache: the next batch
    // reads the stored one.)
    Ok(())
}

/// Persists the scan [`prepare_keeping`] kept; `None` when there is none.
pub fn persist_prepared(plan: &ScanPlan, out: &Output, kept: &mut KeptCache) -> Result<Option<ScanResult>, CliError> {
    match kept.prepared.take() {
        // Another process stored a scan meanwhile: the prepared delta is relative to a scan the
        // database no longer holds.
        Some(_) if !kept.db_is_current(&plan.db)? => Ok(None),
        Some(prepared) => persist_keeping(plan, out, kept, prepared).map(Some),
        None => Ok(None),
    }
}

/// The scan half of [`scan_and_persist_keeping`]; `may_answer_stored`: whether an unchanged
/// input may be answered with the stored scan (which writes the scan metadata).
fn scan_keeping(
    ctx: &ScopeContext,
    settings: &Settings,
    plan: &ScanPlan,
    global: &GlobalArgs,
    out: &Output,
    kept: &mut KeptCache,
    may_answer_stored: bool,
) -> Result<Scanned, CliError> {
    let fs = wiring::filesystem()?;
    // Roots first: a typo must not touch the database.
    validate_roots(&fs, &plan.roots).map_err(scan_error)?;
    let registry = kept.registry(ctx, global, settings, plan)?;
    // A one-shot full scan persists whatever it finds: its database opens while it scans.
    if !plan.dry_run && !plan.incremental && kept.held.is_none() && kept.opening.is_none() {
        kept.opening = Some(Opening::start(&plan.db));
    }
    let clock = wiring::SystemClock;
    let progress = StderrProgress::new(effective_mode(global.progress, out.quiet, out.json));
    let mut request = ScanRequest {
        roots: plan.roots.clone(),
        scope: ctx.scope,
        tokens: plan.tokens,
        known_tokens: None,
        max_file_size_bytes: settings.max_file_size_bytes(),
        strict: plan.strict,
        walk: WalkOptions {
            ignore_patterns: settings.ignore_patterns(),
            ignore_file_name: IGNORE_FILE.to_owned(),
            follow_symlinks: settings.follow_symlinks(),
        },
        scanned_by: ScannedBy {
            name: "skill-map".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            spec_version: SPEC_VERSION.into(),
        },
        rule_config: settings.rule_config(),
        held_body_bytes: sm_kernel::scan_orchestrator::DEFAULT_HELD_BODY_BYTES,
        keep_cache_nodes: plan.keep_cache,
    };
    let deps = ScanDeps { fs: &fs, registry: &registry, clock: &clock, progress: &progress };
    let may_reuse =
        may_answer_stored && plan.incremental && plan.refresh.is_none() && !plan.dry_run && kept.prepared.is_none();
    if !may_reuse {
        // Files will be read: the token counter builds its tables during the walk.
        sm_kernel::scan_orchestrator::warm_up(&request);
    }
    // A full scan counts the tokens of only the texts the stored scan did not count (an
    // incremental one reuses whole nodes instead): their counts load beside the walk.
    let known_tokens = (plan.tokens && !plan.incremental).then(|| {
        let (db, version) = (plan.db.clone(), request.scanned_by.version.clone());
        std::thread::spawn(move || stored_token_counts(&db, &version))
    });
    let walked = match kept.refreshed_walk(&deps, &request) {
        Some(walked) => {
            out.verbose(1, "watch: updated the last walk from the reported changes instead of walking");
            Ok(walked)
        }
        None => walk_roots(&deps, &request).map_err(scan_error),
    };
    // Joined before a failed walk returns: a reader left running would still hold the database
    // when the process exits, and its `-wal` file would stay behind.
    request.known_tokens = known_tokens.and_then(|loading| loading.join().ok()).flatten().map(Arc::new);
    let walked = walked?;
    if let Some(known) = &request.known_tokens {
        out.verbose(1, &format!("tokens: {} texts counted by the stored scan are reused when unchanged", known.len()));
    }
    if plan.keep_cache {
        kept.walked = Some(walked.clone());
    }
    // The input fingerprint is stored with the scan. A watch's batch hashes it on the thread pool
    // while the scan runs (`None` here): 10–20 ms at 50k nodes that edit → persisted need not wait
    // for. Answering from the stored scan needs it first, and a one-shot scan hashes it first too:
    // a job queued behind the read phase would hold the walk's lists past the point where the scan
    // frees or takes them over.
    let settings_digest = settings.digest();
    let (input_fingerprint, walked) = if may_reuse || !plan.keep_cache {
        let fingerprint = walked.input_fingerprint(&request, &registry, &settings_digest);
        let walked = match &fingerprint {
            Some(fp) if may_reuse => match reuse_unchanged(&deps, &request, plan, walked, fp, kept)? {
                Reuse::Done(result) => {
                    out.verbose(1, "--changed: nothing changed since the stored scan; reusing its result");
                    return Ok(Scanned::Answered(result));
                }
                Reuse::Changed(walked) => walked,
            },
            _ => walked,
        };
        (Some(fingerprint), walked)
    } else {
        (None, walked)
    };
    // Something changed: the token counter builds its tables while the cache is read.
    sm_kernel::scan_orchestrator::warm_up(&request);
    // A scan prepared ahead and not persisted is the prior state, while the database still holds
    // the scan its delta is relative to; its delta joins this scan's.
    let ahead = match kept.prepared.take() {
        Some(prepared) if plan.incremental && kept.db_is_current(&plan.db)? => Some(prepared),
        _ => None,
    };
    // Its cache gets back the nodes it lent to its result. (If they were not its own, which cannot
    // happen, the stored scan's cache is read from the database as the prior instead.)
    let ahead = ahead.and_then(|Prepared { mut cache, stored_issues, mut result, .. }| {
        cache.take_back(&mut result).then_some((cache, stored_issues))
    });
    let (kept_cache, stored_issues, ahead_delta) = match ahead {
        Some((mut cache, stored_issues)) => {
            let delta = cache.delta.take();
            (Some(cache), stored_issues, Some(delta))
        }
        None => {
            let kept_cache = if plan.incremental { kept.take_if_current(&plan.db)? } else { None };
            let stored_issues = kept.issues.take().filter(|_| kept_cache.is_some());
            (kept_cache, stored_issues, None)
        }
    };
    let mut prior = match kept_cache {
        Some(cache) => Some(cache),
        None if plan.incremental => load_cache(&plan.db, out)?,
        None => None,
    };
    if let (Some(path), Some(cache)) = (&plan.refresh, prior.as_mut()) {
        cache.nodes.remove(path);
    }
    let (mut result, mut cache, input_fingerprint) = match input_fingerprint {
        Some(fingerprint) => {
            let (result, cache) = scan_walked(&deps, &request, walked, prior);
            (result, cache, fingerprint)
        }
        None => {
            // The walk's lists are shared, not copied (`Walked` holds them in `Arc`s).
            let hashed = walked.clone();
            let (request_now, registry_now, digest) = (request.clone(), Arc::clone(&registry), settings_digest.clone());
            let (sender, fingerprint) = std::sync::mpsc::channel();
            rayon::spawn(move || {
                let _ = sender.send(hashed.input_fingerprint(&request_now, &registry_now, &digest));
            });
            let (result, cache) = scan_walked(&deps, &request, walked, prior);
            (result, cache, fingerprint.recv().ok().flatten())
        }
    };
    cache.input_fingerprint = input_fingerprint;
    if let Some(earlier) = ahead_delta {
        cache.delta = earlier.zip(cache.delta.take()).map(|(earlier, now)| earlier.join(now));
        cache.reused_all = false;
    }
    if let Some(path) = &plan.refresh
        && !result.nodes.iter().any(|n| &n.path == path)
    {
        return Err(CliError::not_found(
            "node-not-found",
            format!("{path} is not a node under {}", plan.roots.join(", ")),
        ));
    }
    if plan.dry_run {
        // Read-only: report renames against the stored scan if there is one, write nothing.
        if plan.track_renames
            && let Some(storage) = wiring::open_existing_storage(&plan.db)?
        {
            track_renames(storage.as_ref(), &mut result, &plan.db, known_vanished(&cache))?;
        }
        if cache.hollow {
            leave_to_exit(cache);
        }
        return Ok(Scanned::Answered(Box::new(result)));
    }
    Ok(Scanned::Prepared(Box::new(Prepared { result, cache, stored_issues, renames: None })))
}

/// The token counts the database at `db` holds from a scan by this `version` of sm; `None` when
/// there are none or it cannot be read (every text is then counted, as without a database).
fn stored_token_counts(db: &Path, version: &str) -> Option<KnownTokens> {
    let storage = wiring::open_existing_storage(db).ok()??;
    let known = storage.known_tokens(version).ok()?;
    (!known.is_empty()).then_some(known)
}

/// The persist half of [`scan_and_persist_keeping`].
fn persist_keeping(
    plan: &ScanPlan,
    out: &Output,
    kept: &mut KeptCache,
    prepared: Prepared,
) -> Result<ScanResult, CliError> {
    let Prepared { mut result, mut cache, stored_issues, renames } = prepared;
    let mut opened = None;
    let storage = kept.storage(&plan.db, &mut opened, true)?.expect("created when missing");
    out.verbose(1, &format!("database: {}", plan.db.display()));
    if result.nodes.is_empty() && !plan.allow_empty {
        let existing = storage.count_nodes().map_err(|e| wiring::storage_error(&plan.db, &e))?;
        if existing > 0 {
            return Err(CliError::operational(
                "empty-scan",
                format!(
                    "the scan found no nodes; refusing to replace the {existing} nodes in {} (check the roots, or pass --allow-empty)",
                    display_path(&plan.db)
                ),
            )
            .with_details(serde_json::json!({ "existingNodes": existing, "roots": plan.roots })));
        }
    }
    let renames = match renames {
        Some(renames) => renames,
        None if plan.track_renames => track_renames(storage, &mut result, &plan.db, known_vanished(&cache))?,
        None => Vec::new(),
    };
    if let Some(delta) = cache.delta.as_mut() {
        delta.stored_issues = stored_issues;
    }
    if cache.reused_all && renames.is_empty() {
        // Nothing about the files changed: only the issues (renames are reported once) and the
        // scan metadata need writing.
        storage.persist_issues_only(&result, &cache).map_err(|e| wiring::storage_error(&plan.db, &e))?;
    } else {
        storage
            .persist_scan_with_renames(&result, &renames, Some(&cache))
            .map_err(|e| wiring::storage_error(&plan.db, &e))?;
    }
    if cache.hollow {
        // Only a one-shot scan asks for a hollow cache; it is not kept.
        leave_to_exit(cache);
        kept.cache = None;
        kept.issues = None;
    } else {
        // The delta (the last issues among it) is of no further use: freed off this thread.
        if let Some(delta) = cache.delta.take() {
            std::thread::spawn(move || drop(delta));
        }
        kept.cache = Some(cache);
        // The caller hands the issues over once done with the result (`keep_issues`).
        kept.issues = None;
    }
    kept.scanned_at = result.scanned_at;
    Ok(result)
}

/// What [`reuse_unchanged`] found.
enum Reuse {
    /// Nothing changed: the stored result, brought up to date.
    Done(Box<ScanResult>),
    /// Something changed (or nothing is stored): scan on.
    Changed(Walked),
}

/// When the walk's input fingerprint equals the stored scan's, nothing a scan reads has changed:
/// the stored result is the answer, without reading the cache or any file. Rules, renames and the
/// stored graph cannot differ; orphans of `state_*` rows are recomputed, as they can change without
/// any file changing. Only the scan metadata (and issues, if those orphans changed) is written.
fn reuse_unchanged(
    deps: &ScanDeps<'_>,
    request: &ScanRequest,
    plan: &ScanPlan,
    walked: Walked,
    fingerprint: &str,
    kept: &mut KeptCache,
) -> Result<Reuse, CliError> {
    let db_err = |e: sm_kernel::ports::StorageError| wiring::storage_error(&plan.db, &e);
    let mut opened = None;
    let Some(storage) = kept.storage(&plan.db, &mut opened, false)? else {
        return Ok(Reuse::Changed(walked));
    };
    let Some(mut stored) = storage.load_scan_summary(fingerprint).map_err(db_err)? else {
        return Ok(Reuse::Changed(walked));
    };
    // The stored issues minus last scan's rename/orphan reports: what rules and files say now.
    let one_shot = |id: &str| {
        use sm_kernel::rename_tracking::ids;
        id == ids::AUTO_RENAME_MEDIUM || id == ids::AUTO_RENAME_AMBIGUOUS || id == ids::ORPHAN
    };
    // As in `track_renames`: a scan that found nothing says nothing about orphans.
    let refs = storage.state_node_refs().map_err(db_err)?;
    let stranded = if !refs.is_empty() && stored.stats.nodes_count > 0 {
        let live = storage.node_fingerprints().map_err(db_err)?;
        sm_kernel::rename_tracking::stranded_paths(&refs, live.iter().map(|f| f.path.as_str()))
    } else {
        Vec::new()
    };
    let (issues, rewrite_issues) = if stranded.is_empty() && !stored.issues.iter().any(|i| one_shot(&i.rule_id)) {
        // The common case: nothing to drop, nothing to add.
        (std::mem::take(&mut stored.issues), false)
    } else {
        let mut issues: Vec<_> = stored.issues.iter().filter(|i| !one_shot(&i.rule_id)).cloned().collect();
        issues.extend(stranded);
        let changed = issues != stored.issues;
        (issues, changed)
    };
    let (scanned_at, stats) =
        walked.finish_unchanged(deps, stored.stats.nodes_count, stored.stats.links_count, issues.len() as u64);
    let mut result = ScanResult {
        scanned_at,
        scope: request.scope,
        roots: request.roots.clone(),
        scanned_by: Some(request.scanned_by.clone()),
        issues,
        stats,
        ..stored
    };
    storage.persist_unchanged_scan(&result, rewrite_issues).map_err(db_err)?;
    if plan.full_result {
        let full = storage.load_scan().map_err(db_err)?.ok_or_else(|| {
            CliError::operational("database", format!("{}: the stored scan vanished", plan.db.display()))
        })?;
        result.nodes = full.nodes;
        result.links = full.links;
    }
    Ok(Reuse::Done(Box::new(result)))
}

/// The stored scan's cache, or `None` (with a note) when there is nothing to reuse yet.
fn load_cache(db: &Path, out: &Output) -> Result<Option<sm_kernel::scan_cache::ScanCache>, CliError> {
    let cache = match wiring::open_existing_storage(db)? {
        Some(storage) => storage.load_cache().map_err(|e| {
            let mut err = wiring::storage_error(db, &e);
            if matches!(e, sm_kernel::ports::StorageError::Corrupt(_)) {
                err.message.push_str("; a full `sm scan` (without --changed) rewrites the cache");
            }
            err
        })?,
        None => None,
    };
    if cache.is_none() {
        out.note("--changed: no stored scan to reuse yet; running a full scan");
    }
    Ok(cache)
}

/// Renames and orphans start from a node that vanished. A scan that started from the stored
/// scan's cache (it has a delta) knows whether one did; a full scan does not (`None`). Rows of
/// `state_*` that point at no node are checked either way.
fn known_vanished(cache: &ScanCache) -> Option<bool> {
    cache.delta.as_ref().map(|d| !d.vanished.is_empty())
}

/// Compares with the stored scan: appends `auto-rename-*` and `orphan` issues (and orphans for
/// stranded state) to `result`; returns the renames whose state should move. The stored
/// fingerprints are read only when a node vanished: `vanished` says whether one did, or (`None`,
/// a full scan) the stored paths are read first to find out.
fn track_renames(
    storage: &dyn sm_kernel::ports::StoragePort,
    result: &mut ScanResult,
    db: &Path,
    vanished: Option<bool>,
) -> Result<Vec<sm_kernel::rename_tracking::RenameOp>, CliError> {
    // A scan that found nothing (wrong root, every adapter off) says nothing about renames.
    if result.nodes.is_empty() {
        return Ok(Vec::new());
    }
    let anything_vanished = match vanished {
        Some(known) => known,
        None => storage.any_node_vanished(&result.nodes).map_err(|e| wiring::storage_error(db, &e))?,
    };
    let prior = if anything_vanished {
        storage.node_fingerprints().map_err(|e| wiring::storage_error(db, &e))?
    } else {
        Vec::new()
    };
    let outcome = if prior.is_empty() {
        sm_kernel::rename_tracking::RenameOutcome::default()
    } else {
        sm_kernel::rename_tracking::track(&prior, &result.nodes)
    };
    let refs = storage.state_node_refs().map_err(|e| wiring::storage_error(db, &e))?;
    let stranded = sm_kernel::rename_tracking::stranded(&refs, &result.nodes, &outcome);
    result.issues.extend(outcome.issues.iter().cloned());
    result.issues.extend(stranded);
    result.stats.issues_count = result.issues.len() as u64;
    Ok(outcome.renames)
}

fn scan_error(e: ScanError) -> CliError {
    let code = match e {
        ScanError::RootMissing(_) => "root-not-found",
        ScanError::RootNotDirectory(_) => "root-not-directory",
        ScanError::NoRoots => "no-roots",
        ScanError::Walk(_) => "walk-failed",
    };
    CliError::operational(code, e.to_string())
}

/// A path relative to the working directory when it is inside it.
pub fn display_path(p: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(&cwd).ok().map(|r| r.display().to_string()))
        .unwrap_or_else(|| p.display().to_string())
}

fn report(result: &ScanResult, plan: &ScanPlan, out: &Output) {
    if out.json {
        out.print_json(result);
        return;
    }
    let count = |s: Severity| result.issues.iter().filter(|i| i.severity == s).count();
    let (errors, warns, infos) = (count(Severity::Error), count(Severity::Warn), count(Severity::Info));
    let roots = result.roots.len();
    let mut text = format!(
        "Scanned {roots} root{}: {} nodes, {} links, {} issues ({errors} errors, {warns} warnings, {infos} info).\n",
        if roots == 1 { "" } else { "s" },
        result.stats.nodes_count,
        result.stats.links_count,
        result.stats.issues_count,
    );
    let listed: Vec<_> = result.issues.iter().filter(|i| i.severity == Severity::Error || out.verbose >= 1).collect();
    // A terminal is not a report: a long list goes to `sm check`; -v lists everything.
    let cap = if out.verbose >= 1 { usize::MAX } else { MAX_LISTED_ERRORS };
    for issue in listed.iter().take(cap) {
        let sev = match issue.severity {
            Severity::Error => out.paint("error", "31"),
            Severity::Warn => out.paint("warn ", "33"),
            Severity::Info => out.paint("info ", "36"),
        };
        text.push_str(&format!("  {sev} {}: {}\n", issue.rule_id, sanitize(&issue.message)));
    }
    if listed.len() > cap {
        text.push_str(&format!("  … and {} more (run `sm check`, or -v to list them here)\n", listed.len() - cap));
    }
    if plan.dry_run {
        text.push_str("Dry run: the database was not written.\n");
    } else {
        text.push_str(&format!("Persisted to {}\n", display_path(&plan.db)));
    }
    out.print_text(&text);
}
