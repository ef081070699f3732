//! The scan use case, one straight pipeline:
//!
//! walk → classify → read → split/parse frontmatter → node → detectors → resolve → rules → result.
//!
//! Persistence is the caller's next step (it owns the StoragePort), so `--dry-run` is simply "do not
//! call persist". A malformed file never fails the scan: it becomes an issue in the result.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde_json::{Map, Value, json};

use crate::events::{Event, types};
use crate::extensions::{DetectContext, Detector, Prepared, RuleContext};
use crate::frontmatter::{self, MalformedHint};
use crate::hashing::content_hash;
use crate::markdown::mask_non_prose;
use crate::model::{
    Issue, Link, Node, SCAN_RESULT_SCHEMA_VERSION, ScanResult, ScanStats, ScannedBy, Scope, Severity, Stability,
    TripleSplit,
};
use crate::node_index::{NodeIndex, Resolution};
use crate::ports::{Clock, FilesystemPort, FsError, ProgressEmitterPort, RootStatus, WalkOptions};
use crate::registry::{Registry, is_kebab};
use crate::scan_cache::{
    CachedNode, ExternalRefs, HollowRow, KeptLinks, PersistDelta, ScanCache, encode_detections, index_fingerprint,
};
use crate::tokens::{KnownTokens, count_tokens};
use sha2::{Digest, Sha256};

/// Rule ids the kernel itself emits (not rules: they cannot be disabled).
pub mod kernel_rule_ids {
    pub const FRONTMATTER_INVALID: &str = "frontmatter-invalid";
    pub const FRONTMATTER_MALFORMED: &str = "frontmatter-malformed";
    pub const FILE_TOO_LARGE: &str = "file-too-large";
    pub const FILE_NOT_TEXT: &str = "file-not-text";
    pub const FILE_UNREADABLE: &str = "file-unreadable";
    pub const DUPLICATE_PATH: &str = "duplicate-path";
}
use kernel_rule_ids as ids;

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// Roots as the user typed them; the filesystem adapter resolves them.
    pub roots: Vec<String>,
    pub scope: Scope,
    /// Count cl100k tokens (`--no-tokens` turns this off).
    pub tokens: bool,
    /// Counts a stored scan already made, reused for the same text instead of counting it again.
    pub known_tokens: Option<Arc<KnownTokens>>,
    /// Claimed files larger than this are skipped with an info issue.
    pub max_file_size_bytes: u64,
    /// Frontmatter problems are errors instead of warnings.
    pub strict: bool,
    pub walk: WalkOptions,
    pub scanned_by: ScannedBy,
    /// Rule configuration handed to every rule (`{"profile", "rules": {id: {...}}}`); a rule whose
    /// `rules.<id>.enabled` is `false` does not run.
    pub rule_config: Value,
    /// How many body bytes the scan holds between reading files and running detectors. Beyond
    /// this, bodies are dropped once their node is built and read again, a chunk at a time, for
    /// detection: a large tree costs a second read of part of it instead of holding all of it in
    /// memory. The result does not depend on it.
    pub held_body_bytes: u64,
    /// Whether the returned cache keeps full nodes, so it can be passed to the next scan as is
    /// (`sm watch`). Without, the nodes move into the result and the cache is *hollow*: good for
    /// persisting (which never reads its nodes), refused as a prior cache.
    pub keep_cache_nodes: bool,
}

/// The collaborators a scan needs.
pub struct ScanDeps<'a> {
    pub fs: &'a dyn FilesystemPort,
    pub registry: &'a Registry,
    pub clock: &'a dyn Clock,
    pub progress: &'a dyn ProgressEmitterPort,
}

/// Why a scan could not run at all (as opposed to issues inside a result).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("no scan roots given")]
    NoRoots,
    #[error("scan root {0:?} does not exist")]
    RootMissing(String),
    #[error("scan root {0:?} is not a directory")]
    RootNotDirectory(String),
    #[error(transparent)]
    Walk(#[from] FsError),
}

/// Runs the whole pipeline and returns a sorted, deterministic result.
pub fn run_scan(deps: &ScanDeps<'_>, request: &ScanRequest) -> Result<ScanResult, ScanError> {
    run_scan_with_cache(deps, request, None).map(|(result, _)| result)
}

/// A node's body on its way to the detectors.
enum Body {
    /// Not read in this scan (the node came from the cache).
    NotRead,
    /// Read in this scan and held for the detectors.
    Held(DetectBody),
    /// Read in this scan, then let go: to stay within [`ScanRequest::held_body_bytes`] (read again
    /// to detect), or because its detectors have run.
    Released,
}

/// Default [`ScanRequest::held_body_bytes`]: 64 MiB.
pub const DEFAULT_HELD_BODY_BYTES: u64 = 64 << 20;

/// One node on its way through the pipeline.
struct Entry {
    node: Node,
    /// Whether the file was read in this scan, and its body (with its first line) if still held.
    body: Body,
    file_size: u64,
    file_mtime_ms: i64,
    body_start_line: u64,
    file_issues: Vec<Issue>,
    /// Per-detector output reused from the cache, or (once detection is done) found in this scan.
    cached_detections: Option<Found>,
    /// Output of the detectors that ran while the file was read (those that do not depend on the
    /// index); the splitting detectors' completed output joins it.
    early: Detections,
    /// What splitting detectors kept for their `complete`, by position in the registry.
    prepared: Vec<(usize, Prepared)>,
    /// For a node taken from the cache: its stored row (the cached node) is still exact unless its
    /// link counts change. `false` for nodes read in this scan and when `--no-tokens` drops counts.
    row_from_cache: bool,
}

/// Like [`run_scan`], reusing `prior` where files did not change (same size and mtime), and
/// returning the cache the next incremental scan needs. The result equals a full scan's.
pub fn run_scan_with_cache(
    deps: &ScanDeps<'_>,
    request: &ScanRequest,
    prior: Option<ScanCache>,
) -> Result<(ScanResult, ScanCache), ScanError> {
    let walked = walk_roots(deps, request)?;
    Ok(scan_walked(deps, request, walked, prior))
}

/// The first step of a scan: what the roots hold (paths, sizes, mtimes), before any file is read.
#[derive(Clone)]
pub struct Walked {
    started_at: u64,
    run_id: String,
    /// Shared, so that a kept copy of a walk costs nothing until one of the copies changes.
    candidates: Arc<Vec<Candidate>>,
    all_files: Arc<Vec<String>>,
    file_issues: Vec<Issue>,
    files_walked: u64,
    files_skipped: u64,
}

/// Validates the roots, announces the scan and walks it.
pub fn walk_roots(deps: &ScanDeps<'_>, request: &ScanRequest) -> Result<Walked, ScanError> {
    validate_roots(deps.fs, &request.roots)?;
    let (started_at, run_id) = announce(deps, request);

    let registry = deps.registry;
    let mut file_issues: Vec<Issue> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut files_walked = 0u64;
    let mut files_skipped = 0u64;
    let mut all_files: Vec<String> = Vec::new();
    if !registry.adapters().is_empty() {
        // One root's walk lists each path once: only several roots can repeat one.
        let several_roots = request.roots.len() > 1;
        let adapter_ids: Vec<String> = registry.adapters().iter().map(|a| a.info().id).collect();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for root in &request.roots {
            let walked = deps.fs.walk(root, &request.walk)?;
            files_walked += walked.len() as u64;
            all_files.extend(walked.iter().map(|f| f.path.clone()));
            let root: Arc<str> = Arc::from(root.as_str());
            for file in walked {
                let Some((adapter, kind)) = classify(registry, &adapter_ids, &file.path) else {
                    continue;
                };
                if several_roots && !seen.insert(file.path.clone()) {
                    files_skipped += 1;
                    file_issues.push(Issue::new(
                        ids::DUPLICATE_PATH,
                        Severity::Warn,
                        &file.path,
                        format!(
                            "{} exists under more than one scan root; kept the first (root {root:?} skipped)",
                            file.path
                        ),
                    ));
                    continue;
                }
                candidates.push(Candidate {
                    root: Arc::clone(&root),
                    path: file.path,
                    size: file.size,
                    mtime_ms: file.mtime_ms,
                    adapter,
                    kind,
                });
            }
        }
    }
    Ok(Walked {
        started_at,
        run_id,
        candidates: Arc::new(candidates),
        all_files: Arc::new(all_files),
        file_issues,
        files_walked,
        files_skipped,
    })
}

/// Starts a scan run: its start time and id, and the `scan.started` event.
fn announce(deps: &ScanDeps<'_>, request: &ScanRequest) -> (u64, String) {
    let started_at = deps.clock.now_ms();
    let run_id = deps.clock.new_run_id();
    deps.progress.emit(&Event::scan(types::SCAN_STARTED, started_at, &run_id, json!({ "roots": request.roots })));
    (started_at, run_id)
}

impl Walked {
    /// Brings this walk up to date with the files a watch reported (`changed`, root-relative),
    /// without walking again, and starts a new scan with it. Only for one root, and only when every
    /// reported path is a file this walk already had, still a file (modified) or gone (deleted):
    /// anything else — a new path, a directory, an ignore file — returns `false`, and the caller
    /// walks (this walk is then half updated: drop it). The walk's ignore rules cannot have changed
    /// for a file it already listed.
    pub fn refresh(&mut self, deps: &ScanDeps<'_>, request: &ScanRequest, changed: &[String]) -> bool {
        let [root] = request.roots.as_slice() else { return false };
        for path in changed {
            let name = path.rsplit('/').next().unwrap_or(path);
            if name == ".gitignore" || name == ".ignore" || name == request.walk.ignore_file_name {
                return false;
            }
            let Ok(known) = self.all_files.binary_search(path) else { return false };
            let candidate = self.candidates.binary_search_by(|c| c.path.as_str().cmp(path)).ok();
            match deps.fs.stat(root, path) {
                Ok(Some(file)) => {
                    if let Some(i) = candidate {
                        let candidates = Arc::make_mut(&mut self.candidates);
                        candidates[i].size = file.size;
                        candidates[i].mtime_ms = file.mtime_ms;
                    }
                }
                Ok(None) => {
                    Arc::make_mut(&mut self.all_files).remove(known);
                    self.files_walked -= 1;
                    if let Some(i) = candidate {
                        Arc::make_mut(&mut self.candidates).remove(i);
                    }
                }
                Err(_) => return false,
            }
        }
        (self.started_at, self.run_id) = announce(deps, request);
        true
    }

    /// Gives `cache` (one read back from the database) the index of its nodes over this walk's
    /// files when that is the index it was written with (equal fingerprints): a scan from it then
    /// keeps that index, as it does a kept cache's. Returns whether it did.
    pub fn restore_index(&self, cache: &mut ScanCache) -> bool {
        if cache.hollow || cache.index.is_some() {
            return cache.index.is_some();
        }
        let Some((_, written)) = cache.index_fingerprint.as_deref().and_then(|f| f.split_once(':')) else {
            return false;
        };
        let index = NodeIndex::with_files(cache.nodes.values().map(|c| &c.node), self.all_files.iter().cloned());
        if index_fingerprint(&index) != written {
            return false;
        }
        cache.index = Some(Arc::new(index));
        true
    }

    /// A hash of everything a scan's result depends on apart from file contents: the walked paths,
    /// every claimed file's size, mtime and classification, the request, the registered extensions
    /// (id, kind, version) and `settings_digest` (the caller's effective configuration). Two scans
    /// with equal fingerprints produce equal results, under the same assumption incremental scans
    /// make (a file whose size and mtime did not change did not change). `None` when a claimed
    /// file's mtime is unknown.
    pub fn input_fingerprint(
        &self,
        request: &ScanRequest,
        registry: &Registry,
        settings_digest: &str,
    ) -> Option<String> {
        if self.candidates.iter().any(|c| c.mtime_ms == 0) {
            return None;
        }
        // Fields go through a buffer handed to the hash 64 KiB at a time: the same bytes as one
        // `update` per length and per field (so the same digest), without ~700,000 calls at 50k.
        let mut h = Sha256::new();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 17);
        let mut field = |bytes: &[u8]| {
            buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            buf.extend_from_slice(bytes);
            if buf.len() >= 1 << 16 {
                h.update(&buf);
                buf.clear();
            }
        };
        field(b"sm-input-fingerprint-1");
        field(settings_digest.as_bytes());
        let request_json = json!({
            "roots": request.roots,
            "scope": request.scope,
            "tokens": request.tokens,
            "maxFileSizeBytes": request.max_file_size_bytes,
            "strict": request.strict,
            "scannedBy": request.scanned_by,
            "ruleConfig": request.rule_config,
        });
        field(request_json.to_string().as_bytes());
        for e in &extension_keys(registry, |_| true) {
            field(e.as_bytes());
        }
        field(b"files");
        for f in self.all_files.iter() {
            field(f.as_bytes());
        }
        field(b"candidates");
        for c in self.candidates.iter() {
            field(c.root.as_bytes());
            field(c.path.as_bytes());
            field(&c.size.to_le_bytes());
            field(&c.mtime_ms.to_le_bytes());
            field(c.adapter.as_bytes());
            field(c.kind.as_bytes());
        }
        h.update(&buf);
        Some(crate::hashing::hex(&h.finalize()))
    }

    /// Ends a scan whose result is known to equal the stored one without reading any file:
    /// announces completion with the given counts and returns the stats of this run.
    pub fn finish_unchanged(
        self,
        deps: &ScanDeps<'_>,
        nodes_count: u64,
        links_count: u64,
        issues_count: u64,
    ) -> (u64, ScanStats) {
        let stats = ScanStats {
            files_walked: self.files_walked,
            files_skipped: self.files_skipped,
            nodes_count,
            links_count,
            issues_count,
            duration_ms: deps.clock.now_ms().saturating_sub(self.started_at),
        };
        deps.progress.emit(&Event::scan(
            types::SCAN_COMPLETED,
            deps.clock.now_ms(),
            &self.run_id,
            json!({ "stats": stats }),
        ));
        (self.started_at, stats)
    }
}

/// A hash of what produced a cache's contents: sm's version, the adapters and detectors (kind, id,
/// version) and the size limit that decides which files are read at all.
fn producers_fingerprint(request: &ScanRequest, registry: &Registry) -> String {
    use crate::extensions::ExtensionKind;
    let producers = extension_keys(registry, |kind| matches!(kind, ExtensionKind::Adapter | ExtensionKind::Detector));
    let mut h = Sha256::new();
    let by = &request.scanned_by;
    for part in [by.name.as_str(), by.version.as_str(), by.spec_version.as_str()]
        .into_iter()
        .chain(producers.iter().map(String::as_str))
    {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update(request.max_file_size_bytes.to_le_bytes());
    crate::hashing::hex(&h.finalize()[..16])
}

/// `kind\0id\0version` of every registered extension whose kind `keep` accepts, sorted: what the
/// fingerprints hash of the registry.
fn extension_keys(registry: &Registry, keep: impl Fn(crate::extensions::ExtensionKind) -> bool) -> Vec<String> {
    let mut keys: Vec<String> = registry
        .describe()
        .into_iter()
        .filter(|i| keep(i.kind))
        .map(|i| format!("{}\u{0}{}\u{0}{}", i.kind.as_str(), i.id, i.version))
        .collect();
    keys.sort();
    keys
}

/// Starts loading what counting tokens needs (about 20 ms of tables) on another thread, when the
/// request counts tokens, so the first file read does not wait for it. [`scan_walked`] calls it;
/// a caller with other work to do first (loading the cache) calls it earlier.
pub fn warm_up(request: &ScanRequest) {
    static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if request.tokens && !STARTED.swap(true, Ordering::Relaxed) {
        rayon::spawn(crate::tokens::warm_up);
    }
}

/// The rest of a scan after [`walk_roots`].
pub fn scan_walked(
    deps: &ScanDeps<'_>,
    request: &ScanRequest,
    walked: Walked,
    prior: Option<ScanCache>,
) -> (ScanResult, ScanCache) {
    let Walked { started_at, run_id, candidates, all_files, mut file_issues, files_walked, mut files_skipped } = walked;
    warm_up(request);
    let registry = deps.registry;
    let emit = |event_type: &str, data: Value| {
        deps.progress.emit(&Event::scan(event_type, deps.clock.now_ms(), &run_id, data));
    };

    let total = candidates.len() as u64;
    let done = AtomicU64::new(0);
    let plan = DetectPlan::new(registry);
    let empty_index = NodeIndex::default();
    let reader = Reader { fs: deps.fs, request, registry, plan: &plan, empty_index: &empty_index };
    let held_bytes = AtomicU64::new(0);
    let per_file_events = deps.progress.wants(types::SCAN_PROGRESS);
    let within_budget = |mut e: Entry| {
        if let Body::Held(body) = &e.body {
            let len = body.text.len() as u64;
            if held_bytes.fetch_add(len, Ordering::Relaxed) + len > request.held_body_bytes {
                e.body = Body::Released;
            }
        }
        e
    };
    // A cache written by other producers (another sm version, other adapters or detectors, another
    // size limit) is not trusted at all: every file is read again.
    let producers = producers_fingerprint(request, registry);
    let mut prior = prior.filter(|p| {
        !p.hollow
            && !p.lent
            && p.index_fingerprint
                .as_deref()
                .and_then(|f| f.split_once(':'))
                .is_some_and(|(made_by, _)| made_by == producers)
    });
    let prior_len = prior.as_ref().map(|p| p.nodes.len());
    let incremental = prior.is_some();
    let prior_fingerprint = prior.as_ref().and_then(|p| p.index_fingerprint.clone());
    let prior_index = prior.as_ref().and_then(|p| p.index.clone());
    // The prior scan's links, when they were given back (a kept cache's only).
    let prior_links = prior.as_mut().and_then(|p| p.links.take()).and_then(|k| Some((k.links?, k.external)));
    let prior_nodes = prior.map(|p| p.nodes).unwrap_or_default();
    let reusable = |e: &CachedNode, c: &Candidate| {
        let same_file = e.file_size == c.size && e.file_mtime_ms == c.mtime_ms && c.mtime_ms != 0;
        let same_class = e.node.adapter == c.adapter && e.node.kind == c.kind;
        let has_tokens = !request.tokens || e.node.tokens.is_some();
        same_file && same_class && has_tokens
    };
    // Reusable cache entries are moved out (candidate paths are unique), not cloned: the cache and
    // the candidates are walked together in path order (one root's candidates already are).
    let mut by_name: Vec<usize> = (0..candidates.len()).collect();
    by_name.sort_by(|&a, &b| candidates[a].path.cmp(&candidates[b].path));
    // Left empty without a prior cache: a vector of absent entries would be as large as the
    // entries themselves.
    let mut cached: Vec<Option<CachedNode>> = Vec::new();
    if !prior_nodes.is_empty() {
        cached.resize_with(candidates.len(), || None);
    }
    // What is left of the prior cache: files that changed, and nodes that may have vanished.
    let mut not_reused: Vec<String> = Vec::new();
    // What the prior index knew of those nodes, to tell whether it still holds.
    let mut prior_keys: HashMap<String, IndexKey> = HashMap::new();
    let mut next = by_name.iter().copied().peekable();
    for (path, entry) in prior_nodes {
        while next.peek().is_some_and(|&i| candidates[i].path < path) {
            next.next();
        }
        match next.peek() {
            Some(&i) if candidates[i].path == path && reusable(&entry, &candidates[i]) => {
                cached[i] = Some(entry);
                next.next();
            }
            _ => {
                if prior_index.is_some() {
                    prior_keys.insert(path.clone(), index_key(&entry.node));
                }
                not_reused.push(path);
            }
        }
    }
    let padding = candidates.len() - cached.len();
    let built: Vec<Result<Entry, Box<Issue>>> = candidates
        .par_iter()
        .zip(cached.into_par_iter().chain(rayon::iter::repeat_n(None, padding)))
        .map(|(c, cached)| {
            let from_cache = cached.is_some();
            let outcome = match cached {
                Some(e) => Ok(entry_from_cache(e, request.tokens)),
                None => reader.read_entry(c).map(within_budget),
            };
            let index = done.fetch_add(1, Ordering::Relaxed) + 1;
            if per_file_events {
                emit(
                    types::SCAN_PROGRESS,
                    json!({ "index": index, "total": total, "path": c.path, "cached": from_cache }),
                );
            }
            outcome
        })
        .collect();
    // In place: the entries keep the outcomes' allocation.
    let mut entries: Vec<Entry> = built
        .into_iter()
        .filter_map(|outcome| match outcome {
            Ok(e) => Some(e),
            Err(issue) => {
                files_skipped += 1;
                file_issues.push(*issue);
                None
            }
        })
        .collect();
    // Files are read again only for stale cache entries (there are none without a prior cache)
    // and for late detectors: without either, the candidates go now and what follows can use
    // their memory.
    let candidates = if incremental || !plan.late.is_empty() {
        candidates
    } else {
        rayon::spawn(move || drop(candidates));
        Arc::default()
    };

    // The prior index still holds when the same files were walked and every node read again
    // (the others came unchanged from the cache) keeps its path, kind and names.
    let kept_index = prior_index.zip(prior_fingerprint.clone()).filter(|(index, _)| {
        prior_len == Some(entries.len())
            && all_files.iter().map(String::as_str).eq(index.files())
            && entries
                .iter()
                .filter(|e| e.cached_detections.is_none())
                .all(|e| prior_keys.get(&e.node.path).is_some_and(|key| *key == index_key(&e.node)))
    });
    let (index, fingerprint) = kept_index.unwrap_or_else(|| {
        // The walked paths move into the index (its file set is sorted), which the fingerprint reads.
        let files = Arc::try_unwrap(all_files).unwrap_or_else(|shared| shared.as_ref().clone());
        let index = NodeIndex::with_files(entries.iter().map(|e| &e.node), files);
        let fingerprint = format!("{producers}:{}", index_fingerprint(&index));
        (Arc::new(index), fingerprint)
    });
    let same_index = prior_fingerprint.as_deref() == Some(fingerprint.as_str());
    // A cached node whose stored detector output may be stale is read again.
    let stale: Vec<usize> = entries
        .par_iter()
        .enumerate()
        .filter(|(_, e)| {
            e.cached_detections.as_ref().is_some_and(|det| {
                (0..plan.ids.len()).any(|i| det.get(i, &plan.ids).is_none() || (plan.depends(i) && !same_index))
            })
        })
        .map(|(i, _)| i)
        .collect();
    // Needed only to read files again (stale cache entries, late detectors).
    let by_path: HashMap<&str, &Candidate> = if stale.is_empty() && plan.late.is_empty() {
        HashMap::new()
    } else {
        candidates.iter().map(|c| (c.path.as_str(), c)).collect()
    };
    let reread: Vec<(usize, Option<Entry>)> = stale
        .par_iter()
        .map(|&i| {
            let c = by_path.get(entries[i].node.path.as_str());
            (i, c.and_then(|c| reader.read_entry(c).ok()).map(within_budget))
        })
        .collect();
    for (i, fresh) in reread {
        if let Some(fresh) = fresh {
            entries[i] = fresh;
        }
    }

    let fresh_idx: Vec<usize> =
        entries.iter().enumerate().filter(|(_, e)| e.cached_detections.is_none()).map(|(i, _)| i).collect();
    let reused_all = prior_len == Some(entries.len()) && same_index && fresh_idx.is_empty();
    if !fresh_idx.is_empty() {
        for detector in registry.detectors() {
            detector.begin_scan(&index);
        }
        plan.complete(registry, &mut entries, &index);
        let fresh_nodes: Vec<&Node> = fresh_idx.iter().map(|&i| &entries[i].node).collect();
        let fresh_bodies: Vec<Option<(&str, u64)>> = fresh_idx
            .iter()
            .map(|&i| match &entries[i].body {
                Body::Held(body) => Some((body.as_str(), body.line)),
                Body::Released | Body::NotRead => None,
            })
            .collect();
        let reread_body = |node: &Node| by_path.get(node.path.as_str()).and_then(|c| read_body(deps.fs, c));
        let late = run_late_detectors(registry, &plan, &fresh_nodes, &fresh_bodies, &index, &reread_body);
        for (&i, late) in fresh_idx.iter().zip(late) {
            let e = &mut entries[i];
            let mut det = std::mem::take(&mut e.early);
            det.merge(late);
            e.cached_detections = Some(Found::Fresh(det));
            // Detection was the body's last use.
            e.body = Body::Released;
        }
    }
    // A cache kept for the next scan keeps its own copy of every link. A cache that is only
    // persisted keeps the stored form instead (encoded here, in parallel), and the links move into
    // the result: one copy of each link in memory instead of two.
    let hollow = !request.keep_cache_nodes;
    let mut encoded: Vec<Option<String>> = Vec::new();
    let prior_links = prior_links.filter(|_| !hollow);
    let (links, external) = if let Some((prior_links, prior_external)) = prior_links {
        // The nodes whose detector output came from the cache have the prior scan's links (those
        // are built from that output): only the nodes read in this scan have theirs built here.
        let mut reused: Vec<&str> = entries
            .iter()
            .filter(|e| matches!(e.cached_detections, Some(Found::Cached(_))))
            .map(|e| e.node.path.as_str())
            .collect();
        // (In path order already, unless the scan had several roots.)
        if !reused.is_sorted() {
            reused.par_sort_unstable();
        }
        let (fresh, fresh_external) = finish_links(copy_links(&entries, &plan, true));
        let mut external = prior_external;
        external.retain(|source, _| reused.binary_search(&source.as_str()).is_ok());
        external.extend(fresh_external);
        (splice_links(prior_links, &reused, fresh), external)
    } else if hollow {
        finish_links({
            // Each entry's links move into one vector (sized once: growing by doubling would copy
            // them and leave up to half unused), freeing the entry's buffers before the stored form
            // is written, which can then take their place.
            let width = plan.ids.len();
            let mut lengths: Vec<Option<usize>> = Vec::with_capacity(entries.len() * width);
            for e in &entries {
                let det = e.cached_detections.as_ref().expect("every entry has detections now");
                lengths.extend((0..width).map(|i| det.get(i, &plan.ids).map(<[Link]>::len)));
            }
            let mut flattened = Vec::with_capacity(lengths.iter().flatten().sum());
            let mut starts = Vec::with_capacity(entries.len());
            for e in &mut entries {
                starts.push(flattened.len());
                let det = e.cached_detections.take().expect("every entry has detections now");
                flattened.extend(det.into_positions(&plan.ids).into_iter().flatten().flatten());
            }
            // Only rows persistence will write are encoded: all of them after a full scan, those of
            // files read after an incremental one.
            encoded = entries
                .par_iter()
                .zip(starts)
                .enumerate()
                .map(|(n, (e, start))| {
                    let lengths = &lengths[n * width..(n + 1) * width];
                    let written = !incremental || !matches!(e.body, Body::NotRead);
                    written.then(|| {
                        // A detector's slice starts after those of the detectors before it.
                        let mut at = start;
                        let slices: Vec<Option<&[Link]>> = lengths
                            .iter()
                            .map(|len| {
                                let len = (*len)?;
                                at += len;
                                Some(&flattened[at - len..at])
                            })
                            .collect();
                        encode_detections(
                            plan.by_id.iter().filter_map(|&i| Some((plan.ids[i].as_str(), slices.get(i).copied()??))),
                        )
                    })
                })
                .collect();
            flattened
        })
    } else {
        finish_links(copy_links(&entries, &plan, false))
    };
    for e in &entries {
        file_issues.extend(e.file_issues.iter().cloned());
    }
    // What the delta needs of each entry once the nodes have their new counts: whether its stored
    // row came from the cache, the counts stored with it, and whether its file was read.
    let before: Vec<(bool, [u64; 3], bool)> = if incremental {
        entries
            .iter()
            .map(|e| {
                let n = &e.node;
                let counts = [n.links_out_count, n.links_in_count, n.external_refs_count];
                (e.row_from_cache, counts, !matches!(e.body, Body::NotRead))
            })
            .collect()
    } else {
        Vec::new()
    };
    // A hollow cache's rows are split off the entries here, the nodes moving into the result: the
    // entries are gone before the rules run. A kept cache lends its nodes to the result (a
    // stand-in stays in each entry) and gets them back with their new counts from the caller
    // (`ScanCache::restore_nodes`), instead of keeping a copy of each.
    let (mut nodes, hollow_rows): (Vec<Node>, Vec<HollowRow>) = if hollow {
        let rows = entries
            .iter_mut()
            .zip(encoded)
            .map(|(e, encoded_detections)| HollowRow {
                file_size: e.file_size,
                file_mtime_ms: e.file_mtime_ms,
                body_start_line: e.body_start_line,
                encoded_detections,
                file_issues: std::mem::take(&mut e.file_issues),
            })
            .collect();
        // The nodes take the entries' place: a node is smaller than an entry, so they are
        // collected into the entries' own buffer, whose tail is then given back. A second vector
        // beside it would add the nodes' size (19 MB at 50k) to the scan's peak.
        let mut nodes: Vec<Node> = std::mem::take(&mut entries).into_iter().map(|e| e.node).collect();
        nodes.shrink_to_fit();
        (nodes, rows)
    } else {
        (entries.iter_mut().map(|e| std::mem::replace(&mut e.node, Node::new("", "", ""))).collect(), Vec::new())
    };
    let resolutions = count_links(&mut nodes, &links, &external, &index);
    let kept_links = (!hollow).then_some(KeptLinks { links: None, lent: links.len(), external });
    // What persistence must write when it can update the stored scan in place: node rows that are
    // new or differ from the stored ones, and cache rows of files read in this scan.
    let delta = incremental.then(|| {
        let mut delta = PersistDelta {
            vanished: not_reused.into_iter().filter(|p| !index.contains_path(p)).collect(),
            ..PersistDelta::default()
        };
        for (&(row_from_cache, counts, read), n) in before.iter().zip(&nodes) {
            if !(row_from_cache && counts == [n.links_out_count, n.links_in_count, n.external_refs_count]) {
                delta.nodes_written.insert(n.path.clone());
            }
            if read {
                delta.cache_written.insert(n.path.clone());
            }
        }
        delta
    });
    // A kept cache is assembled while the rules run; what is left of each entry is freed on
    // whichever core is free.
    let (cached_nodes, mut issues) = rayon::join(
        || {
            // The entry's stand-in node moves into the cache, keyed by the lent node's path.
            let rows: Vec<(String, CachedNode)> = entries
                .into_par_iter()
                .zip(nodes.par_iter())
                .map(|(e, lent)| {
                    let cached = CachedNode {
                        node: e.node,
                        file_size: e.file_size,
                        file_mtime_ms: e.file_mtime_ms,
                        body_start_line: e.body_start_line,
                        detections: e.cached_detections.map(|det| det.into_map(&plan.ids)).unwrap_or_default(),
                        file_issues: e.file_issues,
                    };
                    (lent.path.clone(), cached)
                })
                .collect();
            rows.into_iter().collect()
        },
        || run_rules(registry, &nodes, &links, &resolutions, &index, &request.rule_config),
    );
    let cache = ScanCache {
        nodes: cached_nodes,
        hollow_rows,
        index_fingerprint: Some(fingerprint),
        input_fingerprint: None,
        reused_all,
        delta,
        hollow,
        lent: !hollow,
        index: (!hollow).then(|| Arc::clone(&index)),
        links: kept_links,
    };

    file_issues.sort_by(|a, b| (&a.node_ids, &a.rule_id).cmp(&(&b.node_ids, &b.rule_id)));
    if request.strict {
        for issue in &mut file_issues {
            if issue.rule_id == ids::FRONTMATTER_INVALID || issue.rule_id == ids::FRONTMATTER_MALFORMED {
                issue.severity = Severity::Error;
            }
        }
    }
    issues.extend(file_issues);

    let stats = ScanStats {
        files_walked,
        files_skipped,
        nodes_count: nodes.len() as u64,
        links_count: links.len() as u64,
        issues_count: issues.len() as u64,
        duration_ms: deps.clock.now_ms().saturating_sub(started_at),
    };
    emit(types::SCAN_COMPLETED, json!({ "stats": stats }));
    let mut adapters: Vec<String> = registry.adapters().iter().map(|a| a.info().id).collect();
    adapters.sort();
    let result = ScanResult {
        schema_version: SCAN_RESULT_SCHEMA_VERSION,
        scanned_at: started_at,
        scope: request.scope,
        roots: request.roots.clone(),
        adapters,
        scanned_by: Some(request.scanned_by.clone()),
        nodes,
        links,
        issues,
        stats,
    };
    // Freeing the walk and the index (hundreds of thousands of small allocations at 50k nodes)
    // happens on another core while the caller goes on (persisting, printing).
    drop(by_path);
    let spare = (candidates, index);
    rayon::spawn(move || drop(spare));
    (result, cache)
}

/// Lets the detectors derive what they need from `cache`'s kept index ahead of the next scan,
/// which then finds it done (a watch calls this while it waits for changes). `begin_scan` with the
/// same index again is a no-op for a detector that keys its tables by the index's generation.
pub fn warm_detectors(registry: &Registry, cache: &ScanCache) {
    if let Some(index) = &cache.index {
        for detector in registry.detectors() {
            detector.begin_scan(index);
        }
    }
}

/// What a node contributes to the index besides its path: its kind and names.
type IndexKey = (String, Vec<String>);

fn index_key(node: &Node) -> IndexKey {
    (node.kind.clone(), crate::node_index::node_names(node))
}

/// Checks every root before anything is read or written.
pub fn validate_roots(fs: &dyn FilesystemPort, roots: &[String]) -> Result<(), ScanError> {
    if roots.is_empty() {
        return Err(ScanError::NoRoots);
    }
    for root in roots {
        match fs.root_status(root) {
            RootStatus::Directory => {}
            RootStatus::Missing => return Err(ScanError::RootMissing(root.clone())),
            RootStatus::NotADirectory => return Err(ScanError::RootNotDirectory(root.clone())),
        }
    }
    Ok(())
}

#[derive(Clone)]
struct Candidate {
    root: Arc<str>,
    path: String,
    size: u64,
    mtime_ms: i64,
    adapter: String,
    kind: String,
}

fn entry_from_cache(e: CachedNode, tokens: bool) -> Entry {
    let mut node = e.node;
    let row_from_cache = tokens || node.tokens.is_none();
    if !tokens {
        node.tokens = None;
    }
    Entry {
        row_from_cache,
        node,
        body: Body::NotRead,
        file_size: e.file_size,
        file_mtime_ms: e.file_mtime_ms,
        body_start_line: e.body_start_line,
        file_issues: e.file_issues,
        cached_detections: Some(Found::Cached(e.detections)),
        early: Detections::default(),
        prepared: Vec::new(),
    }
}

/// The adapter (by its id in `adapter_ids`, the registry's adapters' ids in order) and kind of
/// the first adapter that claims `path`.
fn classify(registry: &Registry, adapter_ids: &[String], path: &str) -> Option<(String, String)> {
    registry.adapters().iter().zip(adapter_ids).find_map(|(a, id)| a.classify(path).map(|kind| (id.clone(), kind)))
}

/// Which detectors run when.
struct DetectPlan {
    /// Every detector's id, by position in the registry.
    ids: Vec<String>,
    /// Positions in id order: the order stored detector output is written in.
    by_id: Vec<usize>,
    /// Detectors that do not depend on the index: they run as soon as a file is read.
    early: Vec<usize>,
    /// Index-dependent detectors that split their work: `prepare` as soon as a file is read,
    /// `complete` once the index is built.
    prepared: Vec<usize>,
    /// Index-dependent detectors that need the body once the index is built (plugins): bodies are
    /// held (or read again) for them.
    late: Vec<usize>,
}

impl DetectPlan {
    fn new(registry: &Registry) -> Self {
        let mut plan =
            Self { ids: Vec::new(), by_id: Vec::new(), early: Vec::new(), prepared: Vec::new(), late: Vec::new() };
        for (i, d) in registry.detectors().iter().enumerate() {
            plan.ids.push(d.info().id);
            match (d.depends_on_index(), d.prepares()) {
                (false, _) => plan.early.push(i),
                (true, true) => plan.prepared.push(i),
                (true, false) => plan.late.push(i),
            }
        }
        plan.by_id = (0..plan.ids.len()).collect();
        plan.by_id.sort_by(|&a, &b| plan.ids[a].cmp(&plan.ids[b]));
        plan
    }

    /// Whether the detector at `i` depends on the index (everything not run early).
    fn depends(&self, i: usize) -> bool {
        !self.early.contains(&i)
    }

    /// Runs the early detectors and the `prepare` half of the splitting ones on one body.
    fn detect_early(&self, registry: &Registry, ctx: &DetectContext<'_>) -> EarlyDetections {
        let detectors = registry.detectors();
        let mut early = Detections::with_width(self.ids.len());
        for &i in &self.early {
            let mut found = detectors[i].detect_batch(std::slice::from_ref(ctx)).pop().unwrap_or_default();
            tag_links(&mut found, &self.ids[i]);
            early.set(i, found);
        }
        let prepared = self.prepared.iter().filter_map(|&i| detectors[i].prepare(ctx).map(|p| (i, p))).collect();
        (early, prepared)
    }

    /// Completes the prepared detectors of every entry read in this scan, against the index.
    fn complete(&self, registry: &Registry, entries: &mut [Entry], index: &NodeIndex) {
        if self.prepared.is_empty() {
            return;
        }
        let detectors = registry.detectors();
        entries.par_iter_mut().filter(|e| e.cached_detections.is_none()).for_each(|e| {
            let mut prepared = std::mem::take(&mut e.prepared);
            // Every prepared detector gets an entry, empty when `prepare` kept nothing: the cache
            // must show it ran.
            for &i in &self.prepared {
                let mut links = match prepared.iter().position(|(j, _)| *j == i) {
                    Some(at) => detectors[i].complete(&e.node, prepared.swap_remove(at).1, index),
                    None => Vec::new(),
                };
                tag_links(&mut links, &self.ids[i]);
                e.early.set(i, links);
            }
        });
    }
}

/// Early detector output, and what the splitting detectors prepared.
type EarlyDetections = (Detections, Vec<(usize, Prepared)>);

/// One node's detector output by detector position in the registry (`None`: that detector has
/// not run on it). Positions instead of a map keyed by id: no id strings and no map node per node.
#[derive(Default)]
struct Detections(Vec<Option<Vec<Link>>>);

impl Detections {
    /// Room for `width` detectors, none run yet.
    fn with_width(width: usize) -> Self {
        Self((0..width).map(|_| None).collect())
    }

    /// Stores a detector's links, without the room its vector grew into: detectors push, and a
    /// vector of links that grew by doubling is up to half empty (50k nodes' detections held 50 MB
    /// for 20 MB of links). The links move into a vector of their size; the grown one is freed
    /// whole, for the next detector's pushes to reuse.
    fn set(&mut self, i: usize, mut links: Vec<Link>) {
        if links.capacity() > links.len() {
            let mut exact = Vec::with_capacity(links.len());
            exact.append(&mut links);
            links = exact;
        }
        if self.0.len() <= i {
            self.0.resize_with(i + 1, || None);
        }
        self.0[i] = Some(links);
    }

    fn get(&self, i: usize) -> Option<&[Link]> {
        self.0.get(i)?.as_deref()
    }

    /// Takes in what `other` found (detectors this one has not run).
    fn merge(&mut self, other: Detections) {
        for (i, links) in other.0.into_iter().enumerate() {
            if let Some(links) = links {
                self.set(i, links);
            }
        }
    }
}

/// A node's complete detector output: as a cache keeps it, by detector id (kept as it is, a watch
/// batch converts nothing), or as this scan found it, by position.
enum Found {
    Cached(BTreeMap<String, Vec<Link>>),
    Fresh(Detections),
}

impl Found {
    /// The output of the detector at position `i` (`ids` are the detectors' ids by position).
    fn get<'a>(&'a self, i: usize, ids: &[String]) -> Option<&'a [Link]> {
        match self {
            Found::Cached(map) => map.get(&ids[i]).map(Vec::as_slice),
            Found::Fresh(found) => found.get(i),
        }
    }

    /// Every detector's output by position, moved out; output of detectors not in `ids` is dropped
    /// (a cache is used only when the same detectors wrote it).
    fn into_positions(self, ids: &[String]) -> Vec<Option<Vec<Link>>> {
        match self {
            Found::Cached(mut map) => ids.iter().map(|id| map.remove(id)).collect(),
            Found::Fresh(found) => found.0,
        }
    }

    /// The cache's form.
    fn into_map(self, ids: &[String]) -> BTreeMap<String, Vec<Link>> {
        match self {
            Found::Cached(map) => map,
            Found::Fresh(found) => {
                ids.iter().cloned().zip(found.0).filter_map(|(id, links)| Some((id, links?))).collect()
            }
        }
    }
}

/// A link without detector ids is attributed to the detector that returned it.
fn tag_links(links: &mut [Link], id: &str) {
    for link in links {
        if link.sources.is_empty() {
            link.sources.push(id.to_owned());
        }
    }
}

/// Reads files into entries: node, early detections, and the body if late detectors need it.
struct Reader<'a> {
    fs: &'a dyn FilesystemPort,
    request: &'a ScanRequest,
    registry: &'a Registry,
    plan: &'a DetectPlan,
    empty_index: &'a NodeIndex,
}

thread_local! {
    /// Each scanning thread reads every file into the same buffer: no allocation and no fresh
    /// pages per file.
    static READ_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Reader<'_> {
    fn read_entry(&self, c: &Candidate) -> Result<Entry, Box<Issue>> {
        let request = self.request;
        if c.size > request.max_file_size_bytes {
            return Err(Box::new(
                Issue::new(
                    ids::FILE_TOO_LARGE,
                    Severity::Info,
                    &c.path,
                    format!(
                        "{} is {} bytes, over scan.maxFileSizeBytes ({}); not scanned",
                        c.path, c.size, request.max_file_size_bytes
                    ),
                )
                .with_data(json!({ "bytes": c.size, "limit": request.max_file_size_bytes })),
            ));
        }
        // Taken out of the thread's slot (not borrowed), so nothing can observe it half-used.
        let mut buf = READ_BUFFER.take();
        let entry = self.entry_from(c, &mut buf);
        READ_BUFFER.set(buf);
        entry
    }

    fn entry_from(&self, c: &Candidate, buf: &mut Vec<u8>) -> Result<Entry, Box<Issue>> {
        if let Err(err) = self.fs.read_into(&c.root, &c.path, buf) {
            return Err(Box::new(Issue::new(
                ids::FILE_UNREADABLE,
                Severity::Warn,
                &c.path,
                format!("{} could not be read: {err}", c.path),
            )));
        }
        let text = decode_text(buf).map_err(|why| {
            Box::new(
                Issue::new(
                    ids::FILE_NOT_TEXT,
                    Severity::Warn,
                    &c.path,
                    format!("{} is not UTF-8 text ({why}); not scanned", c.path),
                )
                .with_data(json!({ "reason": why })),
            )
        })?;
        let (node, body_offset, body_start_line, file_issues) =
            build_node(&c.adapter, &c.kind, &c.path, text, self.request.tokens, self.request.known_tokens.as_deref());
        let body = lf_body(&text[body_offset..]);
        let (early, prepared) = if self.plan.early.is_empty() && self.plan.prepared.is_empty() {
            (Detections::default(), Vec::new())
        } else {
            let prose = mask_non_prose(&body);
            let ctx =
                DetectContext { node: &node, body: &body, prose: &prose, body_start_line, index: self.empty_index };
            self.plan.detect_early(self.registry, &ctx)
        };
        let body = if self.plan.late.is_empty() {
            Body::Released
        } else {
            Body::Held(DetectBody { text: body.into_owned(), start: 0, line: body_start_line })
        };
        Ok(Entry {
            body_start_line,
            node,
            body,
            file_size: c.size,
            file_mtime_ms: c.mtime_ms,
            file_issues,
            cached_detections: None,
            early,
            prepared,
            row_from_cache: false,
        })
    }
}

/// A body with its line endings normalised to `\n` (borrowed when it has no `\r`).
fn lf_body(body: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr(b'\r', body.as_bytes()).is_some() {
        std::borrow::Cow::Owned(body.replace("\r\n", "\n"))
    } else {
        std::borrow::Cow::Borrowed(body)
    }
}

/// A body as detectors see it, without copying it out of the file's text when it can be helped.
struct DetectBody {
    text: String,
    /// Where the body starts in `text`.
    start: usize,
    /// The body's first line in the file.
    line: u64,
}

impl DetectBody {
    /// The body of `text` from `offset`, line endings normalised to `\n`.
    fn new(text: String, offset: usize, line: u64) -> Self {
        match lf_body(&text[offset..]) {
            std::borrow::Cow::Owned(lf) => Self { text: lf, start: 0, line },
            std::borrow::Cow::Borrowed(_) => Self { text, start: offset, line },
        }
    }

    fn as_str(&self) -> &str {
        &self.text[self.start..]
    }
}

fn decode_text(bytes: &[u8]) -> Result<&str, String> {
    // (The memchr crate's search is several times as fast as the standard library's here.)
    if let Some(pos) = memchr::memchr(0, bytes) {
        return Err(format!("NUL byte at offset {pos}: binary file"));
    }
    std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))
}

/// Builds one node from its text; also returns where the body starts in `text` (byte offset) and
/// on which line.
pub fn build_node(
    adapter: &str,
    kind: &str,
    path: &str,
    text: &str,
    tokens: bool,
    known: Option<&KnownTokens>,
) -> (Node, usize, u64, Vec<Issue>) {
    let split = frontmatter::split(text);
    let raw_fm = split.raw_frontmatter.unwrap_or("");
    let parsed = frontmatter::parse(raw_fm, split.frontmatter_start_line);
    let mut issues = Vec::new();
    if let Some(problem) = &parsed.problem {
        issues.push(
            Issue::new(
                ids::FRONTMATTER_INVALID,
                Severity::Warn,
                path,
                format!(
                    "Frontmatter of {path} is not strict YAML (line {}: {}); recovered {} key(s)",
                    problem.line,
                    problem.reason,
                    problem.recovered_keys.len()
                ),
            )
            .with_data(json!({
                "kind": kind,
                "line": problem.line,
                "reason": problem.reason,
                "recoveredKeys": problem.recovered_keys,
            })),
        );
    }
    if let Some(hint) = split.malformed {
        let fix = match hint {
            MalformedHint::MissingClose => "add a closing `---` line after the last frontmatter key",
            MalformedHint::PasteWithIndent => "move the `---` fences and keys to column 0",
        };
        issues.push(
            Issue::new(
                ids::FRONTMATTER_MALFORMED,
                Severity::Warn,
                path,
                format!("{path} looks like it has frontmatter but it was not recognised: {fix}"),
            )
            .with_data(json!({ "hint": hint.as_str(), "line": 1 })),
        );
    }
    let fm = parsed.map;
    let body_text = split.body;
    let body_hash = content_hash(body_text);
    let frontmatter_hash = content_hash(raw_fm);
    let count = |text: &str, hash: &str| known.and_then(|k| k.count(text, hash)).unwrap_or_else(|| count_tokens(text));
    let tokens = tokens.then(|| TripleSplit::new(count(raw_fm, &frontmatter_hash), count(body_text, &body_hash)));
    let node = Node {
        path: path.to_owned(),
        kind: kind.to_owned(),
        adapter: adapter.to_owned(),
        title: Some(title_of(&fm, body_text, path)),
        description: non_empty_str(frontmatter::field(&fm, "description")),
        stability: metadata(&fm, "stability").and_then(|v| v.as_str().and_then(Stability::parse)),
        version: metadata(&fm, "version")
            .and_then(scalar_string)
            .or_else(|| non_empty_str(frontmatter::field(&fm, "version"))),
        author: non_empty_str(frontmatter::field(&fm, "author"))
            .or_else(|| metadata(&fm, "author").and_then(scalar_string)),
        body_hash,
        frontmatter_hash,
        bytes: TripleSplit::new(raw_fm.len() as u64, body_text.len() as u64),
        tokens,
        links_out_count: 0,
        links_in_count: 0,
        external_refs_count: 0,
        frontmatter: fm,
    };
    (node, body_offset(text, body_text), split.body_start_line, issues)
}

/// Where `body`, a suffix of `text`, starts in it.
fn body_offset(text: &str, body: &str) -> usize {
    text.len() - body.len()
}

/// Reads a file again for its detectors: the body and its first line, as [`build_node`] gave them.
/// `None` when the file can no longer be read as text (it changed since; it is seen next scan).
fn read_body(fs: &dyn FilesystemPort, c: &Candidate) -> Option<DetectBody> {
    let bytes = fs.read(&c.root, &c.path).ok()?;
    decode_text(&bytes).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let split = frontmatter::split(&text);
    let (offset, line) = (body_offset(&text, split.body), split.body_start_line);
    Some(DetectBody::new(text, offset, line))
}

fn metadata<'a>(fm: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    frontmatter::field(fm, "metadata").and_then(Value::as_object).and_then(|m| m.get(key))
}

fn non_empty_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Frontmatter `name`, else the first `# heading` outside code fences, else the file stem
/// (the directory name for `SKILL.md`).
fn title_of(fm: &Map<String, Value>, body: &str, path: &str) -> String {
    if let Some(name) = non_empty_str(frontmatter::field(fm, "name")) {
        return name;
    }
    let mut in_fence = false;
    for line in body.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence && let Some(h) = line.strip_prefix("# ") {
            let h = h.trim().trim_end_matches('#').trim();
            if !h.is_empty() {
                return h.to_owned();
            }
        }
    }
    let file = path.rsplit('/').next().unwrap_or(path);
    if file == "SKILL.md"
        && let Some(dir) = path.rsplit('/').nth(1)
    {
        return dir.to_owned();
    }
    file.rsplit_once('.').map_or(file, |(stem, _)| stem).to_owned()
}

/// Runs the late detectors (index-dependent, not splitting: plugins) over the nodes read in this
/// scan, in chunks, reading released bodies again.
fn run_late_detectors(
    registry: &Registry,
    plan: &DetectPlan,
    nodes: &[&Node],
    bodies: &[Option<(&str, u64)>],
    index: &NodeIndex,
    reread: &(dyn Fn(&Node) -> Option<DetectBody> + Sync),
) -> Vec<Detections> {
    if plan.late.is_empty() {
        return nodes.iter().map(|_| Detections::default()).collect();
    }
    let late: Vec<(usize, &dyn Detector)> = plan.late.iter().map(|&i| (i, registry.detectors()[i].as_ref())).collect();
    let pairs: Vec<(&Node, Option<(&str, u64)>)> = nodes.iter().copied().zip(bodies.iter().copied()).collect();
    pairs
        .par_chunks(DETECT_CHUNK)
        .flat_map_iter(|chunk| {
            // Released bodies are read again here, one chunk at a time.
            let reread_now: Vec<Option<DetectBody>> =
                chunk.iter().map(|(node, body)| if body.is_none() { reread(node) } else { None }).collect();
            let bodies: Vec<(&str, u64)> = chunk
                .iter()
                .zip(&reread_now)
                .map(|((_, held), again)| held.or(again.as_ref().map(|b| (b.as_str(), b.line))).unwrap_or(("", 1)))
                .collect();
            let prose: Vec<String> = bodies.iter().map(|(body, _)| mask_non_prose(body)).collect();
            let ctxs: Vec<DetectContext<'_>> = chunk
                .iter()
                .zip(&bodies)
                .zip(&prose)
                .map(|(((node, _), (body, start)), prose)| DetectContext {
                    node,
                    body,
                    prose,
                    body_start_line: *start,
                    index,
                })
                .collect();
            let mut per_node: Vec<Detections> = chunk.iter().map(|_| Detections::default()).collect();
            for &(i, detector) in &late {
                for (slot, mut found) in per_node.iter_mut().zip(detector.detect_batch(&ctxs)) {
                    tag_links(&mut found, &plan.ids[i]);
                    slot.set(i, found);
                }
            }
            per_node
        })
        .collect()
}

/// Nodes per detector call: large enough to amortise a plugin's boundary crossing, small enough to
/// keep both cores busy.
const DETECT_CHUNK: usize = 64;

/// `scheme://` with a scheme of at least two characters (so `C:\` is not a URL).
pub fn has_url_scheme(target: &str) -> bool {
    // The scheme runs to the first character a scheme cannot hold, which must be that first `:`
    // (a path or name stops at its first `/`, `_` or space, without searching on for a colon).
    let bytes = target.as_bytes();
    let len = bytes.iter().take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')).count();
    len >= 2 && bytes[0].is_ascii_alphabetic() && target[len..].starts_with("://")
}

/// Copies of the links in the entries' detector output (of the entries read in this scan only, with
/// `fresh_only`), in entry order; made in parallel (rayon keeps the order).
fn copy_links(entries: &[Entry], plan: &DetectPlan, fresh_only: bool) -> Vec<Link> {
    entries
        .par_iter()
        .filter(|e| !fresh_only || matches!(e.cached_detections, Some(Found::Fresh(_))))
        .flat_map_iter(|e| {
            let det = e.cached_detections.as_ref().expect("every entry has detections now");
            (0..plan.ids.len()).filter_map(|i| det.get(i, &plan.ids)).flatten().cloned()
        })
        .collect()
}

/// Separates the external links (returned per source) from the others, sorted and merged: a
/// scan's links as its result holds them.
fn finish_links(mut links: Vec<Link>) -> (Vec<Link>, ExternalRefs) {
    let external = partition_external(&mut links);
    sort_links(&mut links);
    merge_duplicate_links(&mut links);
    (links, external)
}

/// `links` (a result's links, by source first) without those whose source is not in `kept` (paths
/// in order), merged with `fresh` (sorted the same way; no source in both): one vector in source
/// order. In place: the links move only to close the gaps the dropped ones leave and to make room
/// for the fresh ones, and a few fresh sources (a watch batch's edits) are inserted one by one.
fn splice_links(mut links: Vec<Link>, kept: &[&str], mut fresh: Vec<Link>) -> Vec<Link> {
    // Whether each source's links stay, found by walking the sources beside `kept`.
    let mut at = 0;
    let groups: Vec<(usize, bool)> = links
        .chunk_by(|a, b| a.source == b.source)
        .map(|group| {
            let source = group[0].source.as_str();
            while kept.get(at).is_some_and(|k| *k < source) {
                at += 1;
            }
            (group.len(), kept.get(at) == Some(&source))
        })
        .collect();
    if groups.iter().any(|&(_, stays)| !stays) {
        let mut stays = groups.iter().flat_map(|&(len, stays)| std::iter::repeat_n(stays, len));
        links.retain(|_| stays.next().unwrap_or(false));
    }
    if fresh.chunk_by(|a, b| a.source == b.source).count() <= 8 {
        // From the last source: each insertion moves only the links after it.
        while let Some(last) = fresh.last() {
            let start = fresh.partition_point(|l| l.source < last.source);
            let at = links.partition_point(|l| l.source < fresh[start].source);
            links.splice(at..at, fresh.drain(start..));
        }
        return links;
    }
    let mut out = Vec::with_capacity(links.len() + fresh.len());
    let mut fresh = fresh.into_iter().peekable();
    for link in links {
        while let Some(f) = fresh.next_if(|f| f.source < link.source) {
            out.push(f);
        }
        out.push(link);
    }
    out.extend(fresh);
    out
}

/// Sorts by source, target, kind and line, stably. The links usually come grouped by source in
/// source order (a node's links follow the node's, and nodes are in path order): then each group
/// is sorted on its own, without a scratch copy of every link.
fn sort_links(links: &mut [Link]) {
    let order = |a: &Link, b: &Link| {
        (&a.source, &a.target, a.kind, a.location.map(|l| l.line)).cmp(&(
            &b.source,
            &b.target,
            b.kind,
            b.location.map(|l| l.line),
        ))
    };
    if links.par_windows(2).all(|w| w[0].source <= w[1].source) {
        links.par_chunk_by_mut(|a, b| a.source == b.source).for_each(|group| group.sort_by(order));
    } else {
        links.par_sort_by(order);
    }
}

/// One link per (source, target, kind): `sources` is the sorted union of the detectors that found
/// it, `confidence` the highest, trigger and location those of the first occurrence. Expects links
/// sorted by source, target, kind. In place: no second vector of links.
fn merge_duplicate_links(links: &mut Vec<Link>) {
    links.dedup_by(|link, kept| {
        if !(kept.source == link.source && kept.target == link.target && kept.kind == link.kind) {
            return false;
        }
        for s in std::mem::take(&mut link.sources) {
            if !kept.sources.contains(&s) {
                kept.sources.push(s);
            }
        }
        kept.sources.sort();
        kept.confidence = kept.confidence.max(link.confidence);
        if kept.location.is_none() {
            kept.location = link.location;
        }
        if kept.trigger.is_none() {
            kept.trigger = link.trigger.take();
        }
        true
    });
}

/// Takes the links to external URLs out of `links` (in place): the distinct external targets per
/// source.
fn partition_external(links: &mut Vec<Link>) -> ExternalRefs {
    let mut external = ExternalRefs::new();
    links.retain(|link| {
        if has_url_scheme(&link.target) {
            external.entry(link.source.clone()).or_default().insert(link.target.clone());
            false
        } else {
            true
        }
    });
    external
}

/// Sets the nodes' link counts; returns how each link's target resolves (the rules read it too).
fn count_links<'i>(
    nodes: &mut [Node],
    links: &[Link],
    external: &ExternalRefs,
    index: &'i NodeIndex,
) -> Vec<Resolution<'i>> {
    // Targets resolved on both cores (the costly part) and both ends as positions in the index:
    // the counts are kept by position, without hashing paths again.
    type Ends = (Option<usize>, Option<usize>);
    let (resolutions, ends): (Vec<Resolution<'i>>, Vec<Ends>) = links
        .par_iter()
        .map(|link| {
            let target = index.resolve_target(&link.target);
            let at = match target {
                Resolution::Node(path) => index.position(path),
                _ => None,
            };
            (target, (index.position(&link.source), at))
        })
        .unzip();
    let (mut out, mut incoming) = (vec![0u64; index.node_count()], vec![0u64; index.node_count()]);
    for (source, target) in ends {
        if let Some(s) = source {
            out[s] += 1;
        }
        if let Some(t) = target {
            incoming[t] += 1;
        }
    }
    let at: Vec<Option<usize>> = nodes.par_iter().map(|n| index.position(&n.path)).collect();
    for (node, at) in nodes.iter_mut().zip(at) {
        node.links_out_count = at.map_or(0, |i| out[i]);
        node.links_in_count = at.map_or(0, |i| incoming[i]);
        node.external_refs_count = external.get(&node.path).map_or(0, |s| s.len() as u64);
    }
    resolutions
}

fn run_rules(
    registry: &Registry,
    nodes: &[Node],
    links: &[Link],
    resolutions: &[Resolution<'_>],
    index: &NodeIndex,
    config: &Value,
) -> Vec<Issue> {
    let ctx = RuleContext { nodes, links, index, resolutions, config };
    // Rules are independent of each other: they run in parallel, their issues kept in registry order.
    let per_rule: Vec<Vec<Issue>> = registry
        .rules()
        .par_iter()
        .map(|rule| {
            let id = rule.info().id;
            if ctx.option(&id, "enabled").and_then(Value::as_bool) == Some(false) {
                return Vec::new();
            }
            let mut issues = rule.evaluate(&ctx);
            issues.retain(|issue| !issue.node_ids.is_empty());
            for issue in &mut issues {
                if !is_kebab(&issue.rule_id) {
                    issue.rule_id = id.clone();
                }
            }
            issues
        })
        .collect();
    per_rule.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    /// The scheme test as first written (split at the first `:`), the reference for the
    /// scanning one.
    fn split_at_colon(target: &str) -> bool {
        let Some((scheme, rest)) = target.split_once(':') else {
            return false;
        };
        scheme.len() >= 2
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && rest.starts_with("//")
    }

    #[test]
    fn url_schemes_are_told_apart_as_before() {
        for fixed in ["https://x", "C:\\x", "c://x", "a1+.-://", "1a://x", "ab:/x", "é://x", "ab://", "", ":", "a:b://"]
        {
            assert_eq!(super::has_url_scheme(fixed), split_at_colon(fixed), "{fixed:?}");
        }
        let alphabet = ["a", "Z", "7", "+", "-", ".", ":", "/", "\\", "_", " ", "é", "h", "t", "p", "s"];
        let mut seed = 0x51_7cc1_b727_220a_u64;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(seed % 9) {
                s.push_str(alphabet[(crate::xorshift(&mut seed) % alphabet.len() as u64) as usize]);
            }
            assert_eq!(super::has_url_scheme(&s), split_at_colon(&s), "{s:?}");
        }
    }
}
