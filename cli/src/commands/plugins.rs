//! `sm plugins list|show|enable|disable|doctor|check`

use std::collections::BTreeMap;

use serde_json::json;
use sm_kernel::ports::{DiscoveredPlugin, PluginStatus};

use crate::args::{GlobalArgs, PluginsVerb};
use crate::commands::db_path;
use crate::output::{CliError, Output, exit, sanitize, table};
use crate::settings::{ScopeContext, Settings};
use crate::wiring;

pub fn run(verb: &PluginsVerb, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let ctx = ScopeContext::resolve(global_scope)?;
    match verb {
        PluginsVerb::List => {
            let ext = load(&ctx, global)?;
            if out.json {
                out.print_json(&ext.plugins);
            } else {
                out.print_text(&plugin_table(&ext.plugins, &ext.registry));
            }
            Ok(exit::OK)
        }
        PluginsVerb::Show { id } => {
            let ext = load(&ctx, global)?;
            let plugin = find(&ext.plugins, id)?;
            let extensions = extensions_of(&ext.registry, id);
            if out.json {
                out.print_json(&json!({ "plugin": plugin, "extensions": extensions }));
            } else {
                let mut text = format!(
                    "{}\n  status     {}{}\n  path       {}\n",
                    plugin.id,
                    plugin.status.as_str(),
                    plugin.status_reason.as_deref().map(|r| format!(" — {}", sanitize(r))).unwrap_or_default(),
                    plugin.path
                );
                if let Some(m) = &plugin.manifest {
                    text.push_str(&format!(
                        "  version    {}\n  specCompat {}\n  library    {}\n",
                        m["version"].as_str().unwrap_or("-"),
                        m["specCompat"].as_str().unwrap_or("-"),
                        m["library"].as_str().unwrap_or("-")
                    ));
                }
                text.push_str(&format!("  extensions {}\n", extensions.len()));
                for e in &extensions {
                    text.push_str(&format!(
                        "    {} {} — {}\n",
                        e["kind"].as_str().unwrap_or(""),
                        e["id"].as_str().unwrap_or(""),
                        sanitize(e["description"].as_str().unwrap_or(""))
                    ));
                }
                out.print_text(&text);
            }
            Ok(exit::OK)
        }
        PluginsVerb::Enable { id } | PluginsVerb::Disable { id } => {
            let enabled = matches!(verb, PluginsVerb::Enable { .. });
            let discovered = wiring::discover_plugins(&ctx, global);
            find(&discovered, id)?;
            let db = db_path(global, global_scope)?;
            wiring::set_plugin_enabled(&db, id, enabled)?;
            let word = if enabled { "enabled" } else { "disabled" };
            if out.json {
                out.print_json(&json!({ "ok": true, "id": id, "enabled": enabled }));
            } else {
                out.print_text(&format!("plugin {id} {word}\n"));
            }
            Ok(exit::OK)
        }
        PluginsVerb::Doctor => {
            let ext = load(&ctx, global)?;
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for p in &ext.plugins {
                *counts.entry(p.status.as_str()).or_default() += 1;
            }
            let problems: Vec<&DiscoveredPlugin> = ext
                .plugins
                .iter()
                .filter(|p| !matches!(p.status, PluginStatus::Enabled | PluginStatus::Disabled))
                .collect();
            if out.json {
                out.print_json(
                    &json!({ "counts": counts, "problems": problems, "searched": wiring::plugin_dirs(&ctx, global) }),
                );
            } else {
                let mut text = format!("searched: {}\n", wiring::plugin_dirs(&ctx, global).join(", "));
                if ext.plugins.is_empty() {
                    text.push_str("no plugins found\n");
                }
                for (status, n) in &counts {
                    text.push_str(&format!("{n} {status}\n"));
                }
                for p in &problems {
                    text.push_str(&format!(
                        "problem: {} is {} — {}\n",
                        p.id,
                        p.status.as_str(),
                        p.status_reason.as_deref().unwrap_or("")
                    ));
                }
                out.print_text(&text);
            }
            Ok(if problems.is_empty() { exit::OK } else { exit::ISSUES })
        }
        PluginsVerb::Check { path, in_process } => {
            if !path.exists() {
                return Err(CliError::not_found("no-plugin", format!("no plugin at {}", path.display())));
            }
            if *in_process {
                return check_here(path, out);
            }
            check_in_child(path, out)
        }
    }
}

fn load(ctx: &ScopeContext, global: &GlobalArgs) -> Result<wiring::Extensions, CliError> {
    let settings = Settings::load_with(ctx, &global.config)?;
    wiring::extensions(ctx, global, &settings, false)
}

fn find<'a>(plugins: &'a [DiscoveredPlugin], id: &str) -> Result<&'a DiscoveredPlugin, CliError> {
    plugins.iter().find(|p| p.id == id).ok_or_else(|| {
        let known: Vec<&str> = plugins.iter().map(|p| p.id.as_str()).collect();
        let hint =
            if known.is_empty() { "no plugins were found".to_owned() } else { format!("known: {}", known.join(", ")) };
        CliError::not_found("no-plugin", format!("no plugin {id:?} ({hint})"))
    })
}

fn extensions_of(registry: &sm_kernel::registry::Registry, plugin: &str) -> Vec<serde_json::Value> {
    let suffix = format!("(plugin {plugin})");
    registry
        .describe()
        .into_iter()
        .filter(|i| i.description.ends_with(&suffix))
        .map(|i| json!({ "id": i.id, "kind": i.kind.as_str(), "description": i.description.trim_end_matches(&suffix).trim() }))
        .collect()
}

fn plugin_table(plugins: &[DiscoveredPlugin], registry: &sm_kernel::registry::Registry) -> String {
    if plugins.is_empty() {
        return "no plugins found\n".into();
    }
    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|p| {
            let version = p.manifest.as_ref().and_then(|m| m["version"].as_str()).unwrap_or("-").to_owned();
            let exts: Vec<String> = extensions_of(registry, &p.id)
                .iter()
                .map(|e| format!("{} {}", e["kind"].as_str().unwrap_or(""), e["id"].as_str().unwrap_or("")))
                .collect();
            vec![
                p.id.clone(),
                p.status.as_str().to_owned(),
                version,
                if exts.is_empty() { "-".into() } else { exts.join(", ") },
                sanitize(p.status_reason.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    table(&["ID", "STATUS", "VERSION", "EXTENSIONS", "REASON"], &rows, &[])
}

fn check_here(path: &std::path::Path, out: &Output) -> Result<u8, CliError> {
    let lines = wiring::check_plugin(path);
    let failed = lines.iter().filter(|l| !l.ok).count();
    if out.json {
        let items: Vec<_> = lines.iter().map(|l| json!({ "check": l.name, "ok": l.ok, "detail": l.detail })).collect();
        out.print_json(&json!({ "ok": failed == 0, "checks": items }));
    } else {
        let mut text = String::new();
        for l in &lines {
            let tag = if l.ok { out.paint("ok  ", "32") } else { out.paint("FAIL", "31") };
            text.push_str(&format!("{tag} {}: {}\n", l.name, sanitize(&l.detail)));
        }
        text.push_str(&format!("{} passed, {failed} failed\n", lines.len() - failed));
        out.print_text(&text);
    }
    Ok(if failed == 0 { exit::OK } else { exit::ISSUES })
}

/// Runs the checks in a child `sm` so that a plugin which aborts the process is a failed check.
fn check_in_child(path: &std::path::Path, out: &Output) -> Result<u8, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::operational("no-binary", format!("cannot locate the sm binary: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["plugins", "check", "--in-process"]).arg(path);
    if out.json {
        cmd.arg("--json");
    }
    if !out.color {
        cmd.arg("--no-color");
    }
    let child = cmd
        .output()
        .map_err(|e| CliError::operational("check-failed", format!("cannot start the checker process: {e}")))?;
    out.print_text(&String::from_utf8_lossy(&child.stdout));
    match child.status.code() {
        Some(code @ 0..=2) | Some(code @ 5) => Ok(code as u8),
        other => {
            let stderr = String::from_utf8_lossy(&child.stderr);
            let last = stderr.lines().last().unwrap_or("").to_owned();
            Err(CliError {
                exit_code: exit::ISSUES,
                code: "plugin-crashed",
                message: format!(
                    "the plugin crashed the checking process ({}): {last}",
                    other.map_or("killed by a signal".to_owned(), |c| format!("exit {c}"))
                ),
                details: json!({ "stderr": stderr }),
            })
        }
    }
}
