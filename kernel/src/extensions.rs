//! The six extension kinds. Built-ins and plugins implement the same traits and go through the
//! same [`Registry`](crate::registry::Registry); the kernel cannot tell them apart.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Issue, Link, Node, ScanResult};
use crate::node_index::{NodeIndex, Resolution};

/// The kind of an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtensionKind {
    Adapter,
    Detector,
    Rule,
    Action,
    Audit,
    Renderer,
}

impl ExtensionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adapter => "adapter",
            Self::Detector => "detector",
            Self::Rule => "rule",
            Self::Action => "action",
            Self::Audit => "audit",
            Self::Renderer => "renderer",
        }
    }
}

/// What every extension says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionInfo {
    /// Short kebab-case id (`claude`, `frontmatter-refs`, `broken-ref`).
    pub id: String,
    pub kind: ExtensionKind,
    pub version: String,
    pub description: String,
}

/// Recognises a platform: decides which files are nodes and of which kind.
pub trait Adapter: Send + Sync {
    fn info(&self) -> ExtensionInfo;
    /// The node kind of a root-relative POSIX path, or `None` if this adapter does not claim it.
    fn classify(&self, path: &str) -> Option<String>;
}

/// What a detector sees of one node.
pub struct DetectContext<'a> {
    pub node: &'a Node,
    /// The body text (after the frontmatter fence), LF line endings.
    pub body: &'a str,
    /// `body` with code fences, inline code and HTML comments blanked out (same offsets and
    /// lines): body detectors search this, so code is never a reference.
    pub prose: &'a str,
    /// 1-based line of the file on which the body starts.
    pub body_start_line: u64,
    /// Every node and walked file of the scan.
    pub index: &'a NodeIndex,
}

/// Turns one node into links.
///
/// A link whose target carries a URL scheme (`https://…`) is not stored: the kernel counts it into
/// the source's `externalRefsCount` (distinct targets per node) and drops it.
pub trait Detector: Send + Sync {
    fn info(&self) -> ExtensionInfo;
    /// Called once per scan, after all nodes are built and before any `complete` and any `detect`
    /// of an index-dependent detector, so a detector can prepare per-scan state (e.g. a table of
    /// every node name). Detectors that do not depend on the index may have run already.
    fn begin_scan(&self, _index: &NodeIndex) {}
    /// Whether the output for a node can change when *other* nodes change (it resolves names or
    /// files against the index). Such detectors re-run on unchanged files whenever the set of node
    /// names, paths or files changed. Plugins are assumed to.
    fn depends_on_index(&self) -> bool {
        true
    }
    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link>;
    /// Detects over several nodes at once (one result per context, in order). The kernel always
    /// calls this (never `detect` directly): a detector that does not depend on the index one node
    /// at a time, as soon as the node's file is read; the others in chunks, once the index is
    /// built. Override it when a call has a fixed cost worth sharing (a plugin crossing the ABI
    /// boundary).
    fn detect_batch(&self, ctxs: &[DetectContext<'_>]) -> Vec<Vec<Link>> {
        ctxs.iter().map(|c| self.detect(c)).collect()
    }
    /// Whether this index-dependent detector splits its work in two: [`prepare`](Self::prepare)
    /// reads the body before the index exists, [`complete`](Self::complete) resolves what it kept
    /// against the index. The kernel then never holds or re-reads a body for it. `detect` must
    /// equal `prepare` followed by `complete`.
    fn prepares(&self) -> bool {
        false
    }
    /// The body-reading half of detection, called as soon as the node's file is read, when
    /// [`prepares`](Self::prepares) says so; `ctx.index` is empty then. Returns what `complete`
    /// needs (`None`: nothing to complete, no links).
    fn prepare(&self, _ctx: &DetectContext<'_>) -> Option<Prepared> {
        None
    }
    /// The index-resolving half: the node's links from what `prepare` kept. Called after
    /// `begin_scan`.
    fn complete(&self, _node: &Node, _prepared: Prepared, _index: &NodeIndex) -> Vec<Link> {
        Vec::new()
    }
}

/// What a detector's [`prepare`](Detector::prepare) kept of one body for its `complete`: the
/// detector's own type (it downcasts it back).
pub type Prepared = Box<dyn std::any::Any + Send + Sync>;

/// What a rule sees: the whole graph.
pub struct RuleContext<'a> {
    pub nodes: &'a [Node],
    pub links: &'a [Link],
    pub index: &'a NodeIndex,
    /// How each link's target resolves, by link position, when the scan resolved them already
    /// (it does, for the link counts); may be empty: [`resolution`](Self::resolution) resolves then.
    pub resolutions: &'a [Resolution<'a>],
    /// Rule configuration: `{"profile": "claude" | "agentskills", "rules": {"<rule-id>": {...}}}`.
    pub config: &'a Value,
}

impl RuleContext<'_> {
    /// How `links[i]`'s target resolves (see [`NodeIndex::resolve_target`]).
    pub fn resolution(&self, i: usize) -> Resolution<'_> {
        match self.resolutions.get(i) {
            Some(&r) => r,
            None => self.index.resolve_target(&self.links[i].target),
        }
    }

    /// `config.rules.<rule_id>.<key>`, if set.
    pub fn option(&self, rule_id: &str, key: &str) -> Option<&Value> {
        self.config.get("rules").and_then(|r| r.get(rule_id)).and_then(|r| r.get(key))
    }

    /// The frontmatter profile (`claude` unless configured).
    pub fn profile(&self) -> &str {
        self.config.get("profile").and_then(Value::as_str).unwrap_or("claude")
    }
}

/// Turns the graph into issues.
pub trait Rule: Send + Sync {
    fn info(&self) -> ExtensionInfo;
    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue>;
}

/// How an action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionMode {
    /// Local code, run in-process.
    Local,
    /// A prompt template rendered for an LLM runner.
    InvocationTemplate,
}

/// Operates on nodes: local code or an LLM invocation template.
pub trait Action: Send + Sync {
    fn info(&self) -> ExtensionInfo;
    fn mode(&self) -> ActionMode;
    /// Node kinds the action applies to; empty means all.
    fn applicable_kinds(&self) -> Vec<String>;
    /// Runs a local action on one node, or renders the prompt of an invocation-template action.
    fn invoke(&self, node: &Node, body: &str, input: &Map<String, Value>) -> Result<Value, String>;
}

/// A deterministic workflow over a scan that yields a report.
pub trait Audit: Send + Sync {
    fn info(&self) -> ExtensionInfo;
    fn run(&self, scan: &ScanResult) -> Value;
}

/// Draws a graph as text.
pub trait Renderer: Send + Sync {
    fn info(&self) -> ExtensionInfo;
    /// The `--format` value that selects this renderer.
    fn format_id(&self) -> String;
    fn render(&self, scan: &ScanResult) -> String;
}
