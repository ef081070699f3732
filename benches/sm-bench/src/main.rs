//! `sm-bench`: how fast is sm, measured on corpora shaped like real ones.
//!
//! ```sh
//! cargo build --release -p sm-cli
//! cargo run --release -p sm-bench -- run --nodes 1000,10000,50000 --runs 5
//! cargo run --release -p sm-bench -- run --corpus ../shared/corpora --runs 5
//! cargo run --release -p sm-bench -- gen --nodes 10000 --out corpus10k
//! cargo run --release -p sm-bench -- tokens --corpus ../shared/corpora
//! ```
//!
//! `gen` writes a deterministic synthetic project (seeded): 60% skills, 20% agents, 20% commands
//! in plugin groups of 5–40, file sizes log-normal around the real corpus's p50/p95 per kind,
//! 5% of agents with YAML strict parsers reject, 17% of commands with `argument-hint: [x] | y`,
//! ~3% duplicate names and 0.5% identical copies, and per file on average 0.5 Markdown links (17%
//! broken), 0.2 `/commands`, 0.1 `plugin:name` and 0.9 plain name mentions
//! (`shared/reference/corpora.md`).
//!
//! `run` times whole `sm` processes (median of `--runs`) in these scenarios, with and without
//! tokens: full scan into a fresh database, full scan with the database warm, `--changed` with
//! nothing changed, `--changed` after touching 1% of the files, and watch latency (an edit until
//! the change is persisted). Peak RSS comes from `/usr/bin/time` when it is installed.
//!
//! `tokens` times the token counter alone on one thread over a corpus's Markdown held in memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// splitmix64: small, fast, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// A count with mean `mean` (Poisson by inversion; means here are small).
    fn count(&mut self, mean: f64) -> usize {
        let l = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.unit();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    /// Log-normal with the given median and 95th percentile.
    fn size(&mut self, p50: f64, p95: f64) -> usize {
        let sigma = (p95 / p50).ln() / 1.645;
        let z = (-2.0 * self.unit().max(1e-12).ln()).sqrt() * (2.0 * std::f64::consts::PI * self.unit()).cos();
        (p50 * (sigma * z).exp()).clamp(200.0, 400_000.0) as usize
    }
}

const WORDS: &[&str] = &[
    "the",
    "agent",
    "reviews",
    "changes",
    "before",
    "merge",
    "and",
    "reports",
    "findings",
    "with",
    "clear",
    "steps",
    "use",
    "this",
    "skill",
    "when",
    "tests",
    "fail",
    "or",
    "the",
    "build",
    "breaks",
    "check",
    "inputs",
    "carefully",
    "prefer",
    "small",
    "diffs",
    "document",
    "decisions",
    "in",
    "plain",
    "language",
    "avoid",
    "guessing",
    "ask",
];

struct Spec {
    path: String,
    kind: &'static str,
    name: String,
}

/// Writes a synthetic corpus of `nodes` files under `out`; returns the paths written.
pub fn generate(nodes: usize, seed: u64, out: &Path) -> Result<Vec<PathBuf>> {
    let mut rng = Rng(seed);
    let mut specs: Vec<Spec> = Vec::with_capacity(nodes);
    let mut group = 0;
    while specs.len() < nodes {
        let size = 5 + rng.below(36);
        for _ in 0..size.min(nodes - specs.len()) {
            let i = specs.len();
            let roll = rng.unit();
            let (kind, path) = if roll < 0.6 {
                ("skill", format!(".claude/skills/g{group}-skill-{i}/SKILL.md"))
            } else if roll < 0.8 {
                ("agent", format!(".claude/agents/g{group}/agent-{i}.md"))
            } else {
                ("command", format!(".claude/commands/g{group}/cmd-{i}.md"))
            };
            let name = if i > 10 && rng.chance(0.03) {
                specs[rng.below(i)].name.clone()
            } else {
                match kind {
                    "skill" => format!("g{group}-skill-{i}"),
                    "agent" => format!("agent-{i}"),
                    _ => format!("cmd-{i}"),
                }
            };
            specs.push(Spec { path, kind, name });
        }
        group += 1;
    }
    let mut written = Vec::with_capacity(nodes);
    let mut bodies: Vec<String> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let text = if i > 10 && rng.chance(0.005) {
            bodies[rng.below(bodies.len())].clone()
        } else {
            file_text(&mut rng, s, &specs)
        };
        let path = out.join(&s.path);
        std::fs::create_dir_all(path.parent().context("parent")?)?;
        std::fs::write(&path, &text)?;
        bodies.push(text);
        written.push(path);
    }
    Ok(written)
}

fn file_text(rng: &mut Rng, s: &Spec, all: &[Spec]) -> String {
    let (p50, p95) = match s.kind {
        "skill" => (6000.0, 22000.0),
        "agent" => (6500.0, 17000.0),
        _ => (4000.0, 20000.0),
    };
    let target = rng.size(p50, p95);
    let mut fm = format!("name: {}\n", s.name);
    let description = format!("Use this {} when the build breaks and tests fail; it reports findings", s.kind);
    if s.kind == "agent" && rng.chance(0.05) {
        fm.push_str(&format!(
            "description: {description}: with an unquoted colon <example>Context: x\nuser: hi</example>\n"
        ));
    } else {
        fm.push_str(&format!("description: \"{description}.\"\n"));
    }
    match s.kind {
        "agent" => fm.push_str("tools: [Read, Grep, Edit]\nmodel: sonnet\ncolor: blue\n"),
        "command" if rng.chance(0.17) => {
            fm.push_str("argument-hint: [target] | all\nallowed-tools: Bash(git diff:*)\n")
        }
        "command" => fm.push_str("argument-hint: \"<target>\"\n"),
        _ if rng.chance(0.3) => fm.push_str("allowed-tools: Read, Grep\nmetadata:\n  version: 1.0.0\n"),
        _ => {}
    }
    let mut body = format!("\n# {}\n\n", s.name);
    for _ in 0..rng.count(0.5) {
        let t = &all[rng.below(all.len())];
        if rng.chance(0.17) {
            body.push_str("See [the guide](../missing/guide.md).\n");
        } else {
            body.push_str(&format!("See [{}](/{}) for details.\n", t.name, t.path).replace("](/", "](../../../"));
        }
    }
    for _ in 0..rng.count(0.2) {
        body.push_str(&format!("Run /cmd-{} first.\n", rng.below(all.len())));
    }
    for _ in 0..rng.count(0.1) {
        body.push_str(&format!("Then superpowers:{}.\n", all[rng.below(all.len())].name));
    }
    for _ in 0..rng.count(0.9) {
        body.push_str(&format!("Works well with {}.\n", all[rng.below(all.len())].name));
    }
    while body.len() + fm.len() < target {
        if rng.chance(0.05) {
            body.push_str("\n## Steps\n\n");
        } else if rng.chance(0.02) {
            body.push_str("\n```sh\nnpm test -- --watch\n```\n");
        }
        let n = 8 + rng.below(16);
        let line: Vec<&str> = (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect();
        body.push_str(&line.join(" "));
        body.push_str(".\n");
    }
    format!("---\n{fm}---\n{body}")
}

/// One timed run of `sm`: wall time and peak RSS (KiB, when `/usr/bin/time` exists).
fn time_sm(sm: &Path, dir: &Path, args: &[&str]) -> Result<(Duration, Option<u64>)> {
    let gnu_time = Path::new("/usr/bin/time");
    let started = Instant::now();
    let out = if gnu_time.is_file() {
        Command::new(gnu_time).arg("-f").arg("%M").arg(sm).args(args).current_dir(dir).stdout(Stdio::null()).output()?
    } else {
        Command::new(sm).args(args).current_dir(dir).stdout(Stdio::null()).output()?
    };
    let elapsed = started.elapsed();
    let code = out.status.code().unwrap_or(-1);
    if code != 0 && code != 1 {
        bail!("sm {args:?} failed ({code}): {}", String::from_utf8_lossy(&out.stderr));
    }
    let rss = String::from_utf8_lossy(&out.stderr).lines().last().and_then(|l| l.trim().parse().ok());
    Ok((elapsed, rss))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    corpus: String,
    scenario: String,
    median: Duration,
    rss_kib: Option<u64>,
}

fn scenario(
    rows: &mut Vec<Row>,
    corpus: &str,
    name: &str,
    runs: usize,
    mut f: impl FnMut() -> Result<(Duration, Option<u64>)>,
) -> Result<()> {
    let mut times = Vec::new();
    let mut rss = None;
    for _ in 0..runs {
        let (t, r) = f()?;
        times.push(t);
        rss = rss.max(r);
    }
    let row = Row { corpus: corpus.to_owned(), scenario: name.to_owned(), median: median(times), rss_kib: rss };
    println!(
        "{:<24} {:<44} {:>9.3} s {:>8}",
        row.corpus,
        row.scenario,
        row.median.as_secs_f64(),
        row.rss_kib.map_or("-".into(), |k| format!("{} MB", k / 1024))
    );
    rows.push(row);
    Ok(())
}

fn touch_one_percent(files: &[PathBuf], round: usize) -> Result<()> {
    let step = 100;
    for f in files.iter().skip(round % step).step_by(step) {
        let mut text = std::fs::read_to_string(f)?;
        text.push_str(&format!("\nEdited in round {round}.\n"));
        std::fs::write(f, text)?;
    }
    Ok(())
}

/// From a file write to the batch's summary line, which `sm watch` prints once the batch is
/// persisted; of the `edit`th edit after the watch says it is watching (its "watching …" note,
/// printed once the initial scan, loading the cache and warming up are done). (Until the eighth
/// round the first edit came 0.5 s after the initial scan's line, when a large tree's watch could
/// still be loading its cache; until the third round this read `--json` output, which adds
/// serialising the whole graph — 11 MB for `shared/corpora` — to every batch.)
fn watch_latency(sm: &Path, dir: &Path, file: &Path, tokens: bool, edit: usize) -> Result<(Duration, Option<u64>)> {
    let mut args = vec!["watch"];
    if !tokens {
        args.push("--no-tokens");
    }
    let mut child =
        Command::new(sm).args(&args).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        // Read to the end: a pipe nobody reads would block the watch once full.
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("watching ") {
                let _ = ready_tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(300)).context("initial scan")?;
    ready.recv_timeout(Duration::from_secs(300)).context("the watch saying it is watching")?;
    let mut elapsed = Duration::ZERO;
    for _ in 0..edit.max(1) {
        std::thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        let mut text = std::fs::read_to_string(file)?;
        text.push_str("\nWatched edit.\n");
        std::fs::write(file, text)?;
        rx.recv_timeout(Duration::from_secs(300)).context("batch after the edit")?;
        elapsed = started.elapsed();
    }
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let _ = child.wait();
    Ok((elapsed, None))
}

fn run_corpus(sm: &Path, label: &str, dir: &Path, files: &[PathBuf], runs: usize, rows: &mut Vec<Row>) -> Result<()> {
    let db = dir.join(".skill-map");
    for tokens in [false, true] {
        let t: &[&str] = if tokens { &[] } else { &["--no-tokens"] };
        let with = |base: &[&'static str]| -> Vec<&'static str> { base.iter().chain(t.iter()).copied().collect() };
        let suffix = if tokens { "" } else { " --no-tokens" };
        scenario(rows, label, &format!("full scan, cold DB{suffix}"), runs, || {
            let _ = std::fs::remove_dir_all(&db);
            time_sm(sm, dir, &with(&["scan", "-q"]))
        })?;
        scenario(rows, label, &format!("full scan, warm DB{suffix}"), runs, || {
            time_sm(sm, dir, &with(&["scan", "-q"]))
        })?;
        scenario(rows, label, &format!("--changed, nothing changed{suffix}"), runs, || {
            time_sm(sm, dir, &with(&["scan", "--changed", "-q"]))
        })?;
        let mut round = 0;
        scenario(rows, label, &format!("--changed after touching 1%{suffix}"), runs, || {
            touch_one_percent(files, round)?;
            round += 1;
            time_sm(sm, dir, &with(&["scan", "--changed", "-q"]))
        })?;
        if let Some(file) = files.first() {
            scenario(rows, label, &format!("watch: edit → persisted{suffix}"), runs.min(3), || {
                watch_latency(sm, dir, file, tokens, 1)
            })?;
            scenario(rows, label, &format!("watch: third edit → persisted{suffix}"), runs.min(3), || {
                watch_latency(sm, dir, file, tokens, 3)
            })?;
        }
    }
    Ok(())
}

const USAGE: &str = "usage: sm-bench gen --nodes N --out DIR [--seed S] | run [--nodes N,N] [--corpus DIR] [--runs R] \
     [--sm PATH] | tokens --corpus DIR [--runs R]";

/// `sm-bench tokens`: the token counter alone, over every Markdown file under `corpus` held in
/// memory, on one thread. Each run starts a new thread, so its per-thread tables start empty as a
/// scan's do.
fn bench_tokens(corpus: &Path, runs: usize) -> Result<()> {
    let mut files = Vec::new();
    collect_md(corpus, &mut files);
    files.sort();
    let texts: Vec<String> = files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
    let mib = texts.iter().map(String::len).sum::<usize>() as f64 / (1024.0 * 1024.0);
    sm_kernel::tokens::warm_up();
    let mut times = Vec::new();
    let mut total = 0;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        total = std::thread::scope(|s| {
            s.spawn(|| texts.iter().map(|t| sm_kernel::tokens::count_tokens(t)).sum::<u64>()).join()
        })
        .map_err(|_| anyhow::anyhow!("the counting thread panicked"))?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{} files, {mib:.1} MiB, {total} tokens: median {median:.3} s, fastest {:.3} s ({:.0} MiB/s at the median)",
        texts.len(),
        times[0],
        mib / median
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    // Every argument after the subcommand is a `--flag value` pair; anything else is a typo that
    // would otherwise silently start an hour-long run with defaults.
    let known = ["--nodes", "--seed", "--out", "--runs", "--sm", "--corpus"];
    for pair in args.get(1..).unwrap_or_default().chunks(2) {
        if !known.contains(&pair[0].as_str()) || pair.len() < 2 {
            bail!("unexpected argument `{}`\n{USAGE}", pair[0]);
        }
    }
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    match args.first().map(String::as_str) {
        Some("gen") => {
            let nodes: usize = flag("--nodes").context("--nodes N")?.parse()?;
            let seed: u64 = flag("--seed").map_or(Ok(42), |s| s.parse())?;
            let out = PathBuf::from(flag("--out").context("--out DIR")?);
            let files = generate(nodes, seed, &out)?;
            println!("wrote {} files under {}", files.len(), out.display());
        }
        Some("run") => {
            let runs: usize = flag("--runs").map_or(Ok(5), |s| s.parse())?;
            let sm = match flag("--sm") {
                Some(p) => PathBuf::from(p),
                None => std::env::current_exe()?.parent().context("target dir")?.join("sm"),
            };
            if !sm.is_file() {
                bail!("no sm binary at {} (build it: cargo build --release -p sm-cli, or pass --sm)", sm.display());
            }
            let mut rows = Vec::new();
            println!("{:<24} {:<44} {:>11} {:>8}", "corpus", "scenario", "median", "peak RSS");
            if let Some(corpus) = flag("--corpus") {
                let work = tempfile::tempdir()?;
                let dir = work.path().join("corpus");
                copy_tree(Path::new(&corpus), &dir)?;
                let mut files = Vec::new();
                collect_md(&dir, &mut files);
                files.sort();
                run_corpus(&sm, &corpus, &dir, &files, runs, &mut rows)?;
            }
            let sizes = flag("--nodes")
                .unwrap_or_else(|| if flag("--corpus").is_some() { String::new() } else { "1000".into() });
            for n in sizes.split(',').filter(|s| !s.is_empty()) {
                let n: usize = n.parse()?;
                let work = tempfile::tempdir()?;
                let files = generate(n, 42, work.path())?;
                run_corpus(&sm, &format!("synthetic {n}"), work.path(), &files, runs, &mut rows)?;
            }
        }
        Some("tokens") => {
            let runs: usize = flag("--runs").map_or(Ok(7), |s| s.parse())?;
            bench_tokens(Path::new(&flag("--corpus").context("--corpus DIR")?), runs)?;
        }
        _ => bail!("{USAGE}"),
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn collect_md(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != ".skill-map") {
                collect_md(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "md") {
            out.push(p);
        }
    }
}
