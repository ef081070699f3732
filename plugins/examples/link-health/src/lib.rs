//! Example audit `link-health`: how well the graph holds together — broken references, orphans,
//! nodes without outgoing links — and a score from 0 to 100. With storage mode `dedicated` it keeps
//! every report in its own table (`plugin_link_health_reports`, created by its migration) and says
//! how the score moved since the last run.

use std::collections::BTreeSet;

use sm_plugin_sdk::serde_json::{Value, json};
use sm_plugin_sdk::{AuditPlugin, ScanResult, export_plugin, storage};

/// The audit.
pub struct LinkHealth;

impl AuditPlugin for LinkHealth {
    fn run(&self, scan: &ScanResult) -> Value {
        let broken: Vec<&str> =
            scan.issues.iter().filter(|i| i.rule_id == "broken-ref").map(|i| i.message.as_str()).collect();
        let touched: BTreeSet<&str> =
            scan.nodes.iter().filter(|n| n.links_in_count + n.links_out_count > 0).map(|n| n.path.as_str()).collect();
        let orphans = scan.nodes.len() - touched.len();
        let strong = scan.links.iter().filter(|l| l.confidence != sm_plugin_sdk::Confidence::Low).count();
        let score = if strong == 0 { 100 } else { 100 - (broken.len() * 100 / (strong + broken.len())).min(100) };
        let store = storage();
        let previous = store
            .sql_query("SELECT score FROM plugin_link_health_reports ORDER BY id DESC LIMIT 1", &[])
            .ok()
            .and_then(|rows| rows.first().and_then(|r| r.get("score").cloned()));
        let _ = store.sql_execute(
            "INSERT INTO plugin_link_health_reports (nodes, broken, score) VALUES (?1, ?2, ?3)",
            &[json!(scan.nodes.len()), json!(broken.len()), json!(score)],
        );
        json!({
            "previousScore": previous,
            "nodes": scan.nodes.len(),
            "links": scan.links.len(),
            "brokenReferences": broken.len(),
            "orphans": orphans,
            "score": score,
            "worst": broken.iter().take(5).collect::<Vec<_>>(),
        })
    }
}

export_plugin! {
    id: "link-health",
    extensions: [
        audit "link-health" ("broken references, orphans and a link health score") => LinkHealth,
    ]
}
