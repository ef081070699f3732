//! Runs conformance cases against an `sm` binary, the way a user would: a fresh scope directory
//! per case, the fixture copied in, the verb spawned as a real process, assertions on its exit
//! code, stdout, stderr and the files it left.

use std::path::{Path, PathBuf};
use std::process::Command;

use globset::GlobBuilder;
use include_dir::Dir;
use serde_json::Value;

use crate::json_path;
use crate::spec::{self, SPEC_DIR};

/// Where cases and fixtures come from.
#[derive(Debug, Clone)]
pub enum CaseSource {
    /// The spec embedded in this build.
    Embedded,
    /// A directory holding `cases/*.json` and `fixtures/<name>/`.
    Dir(PathBuf),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub binary: PathBuf,
    pub source: CaseSource,
    /// Only these case ids (all when empty).
    pub only: Vec<String>,
}

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    pub id: String,
    pub failures: Vec<String>,
}

impl CaseOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Loads every case (sorted by id). A case that is not valid JSON or not a valid case is an `Err`
/// naming the file: a malformed suite must fail loudly, not be skipped.
pub fn load_cases(source: &CaseSource) -> Result<Vec<(String, Value)>, String> {
    let mut raw: Vec<(String, String)> = Vec::new();
    match source {
        CaseSource::Embedded => {
            let dir = SPEC_DIR.get_dir("conformance/cases").ok_or("the embedded spec has no conformance/cases")?;
            for f in dir.files() {
                let name = f.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if let Some(stem) = name.strip_suffix(".json") {
                    let text = f.contents_utf8().ok_or_else(|| format!("{name} is not UTF-8"))?;
                    raw.push((stem.to_owned(), text.to_owned()));
                }
            }
        }
        CaseSource::Dir(root) => {
            let dir = root.join("cases");
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries {
                let path = entry.map_err(|e| e.to_string())?.path();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if let Some(stem) = name.strip_suffix(".json") {
                    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    raw.push((stem.to_owned(), text));
                }
            }
        }
    }
    raw.sort();
    let validator = spec::validator("conformance-case.schema.json")?;
    let mut cases = Vec::new();
    for (stem, text) in raw {
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("case {stem}.json: invalid JSON: {e}"))?;
        if let Some(kind) = unknown_assertion(&value) {
            return Err(format!("case {stem}.json: unknown assertion type {kind:?}"));
        }
        let errors: Vec<String> =
            validator.iter_errors(&value).map(|e| format!("{}: {e}", e.instance_path())).collect();
        if !errors.is_empty() {
            return Err(format!("case {stem}.json does not match conformance-case.schema.json: {}", errors.join("; ")));
        }
        if value["id"].as_str() != Some(stem.as_str()) {
            return Err(format!("case {stem}.json: id {} must equal the file stem", value["id"]));
        }
        cases.push((stem, value));
    }
    Ok(cases)
}

const ASSERTION_TYPES: [&str; 6] =
    ["exit-code", "json-path", "file-exists", "file-contains-verbatim", "file-matches-schema", "stderr-matches"];

fn unknown_assertion(case: &Value) -> Option<String> {
    case["assertions"].as_array()?.iter().find_map(|a| {
        let t = a["type"].as_str().unwrap_or("<missing>");
        (!ASSERTION_TYPES.contains(&t)).then(|| t.to_owned())
    })
}

/// Runs the selected cases and returns one outcome per case.
pub fn run(options: &RunOptions) -> Result<Vec<CaseOutcome>, String> {
    if !options.binary.is_file() {
        return Err(format!("sm binary {} not found", options.binary.display()));
    }
    let cases = load_cases(&options.source)?;
    for wanted in &options.only {
        if !cases.iter().any(|(id, _)| id == wanted) {
            return Err(format!("no conformance case {wanted:?}"));
        }
    }
    let mut outcomes = Vec::new();
    for (id, case) in cases {
        if !options.only.is_empty() && !options.only.contains(&id) {
            continue;
        }
        let failures = match run_case(options, &case) {
            Ok(f) => f,
            Err(setup) => vec![format!("setup: {setup}")],
        };
        outcomes.push(CaseOutcome { id, failures });
    }
    Ok(outcomes)
}

struct Captured {
    exit_code: i32,
    stdout: String,
    stderr: String,
}

fn run_case(options: &RunOptions, case: &Value) -> Result<Vec<String>, String> {
    let work = tempfile::Builder::new().prefix("sm-conformance-").tempdir().map_err(|e| e.to_string())?;
    let scope = work.path().join("scope");
    let home = work.path().join("home");
    std::fs::create_dir_all(&scope).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let setup = &case["setup"];
    let mut env: Vec<(&str, String)> = vec![("HOME", home.display().to_string())];
    for (key, var) in [
        ("disableAllAdapters", "SKILL_MAP_DISABLE_ALL_ADAPTERS"),
        ("disableAllDetectors", "SKILL_MAP_DISABLE_ALL_DETECTORS"),
        ("disableAllRules", "SKILL_MAP_DISABLE_ALL_RULES"),
    ] {
        if setup[key].as_bool() == Some(true) {
            env.push((var, "1".into()));
        }
    }
    if let Some(priors) = setup["priorScans"].as_array() {
        for (i, prior) in priors.iter().enumerate() {
            let fixture = prior["fixture"].as_str().unwrap_or_default();
            replace_scope_with(&options.source, fixture, &scope)?;
            let mut args = vec!["scan".to_owned()];
            args.extend(strings(&prior["flags"]));
            let out = spawn(&options.binary, &args, &scope, &env)?;
            // Exit 1 means the scan found error issues and still persisted; 2+ is a failure.
            if !(out.exit_code == 0 || out.exit_code == 1) {
                return Ok(vec![format!(
                    "priorScans[{i}] ({fixture}) exited {}: {}",
                    out.exit_code,
                    out.stderr.trim()
                )]);
            }
        }
    }
    if let Some(fixture) = case["fixture"].as_str() {
        replace_scope_with(&options.source, fixture, &scope)?;
    }
    let invoke = &case["invoke"];
    let mut args = vec![invoke["verb"].as_str().unwrap_or_default().to_owned()];
    if let Some(sub) = invoke["sub"].as_str() {
        args.push(sub.to_owned());
    }
    args.extend(strings(&invoke["args"]));
    args.extend(strings(&invoke["flags"]));
    let out = spawn(&options.binary, &args, &scope, &env)?;
    let mut failures = Vec::new();
    for (i, assertion) in case["assertions"].as_array().into_iter().flatten().enumerate() {
        if let Err(why) = check(assertion, &out, &scope, &options.source) {
            failures.push(format!("assertion {i} ({}): {why}", assertion["type"].as_str().unwrap_or("?")));
        }
    }
    Ok(failures)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

fn spawn(binary: &Path, args: &[String], cwd: &Path, env: &[(&str, String)]) -> Result<Captured, String> {
    let mut cmd = Command::new(binary);
    cmd.args(args).current_dir(cwd);
    for var in ["SKILL_MAP_SCOPE", "SKILL_MAP_JSON", "SKILL_MAP_DB", "SKILL_MAP_PROGRESS"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    Ok(Captured {
        exit_code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Empties the scope (keeping `.skill-map/`, so prior scans persist) and copies a fixture in.
fn replace_scope_with(source: &CaseSource, fixture: &str, scope: &Path) -> Result<(), String> {
    for entry in std::fs::read_dir(scope).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.file_name().is_some_and(|n| n == ".skill-map") {
            continue;
        }
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.map_err(|e| format!("{}: {e}", path.display()))?;
    }
    check_relative(fixture)?;
    match source {
        CaseSource::Embedded => {
            let prefix = format!("conformance/fixtures/{fixture}");
            let dir = SPEC_DIR.get_dir(&prefix).ok_or_else(|| format!("no fixture {fixture:?}"))?;
            copy_embedded(dir, Path::new(&prefix), scope)
        }
        CaseSource::Dir(root) => {
            let from = root.join("fixtures").join(fixture);
            if !from.is_dir() {
                return Err(format!("no fixture {}", from.display()));
            }
            copy_tree(&from, scope)
        }
    }
}

fn check_relative(p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if path.is_absolute() || path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(format!("path {p:?} must stay inside its directory"));
    }
    Ok(())
}

fn copy_embedded(dir: &Dir<'_>, prefix: &Path, dest: &Path) -> Result<(), String> {
    for file in dir.files() {
        let rel = file.path().strip_prefix(prefix).map_err(|e| e.to_string())?;
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&target, file.contents()).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    for sub in dir.dirs() {
        copy_embedded(sub, prefix, dest)?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    Ok(())
}

fn fixture_bytes(source: &CaseSource, rel: &str) -> Result<Vec<u8>, String> {
    check_relative(rel)?;
    match source {
        CaseSource::Embedded => SPEC_DIR
            .get_file(format!("conformance/fixtures/{rel}"))
            .map(|f| f.contents().to_vec())
            .ok_or_else(|| format!("no fixture file {rel:?}")),
        CaseSource::Dir(root) => std::fs::read(root.join("fixtures").join(rel)).map_err(|e| format!("{rel}: {e}")),
    }
}

fn check(assertion: &Value, out: &Captured, scope: &Path, source: &CaseSource) -> Result<(), String> {
    match assertion["type"].as_str().unwrap_or_default() {
        "exit-code" => {
            let want = assertion["value"].as_i64().unwrap_or(-1);
            if i64::from(out.exit_code) == want {
                Ok(())
            } else {
                Err(format!("exit code {} (expected {want}); stderr: {}", out.exit_code, out.stderr.trim()))
            }
        }
        "json-path" => check_json_path(assertion, &out.stdout),
        "file-exists" => {
            let pattern = assertion["path"].as_str().unwrap_or_default();
            check_relative(pattern)?;
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("bad glob {pattern:?}: {e}"))?
                .compile_matcher();
            let mut found = false;
            list_relative(scope, scope, &mut |rel| found |= glob.is_match(rel));
            if found { Ok(()) } else { Err(format!("nothing in the scope matches {pattern:?}")) }
        }
        "file-contains-verbatim" => {
            let path = assertion["path"].as_str().unwrap_or_default();
            check_relative(path)?;
            let haystack = std::fs::read(scope.join(path)).map_err(|e| format!("{path}: {e}"))?;
            let needle = fixture_bytes(source, assertion["fixture"].as_str().unwrap_or_default())?;
            let found = needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle.as_slice());
            if found { Ok(()) } else { Err(format!("{path} does not contain the fixture's bytes")) }
        }
        "file-matches-schema" => {
            let path = assertion["path"].as_str().unwrap_or_default();
            let text = if path == "-" {
                out.stdout.clone()
            } else {
                check_relative(path)?;
                std::fs::read_to_string(scope.join(path)).map_err(|e| format!("{path}: {e}"))?
            };
            let value: Value = serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))?;
            let errors = spec::validate(assertion["schema"].as_str().unwrap_or_default(), &value)?;
            if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
        }
        "stderr-matches" => {
            let pattern = assertion["pattern"].as_str().unwrap_or_default();
            let re = regex::Regex::new(pattern).map_err(|e| format!("bad pattern: {e}"))?;
            if re.is_match(&out.stderr) {
                Ok(())
            } else {
                Err(format!("stderr does not match /{pattern}/: {}", out.stderr.trim()))
            }
        }
        other => Err(format!("unknown assertion type {other:?}")),
    }
}

fn check_json_path(assertion: &Value, stdout: &str) -> Result<(), String> {
    let doc: Value = serde_json::from_str(stdout).map_err(|e| format!("stdout is not one JSON document: {e}"))?;
    let path = assertion["path"].as_str().unwrap_or("$");
    let got = json_path::eval(&doc, path)?;
    if let Some(want) = assertion.get("equals")
        && !json_equal(&got, want)
    {
        return Err(format!("{path} is {got} (expected {want})"));
    }
    if let Some(bound) = assertion.get("greaterThan").and_then(Value::as_f64)
        && got.as_f64().is_none_or(|g| g <= bound)
    {
        return Err(format!("{path} is {got} (expected > {bound})"));
    }
    if let Some(bound) = assertion.get("lessThan").and_then(Value::as_f64)
        && got.as_f64().is_none_or(|g| g >= bound)
    {
        return Err(format!("{path} is {got} (expected < {bound})"));
    }
    if let Some(pattern) = assertion.get("matches").and_then(Value::as_str) {
        let re = regex::Regex::new(pattern).map_err(|e| format!("bad pattern: {e}"))?;
        if !got.as_str().is_some_and(|s| re.is_match(s)) {
            return Err(format!("{path} is {got} (expected to match /{pattern}/)"));
        }
    }
    Ok(())
}

/// Deep equality where numbers compare by value (`5` equals `5.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn list_relative(base: &Path, dir: &Path, visit: &mut dyn FnMut(&str)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if let Ok(rel) = path.strip_prefix(base) {
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            visit(&rel);
        }
        if path.is_dir() {
            list_relative(base, &path, visit);
        }
    }
}
