//! `sm-extensions`: the built-in extension pack.
//!
//! Plain Rust, no ABI: every extension implements a kernel extension trait and is registered
//! through the same [`Registry`] as third-party plugins. Extensions never depend on adapters or on
//! each other.

use std::sync::Arc;

use sm_kernel::registry::{Registry, RegistryError};

pub mod broken_ref;
pub mod claude_adapter;
pub mod frontmatter_refs;

/// Version stamped on every built-in.
pub const BUILTIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Registers every built-in, in execution order.
pub fn register_builtins(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.add_adapter(Arc::new(claude_adapter::ClaudeAdapter))?;
    registry.add_detector(Arc::new(frontmatter_refs::FrontmatterRefs))?;
    registry.add_rule(Arc::new(broken_ref::BrokenRef))?;
    Ok(())
}

/// A registry holding the built-ins only.
pub fn builtin_registry() -> Registry {
    let mut registry = Registry::new();
    register_builtins(&mut registry).expect("built-in ids are kebab-case and unique");
    registry
}
