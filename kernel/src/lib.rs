//! `sm-kernel`: the domain-pure core of sm.
//!
//! The kernel declares five ports ([`ports`]) and six extension kinds ([`extensions`]), owns the
//! [`registry::Registry`] and the scan use case ([`scan_orchestrator::run_scan`]). It never touches
//! the filesystem, a database, a subprocess or the clock: those come in through ports.
//!
//! Architecture invariant: this crate's dependency graph contains no rusqlite, refinery, tokio,
//! notify, ignore, libloading, abi_stable or clap (checked by `conformance/tests/tidy.rs`).

pub mod events;
pub mod extensions;
pub mod frontmatter;
pub mod graph_query;
pub mod hashing;
pub mod markdown;
pub mod model;
pub mod node_index;
pub mod normalize;
pub mod ports;
pub mod registry;
pub mod rename_tracking;
pub mod scan_cache;
pub mod scan_delta;
pub mod scan_orchestrator;
pub mod tokens;

/// Pseudo-random numbers for the crate's own generated-input tests (xorshift64): reproducible
/// from the seed, no dependency.
#[cfg(test)]
pub(crate) fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// The kernel crate's version.
pub const KERNEL_VERSION: &str = env!("CARGO_PKG_VERSION");
