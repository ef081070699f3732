//! `sm audit list|run`

use serde_json::{Value, json};

use crate::args::{AuditVerb, GlobalArgs};
use crate::commands::load_persisted;
use crate::output::{CliError, Output, exit, sanitize, table};
use crate::settings::{ScopeContext, Settings};
use crate::wiring;

pub fn run(verb: &AuditVerb, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let ctx = ScopeContext::resolve(global_scope)?;
    let settings = Settings::load_with(&ctx, &global.config)?;
    let ext = wiring::extensions(&ctx, global, &settings, true)?;
    let audits = ext.registry.audits();
    match verb {
        AuditVerb::List => {
            let items: Vec<Value> = audits
                .iter()
                .map(|a| {
                    let i = a.info();
                    json!({ "id": i.id, "version": i.version, "description": i.description })
                })
                .collect();
            if out.json {
                out.print_json(&items);
            } else if items.is_empty() {
                out.print_text("no audits registered (audits come from plugins)\n");
            } else {
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|i| {
                        vec![
                            i["id"].as_str().unwrap_or("").to_owned(),
                            sanitize(i["description"].as_str().unwrap_or("")),
                        ]
                    })
                    .collect();
                out.print_text(&table(&["ID", "DESCRIPTION"], &rows, &[]));
            }
        }
        AuditVerb::Run { id } => {
            let audit = audits.iter().find(|a| a.info().id == *id).ok_or_else(|| {
                super::unknown_extension("no-audit", "audit", id, audits.iter().map(|a| a.info().id).collect())
            })?;
            let scan = load_persisted(global, global_scope)?;
            let report = audit.run(&scan);
            if out.json {
                out.print_json(&json!({ "audit": id, "report": report }));
            } else {
                out.print_text(&format!("{}\n", serde_json::to_string_pretty(&report).expect("JSON serialises")));
            }
        }
    }
    Ok(exit::OK)
}
