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
    #[arg(long, value_enum, value_name = "MODE", global = true, env = "SKILL_MAP_PROGRESS")]
    pub progress: Option<ProgressMode>,
    /// Override a config key for this run (repeatable), e.g. --config scan.strict=true
    #[arg(long = "config", value_name = "KEY=VALUE", global = true)]
    pub config: Vec<String>,
    /// Look for plugins only in this directory (repeatable) instead of .skill-map/plugins and ~/.skill-map/plugins
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    pub plugin_dir: Vec<PathBuf>,
    /// Do not load any plugin
    #[arg(long = "no-plugins", global = true)]
    pub no_plugins: bool,
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
    /// Scan, then rescan incrementally on every change until Ctrl-C
    Watch(WatchArgs),
    /// Print the versions of sm, its kernel, spec and database schema
    Version,
    /// Help for sm or one verb, as text, Markdown or JSON
    Help(HelpArgs),
    /// List the nodes of the stored graph as a table
    List(ListArgs),
    /// Show one node: weight, frontmatter, links in and out, issues
    Show(ShowArgs),
    /// Print the stored issues (exit 1 if any is an error)
    Check(CheckArgs),
    /// Draw the stored graph, or the neighbourhood of one node
    Graph(GraphArgs),
    /// Export the part of the graph a query selects
    Export(ExportArgs),
    /// Read and change layered settings
    #[command(subcommand)]
    Config(ConfigVerb),
    /// Maintain the database: reset, backup, restore, dump, migrate
    #[command(subcommand)]
    Db(DbVerb),
    /// Deleted and renamed nodes: list orphan/rename issues, reconcile, undo a rename
    Orphans(OrphansArgs),
    /// Manage plugins: list, show, enable, disable, doctor, check
    #[command(subcommand)]
    Plugins(PluginsVerb),
    /// List and run actions (from plugins)
    #[command(subcommand)]
    Actions(ActionsVerb),
    /// List and run audits over the stored graph
    #[command(subcommand)]
    Audit(AuditVerb),
    /// Run the declarative conformance cases of the spec
    #[command(subcommand)]
    Conformance(ConformanceVerb),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct OrphansArgs {
    /// Only this kind of issue (default: all three)
    #[arg(long, value_parser = ["orphan", "medium", "ambiguous"])]
    pub kind: Option<String>,
    #[command(subcommand)]
    pub action: Option<OrphansVerb>,
}

#[derive(Debug, Subcommand)]
pub enum OrphansVerb {
    /// Attach the history of a deleted node to an existing node (moves its job state)
    Reconcile {
        /// The deleted path (from an `orphan` issue)
        #[arg(value_name = "OLD")]
        old: String,
        /// The node that replaces it
        #[arg(long, value_name = "NEW")]
        to: String,
        /// Report what would move; change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Undo an automatic medium-confidence rename (moves the state back, keeps OLD as an orphan)
    UndoRename {
        /// The path the rename went to
        #[arg(value_name = "NEW")]
        new: String,
        /// The path it came from (checked against the rename)
        #[arg(long, value_name = "OLD")]
        from: Option<String>,
        /// Do not ask for confirmation
        #[arg(long)]
        force: bool,
        /// Report what would move; change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginsVerb {
    /// Every discovered plugin with its status
    List,
    /// One plugin: manifest, status, extensions
    Show {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Enable a plugin (stored in the database; beats settings)
    Enable {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Disable a plugin (stored in the database; beats settings)
    Disable {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Load every plugin and report problems (exit 1 if any)
    Doctor,
    /// Check a plugin directory or library the way sm will use it (runs in a child process)
    Check {
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Run the checks in this process (used by the child process)
        #[arg(long, hide = true)]
        in_process: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ActionsVerb {
    /// Every registered action
    List,
    /// One action
    Show {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Run a local action on one node of the stored graph
    Run {
        #[arg(value_name = "ID")]
        id: String,
        /// The node to run it on
        #[arg(short = 'n', long = "node", value_name = "PATH")]
        node: String,
        /// Input for the action, as a JSON object
        #[arg(long, value_name = "JSON", default_value = "{}")]
        input: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditVerb {
    /// Every registered audit
    List,
    /// Run an audit over the stored graph and print its report
    Run {
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// Columns `sm list` can sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    Path,
    Kind,
    Bytes,
    Tokens,
    LinksOut,
    LinksIn,
    ExternalRefs,
    Issues,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only these kinds (repeat or comma-separate)
    #[arg(long, value_delimiter = ',')]
    pub kind: Vec<String>,
    /// Only nodes named by an issue
    #[arg(long)]
    pub issue: bool,
    /// Sort column: text ascending, numbers descending
    #[arg(long, value_enum, default_value_t = SortKey::Path)]
    pub sort_by: SortKey,
    /// At most this many rows
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Node path, as stored (root-relative)
    #[arg(value_name = "PATH")]
    pub path: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only issues about this node
    #[arg(short = 'n', long = "node", value_name = "PATH")]
    pub node: Option<String>,
    /// Only these rule ids (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub rules: Vec<String>,
    /// Only issues at least this severe
    #[arg(long, value_parser = ["error", "warn", "info"])]
    pub severity: Option<String>,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Renderer: ascii, mermaid, dot, json (or a plugin's)
    #[arg(long, default_value = "ascii", value_name = "FORMAT")]
    pub format: String,
    /// Draw only the neighbourhood of this node
    #[arg(long, value_name = "PATH")]
    pub root: Option<String>,
    /// Link hops from --root (both directions)
    #[arg(long, default_value_t = 2, value_name = "N", requires = "root")]
    pub depth: usize,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Query, e.g. "kind=skill,agent has=issues path=.claude/**" (empty: everything)
    #[arg(value_name = "QUERY", default_value = "")]
    pub query: String,
    /// Output format
    #[arg(long, default_value = "json", value_parser = ["json", "md", "mermaid", "dot"])]
    pub format: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigVerb {
    /// Every effective key as `key = value`, sorted
    List,
    /// One effective value
    Get {
        #[arg(value_name = "KEY")]
        key: String,
    },
    /// One effective value, optionally with the layer that set it
    Show {
        #[arg(value_name = "KEY")]
        key: String,
        /// Also print the layer (defaults, user, user-local, project, project-local, env, flag)
        #[arg(long)]
        source: bool,
    },
    /// Write a key to the project settings (or ~/.skill-map with -g); VALUE is JSON or text
    Set {
        #[arg(value_name = "KEY")]
        key: String,
        #[arg(value_name = "VALUE")]
        value: String,
        /// Write settings.local.json instead (not committed)
        #[arg(long)]
        local: bool,
    },
    /// Remove a key from the project settings (or ~/.skill-map with -g)
    Reset {
        #[arg(value_name = "KEY")]
        key: String,
        /// Edit settings.local.json instead
        #[arg(long)]
        local: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbVerb {
    /// Empty the scan tables (--state: also job state; --hard: delete the database file)
    Reset {
        /// Also delete the state_* tables' rows (jobs, executions, summaries, plugin data)
        #[arg(long, conflicts_with = "hard")]
        state: bool,
        /// Delete the database file and its WAL/SHM sidecars
        #[arg(long)]
        hard: bool,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
        /// Print what would be deleted; change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a consistent copy of the database (safe while others read it)
    Backup {
        /// Destination file (default: .skill-map/backups/<timestamp>.db)
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Replace the database with a backup
    Restore {
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
        /// Check the backup and print what would happen; change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the database as SQL (schema and rows)
    Dump {
        /// Only these tables (comma-separated)
        #[arg(long, value_delimiter = ',', value_name = "TABLES")]
        tables: Vec<String>,
    },
    /// Apply pending schema migrations
    Migrate {
        /// List applied and pending migrations; change nothing
        #[arg(long, conflicts_with = "dry_run")]
        status: bool,
        /// List what would be applied; change nothing
        #[arg(long)]
        dry_run: bool,
    },
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
    /// Reuse the stored scan for files whose size and mtime did not change (the result is the same
    /// as a full scan's)
    #[arg(long)]
    pub changed: bool,
    /// Rescan this node (re-read it even if it looks unchanged); everything else as with --changed
    #[arg(short = 'n', long = "node", value_name = "PATH")]
    pub node: Option<String>,
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
    /// Compare a fresh scan with a saved `sm scan --json` result; exit 1 on any drift. Writes nothing.
    #[arg(long, value_name = "DUMP.json")]
    pub compare_with: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Directories to watch and scan (default as for `sm scan`)
    #[arg(value_name = "ROOTS")]
    pub roots: Vec<String>,
    /// Skip token counts
    #[arg(long)]
    pub no_tokens: bool,
    /// Frontmatter problems are errors instead of warnings
    #[arg(long)]
    pub strict: bool,
    /// Stop with exit 2 after this many failed batches in a row (0: never)
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_consecutive_failures: u32,
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
