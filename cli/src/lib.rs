//! `sm-cli`: the `sm` / `skill-map` command line, a driving adapter over the kernel's use cases.
//!
//! `wiring.rs` is the composition root — the only module that names adapter crates.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

mod args;
mod commands;
mod output;
mod progress;
mod settings;
mod wiring;

use args::{Cli, Verb};
use output::{CliError, Output, color_enabled, exit};

/// Parses the command line, runs the verb, and maps the outcome to a documented exit code.
pub fn main_entry() -> ExitCode {
    let raw: Vec<OsString> = std::env::args_os().collect();
    let env_json = std::env::var("SKILL_MAP_JSON").is_ok_and(|v| !v.is_empty() && v != "0");
    let cli = match Cli::try_parse_from(&raw) {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err, env_json || raw.iter().any(|a| a == "--json")),
    };
    tune_allocator(matches!(cli.command, Some(Verb::Watch(_))));
    let json = cli.global.json || env_json;
    let out = Output {
        json,
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
        color: !json && color_enabled(cli.global.no_color),
    };
    let global_scope = cli.global.global || std::env::var("SKILL_MAP_SCOPE").is_ok_and(|v| v == "global");
    let result = match &cli.command {
        None => {
            out.print_text(&format!("{}\n", Cli::command().render_long_help()));
            Ok(exit::OK)
        }
        Some(Verb::Init(a)) => commands::init::run(a, &cli.global, global_scope, &out),
        Some(Verb::Scan(a)) => commands::scan::run(a, &cli.global, global_scope, &out),
        Some(Verb::Watch(a)) => commands::watch::run(a, &cli.global, global_scope, &out),
        Some(Verb::Version) => commands::version::run(&cli.global, global_scope, &out),
        Some(Verb::Help(a)) => commands::help::run(a, &out),
        Some(Verb::List(a)) => commands::list::run(a, &cli.global, global_scope, &out),
        Some(Verb::Show(a)) => commands::show::run(a, &cli.global, global_scope, &out),
        Some(Verb::Check(a)) => commands::check::run(a, &cli.global, global_scope, &out),
        Some(Verb::Graph(a)) => commands::graph::run(a, &cli.global, global_scope, &out),
        Some(Verb::Export(a)) => commands::export::run(a, &cli.global, global_scope, &out),
        Some(Verb::Config(v)) => commands::config::run(v, &cli.global, global_scope, &out),
        Some(Verb::Db(v)) => commands::db::run(v, &cli.global, global_scope, &out),
        Some(Verb::Orphans(a)) => commands::orphans::run(a, &cli.global, global_scope, &out),
        Some(Verb::Plugins(v)) => commands::plugins::run(v, &cli.global, global_scope, &out),
        Some(Verb::Actions(v)) => commands::actions::run(v, &cli.global, global_scope, &out),
        Some(Verb::Audit(v)) => commands::audit::run(v, &cli.global, global_scope, &out),
        Some(Verb::Conformance(args::ConformanceVerb::Run(a))) => commands::conformance::run(a, &out),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            out.error(&err);
            ExitCode::from(err.exit_code)
        }
    }
}

/// clap's parse errors: help/version print and exit 0; the rest exit 2 (with "did you mean" tips),
/// as a JSON error document when `--json` is in effect.
fn usage_error(err: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::from(exit::OK)
        }
        _ if json => {
            let out = Output { json: true, quiet: false, verbose: 0, color: false };
            let text = err.render().to_string();
            let message = text.lines().next().unwrap_or("usage error").trim_start_matches("error: ").to_owned();
            out.error(&CliError::operational("usage", message).with_details(serde_json::json!({ "usage": text })));
            ExitCode::from(exit::OPERATIONAL)
        }
        _ => {
            let _ = err.print();
            ExitCode::from(exit::OPERATIONAL)
        }
    }
}

/// glibc raises its mmap threshold each time a large block is freed, after which large blocks come
/// from the heap and stay resident once freed. For a one-shot command a fixed threshold keeps every
/// block of 256 KiB or more in a mapping of its own that goes back to the system when freed: a
/// 50,000-node scan peaks 15 MB lower, at no cost in time. A watch (`watch: true`) goes the other
/// way: it allocates the same large blocks every batch, and taking them from a heap that is never
/// trimmed (blocks up to 32 MiB, the largest threshold glibc takes) spares each 50k batch ~18,000
/// page faults of fresh mappings (measured; see docs/PERFORMANCE.md). Called before the command
/// runs.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator(watch: bool) {
    // SAFETY: `mallopt` only sets an allocator parameter (under the allocator's own lock); it is
    // called before the command starts any thread, and a refusal (return value 0) leaves glibc's
    // default in place.
    unsafe {
        if watch {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024 * 1024);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
            libc::mallopt(libc::M_TOP_PAD, 64 * 1024 * 1024);
        } else {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator(_watch: bool) {}
