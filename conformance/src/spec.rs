//! The normative spec (`spec/`), embedded in the binary, and validation against its schemas.

use include_dir::{Dir, include_dir};
use jsonschema::{Registry, Validator};
use serde_json::Value;

/// The whole `spec/` tree.
pub static SPEC_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../spec");

/// Base URI of every spec schema `$id`.
pub const SCHEMA_BASE: &str = "https://skill-map.dev/spec/v0/";

/// Names of every schema file under `spec/schemas/`, sorted.
pub fn schema_names() -> Vec<String> {
    let mut names: Vec<String> = SPEC_DIR
        .get_dir("schemas")
        .map(|d| {
            d.files()
                .filter_map(|f| f.path().file_name().map(|n| n.to_string_lossy().into_owned()))
                .filter(|n| n.ends_with(".schema.json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The parsed schema `spec/schemas/<name>`.
pub fn schema(name: &str) -> Result<Value, String> {
    let file = SPEC_DIR
        .get_file(format!("schemas/{name}"))
        .ok_or_else(|| format!("no schema named {name:?} in spec/schemas (known: {})", schema_names().join(", ")))?;
    let text = file.contents_utf8().ok_or_else(|| format!("spec/schemas/{name} is not UTF-8"))?;
    serde_json::from_str(text).map_err(|e| format!("spec/schemas/{name} is not valid JSON: {e}"))
}

/// A validator for `spec/schemas/<name>` with every other spec schema resolvable by `$ref`.
pub fn validator(name: &str) -> Result<Validator, String> {
    let root = schema(name)?;
    let mut resources = Vec::new();
    for other in schema_names() {
        let value = schema(&other)?;
        resources.push((format!("{SCHEMA_BASE}{other}"), value));
    }
    let registry = Registry::new()
        .extend(resources.iter().map(|(uri, v)| (uri.as_str(), jsonschema::Resource::from_contents(v.clone()))))
        .and_then(|b| b.prepare())
        .map_err(|e| format!("cannot index spec schemas: {e}"))?;
    jsonschema::options()
        .with_registry(&registry)
        .build(&root)
        .map_err(|e| format!("spec/schemas/{name} does not compile: {e}"))
}

/// Every violation of `instance` against `spec/schemas/<name>`, as `<json pointer>: <message>`.
pub fn validate(name: &str, instance: &Value) -> Result<Vec<String>, String> {
    let v = validator(name)?;
    Ok(v.iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{}: {e}", if at.is_empty() { "(root)".to_owned() } else { at })
        })
        .collect())
}
