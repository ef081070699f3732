//! End-to-end tests: the real `sm` binary on real temp projects and real SQLite files.

mod agentskills;
mod browse;
mod config_db;
mod plugins;
mod scan;
mod support;
