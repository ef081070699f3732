//! `sm check`

use sm_kernel::model::{Issue, Severity};

use crate::args::{CheckArgs, GlobalArgs};
use crate::commands::{find_node, load_persisted};
use crate::output::{CliError, Output, exit, sanitize};

pub fn run(args: &CheckArgs, global: &GlobalArgs, global_scope: bool, out: &Output) -> Result<u8, CliError> {
    let scan = load_persisted(global, global_scope)?;
    if let Some(node) = &args.node {
        find_node(&scan, node)?;
    }
    let min = args.severity.as_deref().and_then(Severity::parse).unwrap_or(Severity::Info);
    let issues: Vec<&Issue> = scan
        .issues
        .iter()
        .filter(|i| args.node.as_ref().is_none_or(|n| i.node_ids.contains(n)))
        .filter(|i| {
            args.rules.is_empty() || args.rules.iter().any(|r| r.rsplit('/').next() == Some(i.rule_id.as_str()))
        })
        .filter(|i| i.severity <= min)
        .collect();
    let errors = issues.iter().filter(|i| i.severity == Severity::Error).count();
    if out.json {
        out.print_json(&issues);
    } else {
        let mut text = String::new();
        for sev in [Severity::Error, Severity::Warn, Severity::Info] {
            let group: Vec<&&Issue> = issues.iter().filter(|i| i.severity == sev).collect();
            if group.is_empty() {
                continue;
            }
            let label = match sev {
                Severity::Error => out.paint("error", "31"),
                Severity::Warn => out.paint("warn", "33"),
                Severity::Info => out.paint("info", "36"),
            };
            text.push_str(&format!("{label} ({})\n", group.len()));
            for i in group {
                let nodes = if i.node_ids.iter().all(|n| i.message.contains(n.as_str())) {
                    String::new()
                } else {
                    format!(" [{}]", i.node_ids.join(", "))
                };
                text.push_str(&format!("  {}: {}{nodes}\n", i.rule_id, sanitize(&i.message)));
            }
        }
        let count = |s: Severity| issues.iter().filter(|i| i.severity == s).count();
        text.push_str(&format!(
            "{} issues: {} errors, {} warnings, {} info\n",
            issues.len(),
            count(Severity::Error),
            count(Severity::Warn),
            count(Severity::Info)
        ));
        out.print_text(&text);
    }
    Ok(if errors > 0 { exit::ISSUES } else { exit::OK })
}
