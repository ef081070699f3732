//! Example adapter: an Obsidian vault inside a project.
//!
//! Markdown files under a directory named `vault/` (any depth) become `vault-note` nodes, and those
//! under `vault/daily/` become `daily-note` nodes. Plugin adapters are consulted before the built-in
//! `claude` adapter, which would otherwise call them plain notes.

use sm_plugin_sdk::{AdapterPlugin, export_plugin};

/// Classifies vault files.
pub struct ObsidianVault;

impl AdapterPlugin for ObsidianVault {
    fn classify(&self, path: &str) -> Option<String> {
        if !path.to_ascii_lowercase().ends_with(".md") {
            return None;
        }
        let segments: Vec<&str> = path.split('/').collect();
        let vault = segments.iter().position(|s| *s == "vault")?;
        if vault + 1 >= segments.len() - 1 {
            return Some("vault-note".into());
        }
        Some(if segments[vault + 1] == "daily" { "daily-note" } else { "vault-note" }.into())
    }
}

export_plugin! {
    id: "obsidian-vault",
    extensions: [
        adapter "obsidian" ("Obsidian vault notes under vault/: vault-note, daily-note") => ObsidianVault,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_vault_files() {
        assert_eq!(ObsidianVault.classify("vault/Ideas.md").as_deref(), Some("vault-note"));
        assert_eq!(ObsidianVault.classify("docs/vault/daily/2026-11-21.md").as_deref(), Some("daily-note"));
        assert_eq!(ObsidianVault.classify("notes/a.md"), None);
        assert_eq!(ObsidianVault.classify("vault/image.png"), None);
    }
}
