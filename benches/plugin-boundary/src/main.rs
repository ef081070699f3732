//! The cost of the plugin boundary, measured on a real corpus.
//!
//! Runs the same scan (built-ins + the `wikilink` detector, no tokens, nothing persisted) two ways:
//! with the detector linked in as a built-in, and with the same code loaded from its cdylib through
//! the real plugin loader (JSON over the abi_stable boundary, 64 nodes per call). Prints the median
//! of the kernel's `durationMs` for each.
//!
//! ```sh
//! cargo build --release -p sm-plugin-wikilink
//! cargo run --release -p sm-bench-plugin-boundary -- ../shared/corpora 5
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sm_adapter_fs::LocalFilesystem;
use sm_adapter_plugin_loader::DirectoryPluginLoader;
use sm_kernel::extensions::{DetectContext, Detector, ExtensionInfo, ExtensionKind};
use sm_kernel::model::{Link, SPEC_VERSION, ScannedBy, Scope};
use sm_kernel::ports::{Clock, PluginLoadRequest, PluginLoaderPort, SilentProgress, WalkOptions};
use sm_kernel::registry::Registry;
use sm_kernel::scan_orchestrator::{ScanDeps, ScanRequest, run_scan};
use sm_plugin_sdk::{DetectInput, DetectorPlugin};

struct InProcess;

impl Detector for InProcess {
    fn info(&self) -> ExtensionInfo {
        ExtensionInfo {
            id: "wikilink".into(),
            kind: ExtensionKind::Detector,
            version: "0".into(),
            description: String::new(),
        }
    }

    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        let input = DetectInput {
            node: ctx.node.clone(),
            body: ctx.body.to_owned(),
            prose: ctx.prose.to_owned(),
            body_start_line: ctx.body_start_line,
        };
        sm_plugin_wikilink::WikiLink.detect(&input)
    }
}

struct Clk;
impl Clock for Clk {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
    fn new_run_id(&self) -> String {
        "bench".into()
    }
}

fn scan(registry: &Registry, corpus: &str) -> (u64, usize) {
    let fs = LocalFilesystem::new(std::env::current_dir().expect("cwd"));
    let request = ScanRequest {
        roots: vec![corpus.to_owned()],
        scope: Scope::Project,
        tokens: false,
        known_tokens: None,
        max_file_size_bytes: 1 << 20,
        strict: false,
        walk: WalkOptions {
            ignore_patterns: vec![".git/".into()],
            ignore_file_name: ".skillmapignore".into(),
            follow_symlinks: false,
        },
        scanned_by: ScannedBy { name: "bench".into(), version: "0".into(), spec_version: SPEC_VERSION.into() },
        rule_config: serde_json::json!({}),
        held_body_bytes: sm_kernel::scan_orchestrator::DEFAULT_HELD_BODY_BYTES,
        keep_cache_nodes: false,
    };
    let deps = ScanDeps { fs: &fs, registry, clock: &Clk, progress: &SilentProgress };
    let result = run_scan(&deps, &request).expect("scan runs");
    let wikilinks = result.links.iter().filter(|l| l.sources.iter().any(|s| s == "wikilink")).count();
    (result.stats.duration_ms, wikilinks)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let corpus = args.get(1).cloned().unwrap_or_else(|| "../shared/corpora".into());
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let exe = std::env::current_exe().expect("exe");
    let lib = exe.parent().expect("target dir").join("libsm_plugin_wikilink.so");
    assert!(lib.is_file(), "build the plugin first: cargo build --release -p sm-plugin-wikilink ({})", lib.display());

    let mut builtin = sm_extensions::builtin_registry();
    builtin.add_detector(Arc::new(InProcess)).expect("unique id");

    let dir: PathBuf = std::env::temp_dir().join(format!("sm-bench-plugins-{}", std::process::id()));
    let plugin_dir = dir.join("wikilink");
    std::fs::create_dir_all(&plugin_dir).expect("mkdir");
    std::fs::copy(&lib, plugin_dir.join("libsm_plugin_wikilink.so")).expect("copy");
    std::fs::write(
        plugin_dir.join("plugin.json"),
        r#"{"id":"wikilink","version":"0.1.0","specCompat":"^0.1","library":"libsm_plugin_wikilink.so","extensions":["wikilink"]}"#,
    )
    .expect("write");
    let outcome = DirectoryPluginLoader::default().load(&PluginLoadRequest {
        search_dirs: vec![dir.display().to_string()],
        spec_version: SPEC_VERSION.into(),
        enabled: BTreeMap::new(),
        storage: None,
    });
    let mut plugged = sm_extensions::builtin_registry();
    for (_, d) in outcome.extensions.detectors {
        plugged.add_detector(d).expect("unique id");
    }

    let base = sm_extensions::builtin_registry();
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let (mut la, mut lb) = (0, 0);
    for _ in 0..runs {
        c.push(scan(&base, &corpus).0);
        let (t, n) = scan(&builtin, &corpus);
        a.push(t);
        la = n;
        let (t, n) = scan(&plugged, &corpus);
        b.push(t);
        lb = n;
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("corpus {corpus}, {runs} runs, median kernel durationMs (no tokens, not persisted)");
    println!("built-ins only                 {:>6} ms", median(c));
    println!("+ wikilink built in            {:>6} ms   ({la} wikilinks)", median(a));
    println!("+ wikilink as a cdylib plugin  {:>6} ms   ({lb} wikilinks)", median(b));
}
