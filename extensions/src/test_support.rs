//! Helpers for the detectors' unit tests.

use serde_json::{Map, json};
use sm_kernel::extensions::{DetectContext, Detector, Rule, RuleContext};
use sm_kernel::markdown::mask_non_prose;
use sm_kernel::model::{Issue, Link, Node};
use sm_kernel::node_index::NodeIndex;

pub fn node(path: &str, kind: &str, name: &str) -> Node {
    let mut fm = Map::new();
    if !name.is_empty() {
        fm.insert("name".into(), json!(name));
    }
    Node {
        frontmatter: fm,
        body_hash: "0".repeat(64),
        frontmatter_hash: "0".repeat(64),
        ..Node::new(path, kind, "claude")
    }
}

/// Runs `detector` on `body` as the node at `path` (body starting on line 1).
pub fn detect_on(detector: &dyn Detector, path: &str, body: &str) -> Vec<Link> {
    detect_with_nodes(detector, path, body, &[])
}

pub fn detect_with_nodes(detector: &dyn Detector, path: &str, body: &str, others: &[Node]) -> Vec<Link> {
    let me = node(path, "note", "");
    let mut all = others.to_vec();
    all.push(me.clone());
    let index = NodeIndex::build(&all);
    detector.begin_scan(&index);
    let prose = mask_non_prose(body);
    detector.detect(&DetectContext { node: &me, body, prose: &prose, body_start_line: 1, index: &index })
}

/// Runs `rule` over `nodes` (no links, default configuration).
pub fn evaluate(rule: &dyn Rule, nodes: &[Node]) -> Vec<Issue> {
    let index = NodeIndex::build(nodes);
    let config = json!({});
    rule.evaluate(&RuleContext { nodes, links: &[], index: &index, resolutions: &[], config: &config })
}

/// Each issue's `data[key]` string, in order: what a rule test compares.
pub fn data_strings(issues: &[Issue], key: &str) -> Vec<String> {
    issues.iter().map(|i| i.data.as_ref().expect("data")[key].as_str().expect("a string").to_owned()).collect()
}
