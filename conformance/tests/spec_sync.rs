//! The hand-written schemas in `spec/` and the Rust types agree: same properties, same required
//! set, and real values round-trip through both.

use std::collections::BTreeSet;

use schemars::{JsonSchema, schema_for};
use serde_json::{Value, json};
use sm_conformance::spec;
use sm_kernel::model::{Issue, Link, Node, ScanResult};

fn keys(v: &Value, field: &str) -> BTreeSet<String> {
    match &v[field] {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => BTreeSet::new(),
    }
}

fn assert_same_shape<T: JsonSchema>(file: &str) {
    let generated = serde_json::to_value(schema_for!(T)).expect("schema serialises");
    let written = spec::schema(file).expect("spec schema");
    assert_eq!(
        keys(&generated, "properties"),
        keys(&written, "properties"),
        "{file}: properties differ from the Rust type"
    );
    assert_eq!(keys(&generated, "required"), keys(&written, "required"), "{file}: required differs from the Rust type");
    assert_eq!(written["additionalProperties"], json!(false), "{file} must be closed");
}

#[test]
fn rust_types_match_the_spec_schemas() {
    assert_same_shape::<Node>("node.schema.json");
    assert_same_shape::<Link>("link.schema.json");
    assert_same_shape::<Issue>("issue.schema.json");
    assert_same_shape::<ScanResult>("scan-result.schema.json");
}

#[test]
fn nested_scan_stats_match() {
    let generated = serde_json::to_value(schema_for!(ScanResult)).expect("schema");
    let stats_ref = generated["properties"]["stats"]["$ref"].as_str().expect("stats is a $ref");
    let name = stats_ref.rsplit('/').next().expect("def name");
    let gen_stats = &generated["$defs"][name];
    let written = spec::schema("scan-result.schema.json").expect("schema");
    assert_eq!(keys(gen_stats, "properties"), keys(&written["properties"]["stats"], "properties"));
    assert_eq!(keys(gen_stats, "required"), keys(&written["properties"]["stats"], "required"));
}

#[test]
fn every_spec_schema_is_valid_2020_12() {
    let names = spec::schema_names();
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        let schema = spec::schema(&name).expect("parses");
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        assert_eq!(schema["$id"], format!("{}{name}", spec::SCHEMA_BASE), "{name}");
        jsonschema::meta::validate(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
        spec::validator(&name).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_full_scan_result_round_trips_through_types_and_schema() {
    let doc = json!({
        "schemaVersion": 1, "scannedAt": 1, "scope": "project", "roots": ["."], "adapters": ["claude"],
        "scannedBy": {"name": "skill-map", "version": "0.1.0", "specVersion": "0.1.0"},
        "nodes": [{
            "path": "a.md", "kind": "note", "adapter": "claude", "title": "a", "description": null,
            "stability": "stable", "version": "1", "author": null, "frontmatter": {"name": "a"},
            "bodyHash": "0".repeat(64), "frontmatterHash": "f".repeat(64),
            "bytes": {"frontmatter": 1, "body": 2, "total": 3}, "tokens": {"frontmatter": 1, "body": 1, "total": 2},
            "linksOutCount": 1, "linksInCount": 0, "externalRefsCount": 0
        }],
        "links": [{"source": "a.md", "target": "b.md", "kind": "references", "confidence": "high",
                   "sources": ["frontmatter-refs"], "trigger": {"originalTrigger": "b", "normalizedTrigger": "b"},
                   "location": {"line": 3}}],
        "issues": [{"ruleId": "broken-ref", "severity": "warn", "nodeIds": ["a.md"], "message": "m", "data": {"k": 1}}],
        "stats": {"filesWalked": 1, "filesSkipped": 0, "nodesCount": 1, "linksCount": 1, "issuesCount": 1, "durationMs": 0}
    });
    assert!(spec::validate("scan-result.schema.json", &doc).expect("compiles").is_empty());
    let typed: ScanResult = serde_json::from_value(doc.clone()).expect("deserialises into ScanResult");
    let back = serde_json::to_value(&typed).expect("serialises");
    assert_eq!(back, doc);

    let mut bad = doc.clone();
    bad["nodes"][0]["bodyHash"] = json!("xyz");
    assert!(!spec::validate("scan-result.schema.json", &bad).expect("compiles").is_empty());
    let mut extra = doc;
    extra["links"][0]["unknown"] = json!(1);
    assert!(!spec::validate("scan-result.schema.json", &extra).expect("compiles").is_empty());
    assert!(serde_json::from_value::<ScanResult>(extra).is_err(), "types are closed like the schema");
}

#[test]
fn example_plugin_manifests_match_the_schema() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).expect("examples") {
        let manifest = entry.expect("entry").path().join("plugin.json");
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).expect("read")).expect("json");
        let errors = spec::validate("plugin-manifest.schema.json", &value).expect("compiles");
        assert!(errors.is_empty(), "{}: {errors:?}", manifest.display());
        checked += 1;
    }
    assert!(checked >= 6);
}
