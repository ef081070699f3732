//! The scan use case through the kernel API, with in-memory ports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sm_kernel::events::Event;
use sm_kernel::extensions::{Adapter, DetectContext, Detector, ExtensionInfo, ExtensionKind, Rule, RuleContext};
use sm_kernel::model::*;
use sm_kernel::ports::*;
use sm_kernel::registry::Registry;
use sm_kernel::scan_orchestrator::{ScanDeps, ScanError, ScanRequest, run_scan};

struct MemFs(BTreeMap<String, Vec<u8>>);

impl FilesystemPort for MemFs {
    fn root_status(&self, root: &str) -> RootStatus {
        // Every root but a missing one lists the same files.
        if root == "missing" { RootStatus::Missing } else { RootStatus::Directory }
    }
    fn walk(&self, _root: &str, _o: &WalkOptions) -> Result<Vec<WalkedFile>, FsError> {
        Ok(self.0.iter().map(|(p, b)| WalkedFile { path: p.clone(), size: b.len() as u64, mtime_ms: 0 }).collect())
    }
    fn read(&self, _root: &str, path: &str) -> Result<Vec<u8>, FsError> {
        self.0.get(path).cloned().ok_or(FsError::Io { path: path.into(), message: "gone".into() })
    }
}

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        1000
    }
    fn new_run_id(&self) -> String {
        "r-1".into()
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);
impl ProgressEmitterPort for Recorder {
    fn emit(&self, e: &Event) {
        self.0.lock().expect("lock").push(e.event_type.clone());
    }
}

fn info(id: &str, kind: ExtensionKind) -> ExtensionInfo {
    ExtensionInfo { id: id.into(), kind, version: "1".into(), description: String::new() }
}

struct MdAdapter;
impl Adapter for MdAdapter {
    fn info(&self) -> ExtensionInfo {
        info("md", ExtensionKind::Adapter)
    }
    fn classify(&self, path: &str) -> Option<String> {
        path.ends_with(".md").then(|| "note".to_owned())
    }
}

/// Links every `[[name]]` in a body.
struct Wiki;
impl Detector for Wiki {
    fn info(&self) -> ExtensionInfo {
        info("wiki", ExtensionKind::Detector)
    }
    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        ctx.body
            .split("[[")
            .skip(1)
            .filter_map(|s| s.split_once("]]"))
            .map(|(name, _)| Link {
                source: ctx.node.path.clone(),
                target: name.to_owned(),
                kind: LinkKind::References,
                confidence: Confidence::High,
                sources: vec![],
                trigger: None,
                location: None,
                raw: None,
            })
            .collect()
    }
}

struct Unresolved;
impl Rule for Unresolved {
    fn info(&self) -> ExtensionInfo {
        info("unresolved", ExtensionKind::Rule)
    }
    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        ctx.links
            .iter()
            .filter(|l| ctx.index.resolve(&l.target).is_none())
            .map(|l| Issue::new("unresolved", Severity::Error, &l.source, format!("{} unresolved", l.target)))
            .collect()
    }
}

/// The Markdown adapter and `detector`, with the `unresolved` rule when `with_rule`.
fn md_registry(detector: Arc<dyn Detector>, with_rule: bool) -> Registry {
    let mut registry = Registry::new();
    registry.add_adapter(Arc::new(MdAdapter)).expect("add");
    registry.add_detector(detector).expect("add");
    if with_rule {
        registry.add_rule(Arc::new(Unresolved)).expect("add");
    }
    registry
}

fn request() -> ScanRequest {
    ScanRequest {
        roots: vec![".".into()],
        scope: Scope::Project,
        tokens: true,
        known_tokens: None,
        max_file_size_bytes: 1 << 20,
        strict: false,
        walk: WalkOptions::default(),
        scanned_by: ScannedBy { name: "t".into(), version: "0".into(), spec_version: SPEC_VERSION.into() },
        rule_config: serde_json::json!({}),
        held_body_bytes: sm_kernel::scan_orchestrator::DEFAULT_HELD_BODY_BYTES,
        keep_cache_nodes: false,
    }
}

fn files() -> MemFs {
    let mut m = BTreeMap::new();
    m.insert("b.md".to_owned(), b"---\nname: beta\n---\nsee [[alpha]] and [[ghost]]\n".to_vec());
    m.insert("a.md".to_owned(), b"---\nname: alpha\ndescription: first\n---\n# A\n".to_vec());
    m.insert("c.txt".to_owned(), b"not markdown".to_vec());
    MemFs(m)
}

#[test]
fn empty_registry_boots_and_returns_a_zero_filled_result() {
    let registry = Registry::new();
    let recorder = Recorder::default();
    let deps = ScanDeps { fs: &files(), registry: &registry, clock: &FixedClock, progress: &recorder };
    let result = run_scan(&deps, &request()).expect("scan");
    assert!(result.nodes.is_empty() && result.links.is_empty() && result.issues.is_empty());
    assert_eq!(result.stats, ScanStats::default());
    assert_eq!(*recorder.0.lock().expect("lock"), vec!["scan.started", "scan.completed"]);
}

#[test]
fn pipeline_classifies_detects_resolves_and_evaluates() {
    let registry = md_registry(Arc::new(Wiki), true);
    let recorder = Recorder::default();
    let deps = ScanDeps { fs: &files(), registry: &registry, clock: &FixedClock, progress: &recorder };
    let result = run_scan(&deps, &request()).expect("scan");
    assert_eq!(result.stats.files_walked, 3);
    let paths: Vec<&str> = result.nodes.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(paths, vec!["a.md", "b.md"]);
    assert_eq!(result.nodes[0].title.as_deref(), Some("alpha"));
    assert_eq!(result.nodes[0].links_in_count, 1, "[[alpha]] resolves by name");
    assert_eq!(result.nodes[1].links_out_count, 2);
    assert_eq!(result.links[0].sources, vec!["wiki".to_owned()], "the kernel stamps the detector id");
    assert_eq!(result.issues.len(), 1);
    assert_eq!(result.issues[0].message, "ghost unresolved");
    assert!(result.has_errors());
    assert!(result.nodes.iter().all(|n| n.tokens.is_some_and(|t| t.total > 0)));
    let events = recorder.0.lock().expect("lock").clone();
    assert_eq!(events.iter().filter(|e| *e == "scan.progress").count(), 2);
}

/// A path found under two roots is scanned once, from the first, with a `duplicate-path` warning.
#[test]
fn a_path_under_two_roots_is_kept_once_with_a_warning() {
    let registry = md_registry(Arc::new(Wiki), false);
    let deps = ScanDeps { fs: &files(), registry: &registry, clock: &FixedClock, progress: &SilentProgress };
    let one = run_scan(&deps, &request()).expect("scan");
    let two = run_scan(&deps, &ScanRequest { roots: vec![".".into(), "again".into()], ..request() }).expect("scan");
    assert_eq!(two.nodes, one.nodes);
    assert_eq!(two.links, one.links);
    let warned: Vec<(&str, &[String])> = two
        .issues
        .iter()
        .filter(|i| i.rule_id == "duplicate-path")
        .map(|i| (i.message.as_str(), &i.node_ids[..]))
        .collect();
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(warned.iter().all(|(message, _)| message.contains("\"again\" skipped")), "{warned:?}");
    assert_eq!((two.stats.files_walked, two.stats.files_skipped), (6, 2));
    assert_eq!((one.stats.files_walked, one.stats.files_skipped), (3, 0));
    assert!(one.issues.iter().all(|i| i.rule_id != "duplicate-path"));
}

#[test]
fn a_missing_root_fails_before_anything_is_read() {
    let registry = Registry::new();
    let deps = ScanDeps { fs: &files(), registry: &registry, clock: &FixedClock, progress: &SilentProgress };
    let mut req = request();
    req.roots = vec!["missing".into()];
    assert!(matches!(run_scan(&deps, &req), Err(ScanError::RootMissing(r)) if r == "missing"));
}

#[test]
fn registry_rejects_duplicate_and_non_kebab_ids() {
    let mut registry = Registry::new();
    registry.add_adapter(Arc::new(MdAdapter)).expect("first");
    assert!(registry.add_adapter(Arc::new(MdAdapter)).is_err());
    struct Bad;
    impl Rule for Bad {
        fn info(&self) -> ExtensionInfo {
            info("Bad_Id", ExtensionKind::Rule)
        }
        fn evaluate(&self, _: &RuleContext<'_>) -> Vec<Issue> {
            vec![]
        }
    }
    assert!(registry.add_rule(Arc::new(Bad)).is_err());
}

/// Counts reads, to see which path the scan took.
struct CountingFs(MemFs, std::sync::atomic::AtomicUsize);

impl FilesystemPort for CountingFs {
    fn root_status(&self, root: &str) -> RootStatus {
        self.0.root_status(root)
    }
    fn walk(&self, root: &str, o: &WalkOptions) -> Result<Vec<WalkedFile>, FsError> {
        self.0.walk(root, o)
    }
    fn read(&self, root: &str, path: &str) -> Result<Vec<u8>, FsError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.read(root, path)
    }
}

#[test]
fn bodies_over_the_held_budget_are_read_again_for_detection_with_the_same_result() {
    let registry = md_registry(Arc::new(Wiki), true);
    let mut m = files().0;
    for i in 0..150 {
        let body = format!("---\nname: n{i}\n---\r\n\r\nLine two links [[n{}]] and [[alpha]].\r\n", (i + 7) % 150);
        m.insert(format!("n/{i:03}.md"), body.into_bytes());
    }
    let scan = |budget: u64| {
        let fs = CountingFs(MemFs(m.clone()), Default::default());
        let deps = ScanDeps { fs: &fs, registry: &registry, clock: &FixedClock, progress: &SilentProgress };
        let mut req = request();
        req.held_body_bytes = budget;
        let result = run_scan(&deps, &req).expect("scan");
        (result, fs.1.into_inner())
    };
    let (held, held_reads) = scan(sm_kernel::scan_orchestrator::DEFAULT_HELD_BODY_BYTES);
    let (released, released_reads) = scan(0);
    assert_eq!(held_reads, 152, "each node read once");
    assert_eq!(released_reads, 2 * 152, "each node read again for its detectors");
    assert_eq!(held.links.len(), 302);
    assert_eq!(held, released);
}

/// Links `[[name]]` to `name` + a suffix, under a given version: a detector whose output changed.
struct VersionedWiki(&'static str, &'static str);
impl Detector for VersionedWiki {
    fn info(&self) -> ExtensionInfo {
        ExtensionInfo { version: self.0.into(), ..info("wiki", ExtensionKind::Detector) }
    }
    /// Its output for a file depends on that file alone: the index changing would not re-run it.
    fn depends_on_index(&self) -> bool {
        false
    }
    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        Wiki.detect(ctx).into_iter().map(|l| Link { target: format!("{}{}", l.target, self.1), ..l }).collect()
    }
}

/// Files with a known mtime, so an incremental scan may reuse them.
struct StampedFs(CountingFs);
impl FilesystemPort for StampedFs {
    fn root_status(&self, root: &str) -> RootStatus {
        self.0.root_status(root)
    }
    fn walk(&self, root: &str, o: &WalkOptions) -> Result<Vec<WalkedFile>, FsError> {
        Ok(self.0.walk(root, o)?.into_iter().map(|f| WalkedFile { mtime_ms: 1_000, ..f }).collect())
    }
    fn read(&self, root: &str, path: &str) -> Result<Vec<u8>, FsError> {
        self.0.read(root, path)
    }
}

#[test]
fn a_cache_from_another_detector_version_is_not_reused() {
    use sm_kernel::scan_orchestrator::run_scan_with_cache;
    let registry_with = |detector: VersionedWiki| md_registry(Arc::new(detector), false);
    let fs = StampedFs(CountingFs(files(), Default::default()));
    let reads = || fs.0.1.load(std::sync::atomic::Ordering::Relaxed);
    let scan = |registry: &Registry, prior| {
        let deps = ScanDeps { fs: &fs, registry, clock: &FixedClock, progress: &SilentProgress };
        let request = ScanRequest { keep_cache_nodes: true, ..request() };
        let (result, mut cache) = run_scan_with_cache(&deps, &request, prior).expect("scan");
        assert!(cache.restore_nodes(result.nodes.clone()), "the cache lent these nodes");
        (result, cache)
    };
    let v1 = registry_with(VersionedWiki("1.0.0", ""));
    let (first, cache) = scan(&v1, None);
    assert_eq!(reads(), 2);
    // Without its nodes back, a kept cache is no prior: every file is read again.
    let deps = ScanDeps { fs: &fs, registry: &v1, clock: &FixedClock, progress: &SilentProgress };
    let kept = ScanRequest { keep_cache_nodes: true, ..request() };
    let (_, lent) = run_scan_with_cache(&deps, &kept, Some(cache.clone())).expect("scan");
    assert!(lent.lent);
    let (_, _) = run_scan_with_cache(&deps, &kept, Some(lent)).expect("scan");
    assert_eq!(reads(), 4, "a cache still lending its nodes is not used");
    let (again, cache) = scan(&v1, Some(cache));
    assert_eq!(reads(), 4, "same producers: nothing read again");
    assert_eq!(again, first);

    let v2 = registry_with(VersionedWiki("2.0.0", "-v2"));
    let (upgraded, _) = scan(&v2, Some(cache));
    assert_eq!(reads(), 6, "another detector version: every file read again");
    let (fresh, _) = scan(&v2, None);
    assert_eq!(upgraded, fresh);
    assert!(upgraded.links.iter().all(|l| l.target.ends_with("-v2")), "{:?}", upgraded.links);

    // A hollow cache (nodes left to the result) is never taken as a prior: everything is read.
    let deps = ScanDeps { fs: &fs, registry: &v2, clock: &FixedClock, progress: &SilentProgress };
    let no_tokens = ScanRequest { tokens: false, ..request() };
    let (hollow_result, hollow) = run_scan_with_cache(&deps, &no_tokens, None).expect("scan");
    assert!(hollow.hollow);
    let before = reads();
    let (from_hollow, _) = run_scan_with_cache(&deps, &no_tokens, Some(hollow)).expect("scan");
    assert_eq!(reads(), before + 2);
    assert_eq!(from_hollow, hollow_result);
    assert!(from_hollow.nodes.iter().all(|n| !n.body_hash.is_empty()), "no stub leaks into a result");
}

/// `[[name]]` links whose confidence says whether the target resolves: through `detect` alone
/// (`split: false`, so the kernel keeps bodies for it) or through `prepare` + `complete`.
struct ResolvingWiki {
    split: bool,
}

impl ResolvingWiki {
    fn resolve(node: &Node, names: &[String], index: &sm_kernel::node_index::NodeIndex) -> Vec<Link> {
        names
            .iter()
            .map(|name| {
                let found = index.resolve(name).is_some();
                Link {
                    source: node.path.clone(),
                    target: name.clone(),
                    kind: LinkKind::References,
                    confidence: if found { Confidence::High } else { Confidence::Low },
                    sources: vec![],
                    trigger: None,
                    location: None,
                    raw: None,
                }
            })
            .collect()
    }
}

impl Detector for ResolvingWiki {
    fn info(&self) -> ExtensionInfo {
        info("wiki", ExtensionKind::Detector)
    }
    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        let names: Vec<String> = Wiki.detect(ctx).into_iter().map(|l| l.target).collect();
        Self::resolve(ctx.node, &names, ctx.index)
    }
    fn prepares(&self) -> bool {
        self.split
    }
    fn prepare(&self, ctx: &DetectContext<'_>) -> Option<sm_kernel::extensions::Prepared> {
        assert!(ctx.index.resolve("alpha").is_none(), "prepare runs before the index exists");
        let names: Vec<String> = Wiki.detect(ctx).into_iter().map(|l| l.target).collect();
        (!names.is_empty()).then(|| Box::new(names) as sm_kernel::extensions::Prepared)
    }
    fn complete(
        &self,
        node: &Node,
        prepared: sm_kernel::extensions::Prepared,
        index: &sm_kernel::node_index::NodeIndex,
    ) -> Vec<Link> {
        let names = prepared.downcast::<Vec<String>>().expect("what prepare returned");
        Self::resolve(node, &names, index)
    }
}

#[test]
fn a_detector_that_prepares_never_needs_a_body_again() {
    let mut m = files().0;
    for i in 0..150 {
        m.insert(
            format!("n/{i:03}.md"),
            format!("---\nname: n{i}\n---\nSee [[n{}]], [[gone{i}]].\n", (i + 7) % 150).into_bytes(),
        );
    }
    let scan = |split: bool, budget: u64| {
        let registry = md_registry(Arc::new(ResolvingWiki { split }), false);
        let fs = CountingFs(MemFs(m.clone()), Default::default());
        let deps = ScanDeps { fs: &fs, registry: &registry, clock: &FixedClock, progress: &SilentProgress };
        let result = run_scan(&deps, &ScanRequest { held_body_bytes: budget, ..request() }).expect("scan");
        (result, fs.1.into_inner())
    };
    let (late, late_reads) = scan(false, 0);
    let (split, split_reads) = scan(true, 0);
    assert_eq!(late_reads, 2 * 152, "a detector that needs the body after the index: read again");
    assert_eq!(split_reads, 152, "prepare ran while the file was read: each file read once");
    assert_eq!(split, late);
    let high = split.links.iter().filter(|l| l.confidence == Confidence::High).count();
    assert_eq!((high, split.links.len()), (151, 302), "complete resolved against the whole index");
}

/// Files that can be edited between scans; an edit bumps the file's mtime.
#[derive(Default)]
struct EditableFs(Mutex<BTreeMap<String, (Vec<u8>, i64)>>);

impl EditableFs {
    fn write(&self, path: &str, text: &str) {
        let mut files = self.0.lock().expect("lock");
        let mtime = files.values().map(|(_, m)| *m).max().unwrap_or(0) + 1;
        files.insert(path.to_owned(), (text.as_bytes().to_vec(), mtime));
    }
}

impl EditableFs {
    fn remove(&self, path: &str) {
        self.0.lock().expect("lock").remove(path);
    }
}

impl FilesystemPort for EditableFs {
    fn root_status(&self, _root: &str) -> RootStatus {
        RootStatus::Directory
    }
    fn walk(&self, _root: &str, _o: &WalkOptions) -> Result<Vec<WalkedFile>, FsError> {
        let files = self.0.lock().expect("lock");
        Ok(files.iter().map(|(p, (b, m))| WalkedFile { path: p.clone(), size: b.len() as u64, mtime_ms: *m }).collect())
    }
    fn read(&self, _root: &str, path: &str) -> Result<Vec<u8>, FsError> {
        let files = self.0.lock().expect("lock");
        files.get(path).map(|(b, _)| b.clone()).ok_or(FsError::Io { path: path.into(), message: "gone".into() })
    }
}

/// A scan that starts from a kept cache keeps its index while no node name, kind or walked file
/// changed, and builds a new one when one did; either way the result equals a fresh scan's.
#[test]
fn a_kept_index_is_used_again_only_while_names_and_files_are_the_same() {
    use sm_kernel::scan_orchestrator::run_scan_with_cache;
    let fs = EditableFs::default();
    fs.write("a.md", "---\nname: alpha\n---\n# A\n");
    fs.write("b.md", "---\nname: beta\n---\nsee [[alpha]] and [[ghost]]\n");
    let registry = md_registry(Arc::new(ResolvingWiki { split: true }), true);
    let deps = ScanDeps { fs: &fs, registry: &registry, clock: &FixedClock, progress: &SilentProgress };
    let request = ScanRequest { keep_cache_nodes: true, tokens: false, ..request() };
    let scan = |prior| {
        let (result, mut cache) = run_scan_with_cache(&deps, &request, prior).expect("scan");
        assert!(cache.restore_nodes(result.nodes.clone()), "the cache lent these nodes");
        (result, cache)
    };
    let generation = |cache: &sm_kernel::scan_cache::ScanCache| cache.index.as_ref().expect("kept").generation();
    let (_, mut cache) = scan(None);
    let mut confidences = Vec::new();
    let steps: [(&str, &str, &str, bool); 4] = [
        ("a body edit", "b.md", "---\nname: beta\n---\nsee [[alpha]], [[ghost]] again\n", true),
        ("a renamed node", "a.md", "---\nname: alpha2\n---\n# A\n", false),
        ("a new node", "ghost.md", "---\nname: ghost\n---\n", false),
        ("another body edit", "a.md", "---\nname: alpha2\n---\n# A, edited\n", true),
    ];
    for (step, path, text, kept) in steps {
        fs.write(path, text);
        let before = generation(&cache);
        let (incremental, next) = scan(Some(cache));
        let (fresh, _) = scan(None);
        assert_eq!(incremental, fresh, "{step}");
        assert_eq!(generation(&next) == before, kept, "{step}: index kept?");
        confidences.push(incremental.links.iter().map(|l| l.confidence).collect::<Vec<_>>());
        cache = next;
    }
    // The renamed node and the new one changed what resolves: a stale index would have missed it.
    use Confidence::{High, Low};
    assert_eq!(confidences, [vec![High, Low], vec![Low, Low], vec![Low, High], vec![Low, High]]);
}

/// `[[name]]` links under another detector id: the same links twice, merged into one per target.
struct PlainWiki;
impl Detector for PlainWiki {
    fn info(&self) -> ExtensionInfo {
        info("wiki-plain", ExtensionKind::Detector)
    }
    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        Wiki.detect(ctx)
    }
}

/// A kept cache given its result back (nodes and links) is the next scan's prior: that scan keeps
/// the links of the nodes it does not read again and builds the others'. After random steps of
/// one to a dozen edits, deletions and additions, some renaming a node (which changes what
/// resolves, so unchanged files are read again), every incremental result equals a fresh scan's.
#[test]
fn links_given_back_to_a_kept_cache_make_the_same_results_as_fresh_scans() {
    use sm_kernel::scan_orchestrator::run_scan_with_cache;
    let fs = EditableFs::default();
    let mut registry = md_registry(Arc::new(ResolvingWiki { split: true }), true);
    registry.add_detector(Arc::new(PlainWiki)).expect("add");
    let deps = ScanDeps { fs: &fs, registry: &registry, clock: &FixedClock, progress: &SilentProgress };
    let request = ScanRequest { keep_cache_nodes: true, tokens: false, ..request() };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let path = |i: u64| format!("d{}/f{i:02}.md", i % 4);
    let text = |name: &str, next: &mut dyn FnMut(u64) -> u64| {
        let mut body = format!("---\nname: {name}\n---\n");
        for _ in 0..next(5) {
            let target = match next(4) {
                0 => format!("https://example.com/{}", next(3)),
                1 => format!("ghost{}", next(3)),
                _ => format!("n{}", next(48)),
            };
            // Sometimes twice: one link per target after merging.
            for _ in 0..1 + next(2) {
                body.push_str(&format!("see [[{target}]]\n"));
            }
        }
        body
    };
    for i in 0..40 {
        fs.write(&path(i), &text(&format!("n{i}"), &mut next));
    }
    let (first, mut cache) = run_scan_with_cache(&deps, &request, None).expect("scan");
    let mut lent = first;
    assert!(cache.take_back(&mut lent));
    assert!(lent.links.is_empty(), "the links went back to the cache");
    let (mut some_kept, mut many_read, mut all_read) = (0, 0, 0);
    let mut present: std::collections::BTreeSet<u64> = (0..40).collect();
    for step in 0..80 {
        // Some steps edit many files at once (merged, not inserted one by one).
        let edits = if step % 4 == 2 { 12 + next(12) } else { 1 + next(6) };
        for _ in 0..edits {
            let i = next(48);
            // Every fourth step may remove, add or rename nodes; the others only edit bodies.
            if step % 4 == 0 {
                match next(4) {
                    0 => {
                        fs.remove(&path(i));
                        present.remove(&i);
                    }
                    1 => {
                        fs.write(&path(i), &text(&format!("m{i}"), &mut next));
                        present.insert(i);
                    }
                    _ => {}
                }
            } else if present.contains(&i) {
                let name = String::from_utf8(fs.read(".", &path(i)).expect("present"))
                    .expect("text")
                    .lines()
                    .nth(1)
                    .and_then(|l| l.strip_prefix("name: "))
                    .expect("a name")
                    .to_owned();
                fs.write(&path(i), &text(&name, &mut next));
            }
        }
        let (incremental, mut next_cache) = run_scan_with_cache(&deps, &request, Some(cache)).expect("scan");
        let (fresh, _) = run_scan_with_cache(&deps, &ScanRequest { keep_cache_nodes: false, ..request.clone() }, None)
            .expect("scan");
        assert_eq!(incremental, fresh, "step {step}");
        let read = next_cache.delta.as_ref().map_or(0, |d| d.cache_written.len());
        some_kept += usize::from(read < incremental.nodes.len());
        many_read += usize::from(read > 8 && read < incremental.nodes.len());
        all_read += usize::from(read == incremental.nodes.len());
        let mut lent = incremental;
        assert!(next_cache.take_back(&mut lent), "step {step}");
        cache = next_cache;
    }
    assert!(some_kept > 20 && many_read > 5 && all_read > 5, "{some_kept} {many_read} {all_read}");
}
