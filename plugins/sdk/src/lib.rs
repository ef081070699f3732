//! `sm-plugin-sdk`: write an sm plugin as plain Rust.
//!
//! Implement one typed trait per extension ([`AdapterPlugin`], [`DetectorPlugin`], [`RulePlugin`],
//! [`ActionPlugin`], [`AuditPlugin`], [`RendererPlugin`]) and list them in [`export_plugin!`]. The
//! macro generates the abi_stable root module, the manifest, and the JSON dispatch; every call runs
//! under `catch_unwind`, so a panic in your code becomes an error the host reports instead of an
//! abort. Build the crate as a `cdylib` with `panic = "unwind"` (the default).
//!
//! The JSON protocol (version [`PROTOCOL_VERSION`]) is documented in `docs/plugins.md`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Deserialize;
use serde::de::DeserializeOwned;
pub use serde_json;
use serde_json::{Map, Value, json};
pub use sm_kernel::model::{Confidence, Issue, Link, LinkKind, Location, Node, ScanResult, Severity, Trigger};
pub use sm_plugin_abi as abi;
use sm_plugin_abi::abi_stable::sabi_trait::TD_Opaque;
use sm_plugin_abi::abi_stable::std_types::{RResult, RStr, RString};
pub use sm_plugin_abi::{ExtKind, Extension, Extension_TO, ExtensionBox, HostBox, PROTOCOL_VERSION, PluginError};

/// What every extension says about itself.
#[derive(Debug, Clone)]
pub struct Meta {
    pub id: &'static str,
    pub description: &'static str,
    /// The plugin crate's version.
    pub version: &'static str,
}

/// Claims files and gives them a node kind.
pub trait AdapterPlugin: Send + Sync + 'static {
    fn classify(&self, path: &str) -> Option<String>;
}

/// One node as a detector sees it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectInput {
    pub node: Node,
    pub body: String,
    /// The body with code and comments blanked out (same offsets). The host does not send it;
    /// the SDK computes it with the kernel's own masking before calling `detect`.
    #[serde(default)]
    pub prose: String,
    pub body_start_line: u64,
}

/// Finds links in one node.
pub trait DetectorPlugin: Send + Sync + 'static {
    fn detect(&self, input: &DetectInput) -> Vec<Link>;
}

/// The graph as a rule sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleInput {
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    /// `{"profile", "rules": {...}}` from the user's settings.
    #[serde(default)]
    pub config: Value,
}

/// Turns the graph into issues.
pub trait RulePlugin: Send + Sync + 'static {
    fn evaluate(&self, input: &RuleInput) -> Vec<Issue>;
}

/// What an action is invoked with.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionInput {
    pub node: Node,
    pub body: String,
    #[serde(default)]
    pub input: Map<String, Value>,
}

/// Operates on one node. `mode` is `local` (returns a result) or `invocation-template` (returns a
/// rendered prompt for an LLM runner).
pub trait ActionPlugin: Send + Sync + 'static {
    fn mode(&self) -> &'static str {
        "local"
    }
    /// Node kinds the action applies to; empty means all.
    fn applicable_kinds(&self) -> Vec<String> {
        Vec::new()
    }
    fn invoke(&self, input: &ActionInput) -> Result<Value, String>;
}

/// A deterministic report over a whole scan.
pub trait AuditPlugin: Send + Sync + 'static {
    fn run(&self, scan: &ScanResult) -> Value;
}

/// Draws a scan as text, selected with `sm graph --format <format_id>`.
pub trait RendererPlugin: Send + Sync + 'static {
    fn format_id(&self) -> String;
    fn render(&self, scan: &ScanResult) -> String;
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

/// Method names of protocol 1.
pub mod methods {
    pub const DESCRIBE: &str = "describe";
    pub const CLASSIFY: &str = "classify";
    pub const DETECT: &str = "detect";
    pub const EVALUATE: &str = "evaluate";
    pub const INVOKE: &str = "invoke";
    pub const RUN: &str = "run";
    pub const RENDER: &str = "render";
    /// Panics inside the guard: lets `sm plugins check` prove the panic path.
    pub const CONFORMANCE_PANIC: &str = "$conformance.panic";
}

type Handler = Box<dyn Fn(&str, Value) -> Result<Value, PluginError> + Send + Sync>;

/// An extension behind the ABI: kind, description, a JSON handler, and the host it may call.
pub struct Wrapped {
    kind: ExtKind,
    meta: Meta,
    describe: Value,
    handler: Handler,
    host: Option<std::sync::Arc<HostBox>>,
}

thread_local! {
    static CURRENT_HOST: std::cell::RefCell<Option<std::sync::Arc<HostBox>>> = const { std::cell::RefCell::new(None) };
}

/// The storage the host gives this plugin, usable during a call (from `detect`, `evaluate`,
/// `invoke`, `run`, …). Which methods work depends on the `storage.mode` in `plugin.json`: `kv`
/// or `dedicated` (tables named `plugin_<id>_…`, created by the plugin's migrations).
pub fn storage() -> Storage {
    Storage { host: CURRENT_HOST.with(|h| h.borrow().clone()) }
}

/// A handle on the host's plugin storage. Every method returns the host's typed error codes
/// (`key_invalid`, `value_too_large`, `outside_prefix`, `read_only`, …) as [`PluginError`].
pub struct Storage {
    host: Option<std::sync::Arc<HostBox>>,
}

impl Storage {
    fn call(&self, method: &str, input: Value) -> Result<Value, PluginError> {
        let host =
            self.host.as_ref().ok_or_else(|| PluginError::new("no_host", "storage is only available during a call"))?;
        match host.call(RStr::from_str(method), RStr::from_str(&input.to_string())) {
            RResult::ROk(out) => {
                serde_json::from_str(out.as_str()).map_err(|e| PluginError::new("failed", e.to_string()))
            }
            RResult::RErr(e) => Err(e),
        }
    }

    /// `kv`: the value at `key` (scoped to `node` when given).
    pub fn kv_get(&self, key: &str, node: Option<&str>) -> Result<Option<Value>, PluginError> {
        let v = self.call("kv.get", json!({ "key": key, "node": node }))?;
        Ok(v.get("value").cloned().filter(|x| !x.is_null()))
    }

    /// `kv`: stores `value` at `key`.
    pub fn kv_set(&self, key: &str, value: &Value, node: Option<&str>) -> Result<(), PluginError> {
        self.call("kv.set", json!({ "key": key, "value": value, "node": node })).map(|_| ())
    }

    /// `kv`: deletes `key`; whether it existed.
    pub fn kv_delete(&self, key: &str, node: Option<&str>) -> Result<bool, PluginError> {
        Ok(self.call("kv.delete", json!({ "key": key, "node": node }))?["deleted"].as_bool().unwrap_or(false))
    }

    /// `kv`: keys starting with `prefix`.
    pub fn kv_list(&self, prefix: &str, node: Option<&str>) -> Result<Vec<String>, PluginError> {
        let v = self.call("kv.list", json!({ "prefix": prefix, "node": node }))?;
        serde_json::from_value(v["keys"].clone()).map_err(|e| PluginError::new("failed", e.to_string()))
    }

    /// `dedicated`: runs one `SELECT` over the plugin's tables; rows as JSON objects.
    pub fn sql_query(&self, sql: &str, args: &[Value]) -> Result<Vec<Map<String, Value>>, PluginError> {
        let v = self.call("sql.query", json!({ "sql": sql, "args": args }))?;
        serde_json::from_value(v["rows"].clone()).map_err(|e| PluginError::new("failed", e.to_string()))
    }

    /// `dedicated`: runs one `INSERT`/`UPDATE`/`DELETE` on the plugin's tables; rows changed.
    pub fn sql_execute(&self, sql: &str, args: &[Value]) -> Result<u64, PluginError> {
        Ok(self.call("sql.execute", json!({ "sql": sql, "args": args }))?["changed"].as_u64().unwrap_or(0))
    }
}

impl Extension for Wrapped {
    fn kind(&self) -> ExtKind {
        self.kind
    }

    fn invoke(&self, method: RStr<'_>, input_json: RStr<'_>) -> RResult<RString, PluginError> {
        let host = self.host.clone();
        CURRENT_HOST.with(|h| *h.borrow_mut() = host);
        let result = self.dispatch(method, input_json);
        CURRENT_HOST.with(|h| *h.borrow_mut() = None);
        result
    }
}

impl Wrapped {
    fn dispatch(&self, method: RStr<'_>, input_json: RStr<'_>) -> RResult<RString, PluginError> {
        guard(|| {
            let method = method.as_str();
            if method == methods::CONFORMANCE_PANIC {
                panic!("conformance panic requested");
            }
            if method == methods::DESCRIBE {
                let mut d = self.describe.clone();
                d["id"] = json!(self.meta.id);
                d["description"] = json!(self.meta.description);
                d["version"] = json!(self.meta.version);
                return Ok(d);
            }
            let input: Value = serde_json::from_str(input_json.as_str())
                .map_err(|e| PluginError::new("bad_input", format!("input is not JSON: {e}")))?;
            (self.handler)(method, input)
        })
    }
}

/// Runs `f`, turning a panic into `PluginError { code: "panic" }` and the value into JSON text.
///
/// The plugin has its own copy of the standard library and so its own panic hook: the SDK makes it
/// quiet (the message travels back to the host, which reports it in one line) unless
/// `SKILL_MAP_PLUGIN_PANICS=1` asks for the usual message and backtrace while debugging.
pub fn guard(f: impl FnOnce() -> Result<Value, PluginError>) -> RResult<RString, PluginError> {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        if std::env::var("SKILL_MAP_PLUGIN_PANICS").as_deref() != Ok("1") {
            std::panic::set_hook(Box::new(|_| {}));
        }
    });
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(RString::from(v.to_string())),
        Ok(Err(e)) => RResult::RErr(e),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            RResult::RErr(PluginError::new("panic", msg))
        }
    }
}

fn parse<T: DeserializeOwned>(v: Value) -> Result<T, PluginError> {
    serde_json::from_value(v).map_err(|e| PluginError::new("bad_input", e.to_string()))
}

fn unknown(kind: &str, method: &str) -> PluginError {
    PluginError::new("unknown_method", format!("{kind} extensions do not answer {method:?}"))
}

fn boxed(w: Wrapped) -> ExtensionBox {
    Extension_TO::from_value(w, TD_Opaque)
}

/// Wraps a typed extension for the ABI (used by [`export_plugin!`]).
pub mod wrap {
    use super::*;

    pub fn adapter(meta: Meta, host: HostBox, ext: impl AdapterPlugin) -> ExtensionBox {
        boxed(Wrapped {
            host: Some(std::sync::Arc::new(host)),
            kind: ExtKind::Adapter,
            meta,
            describe: json!({ "kind": "adapter" }),
            handler: Box::new(move |method, input| match method {
                methods::CLASSIFY => {
                    #[derive(Deserialize)]
                    struct In {
                        paths: Vec<String>,
                    }
                    let i: In = parse(input)?;
                    let kinds: Vec<Option<String>> = i.paths.iter().map(|p| ext.classify(p)).collect();
                    Ok(json!({ "kinds": kinds }))
                }
                m => Err(unknown("adapter", m)),
            }),
        })
    }

    pub fn detector(meta: Meta, host: HostBox, ext: impl DetectorPlugin) -> ExtensionBox {
        boxed(Wrapped {
            host: Some(std::sync::Arc::new(host)),
            kind: ExtKind::Detector,
            meta,
            describe: json!({ "kind": "detector" }),
            handler: Box::new(move |method, input| match method {
                methods::DETECT => {
                    #[derive(Deserialize)]
                    struct In {
                        items: Vec<DetectInput>,
                    }
                    let mut i: In = parse(input)?;
                    for item in &mut i.items {
                        if item.prose.is_empty() {
                            item.prose = sm_kernel::markdown::mask_non_prose(&item.body);
                        }
                    }
                    let links: Vec<Vec<Link>> = i.items.iter().map(|item| ext.detect(item)).collect();
                    Ok(json!({ "links": links }))
                }
                m => Err(unknown("detector", m)),
            }),
        })
    }

    pub fn rule(meta: Meta, host: HostBox, ext: impl RulePlugin) -> ExtensionBox {
        boxed(Wrapped {
            host: Some(std::sync::Arc::new(host)),
            kind: ExtKind::Rule,
            meta,
            describe: json!({ "kind": "rule" }),
            handler: Box::new(move |method, input| match method {
                methods::EVALUATE => Ok(json!({ "issues": ext.evaluate(&parse(input)?) })),
                m => Err(unknown("rule", m)),
            }),
        })
    }

    pub fn action(meta: Meta, host: HostBox, ext: impl ActionPlugin) -> ExtensionBox {
        let describe = json!({ "kind": "action", "mode": ext.mode(), "applicableKinds": ext.applicable_kinds() });
        boxed(Wrapped {
            host: Some(std::sync::Arc::new(host)),
            kind: ExtKind::Action,
            meta,
            describe,
            handler: Box::new(move |method, input| match method {
                methods::INVOKE => ext
                    .invoke(&parse(input)?)
                    .map(|r| json!({ "result": r }))
                    .map_err(|e| PluginError::new("failed", e)),
                m => Err(unknown("action", m)),
            }),
        })
    }

    pub fn audit(meta: Meta, host: HostBox, ext: impl AuditPlugin) -> ExtensionBox {
        boxed(Wrapped {
            host: Some(std::sync::Arc::new(host)),
            kind: ExtKind::Audit,
            meta,
            describe: json!({ "kind": "audit" }),
            handler: Box::new(move |method, input| match method {
                methods::RUN => Ok(json!({ "report": ext.run(&parse(input)?) })),
                m => Err(unknown("audit", m)),
            }),
        })
    }

    pub fn renderer(meta: Meta, host: HostBox, ext: impl RendererPlugin) -> ExtensionBox {
        let describe = json!({ "kind": "renderer", "formatId": ext.format_id() });
        boxed(Wrapped {
            host: Some(std::sync::Arc::new(host)),
            kind: ExtKind::Renderer,
            meta,
            describe,
            handler: Box::new(move |method, input| match method {
                methods::RENDER => Ok(json!({ "output": ext.render(&parse(input)?) })),
                m => Err(unknown("renderer", m)),
            }),
        })
    }
}

/// Turns `instantiate`'s unknown id into an error.
pub fn unknown_extension(id: &str) -> PluginError {
    PluginError::new("unknown_extension", format!("this plugin has no extension {id:?}"))
}

/// Exports a plugin. Each extension is `<kind> "<id>" ("<description>") => <constructor expr>`,
/// where kind is one of `adapter`, `detector`, `rule`, `action`, `audit`, `renderer`.
///
/// ```ignore
/// sm_plugin_sdk::export_plugin! {
///     id: "wikilink",
///     extensions: [
///         detector "wikilink" ("[[Note]] links") => WikiLink,
///     ]
/// }
/// ```
///
/// The plugin crate must depend on `abi_stable = "=0.11.3"` (the root-module attribute expands to
/// paths inside it).
#[macro_export]
macro_rules! export_plugin {
    (
        id: $plugin_id:literal,
        extensions: [ $( $kind:ident $ext_id:literal ($desc:literal) => $ctor:expr ),+ $(,)? ]
    ) => {
        /// The plugin's root module, found by the host through abi_stable's library header.
        #[::abi_stable::export_root_module]
        pub fn sm_plugin_root_module() -> $crate::abi::SmPluginMod_Ref {
            use ::abi_stable::prefix_type::PrefixTypeTrait;
            $crate::abi::SmPluginMod {
                protocol_version: __sm_protocol_version,
                manifest_json: __sm_manifest_json,
                instantiate: __sm_instantiate,
            }
            .leak_into_prefix()
        }

        extern "C" fn __sm_protocol_version() -> u32 {
            $crate::PROTOCOL_VERSION
        }

        extern "C" fn __sm_manifest_json() -> ::abi_stable::std_types::RString {
            let exts = vec![ $( $crate::__manifest_entry(stringify!($kind), $ext_id, $desc) ),+ ];
            let doc = $crate::__manifest(
                $plugin_id,
                env!("CARGO_PKG_VERSION"),
                exts,
            );
            ::abi_stable::std_types::RString::from(doc)
        }

        extern "C" fn __sm_instantiate(
            ext_id: ::abi_stable::std_types::RStr<'_>,
            _config_json: ::abi_stable::std_types::RStr<'_>,
            host: $crate::HostBox,
        ) -> ::abi_stable::std_types::RResult<$crate::ExtensionBox, $crate::PluginError> {
            let id = ext_id.as_str();
            let made = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(move || {
                $(
                    if id == $ext_id {
                        let meta = $crate::Meta { id: $ext_id, description: $desc, version: env!("CARGO_PKG_VERSION") };
                        return Ok($crate::wrap::$kind(meta, host, $ctor));
                    }
                )+
                Err($crate::unknown_extension(id))
            }));
            match made {
                Ok(Ok(ext)) => ::abi_stable::std_types::RResult::ROk(ext),
                Ok(Err(e)) => ::abi_stable::std_types::RResult::RErr(e),
                Err(_) => ::abi_stable::std_types::RResult::RErr($crate::PluginError::new("panic", "constructor panicked")),
            }
        }
    };
}

#[doc(hidden)]
pub fn __manifest_entry(kind: &str, id: &str, description: &str) -> Value {
    json!({ "id": id, "kind": kind, "description": description })
}

#[doc(hidden)]
pub fn __manifest(id: &str, version: &str, extensions: Vec<Value>) -> String {
    json!({ "id": id, "version": version, "protocolVersion": PROTOCOL_VERSION, "extensions": extensions }).to_string()
}
