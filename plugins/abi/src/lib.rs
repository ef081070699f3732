//! `sm-plugin-abi`: the binary interface between sm and a compiled plugin.
//!
//! Kept tiny and append-only: a root module with the protocol version, the manifest as JSON and an
//! `instantiate` function, and one trait object per extension with `kind()` and
//! `invoke(method, json) -> json`. Everything else travels as JSON validated on the host side, so
//! the Rust-level ABI rarely has to change. Plugins are synchronous: no async runtime crosses this
//! boundary.
//!
//! Host side: load with [`load_root_module`] (never `RootModule::load_from_file`, which caches one
//! module per type and would hand every plugin the first one loaded).
#![allow(non_local_definitions, non_camel_case_types)]

use std::path::Path;

use abi_stable::library::{LibraryError, RootModule, lib_header_from_path};
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, RResult, RStr, RString};
use abi_stable::{StableAbi, declare_root_module_statics, package_version_strings, sabi_trait};

pub use abi_stable;

/// Version of the JSON contract spoken over `invoke` (independent of the Rust ABI).
pub const PROTOCOL_VERSION: u32 = 1;

/// The six extension kinds.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtKind {
    Adapter,
    Detector,
    Rule,
    Action,
    Audit,
    Renderer,
}

/// An error returned by a plugin. Codes: `panic`, `bad_input`, `invalid_config`,
/// `unknown_method`, `unknown_extension`, `failed`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PluginError {
    pub code: RString,
    pub message: RString,
}

impl PluginError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: RString::from(message.into()) }
    }
}

/// One extension instance inside a plugin.
#[sabi_trait]
pub trait Extension: Send + Sync {
    fn kind(&self) -> ExtKind;

    /// Calls `method` with a JSON document; returns a JSON document.
    #[sabi(last_prefix_field)]
    fn invoke(&self, method: RStr<'_>, input_json: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned, FFI-safe extension trait object.
pub type ExtensionBox = Extension_TO<'static, RBox<()>>;

/// What the host offers a plugin while it runs: storage calls (`kv.get`, `kv.set`, `kv.delete`,
/// `kv.list`, `sql.query`, `sql.execute`), scoped to the plugin and to the storage mode its
/// manifest declares.
#[sabi_trait]
pub trait Host: Send + Sync {
    #[sabi(last_prefix_field)]
    fn call(&self, method: RStr<'_>, input_json: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned, FFI-safe host trait object.
pub type HostBox = Host_TO<'static, RBox<()>>;

/// The root module every sm plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = SmPluginMod_Ref)))]
#[sabi(missing_field(panic))]
pub struct SmPluginMod {
    /// [`PROTOCOL_VERSION`] the plugin was built with.
    pub protocol_version: extern "C" fn() -> u32,
    /// The plugin's self-description: `{"id", "version", "extensions": [{"id", "kind", ...}]}`.
    pub manifest_json: extern "C" fn() -> RString,
    /// Creates the extension `ext_id` with its JSON configuration and the host's services.
    #[sabi(last_prefix_field)]
    pub instantiate:
        extern "C" fn(ext_id: RStr<'_>, config_json: RStr<'_>, host: HostBox) -> RResult<ExtensionBox, PluginError>,
}

impl RootModule for SmPluginMod_Ref {
    declare_root_module_statics! {SmPluginMod_Ref}
    const BASE_NAME: &'static str = "sm_plugin";
    const NAME: &'static str = "sm_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// Loads a plugin library and checks its ABI (abi_stable version, interface version, type layout).
/// The library stays loaded for the life of the process.
pub fn load_root_module(path: &Path) -> Result<SmPluginMod_Ref, LibraryError> {
    lib_header_from_path(path)?.init_root_module::<SmPluginMod_Ref>()
}

/// The symbol every abi_stable library exports; its absence means "not an sm plugin".
pub const ROOT_MODULE_SYMBOL: &[u8] = abi_stable::library::ROOT_MODULE_LOADER_NAME_WITH_NUL.as_bytes();
