//! The plugin conformance check behind `sm plugins check PATH`: what a third-party author runs
//! before shipping. The CLI runs it in a child process, so a plugin that aborts the process is
//! reported as a failure instead of taking the checker down with it.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sm_kernel::model::{Issue, Link, ScanResult};
use sm_plugin_abi::abi_stable::std_types::{RResult, RStr};
use sm_plugin_abi::{ExtKind, ExtensionBox, PROTOCOL_VERSION};

use crate::{library_path, manifest_problem, probe};

/// One check and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

fn line(name: &str, result: Result<String, String>) -> CheckLine {
    match result {
        Ok(detail) => CheckLine { name: name.to_owned(), ok: true, detail },
        Err(detail) => CheckLine { name: name.to_owned(), ok: false, detail },
    }
}

/// Runs every check on a plugin directory (with `plugin.json`) or a bare library file.
pub fn check_plugin(path: &Path, fixture: &ScanResult) -> Vec<CheckLine> {
    let mut out = Vec::new();
    let (library, listed) = match locate(path) {
        Ok(found) => {
            out.push(line("manifest", Ok(found.2)));
            (found.0, found.1)
        }
        Err(e) => {
            out.push(line("manifest", Err(e)));
            return out;
        }
    };
    if let Err(e) = probe(&library) {
        out.push(line("library", Err(e)));
        return out;
    }
    let module = match sm_plugin_abi::load_root_module(&library) {
        Ok(m) => {
            out.push(line("abi", Ok("abi_stable header, interface version and type layout match".into())));
            m
        }
        Err(e) => {
            out.push(line("abi", Err(e.to_string().lines().next().unwrap_or("").to_owned())));
            return out;
        }
    };
    let protocol = (module.protocol_version())();
    out.push(line(
        "protocol",
        if protocol == PROTOCOL_VERSION {
            Ok(format!("protocol {protocol}"))
        } else {
            Err(format!("protocol {protocol}, expected {PROTOCOL_VERSION}"))
        },
    ));
    let exported: Value = serde_json::from_str((module.manifest_json())().as_str()).unwrap_or(Value::Null);
    let exts: Vec<(String, String)> = exported["extensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["id"].as_str()?.to_owned(), e["kind"].as_str()?.to_owned())))
        .collect();
    let known_kinds = ["adapter", "detector", "rule", "action", "audit", "renderer"];
    let bad_kind = exts.iter().find(|(_, k)| !known_kinds.contains(&k.as_str()));
    out.push(line(
        "exports",
        match (exts.is_empty(), bad_kind) {
            (true, _) => Err("the library manifest lists no extensions".into()),
            (_, Some((id, k))) => Err(format!("extension {id} has unknown kind {k:?}")),
            _ => Ok(exts.iter().map(|(i, k)| format!("{k} {i}")).collect::<Vec<_>>().join(", ")),
        },
    ));
    if let Some(listed) = listed {
        let missing: Vec<&String> = listed.iter().filter(|l| !exts.iter().any(|(i, _)| i == *l)).collect();
        out.push(line(
            "manifest-matches-library",
            if missing.is_empty() {
                Ok("every extension in plugin.json is exported".into())
            } else {
                Err(format!("not exported: {missing:?}"))
            },
        ));
    }
    let unknown = (module.instantiate())(
        RStr::from_str("$no-such-extension"),
        RStr::from_str("{}"),
        crate::host::host_for("check", None, None),
    );
    out.push(line(
        "unknown-extension",
        match unknown {
            RResult::RErr(e) if e.code.as_str() == "unknown_extension" => Ok("rejected with unknown_extension".into()),
            RResult::RErr(e) => Err(format!("rejected with {} instead of unknown_extension", e.code)),
            RResult::ROk(_) => Err("instantiated an extension that does not exist".into()),
        },
    ));
    for (id, kind) in &exts {
        let instance = match (module.instantiate())(
            RStr::from_str(id),
            RStr::from_str("{}"),
            crate::host::host_for("check", None, None),
        ) {
            RResult::ROk(i) => i,
            RResult::RErr(e) => {
                out.push(line(&format!("{id}: instantiate"), Err(format!("{}: {}", e.code, e.message))));
                continue;
            }
        };
        out.extend(check_extension(id, kind, &instance, fixture));
    }
    out
}

/// `(library, extension ids listed in plugin.json, summary)`.
fn locate(path: &Path) -> Result<(PathBuf, Option<Vec<String>>, String), String> {
    if path.is_file() {
        return Ok((path.to_path_buf(), None, "no plugin.json: checking the library alone".into()));
    }
    let manifest_path = path.join("plugin.json");
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let manifest: Value = serde_json::from_str(&text).map_err(|e| format!("plugin.json: {e}"))?;
    let dir_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some(problem) = manifest_problem(&manifest, &dir_name) {
        return Err(problem);
    }
    crate::spec_compatible(manifest["specCompat"].as_str().unwrap_or_default(), sm_kernel::model::SPEC_VERSION)?;
    let library = library_path(path, manifest["library"].as_str().unwrap_or_default())?;
    let listed =
        manifest["extensions"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
    Ok((library, Some(listed), format!("plugin.json of {} is valid", manifest["id"].as_str().unwrap_or_default())))
}

fn invoke(ext: &ExtensionBox, method: &str, input: &str) -> Result<String, (String, String)> {
    match ext.invoke(RStr::from_str(method), RStr::from_str(input)) {
        RResult::ROk(s) => Ok(s.into_string()),
        RResult::RErr(e) => Err((e.code.into_string(), e.message.into_string())),
    }
}

fn check_extension(id: &str, kind: &str, ext: &ExtensionBox, fixture: &ScanResult) -> Vec<CheckLine> {
    let mut out = Vec::new();
    let expected_kind = match ext.kind() {
        ExtKind::Adapter => "adapter",
        ExtKind::Detector => "detector",
        ExtKind::Rule => "rule",
        ExtKind::Action => "action",
        ExtKind::Audit => "audit",
        ExtKind::Renderer => "renderer",
    };
    out.push(line(
        &format!("{id}: kind"),
        if expected_kind == kind {
            Ok(kind.to_owned())
        } else {
            Err(format!("manifest says {kind}, instance says {expected_kind}"))
        },
    ));
    let describe = invoke(ext, "describe", "null");
    out.push(line(&format!("{id}: describe"), describe.clone().map_err(|(c, m)| format!("{c}: {m}"))));
    let node = fixture.nodes.first().cloned();
    let (method, input): (&str, Value) = match kind {
        "adapter" => ("classify", json!({ "paths": fixture.nodes.iter().map(|n| &n.path).collect::<Vec<_>>() })),
        "detector" => (
            "detect",
            json!({ "items": [{ "node": node, "body": "See [[Other]] and /deploy.\n", "bodyStartLine": 3 }] }),
        ),
        "rule" => ("evaluate", json!({ "nodes": fixture.nodes, "links": fixture.links, "config": {} })),
        "action" => ("invoke", json!({ "node": node, "body": "# Title\n\nSome words here.\n", "input": {} })),
        "audit" => ("run", json!(fixture)),
        _ => ("render", json!(fixture)),
    };
    let text = input.to_string();
    let first = invoke(ext, method, &text);
    out.push(line(
        &format!("{id}: {method}"),
        match &first {
            Ok(output) => validate_output(kind, output),
            Err((c, m)) => Err(format!("{c}: {m}")),
        },
    ));
    let second = invoke(ext, method, &text);
    out.push(line(
        &format!("{id}: deterministic"),
        if first == second {
            Ok("same input, same output".into())
        } else {
            Err("two identical calls returned different output".into())
        },
    ));
    // Calls that must come back as a given error code: (check, method, input, code, on success,
    // when the call wrongly succeeded).
    let refusals = [
        (
            "unknown method",
            "$no-such-method",
            "{}",
            "unknown_method",
            "unknown_method",
            "answered a method that does not exist",
        ),
        ("malformed input", method, "{not json", "bad_input", "bad_input", "accepted malformed JSON"),
        (
            "panic is contained",
            "$conformance.panic",
            "{}",
            "panic",
            "a panic came back as an error",
            "the conformance panic did not panic",
        ),
    ];
    for (check, call, input, code, passed, wrongly_ok) in refusals {
        out.push(line(
            &format!("{id}: {check}"),
            match invoke(ext, call, input) {
                Err((c, _)) if c == code => Ok(passed.to_owned()),
                Err((c, _)) => Err(format!("answered {c} instead of {code}")),
                Ok(_) => Err(wrongly_ok.to_owned()),
            },
        ));
    }
    out
}

fn validate_output(kind: &str, output: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(output).map_err(|e| format!("output is not JSON: {e}"))?;
    let typed = |field: &str| v.get(field).cloned().ok_or_else(|| format!("output has no `{field}`"));
    match kind {
        "adapter" => serde_json::from_value::<Vec<Option<String>>>(typed("kinds")?)
            .map(|k| format!("{} paths classified", k.len())),
        "detector" => serde_json::from_value::<Vec<Vec<Link>>>(typed("links")?)
            .map(|l| format!("{} links", l.iter().map(Vec::len).sum::<usize>())),
        "rule" => serde_json::from_value::<Vec<Issue>>(typed("issues")?).map(|i| format!("{} issues", i.len())),
        "action" => typed("result").map(|_| "result returned".to_owned()).map_err(serde::de::Error::custom),
        "audit" => typed("report").map(|_| "report returned".to_owned()).map_err(serde::de::Error::custom),
        _ => serde_json::from_value::<String>(typed("output")?).map(|s| format!("{} bytes rendered", s.len())),
    }
    .map_err(|e: serde_json::Error| format!("output does not match the spec: {e}"))
}
