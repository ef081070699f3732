//! The extension registry: one ordered list per kind. Registration order is execution order,
//! and therefore the order of links and issues before the final sort.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::extensions::{Action, Adapter, Audit, Detector, ExtensionInfo, ExtensionKind, Renderer, Rule};

/// Errors raised while registering extensions.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("duplicate {kind} id {id:?}")]
    DuplicateId { kind: &'static str, id: String },
    #[error("extension id {0:?} is not kebab-case")]
    BadId(String),
}

/// Every registered extension, by kind.
#[derive(Default, Clone)]
pub struct Registry {
    adapters: Vec<Arc<dyn Adapter>>,
    detectors: Vec<Arc<dyn Detector>>,
    rules: Vec<Arc<dyn Rule>>,
    actions: Vec<Arc<dyn Action>>,
    audits: Vec<Arc<dyn Audit>>,
    renderers: Vec<Arc<dyn Renderer>>,
    ids: BTreeSet<(&'static str, String)>,
}

/// Which kinds to drop wholesale (conformance `setup.disableAll*`, `--no-built-ins`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindFilter {
    pub no_adapters: bool,
    pub no_detectors: bool,
    pub no_rules: bool,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    fn claim(&mut self, kind: ExtensionKind, info: &ExtensionInfo) -> Result<(), RegistryError> {
        if !is_kebab(&info.id) {
            return Err(RegistryError::BadId(info.id.clone()));
        }
        if !self.ids.insert((kind.as_str(), info.id.clone())) {
            return Err(RegistryError::DuplicateId { kind: kind.as_str(), id: info.id.clone() });
        }
        Ok(())
    }

    pub fn add_adapter(&mut self, ext: Arc<dyn Adapter>) -> Result<(), RegistryError> {
        self.claim(ExtensionKind::Adapter, &ext.info())?;
        self.adapters.push(ext);
        Ok(())
    }

    pub fn add_detector(&mut self, ext: Arc<dyn Detector>) -> Result<(), RegistryError> {
        self.claim(ExtensionKind::Detector, &ext.info())?;
        self.detectors.push(ext);
        Ok(())
    }

    pub fn add_rule(&mut self, ext: Arc<dyn Rule>) -> Result<(), RegistryError> {
        self.claim(ExtensionKind::Rule, &ext.info())?;
        self.rules.push(ext);
        Ok(())
    }

    pub fn add_action(&mut self, ext: Arc<dyn Action>) -> Result<(), RegistryError> {
        self.claim(ExtensionKind::Action, &ext.info())?;
        self.actions.push(ext);
        Ok(())
    }

    pub fn add_audit(&mut self, ext: Arc<dyn Audit>) -> Result<(), RegistryError> {
        self.claim(ExtensionKind::Audit, &ext.info())?;
        self.audits.push(ext);
        Ok(())
    }

    pub fn add_renderer(&mut self, ext: Arc<dyn Renderer>) -> Result<(), RegistryError> {
        self.claim(ExtensionKind::Renderer, &ext.info())?;
        self.renderers.push(ext);
        Ok(())
    }

    /// A copy without the kinds the filter drops.
    pub fn filtered(&self, filter: KindFilter) -> Self {
        let mut out = self.clone();
        if filter.no_adapters {
            out.adapters.clear();
        }
        if filter.no_detectors {
            out.detectors.clear();
        }
        if filter.no_rules {
            out.rules.clear();
        }
        out
    }

    pub fn adapters(&self) -> &[Arc<dyn Adapter>] {
        &self.adapters
    }
    pub fn detectors(&self) -> &[Arc<dyn Detector>] {
        &self.detectors
    }
    pub fn rules(&self) -> &[Arc<dyn Rule>] {
        &self.rules
    }
    pub fn actions(&self) -> &[Arc<dyn Action>] {
        &self.actions
    }
    pub fn audits(&self) -> &[Arc<dyn Audit>] {
        &self.audits
    }
    pub fn renderers(&self) -> &[Arc<dyn Renderer>] {
        &self.renderers
    }

    /// Info of every registered extension, in kind then registration order.
    pub fn describe(&self) -> Vec<ExtensionInfo> {
        let mut out: Vec<ExtensionInfo> = Vec::new();
        out.extend(self.adapters.iter().map(|e| e.info()));
        out.extend(self.detectors.iter().map(|e| e.info()));
        out.extend(self.rules.iter().map(|e| e.info()));
        out.extend(self.actions.iter().map(|e| e.info()));
        out.extend(self.audits.iter().map(|e| e.info()));
        out.extend(self.renderers.iter().map(|e| e.info()));
        out
    }
}

/// `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`
pub fn is_kebab(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() => {}
        _ => return false,
    }
    let mut prev_dash = false;
    for c in chars {
        if c == '-' {
            if prev_dash {
                return false;
            }
            prev_dash = true;
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            prev_dash = false;
        } else {
            return false;
        }
    }
    !prev_dash
}
