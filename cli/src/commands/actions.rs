//! `sm actions list|show|run`

use serde_json::{Map, Value, json};
use sm_kernel::extensions::{Action, ActionMode};
use sm_kernel::frontmatter;

use crate::args::{ActionsVerb, GlobalArgs};
use crate::commands::{find_node, load_persisted};
use crate::output::{CliError, Output, exit, sanitize, table};
use crate::settings::{ScopeContext, Settings};
use crate::wiring;

pub fn run(verb: &ActionsVerb, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let ctx = ScopeContext::resolve(global_scope)?;
    let settings = Settings::load_with(&ctx, &global.config)?;
    let ext = wiring::extensions(&ctx, global, &settings, true)?;
    let actions = ext.registry.actions();
    match verb {
        ActionsVerb::List => {
            let items: Vec<Value> = actions.iter().map(|a| describe(a.as_ref())).collect();
            if out.json {
                out.print_json(&items);
            } else if items.is_empty() {
                out.print_text("no actions registered (actions come from plugins)\n");
            } else {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|i| {
                        vec![
                            i["id"].as_str().unwrap_or("").to_owned(),
                            i["mode"].as_str().unwrap_or("").to_owned(),
                            i["applicableKinds"].as_array().map_or("all".into(), |k| {
                                if k.is_empty() {
                                    "all".into()
                                } else {
                                    k.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")
                                }
                            }),
                            sanitize(i["description"].as_str().unwrap_or("")),
                        ]
                    })
                    .collect();
                out.print_text(&table(&["ID", "MODE", "KINDS", "DESCRIPTION"], &rows, &[]));
            }
            Ok(exit::OK)
        }
        ActionsVerb::Show { id } => {
            let action = find(actions, id)?;
            let d = describe(action.as_ref());
            if out.json {
                out.print_json(&d);
            } else {
                out.print_text(&format!("{}\n", serde_json::to_string_pretty(&d).expect("JSON serialises")));
            }
            Ok(exit::OK)
        }
        ActionsVerb::Run { id, node, input } => {
            let action = find(actions, id)?;
            let input: Map<String, Value> = serde_json::from_str(input)
                .map_err(|e| CliError::operational("bad-input", format!("--input must be a JSON object: {e}")))?;
            let scan = load_persisted(global, global_scope)?;
            let node = find_node(&scan, node)?;
            let kinds = action.applicable_kinds();
            if !kinds.is_empty() && !kinds.contains(&node.kind) {
                return Err(CliError::operational(
                    "not-applicable",
                    format!("action {id} applies to {}, not to {} ({})", kinds.join(", "), node.path, node.kind),
                ));
            }
            let fs = wiring::filesystem()?;
            let bytes = scan
                .roots
                .iter()
                .find_map(|root| sm_kernel::ports::FilesystemPort::read(&fs, root, &node.path).ok())
                .ok_or_else(|| {
                    CliError::not_found("file-gone", format!("{} is no longer readable; rescan", node.path))
                })?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let body = frontmatter::split(&text).body.to_owned();
            let result = action.invoke(node, &body, &input).map_err(|e| {
                CliError::operational("action-failed", format!("action {id} failed on {}: {e}", node.path))
            })?;
            if out.json {
                out.print_json(&json!({ "action": id, "node": node.path, "result": result }));
            } else {
                out.print_text(&format!("{}\n", serde_json::to_string_pretty(&result).expect("JSON serialises")));
            }
            Ok(exit::OK)
        }
    }
}

fn describe(a: &dyn Action) -> Value {
    let info = a.info();
    let mode = match a.mode() {
        ActionMode::Local => "local",
        ActionMode::InvocationTemplate => "invocation-template",
    };
    json!({ "id": info.id, "mode": mode, "applicableKinds": a.applicable_kinds(), "version": info.version, "description": info.description })
}

fn find<'a>(actions: &'a [std::sync::Arc<dyn Action>], id: &str) -> Result<&'a std::sync::Arc<dyn Action>, CliError> {
    actions.iter().find(|a| a.info().id == id).ok_or_else(|| {
        super::unknown_extension("no-action", "action", id, actions.iter().map(|a| a.info().id).collect())
    })
}
