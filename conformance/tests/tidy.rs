//! Architecture invariants, checked from `cargo metadata` and the source tree (BLUEPRINT §4).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const FORBIDDEN_IN_KERNEL: &[&str] =
    &["rusqlite", "refinery", "tokio", "notify", "ignore", "libloading", "abi_stable", "clap"];

struct Graph {
    /// package name → names of its normal (non-dev, non-build) dependencies.
    deps: BTreeMap<String, BTreeSet<String>>,
}

fn metadata() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let names: BTreeMap<&str, &str> = doc["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p["name"].as_str().expect("name")))
        .collect();
    let mut deps = BTreeMap::new();
    for node in doc["resolve"]["nodes"].as_array().expect("resolve.nodes") {
        let name = names[node["id"].as_str().expect("id")].to_owned();
        let normal: BTreeSet<String> = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| d["dep_kinds"].as_array().is_some_and(|k| k.iter().any(|k| k["kind"].is_null())))
            .map(|d| names[d["pkg"].as_str().expect("pkg")].to_owned())
            .collect();
        deps.entry(name).or_insert_with(BTreeSet::new).extend(normal);
    }
    Graph { deps }
}

impl Graph {
    fn closure(&self, root: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![root.to_owned()];
        while let Some(p) = stack.pop() {
            for d in self.deps.get(&p).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    }
}

#[test]
fn kernel_dependency_graph_has_no_io_crates() {
    let graph = metadata();
    let closure = graph.closure("sm-kernel");
    let bad: Vec<&&str> = FORBIDDEN_IN_KERNEL.iter().filter(|f| closure.contains(**f)).collect();
    assert!(bad.is_empty(), "sm-kernel must not depend (even transitively) on {bad:?}");
    let internal: Vec<&String> = closure.iter().filter(|d| d.starts_with("sm-")).collect();
    assert!(internal.is_empty(), "sm-kernel must not depend on other sm crates: {internal:?}");
}

#[test]
fn adapters_and_extensions_do_not_depend_on_each_other() {
    let graph = metadata();
    let adapters: Vec<&String> = graph.deps.keys().filter(|n| n.starts_with("sm-adapter-")).collect();
    assert!(adapters.len() >= 4, "expected the four adapter crates, found {adapters:?}");
    for adapter in &adapters {
        let others: Vec<String> = graph.closure(adapter).into_iter().filter(|d| d.starts_with("sm-adapter-")).collect();
        assert!(others.is_empty(), "{adapter} depends on other adapters: {others:?}");
    }
    let ext = graph.closure("sm-extensions");
    let bad: Vec<&String> = ext.iter().filter(|d| d.starts_with("sm-adapter-") || d.as_str() == "sm-cli").collect();
    assert!(bad.is_empty(), "sm-extensions depends on {bad:?}");
    for f in FORBIDDEN_IN_KERNEL {
        assert!(!ext.contains(*f), "sm-extensions must stay IO-free like the kernel, found {f}");
    }
}

#[test]
fn only_the_composition_root_names_adapter_crates() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/src");
    let mut offenders = Vec::new();
    visit(&src, &mut |path, text| {
        if path.file_name().is_some_and(|n| n != "wiring.rs") && text.contains("sm_adapter_") {
            offenders.push(path.display().to_string());
        }
    });
    assert!(offenders.is_empty(), "only cli/src/wiring.rs may name adapter crates: {offenders:?}");
}

#[test]
fn kernel_source_does_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/src");
    let mut offenders = Vec::new();
    visit(&src, &mut |path, text| {
        for needle in ["std::fs", "std::process", "SystemTime::now", "Instant::now", "std::net", "std::env::var"] {
            if text.contains(needle) {
                offenders.push(format!("{}: {needle}", path.display()));
            }
        }
    });
    assert!(offenders.is_empty(), "the kernel reaches the world only through ports: {offenders:?}");
}

fn visit(dir: &Path, f: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            visit(&path, f);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read");
            f(&path, &text);
        }
    }
}
