//! Example renderer `csv`: one row per node — path, kind, title, links in/out, issues — for
//! spreadsheets (`sm graph --format csv`).

use sm_plugin_sdk::{RendererPlugin, ScanResult, export_plugin};

/// The renderer.
pub struct Csv;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

impl RendererPlugin for Csv {
    fn format_id(&self) -> String {
        "csv".into()
    }

    fn render(&self, scan: &ScanResult) -> String {
        let mut out = String::from("path,kind,title,links_in,links_out,issues\n");
        let mut nodes: Vec<_> = scan.nodes.iter().collect();
        nodes.sort_by(|a, b| a.path.cmp(&b.path));
        for n in nodes {
            let issues = scan.issues.iter().filter(|i| i.node_ids.contains(&n.path)).count();
            out.push_str(&format!(
                "{},{},{},{},{},{}\n",
                field(&n.path),
                field(&n.kind),
                field(n.title.as_deref().unwrap_or("")),
                n.links_in_count,
                n.links_out_count,
                issues
            ));
        }
        out
    }
}

export_plugin! {
    id: "csv-renderer",
    extensions: [
        renderer "csv" ("the node table as CSV") => Csv,
    ]
}
