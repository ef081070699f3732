//! The clap definitions: the single source of `sm help` in every format.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// sm (skill-map): map, lint, audit, render and package the files that drive AI coding agents.
#[derive(Debug, Parser)]
#[command(
    name = "sm",
    bin_name = "sm",
    version,
    disable_help_subcommand = true,
    after_help = "Run `sm help <verb>` for a verb's flags, `sm help --format md|json` for the whole reference."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Verb>,
}

/// Flags every verb accepts.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Use the global scope (~/.skill-map/, scanning ~/.claude) [env: SKILL_MAP_SCOPE=global]
    #[arg(short = 'g', long = "global", global = true)]
    pub global: bool,
    /// Print one JSON document on stdout (errors as {"ok":false,...}) [env: SKILL_MAP_JSON=1]
    #[arg(long, global = true)]
    pub json: bool,
    /// More detail on stderr (-v, -vv, -vvv)
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print nothing but results and errors
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,
    /// Never colour output [env: NO_COLOR]
    #[arg(long = "no-color", global = true)]
    pub no_color: bool,
    /// Database file (default: .skill-map/skill-map.db in the scope)
    #[arg(long, value_name = "PATH", env = "SKILL_MAP_DB", global = true)]
    pub db: Option<PathBuf>,
    /// Progress reporting on stderr: a bar on a terminal (auto), ndjson event lines, or none
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        global = true,
        env = "SKILL_MAP_PROGRESS"
    )]
    pub progress: Option<ProgressMode>,
    /// Override a config key for this run (repeatable), e.g. --config scan.strict=true
    #[arg(long = "config", value_name = "KEY=VALUE", global = true)]
    pub config: Vec<String>,
}

/// How progress is reported on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// A progress bar when stderr is a terminal and the work takes over a second
    Auto,
    /// One JSON event envelope per line: {type, timestamp, runId, jobId, data}
    Ndjson,
    /// Nothing
    None,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Set up sm in this project: settings, ignore file, database, first scan
    Init(InitArgs),
    /// Walk the roots, build the graph and store it in the database
    Scan(ScanArgs),
    /// Print the versions of sm, its kernel, spec and database schema
    Version,
    /// Help for sm or one verb, as text, Markdown or JSON
    Help(HelpArgs),
    /// Run the declarative conformance cases of the spec
    #[command(subcommand)]
    Conformance(ConformanceVerb),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Do not run the first scan
    #[arg(long)]
    pub no_scan: bool,
    /// Overwrite an existing setup (settings, ignore file)
    #[arg(long)]
    pub force: bool,
    /// Print what would be created; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Directories to scan (default: config `roots`, else `.`; `~/.claude` with -g)
    #[arg(value_name = "ROOTS")]
    pub roots: Vec<String>,
    /// Compute and print the result without writing the database
    #[arg(long)]
    pub dry_run: bool,
    /// Skip token counts
    #[arg(long)]
    pub no_tokens: bool,
    /// Allow a scan that finds no nodes to replace a non-empty database
    #[arg(long)]
    pub allow_empty: bool,
    /// Frontmatter problems are errors (exit 1) instead of warnings
    #[arg(long)]
    pub strict: bool,
    /// Frontmatter profile for the frontmatter-invalid rule (default: config `profile`, else claude)
    #[arg(long, value_parser = ["claude", "agentskills"])]
    pub profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct HelpArgs {
    /// The verb to describe (all verbs when omitted)
    #[arg(value_name = "VERB")]
    pub verb: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = HelpFormat::Human)]
    pub format: HelpFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HelpFormat {
    Human,
    Md,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ConformanceVerb {
    /// Run every case (embedded spec by default) against an sm binary
    Run(ConformanceRunArgs),
}

#[derive(Debug, Args)]
pub struct ConformanceRunArgs {
    /// A spec conformance directory holding cases/ and fixtures/ (default: the embedded spec)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Run only these case ids
    #[arg(long = "case", value_name = "ID")]
    pub cases: Vec<String>,
    /// The sm binary under test (default: this one)
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}
