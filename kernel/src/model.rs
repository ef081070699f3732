//! The domain model: nodes, links, issues and the scan result.
//!
//! JSON field names follow the skill-map 0.1.0 spec (camelCase, `adapter` not `provider`), so
//! anything written against the seed spec reads our output. `spec/schemas/*.schema.json` is the
//! normative form of these types; a test keeps the two in sync.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The version of our normative spec (`spec/`).
pub const SPEC_VERSION: &str = "0.1.0";
/// The version of the `ScanResult` document shape.
pub const SCAN_RESULT_SCHEMA_VERSION: u32 = 1;

/// A `{frontmatter, body, total}` triple, used for bytes and tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TripleSplit {
    pub frontmatter: u64,
    pub body: u64,
    pub total: u64,
}

impl TripleSplit {
    /// Builds a triple whose total is the sum of both parts.
    pub fn new(frontmatter: u64, body: u64) -> Self {
        Self { frontmatter, body, total: frontmatter + body }
    }
}

/// Declared maturity of a node (`metadata.stability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Stability {
    Experimental,
    Stable,
    Deprecated,
}

impl Stability {
    /// Parses the spec's three values; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "experimental" => Some(Self::Experimental),
            "stable" => Some(Self::Stable),
            "deprecated" => Some(Self::Deprecated),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Experimental => "experimental",
            Self::Stable => "stable",
            Self::Deprecated => "deprecated",
        }
    }
}

/// One tracked file. Identity is `path`: relative to the scan root, POSIX separators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    pub path: String,
    /// Open string chosen by the adapter (`skill`, `agent`, `command`, `hook`, `note`, …).
    pub kind: String,
    /// Id of the adapter that classified the file.
    pub adapter: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub stability: Option<Stability>,
    pub version: Option<String>,
    pub author: Option<String>,
    /// Parsed frontmatter (possibly recovered); `{}` when the file has none.
    #[serde(default)]
    pub frontmatter: Map<String, Value>,
    /// sha256 hex of the body, CRLF normalised to LF.
    pub body_hash: String,
    /// sha256 hex of the raw frontmatter block, CRLF normalised to LF.
    pub frontmatter_hash: String,
    pub bytes: TripleSplit,
    /// cl100k token counts; absent when the scan ran with `--no-tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TripleSplit>,
    pub links_out_count: u64,
    pub links_in_count: u64,
    pub external_refs_count: u64,
}

impl Node {
    /// A node known only by its path, kind and adapter: no frontmatter or metadata, empty hashes,
    /// zero sizes and counts. Callers fill in what they know (`Node { body_hash, ..Node::new(…) }`).
    pub fn new(path: &str, kind: &str, adapter: &str) -> Self {
        Self {
            path: path.to_owned(),
            kind: kind.to_owned(),
            adapter: adapter.to_owned(),
            title: None,
            description: None,
            stability: None,
            version: None,
            author: None,
            frontmatter: Map::new(),
            body_hash: String::new(),
            frontmatter_hash: String::new(),
            bytes: TripleSplit::default(),
            tokens: None,
            links_out_count: 0,
            links_in_count: 0,
            external_refs_count: 0,
        }
    }
}

/// The kind of a directed edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    Invokes,
    References,
    Mentions,
    Supersedes,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invokes => "invokes",
            Self::References => "references",
            Self::Mentions => "mentions",
            Self::Supersedes => "supersedes",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invokes" => Some(Self::Invokes),
            "references" => Some(Self::References),
            "mentions" => Some(Self::Mentions),
            "supersedes" => Some(Self::Supersedes),
            _ => None,
        }
    }
}

/// How sure a detector is about a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "high" => Some(Self::High),
            "medium" => Some(Self::Medium),
            "low" => Some(Self::Low),
            _ => None,
        }
    }
}

/// The text that produced a link, as written and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    pub original_trigger: String,
    pub normalized_trigger: String,
}

/// Where in the source file a link was found (1-based line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// A directed edge `source → target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Link {
    pub source: String,
    /// As written by the detector: a root-relative path, a `/command`, an `@name`, ….
    pub target: String,
    pub kind: LinkKind,
    pub confidence: Confidence,
    /// Ids of the detectors that produced the link.
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// Finding severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Error,
    Warn,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "error" => Some(Self::Error),
            "warn" => Some(Self::Warn),
            "info" => Some(Self::Info),
            _ => None,
        }
    }
}

/// Optional machine-readable fix hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fix {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autofixable: Option<bool>,
}

/// A rule finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Issue {
    /// kebab-case rule id.
    pub rule_id: String,
    pub severity: Severity,
    pub node_ids: Vec<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_indices: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

impl Issue {
    /// A finding about one node, without data.
    pub fn new(rule_id: &str, severity: Severity, node: &str, message: String) -> Self {
        Self {
            rule_id: rule_id.to_owned(),
            severity,
            node_ids: vec![node.to_owned()],
            message,
            link_indices: None,
            detail: None,
            fix: None,
            data: None,
        }
    }

    /// Attaches a `data` object (must be a JSON object; anything else is ignored).
    pub fn with_data(mut self, data: Value) -> Self {
        if let Value::Object(map) = data {
            self.data = Some(map);
        }
        self
    }
}

/// Whether the scan ran over a project or the user's agent homes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Project,
    Global,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Global => "global",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "project" => Some(Self::Project),
            "global" => Some(Self::Global),
            _ => None,
        }
    }
}

/// The tool that produced a scan result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScannedBy {
    pub name: String,
    pub version: String,
    pub spec_version: String,
}

/// Counters of one scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanStats {
    /// Files the walk yielded (after ignore rules), whether or not an adapter claimed them.
    pub files_walked: u64,
    /// Claimed files that were not turned into nodes (too large, not text, duplicate path).
    pub files_skipped: u64,
    pub nodes_count: u64,
    pub links_count: u64,
    pub issues_count: u64,
    pub duration_ms: u64,
}

/// The document `sm scan --json` prints and the storage persists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanResult {
    pub schema_version: u32,
    /// Unix milliseconds at the start of the scan.
    pub scanned_at: u64,
    pub scope: Scope,
    pub roots: Vec<String>,
    /// Ids of the adapters that took part.
    #[serde(default)]
    pub adapters: Vec<String>,
    pub scanned_by: Option<ScannedBy>,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    pub issues: Vec<Issue>,
    pub stats: ScanStats,
}

impl ScanResult {
    /// True when any issue has error severity (exit code 1).
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }
}
