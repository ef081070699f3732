//! `sm-conformance`: the embedded spec, JSON Schema validation against it, and the runner for the
//! declarative cases in `spec/conformance/cases/`.

pub mod json_path;
pub mod runner;
pub mod spec;
