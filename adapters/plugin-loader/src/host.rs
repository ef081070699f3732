//! The host object handed to each plugin extension: storage calls routed to the
//! PluginStoragePort, scoped to the plugin and to the mode its manifest declares.

use std::sync::Arc;

use serde_json::Value;
use sm_kernel::ports::{PluginStorageMode, PluginStoragePort};
use sm_plugin_abi::abi_stable::sabi_trait::TD_Opaque;
use sm_plugin_abi::abi_stable::std_types::{RResult, RStr, RString};
use sm_plugin_abi::{Host, Host_TO, HostBox, PluginError};

struct PluginHost {
    plugin_id: String,
    mode: Option<PluginStorageMode>,
    storage: Option<Arc<dyn PluginStoragePort>>,
}

impl Host for PluginHost {
    fn call(&self, method: RStr<'_>, input_json: RStr<'_>) -> RResult<RString, PluginError> {
        let result = (|| {
            let (Some(mode), Some(storage)) = (self.mode, &self.storage) else {
                let why = if self.mode.is_none() {
                    "this plugin declares no storage in plugin.json"
                } else {
                    "no storage is available in this run"
                };
                return Err(PluginError::new("no_storage", why));
            };
            let input: Value = serde_json::from_str(input_json.as_str())
                .map_err(|e| PluginError::new("bad_input", format!("storage input is not JSON: {e}")))?;
            storage
                .call(&self.plugin_id, mode, method.as_str(), &input)
                .map(|v| RString::from(v.to_string()))
                .map_err(|e| PluginError::new(&e.code, e.message))
        })();
        match result {
            Ok(v) => RResult::ROk(v),
            Err(e) => RResult::RErr(e),
        }
    }
}

/// A host for `plugin_id`, with storage when the plugin declared a mode and storage exists.
pub fn host_for(
    plugin_id: &str,
    mode: Option<PluginStorageMode>,
    storage: Option<Arc<dyn PluginStoragePort>>,
) -> HostBox {
    Host_TO::from_value(PluginHost { plugin_id: plugin_id.to_owned(), mode, storage }, TD_Opaque)
}
