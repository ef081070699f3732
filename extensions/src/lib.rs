//! `sm-extensions`: the built-in extension pack.
//!
//! Plain Rust, no ABI: every extension implements a kernel extension trait and is registered
//! through the same [`Registry`] as third-party plugins. Extensions never depend on adapters or on
//! each other (the modules `text` and `renderers`' view are shared helpers, not extensions).

use std::sync::Arc;

use sm_kernel::extensions::{ExtensionInfo, ExtensionKind};
use sm_kernel::registry::{Registry, RegistryError};

pub mod at_mention;
pub mod broken_ref;
pub mod claude_adapter;
pub mod external_url;
pub mod frontmatter_profile;
pub mod frontmatter_refs;
pub mod markdown_link;
pub mod name_mention;
pub mod renderers;
pub mod simple_rules;
pub mod slash;
pub mod trigger_collision;

#[cfg(test)]
mod test_support;
mod text;

/// Version stamped on every built-in.
pub const BUILTIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The [`ExtensionInfo`] of a built-in: every built-in carries the crate's version.
pub(crate) fn builtin_info(id: &str, kind: ExtensionKind, description: &str) -> ExtensionInfo {
    ExtensionInfo { id: id.into(), kind, version: BUILTIN_VERSION.into(), description: description.into() }
}

/// Registers every built-in, in execution order.
pub fn register_builtins(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.add_adapter(Arc::new(claude_adapter::ClaudeAdapter))?;

    registry.add_detector(Arc::new(frontmatter_refs::FrontmatterRefs))?;
    registry.add_detector(Arc::new(slash::Slash))?;
    registry.add_detector(Arc::new(at_mention::AtMention))?;
    registry.add_detector(Arc::new(markdown_link::MarkdownLink))?;
    registry.add_detector(Arc::new(name_mention::NameMention::default()))?;
    registry.add_detector(Arc::new(external_url::ExternalUrl))?;

    registry.add_rule(Arc::new(trigger_collision::TriggerCollision))?;
    registry.add_rule(Arc::new(broken_ref::BrokenRef))?;
    registry.add_rule(Arc::new(simple_rules::Superseded))?;
    registry.add_rule(Arc::new(simple_rules::LinkConflict))?;
    registry.add_rule(Arc::new(simple_rules::DuplicateName))?;
    registry.add_rule(Arc::new(simple_rules::NameDirMismatch))?;
    registry.add_rule(Arc::new(frontmatter_profile::FrontmatterProfile))?;
    registry.add_rule(Arc::new(simple_rules::OversizedNode))?;
    registry.add_rule(Arc::new(simple_rules::OrphanNode))?;

    registry.add_renderer(Arc::new(renderers::AsciiRenderer))?;
    registry.add_renderer(Arc::new(renderers::MermaidRenderer))?;
    registry.add_renderer(Arc::new(renderers::DotRenderer))?;
    registry.add_renderer(Arc::new(renderers::JsonRenderer))?;
    Ok(())
}

/// A registry holding the built-ins only.
pub fn builtin_registry() -> Registry {
    let mut registry = Registry::new();
    register_builtins(&mut registry).expect("built-in ids are kebab-case and unique");
    registry
}

/// Groups `items` by key and returns the groups of two or more (items in their order), in no
/// particular group order. Most keys have one item: it is kept inline, a list only for the second.
pub(crate) fn shared_keys<K: std::hash::Hash + Eq, T>(items: impl Iterator<Item = (K, T)>) -> Vec<(K, Vec<T>)> {
    use std::collections::hash_map::Entry;
    // foldhash: the keys are names from the project's own files (nothing to defend against), and
    // every node passes through here.
    let mut groups: std::collections::HashMap<K, (T, Vec<T>), foldhash::fast::RandomState> =
        std::collections::HashMap::with_capacity_and_hasher(items.size_hint().1.unwrap_or(0), Default::default());
    for (key, item) in items {
        match groups.entry(key) {
            Entry::Occupied(mut group) => group.get_mut().1.push(item),
            Entry::Vacant(slot) => {
                slot.insert((item, Vec::new()));
            }
        }
    }
    groups
        .into_iter()
        .filter(|(_, (_, more))| !more.is_empty())
        .map(|(key, (first, more))| (key, std::iter::once(first).chain(more).collect()))
        .collect()
}
