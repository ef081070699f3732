//! Kernel trait objects backed by a plugin extension: each trait method becomes one JSON `invoke`.
//!
//! Outputs are parsed into the kernel's types, whose serde definitions are closed and kept equal to
//! `spec/schemas` by the spec-sync test, so malformed output is rejected. A failing call (an error,
//! a caught panic, malformed output) is reported once per extension and method through the
//! [`Reporter`] and yields an empty result: a bad plugin never stops a scan.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use sm_kernel::extensions::{
    Action, ActionMode, Adapter, Audit, DetectContext, Detector, ExtensionInfo, ExtensionKind, Renderer, Rule,
    RuleContext,
};
use sm_kernel::model::{Issue, Link, Node, ScanResult};
use sm_plugin_abi::abi_stable::std_types::{RResult, RStr};
use sm_plugin_abi::{ExtKind, ExtensionBox};

/// Receives one line per plugin failure, e.g. for stderr.
pub type Reporter = Arc<dyn Fn(&str) + Send + Sync>;

/// One loaded plugin extension.
pub struct PluginExt {
    plugin_id: String,
    ext_id: String,
    kind: ExtKind,
    describe: Value,
    instance: ExtensionBox,
    reporter: Reporter,
    reported: Mutex<BTreeSet<String>>,
}

impl PluginExt {
    pub fn new(plugin_id: &str, ext_id: &str, instance: ExtensionBox, reporter: Reporter) -> Self {
        let kind = instance.kind();
        let mut ext = Self {
            plugin_id: plugin_id.to_owned(),
            ext_id: ext_id.to_owned(),
            kind,
            describe: Value::Null,
            instance,
            reporter,
            reported: Mutex::new(BTreeSet::new()),
        };
        ext.describe = ext.call("describe", &Value::Null).unwrap_or(Value::Null);
        ext
    }

    pub fn kind(&self) -> ExtKind {
        self.kind
    }

    /// Renderers must name their format.
    pub fn format_id_checked(&self) -> Result<(), String> {
        match self.describe["formatId"].as_str() {
            Some(f) if !f.is_empty() => Ok(()),
            _ => Err(format!("renderer {:?} does not declare a formatId", self.ext_id)),
        }
    }

    fn report_once(&self, method: &str, what: String) {
        let first = self.reported.lock().map(|mut r| r.insert(method.to_owned())).unwrap_or(false);
        if first {
            (self.reporter)(&format!("plugin {}: extension {} {method} failed — {what}", self.plugin_id, self.ext_id));
        }
    }

    /// Invokes `method`; reports and returns `None` on any failure.
    fn call(&self, method: &str, input: &Value) -> Option<Value> {
        let text = input.to_string();
        match self.instance.invoke(RStr::from_str(method), RStr::from_str(&text)) {
            RResult::ROk(out) => match serde_json::from_str(out.as_str()) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.report_once(method, format!("output is not JSON: {e}"));
                    None
                }
            },
            RResult::RErr(e) => {
                self.report_once(method, format!("{}: {}", e.code, e.message));
                None
            }
        }
    }

    fn call_as<T: DeserializeOwned>(&self, method: &str, input: &Value, field: &str) -> Option<T> {
        let out = self.call(method, input)?;
        match serde_json::from_value(out.get(field).cloned().unwrap_or(Value::Null)) {
            Ok(v) => Some(v),
            Err(e) => {
                self.report_once(method, format!("output `{field}` does not match the spec: {e}"));
                None
            }
        }
    }

    fn info_of(&self, kind: ExtensionKind) -> ExtensionInfo {
        ExtensionInfo {
            id: self.ext_id.clone(),
            kind,
            version: self.describe["version"].as_str().unwrap_or("plugin").to_owned(),
            description: format!(
                "{} (plugin {})",
                self.describe["description"].as_str().unwrap_or_default(),
                self.plugin_id
            ),
        }
    }
}

impl Adapter for PluginExt {
    fn info(&self) -> ExtensionInfo {
        self.info_of(ExtensionKind::Adapter)
    }

    fn classify(&self, path: &str) -> Option<String> {
        let kinds: Vec<Option<String>> = self.call_as("classify", &json!({ "paths": [path] }), "kinds")?;
        kinds.into_iter().next().flatten().filter(|k| sm_kernel::registry::is_kebab(k))
    }
}

impl Detector for PluginExt {
    fn info(&self) -> ExtensionInfo {
        self.info_of(ExtensionKind::Detector)
    }

    fn detect(&self, ctx: &DetectContext<'_>) -> Vec<Link> {
        self.detect_batch(std::slice::from_ref(ctx)).into_iter().next().unwrap_or_default()
    }

    /// One boundary crossing per chunk of nodes. The prose view is not sent: the SDK recomputes it.
    fn detect_batch(&self, ctxs: &[DetectContext<'_>]) -> Vec<Vec<Link>> {
        let items: Vec<Value> = ctxs
            .iter()
            .map(|c| json!({ "node": c.node, "body": c.body, "bodyStartLine": c.body_start_line }))
            .collect();
        let links: Option<Vec<Vec<Link>>> = self.call_as("detect", &json!({ "items": items }), "links");
        match links {
            Some(l) if l.len() == ctxs.len() => l,
            Some(l) => {
                self.report_once("detect", format!("returned {} results for {} nodes", l.len(), ctxs.len()));
                vec![Vec::new(); ctxs.len()]
            }
            None => vec![Vec::new(); ctxs.len()],
        }
    }
}

impl Rule for PluginExt {
    fn info(&self) -> ExtensionInfo {
        self.info_of(ExtensionKind::Rule)
    }

    fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Issue> {
        let input = json!({ "nodes": ctx.nodes, "links": ctx.links, "config": ctx.config });
        self.call_as("evaluate", &input, "issues").unwrap_or_default()
    }
}

impl Action for PluginExt {
    fn info(&self) -> ExtensionInfo {
        self.info_of(ExtensionKind::Action)
    }

    fn mode(&self) -> ActionMode {
        if self.describe["mode"] == "invocation-template" { ActionMode::InvocationTemplate } else { ActionMode::Local }
    }

    fn applicable_kinds(&self) -> Vec<String> {
        serde_json::from_value(self.describe["applicableKinds"].clone()).unwrap_or_default()
    }

    fn invoke(&self, node: &Node, body: &str, input: &Map<String, Value>) -> Result<Value, String> {
        let text = json!({ "node": node, "body": body, "input": input }).to_string();
        match self.instance.invoke(RStr::from_str("invoke"), RStr::from_str(&text)) {
            RResult::ROk(out) => serde_json::from_str::<Value>(out.as_str())
                .map(|v| v["result"].clone())
                .map_err(|e| format!("output is not JSON: {e}")),
            RResult::RErr(e) => Err(format!("{}: {}", e.code, e.message)),
        }
    }
}

impl Audit for PluginExt {
    fn info(&self) -> ExtensionInfo {
        self.info_of(ExtensionKind::Audit)
    }

    fn run(&self, scan: &ScanResult) -> Value {
        self.call("run", &json!(scan)).map(|v| v["report"].clone()).unwrap_or(Value::Null)
    }
}

impl Renderer for PluginExt {
    fn info(&self) -> ExtensionInfo {
        self.info_of(ExtensionKind::Renderer)
    }

    fn format_id(&self) -> String {
        self.describe["formatId"].as_str().unwrap_or_default().to_owned()
    }

    fn render(&self, scan: &ScanResult) -> String {
        self.call_as("render", &json!(scan), "output").unwrap_or_default()
    }
}
