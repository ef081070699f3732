//! `sm config list|get|show|set|reset`

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::args::{ConfigVerb, GlobalArgs};
use crate::output::{CliError, Output, exit, sanitize};
use crate::settings::{
    ScopeContext, Settings, check_key, empty_layer, get_path, parse_value, read_layer, remove_path, set_path,
    validate_layer,
};

pub fn run(verb: &ConfigVerb, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let ctx = ScopeContext::resolve(global_scope)?;
    match verb {
        ConfigVerb::List => {
            let settings = Settings::load_with(&ctx, &global.config)?;
            if out.json {
                out.print_json(settings.merged());
            } else {
                let mut lines = Vec::new();
                flatten(settings.merged(), "", &mut lines);
                out.print_text(&lines.iter().map(|l| format!("{l}\n")).collect::<String>());
            }
        }
        ConfigVerb::Get { key } => {
            check_key(key)?;
            let settings = Settings::load_with(&ctx, &global.config)?;
            let value = settings.get(key).cloned().unwrap_or(Value::Null);
            if out.json {
                out.print_json(&value);
            } else {
                out.print_text(&format!("{}\n", render(&value)));
            }
        }
        ConfigVerb::Show { key, source } => {
            check_key(key)?;
            let settings = Settings::load_with(&ctx, &global.config)?;
            let value = settings.get(key).cloned().unwrap_or(Value::Null);
            let layer = settings.source_of(key).unwrap_or("unset");
            match (out.json, source) {
                (true, true) => out.print_json(&json!({ "value": value, "source": layer })),
                (true, false) => out.print_json(&value),
                (false, true) => out.print_text(&format!("{}  ({layer})\n", render(&value))),
                (false, false) => out.print_text(&format!("{}\n", render(&value))),
            }
        }
        ConfigVerb::Set { key, value, local } => {
            check_key(key)?;
            let path = target_file(&ctx, *local);
            let mut layer = current_layer(&path)?;
            set_path(&mut layer, key, parse_value(value));
            validate_layer(&layer, &path.display().to_string(), "target")?;
            write_atomic(&path, &layer)?;
            out.note(&format!("set {key} in {}", path.display()));
            if out.json {
                out.print_json(&json!({ "ok": true, "key": key, "value": get_path(&layer, key), "file": path.display().to_string() }));
            }
        }
        ConfigVerb::Reset { key, local } => {
            check_key(key)?;
            let path = target_file(&ctx, *local);
            let mut layer = current_layer(&path)?;
            let removed = remove_path(&mut layer, key);
            if removed {
                write_atomic(&path, &layer)?;
                out.note(&format!("removed {key} from {}", path.display()));
            } else {
                out.note(&format!("{key} is not set in {}; nothing changed", path.display()));
            }
            if out.json {
                out.print_json(
                    &json!({ "ok": true, "key": key, "removed": removed, "file": path.display().to_string() }),
                );
            }
        }
    }
    Ok(exit::OK)
}

fn target_file(ctx: &ScopeContext, local: bool) -> PathBuf {
    let name = if local { "settings.local.json" } else { "settings.json" };
    ctx.state_dir().join(name)
}

fn current_layer(path: &Path) -> Result<Value, CliError> {
    if path.is_file() { read_layer(path, "target") } else { Ok(empty_layer()) }
}

fn write_atomic(path: &Path, value: &Value) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::operational("write-failed", format!("{}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    let tmp = path.with_extension("json.tmp-sm");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => sanitize(s),
        other => other.to_string(),
    }
}

fn flatten(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v.as_object() {
        Some(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&map[k], &path, out);
            }
        }
        _ => out.push(format!("{prefix} = {}", render_list(v))),
    }
}

fn render_list(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "{}".into(),
        other => render(other),
    }
}
