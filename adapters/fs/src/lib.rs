//! `sm-adapter-fs`: the FilesystemPort: a parallel walk, reads, stats and watching.
//!
//! Hidden directories are walked (skills live in `.claude/`); `.gitignore` is honoured inside and
//! outside git repositories, together with `.ignore`, the per-directory ignore file the caller
//! names (`.skillmapignore`), `.git/info/exclude` and extra gitignore-style patterns (bundled
//! defaults + config `ignore`). On Unix the walk is [`walk`]'s; elsewhere the `ignore` crate's
//! parallel walker, set up to list the same files. Results are sorted so every scan sees the same
//! order.

use std::path::{Path, PathBuf};
#[cfg(any(not(unix), test))]
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
#[cfg(any(not(unix), test))]
use ignore::{WalkBuilder, WalkState};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use sm_kernel::ports::{FilesystemPort, FsError, RootStatus, WalkOptions, WalkedFile, WatchEvent, WatchStream};

#[cfg(unix)]
mod walk;

/// The filesystem adapter. Relative roots are resolved against `base` (the process's working
/// directory, captured once by the composition root).
#[derive(Debug, Clone)]
pub struct LocalFilesystem {
    base: PathBuf,
    threads: usize,
}

impl LocalFilesystem {
    pub fn new(base: impl Into<PathBuf>) -> Self {
        // Asked once per process: on Linux the answer reads cgroup files.
        static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let threads = *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()).min(8));
        Self { base: base.into(), threads }
    }

    fn resolve(&self, root: &str) -> PathBuf {
        let p = Path::new(root);
        if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) }
    }
}

impl FilesystemPort for LocalFilesystem {
    fn root_status(&self, root: &str) -> RootStatus {
        match std::fs::metadata(self.resolve(root)) {
            Ok(m) if m.is_dir() => RootStatus::Directory,
            Ok(_) => RootStatus::NotADirectory,
            Err(_) => RootStatus::Missing,
        }
    }

    fn walk(&self, root: &str, options: &WalkOptions) -> Result<Vec<WalkedFile>, FsError> {
        let root_path = self.resolve(root);
        let extra = build_matcher(&root_path, &options.ignore_patterns)?;
        #[cfg(unix)]
        let mut files = walk::walk(&root_path, options, &extra, self.threads);
        #[cfg(not(unix))]
        let mut files = walk_with_ignore(&root_path, options, extra, self.threads);
        files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn watch(&self, roots: &[String], debounce_ms: u64) -> Result<Box<dyn WatchStream>, FsError> {
        let (raw_tx, raw) = std::sync::mpsc::channel();
        let mut watcher = notify::recommended_watcher(raw_tx)
            .map_err(|e| FsError::Io { path: String::new(), message: format!("cannot start watching: {e}") })?;
        for root in roots {
            let path = self.resolve(root);
            watcher.watch(&path, RecursiveMode::Recursive).map_err(|e| FsError::Io {
                path: root.clone(),
                message: format!("cannot watch (on Linux, see fs.inotify.max_user_watches): {e}"),
            })?;
        }
        settle_registration(&raw);
        let (tx, rx) = std::sync::mpsc::channel();
        let timing = Debounce::new(Duration::from_millis(debounce_ms));
        std::thread::Builder::new()
            .name("sm-watch-debounce".into())
            .spawn(move || debounce(&raw, &tx, timing))
            .map_err(|e| FsError::Io { path: String::new(), message: format!("cannot start watching: {e}") })?;
        Ok(Box::new(NotifyStream { _watcher: watcher, rx }))
    }

    fn read(&self, root: &str, path: &str) -> Result<Vec<u8>, FsError> {
        let full = self.resolve(root).join(path);
        std::fs::read(&full).map_err(|e| FsError::Io { path: path.to_owned(), message: e.to_string() })
    }

    fn relative_path(&self, root: &str, reported: &str) -> Option<String> {
        Path::new(reported).strip_prefix(self.resolve(root)).ok().map(to_posix)
    }

    fn stat(&self, root: &str, path: &str) -> Result<Option<WalkedFile>, FsError> {
        let io = |message: String| FsError::Io { path: path.to_owned(), message };
        match std::fs::metadata(self.resolve(root).join(path)) {
            Ok(meta) if meta.is_file() => {
                Ok(Some(WalkedFile { path: path.to_owned(), size: meta.len(), mtime_ms: mtime_ms(&meta) }))
            }
            Ok(_) => Err(io("not a regular file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e.to_string())),
        }
    }

    /// One `open` and reads until end of file: no `stat` for a size hint (the buffer is reused).
    fn read_into(&self, root: &str, path: &str, buf: &mut Vec<u8>) -> Result<(), FsError> {
        use std::io::Read;
        let full = self.resolve(root).join(path);
        buf.clear();
        std::fs::File::open(&full)
            // Through `take`, `read_to_end` does not `stat` and `lseek` for a size hint.
            .and_then(|f| f.take(u64::MAX).read_to_end(buf))
            .map(drop)
            .map_err(|e| FsError::Io { path: path.to_owned(), message: e.to_string() })
    }
}

/// Debounced notify events as a WatchStream. Dropping it drops the watcher, whose channel's end
/// stops the debouncing thread.
struct NotifyStream {
    _watcher: RecommendedWatcher,
    rx: std::sync::mpsc::Receiver<WatchEvent>,
}

impl WatchStream for NotifyStream {
    fn next(&mut self, timeout_ms: u64) -> WatchEvent {
        match self.rx.recv_timeout(Duration::from_millis(timeout_ms)) {
            Ok(event) => event,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => WatchEvent::Idle,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => WatchEvent::Error("the watcher stopped".into()),
        }
    }
}

/// Drops what the watcher reported while its watches were being set up, until it has been quiet for
/// 100 ms (2 s at most). Every one of those events happened before `watch` returns, so before the
/// caller's first scan, which sees their changes by itself. On a large tree setting up the watches
/// opens every directory, which can overflow the kernel's event queue: that flag, raised before the
/// first scan, need not make the next batch walk.
fn settle_registration(raw: &std::sync::mpsc::Receiver<notify::Result<notify::Event>>) {
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(2) && raw.recv_timeout(Duration::from_millis(100)).is_ok() {}
}

/// When the debouncing thread speaks: `Settled` once the pending changes have been quiet for
/// `settle`, `Changed` once quiet for `debounce` — or once the first of them waited `limit`, so
/// that changes that never stop (a build writing files all the time) still make batches.
#[derive(Debug, Clone, Copy)]
struct Debounce {
    debounce: Duration,
    settle: Duration,
    limit: Duration,
}

impl Debounce {
    fn new(debounce: Duration) -> Self {
        // An editor's save (write, close, maybe a rename) takes a few milliseconds; 50 ms of quiet
        // is a good sign the file is whole, and leaves most of a 300 ms debounce to work ahead.
        let settle = (debounce / 6).min(Duration::from_millis(50));
        Self { debounce, settle, limit: (debounce * 10).max(Duration::from_secs(1)) }
    }
}

/// Folds raw events into batches of changed paths, one batch once the changes have been quiet for
/// the debounce (a global quiet period, not one per path: one batch per burst). Only what changes
/// content counts: reading files (our own scans) raises access events, which must not trigger
/// another scan. Returns when either channel closes.
fn debounce(
    raw: &std::sync::mpsc::Receiver<notify::Result<notify::Event>>,
    out: &std::sync::mpsc::Sender<WatchEvent>,
    timing: Debounce,
) {
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::Instant;
    let mut pending = std::collections::BTreeSet::new();
    let (mut first, mut last) = (Instant::now(), Instant::now());
    let mut settled = false;
    loop {
        let deadline = match (pending.is_empty(), settled) {
            (true, _) => None,
            (false, false) => Some(last + timing.settle),
            (false, true) => Some((last + timing.debounce).min(first + timing.limit)),
        };
        let received = match deadline {
            None => raw.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(at) => raw.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        let mut error = None;
        match received {
            Ok(Ok(event)) => {
                if event.need_rescan() {
                    error = Some("the system dropped events (its queue overflowed; on Linux, see fs.inotify.max_queued_events): the next batch walks".to_owned());
                }
                if event.kind.is_create() || event.kind.is_modify() || event.kind.is_remove() {
                    if pending.is_empty() {
                        first = Instant::now();
                    }
                    pending.extend(event.paths.iter().map(|p| p.display().to_string()));
                    last = Instant::now();
                    settled = false;
                }
            }
            Ok(Err(e)) => error = Some(e.to_string()),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Some(e) = error
            && out.send(WatchEvent::Error(e)).is_err()
        {
            return;
        }
        if pending.is_empty() {
            continue;
        }
        let now = Instant::now();
        let quiet = now >= last + timing.debounce;
        if quiet || now >= first + timing.limit {
            // Cut short by the limit, the changes never settled: `Settled` is sent first all the
            // same, so a `Changed` always follows a `Settled` holding everything since (unless the
            // debounce is too short to settle at all).
            if !settled && !quiet && out.send(WatchEvent::Settled(pending.iter().cloned().collect())).is_err() {
                return;
            }
            settled = false;
            if out.send(WatchEvent::Changed(std::mem::take(&mut pending).into_iter().collect())).is_err() {
                return;
            }
        } else if !settled && now >= last + timing.settle {
            settled = true;
            if out.send(WatchEvent::Settled(pending.iter().cloned().collect())).is_err() {
                return;
            }
        }
    }
}

/// The walk on the `ignore` crate's parallel walker (platforms other than Unix; on Unix, the
/// oracle the tests compare [`walk::walk`] with). The files found, unsorted.
#[cfg(any(not(unix), test))]
fn walk_with_ignore(root_path: &Path, options: &WalkOptions, extra: Gitignore, threads: usize) -> Vec<WalkedFile> {
    let mut builder = WalkBuilder::new(root_path);
    builder
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .require_git(false)
        .parents(false)
        .follow_links(options.follow_symlinks)
        .threads(threads);
    if !options.ignore_file_name.is_empty() {
        builder.add_custom_ignore_filename(&options.ignore_file_name);
    }
    let filter_root = root_path.to_path_buf();
    builder.filter_entry(move |entry| {
        if entry.file_name() == ".git" {
            return false;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        match entry.path().strip_prefix(&filter_root) {
            Ok(rel) if rel.as_os_str().is_empty() => true,
            // Ignored directories are pruned here, so a path's parents were all checked on the
            // way down: matching the path itself is enough.
            Ok(rel) => !extra.matched(rel, is_dir).is_ignore(),
            Err(_) => true,
        }
    });
    let found: Mutex<Vec<WalkedFile>> = Mutex::new(Vec::new());
    builder.build_parallel().run(|| {
        let found = &found;
        let root_path = &root_path;
        Box::new(move |result| {
            let Ok(entry) = result else {
                return WalkState::Continue;
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let Ok(rel) = entry.path().strip_prefix(root_path) else {
                return WalkState::Continue;
            };
            let Ok(meta) = entry.metadata() else {
                return WalkState::Continue;
            };
            let file = WalkedFile { path: to_posix(rel), size: meta.len(), mtime_ms: mtime_ms(&meta) };
            found.lock().expect("walker mutex is never poisoned: pushes cannot panic").push(file);
            WalkState::Continue
        })
    });
    found.into_inner().expect("walker threads have finished")
}

fn build_matcher(root: &Path, patterns: &[String]) -> Result<Gitignore, FsError> {
    let mut builder = GitignoreBuilder::new(root);
    for pattern in patterns {
        builder
            .add_line(None, pattern)
            .map_err(|e| FsError::BadPattern { pattern: pattern.clone(), message: e.to_string() })?;
    }
    builder.build().map_err(|e| FsError::BadPattern { pattern: patterns.join(", "), message: e.to_string() })
}

/// Modification time in ms since the epoch; 0 when the platform cannot tell (never reused then).
fn mtime_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis() as i64)
}

fn to_posix(rel: &Path) -> String {
    let text = rel.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' { text.into_owned() } else { text.replace(std::path::MAIN_SEPARATOR, "/") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// A small deterministic generator (xorshift) for the random trees below.
    #[cfg(unix)]
    struct Rng(u64);

    #[cfg(unix)]
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
    }

    /// Random trees with ignore files at every level (`.gitignore`, `.ignore`, `.skillmapignore`,
    /// `.git/info/exclude`; ignore and whitelist patterns, anchored and not, for files and for
    /// directories), extra patterns, hidden entries and symbolic links (to files, to directories,
    /// back to an ancestor), walked with symbolic links followed and not: the walk lists exactly
    /// what the `ignore` crate's walker lists with the same settings, with the same sizes and
    /// modification times.
    #[cfg(unix)]
    #[test]
    fn the_walk_lists_what_the_ignore_crates_walker_lists() {
        const NAMES: &[&str] = &["a", "b", "gen", ".hidden", "node_modules", "skills", "deep"];
        const FILES: &[&str] = &["x.md", "y.md", "Z.MD", "notes.txt", "keep.md", ".dot.md", "SKILL.md"];
        const PATTERNS: &[&str] = &[
            "*.txt",
            "gen/",
            "/a",
            "b/",
            "!x.md",
            "*.md",
            "!gen/",
            "a/**/y.md",
            "Z*",
            "deep",
            "!deep/x.md",
            "**/b",
            ".hidden/",
            "/skills/*/",
            "!SKILL.md",
            "y.md",
            "!/a",
            "node_modules/",
            "*.MD",
            "[",
            "a/x.md",
        ];
        const IGNORE_FILES: &[&str] = &[".gitignore", ".ignore", ".skillmapignore"];
        let mut differences = Vec::new();
        for seed in 1..=60u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let dir = tempfile::tempdir().expect("tempdir");
            let root = dir.path();
            let mut dirs = vec![String::new()];
            for _ in 0..12 {
                let parent = dirs[rng.below(dirs.len())].clone();
                if parent.matches('/').count() < 3 {
                    let child = if parent.is_empty() {
                        rng.pick(NAMES).to_owned()
                    } else {
                        format!("{parent}/{}", rng.pick(NAMES))
                    };
                    std::fs::create_dir_all(root.join(&child)).expect("mkdir");
                    dirs.push(child);
                }
            }
            dirs.sort();
            dirs.dedup();
            for d in &dirs {
                for _ in 0..rng.below(4) {
                    let file = root.join(d).join(rng.pick(FILES));
                    std::fs::write(&file, "x".repeat(rng.below(50))).expect("write");
                }
                for name in IGNORE_FILES {
                    if rng.below(4) == 0 {
                        let lines: Vec<&str> = (0..1 + rng.below(4)).map(|_| rng.pick(PATTERNS)).collect();
                        std::fs::write(root.join(d).join(name), lines.join("\n")).expect("write");
                    }
                }
                if rng.below(4) == 0 {
                    let lines: Vec<&str> = (0..1 + rng.below(3)).map(|_| rng.pick(PATTERNS)).collect();
                    std::fs::create_dir_all(root.join(d).join(".git/info")).expect("mkdir");
                    std::fs::write(root.join(d).join(".git/info/exclude"), lines.join("\n")).expect("write");
                }
                match rng.below(10) {
                    0 => std::os::unix::fs::symlink(root, root.join(d).join("loop")).expect("symlink"),
                    1 => {
                        let target = root.join(&dirs[rng.below(dirs.len())]);
                        std::os::unix::fs::symlink(target, root.join(d).join("linked")).expect("symlink");
                    }
                    2 => std::os::unix::fs::symlink(root.join(d).join("x.md"), root.join(d).join("l.md"))
                        .expect("symlink"),
                    _ => {}
                }
            }
            for follow_symlinks in [false, true] {
                let options = WalkOptions {
                    ignore_patterns: (0..rng.below(3)).map(|_| rng.pick(PATTERNS).to_owned()).collect(),
                    ignore_file_name: ".skillmapignore".into(),
                    follow_symlinks,
                };
                let Ok(extra) = build_matcher(root, &options.ignore_patterns) else { continue };
                let mut ours = walk::walk(root, &options, &extra, 2);
                let mut theirs = walk_with_ignore(root, &options, extra, 2);
                ours.sort_by(|a, b| a.path.cmp(&b.path));
                theirs.sort_by(|a, b| a.path.cmp(&b.path));
                let key = |f: &WalkedFile| (f.path.clone(), f.size, f.mtime_ms);
                if ours.iter().map(key).ne(theirs.iter().map(key)) {
                    differences.push(format!(
                        "seed {seed}, follow {follow_symlinks}, extra {:?}:\n  ours   {:?}\n  theirs {:?}",
                        options.ignore_patterns,
                        ours.iter().map(|f| &f.path).collect::<Vec<_>>(),
                        theirs.iter().map(|f| &f.path).collect::<Vec<_>>()
                    ));
                }
            }
        }
        assert!(differences.is_empty(), "{}", differences.join("\n"));
    }

    #[test]
    fn walks_hidden_dirs_honours_ignores_and_sorts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, ".claude/skills/a/SKILL.md", "x");
        write(root, "notes/b.md", "x");
        write(root, "node_modules/pkg/README.md", "x");
        write(root, "gen/out.md", "x");
        write(root, "private/secret.md", "x");
        write(root, ".gitignore", "gen/\n");
        write(root, ".skillmapignore", "private/\n");
        write(root, ".git/HEAD", "x");
        let fs = LocalFilesystem::new(root);
        let options = WalkOptions {
            ignore_patterns: vec!["node_modules/".into()],
            ignore_file_name: ".skillmapignore".into(),
            follow_symlinks: false,
        };
        let files = fs.walk(".", &options).expect("walk");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec![".claude/skills/a/SKILL.md", ".gitignore", ".skillmapignore", "notes/b.md"]);
        assert_eq!(fs.read(".", "notes/b.md").expect("read"), b"x");
    }

    #[test]
    fn stat_and_relative_paths_answer_what_a_watch_reports() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "notes/a.md", "abc");
        let fs = LocalFilesystem::new(dir.path());
        let walked = fs.walk(".", &WalkOptions::default()).expect("walk");
        let stat = fs.stat(".", "notes/a.md").expect("stat").expect("a file");
        assert_eq!(stat, walked[0], "the same entry the walk gives");
        assert_eq!(fs.stat(".", "notes/gone.md").expect("stat"), None, "nothing there");
        assert!(fs.stat(".", "notes").is_err(), "a directory is not a walk entry");
        let reported = dir.path().join("notes/a.md");
        assert_eq!(fs.relative_path(".", &reported.to_string_lossy()), Some("notes/a.md".to_owned()));
        assert_eq!(fs.relative_path(".", "/elsewhere/a.md"), None);
        let mut buf = b"left over".to_vec();
        fs.read_into(".", "notes/a.md", &mut buf).expect("read");
        assert_eq!(buf, b"abc", "the buffer is cleared first");
    }

    #[test]
    fn root_status_distinguishes_missing_and_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "f.md", "x");
        let fs = LocalFilesystem::new(dir.path());
        assert_eq!(fs.root_status("."), RootStatus::Directory);
        assert_eq!(fs.root_status("f.md"), RootStatus::NotADirectory);
        assert_eq!(fs.root_status("nope"), RootStatus::Missing);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed_by_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        write(outside.path(), "x.md", "x");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).expect("symlink");
        let fs = LocalFilesystem::new(dir.path());
        let files = fs.walk(".", &WalkOptions::default()).expect("walk");
        assert!(files.is_empty(), "{files:?}");
    }

    /// Drives [`debounce`] with raw events sent by hand; returns the sender and what comes out.
    fn debouncer(
        timing: Debounce,
    ) -> (std::sync::mpsc::Sender<notify::Result<notify::Event>>, std::sync::mpsc::Receiver<WatchEvent>) {
        let (raw_tx, raw) = std::sync::mpsc::channel();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || debounce(&raw, &tx, timing));
        (raw_tx, rx)
    }

    fn modified(path: &str) -> notify::Result<notify::Event> {
        use notify::event::{EventKind, ModifyKind};
        Ok(notify::Event::new(EventKind::Modify(ModifyKind::Any)).add_path(PathBuf::from(path)))
    }

    fn next(rx: &std::sync::mpsc::Receiver<WatchEvent>) -> WatchEvent {
        rx.recv_timeout(Duration::from_secs(20)).expect("the debouncer speaks")
    }

    fn paths(list: &[&str]) -> Vec<String> {
        list.iter().map(|p| (*p).to_owned()).collect()
    }

    /// A burst settles, then makes one batch once quiet for the debounce; an event after the
    /// `Settled` is followed by another `Settled` with every pending path before the batch.
    /// Access events (our own reads) count for nothing; a dropped-events flag is an error.
    #[test]
    fn debouncing_settles_then_batches_and_settles_again_after_a_late_event() {
        // Long enough that a slow machine still sends each event within the window it means.
        let timing = Debounce {
            debounce: Duration::from_millis(1500),
            settle: Duration::from_millis(200),
            limit: Duration::from_secs(30),
        };
        let (raw, rx) = debouncer(timing);
        raw.send(modified("/r/b.md")).expect("send");
        raw.send(modified("/r/a.md")).expect("send");
        assert_eq!(next(&rx), WatchEvent::Settled(paths(&["/r/a.md", "/r/b.md"])));
        raw.send(modified("/r/c.md")).expect("send");
        assert_eq!(next(&rx), WatchEvent::Settled(paths(&["/r/a.md", "/r/b.md", "/r/c.md"])));
        assert_eq!(next(&rx), WatchEvent::Changed(paths(&["/r/a.md", "/r/b.md", "/r/c.md"])));

        let read = notify::Event::new(notify::EventKind::Access(notify::event::AccessKind::Any))
            .add_path(PathBuf::from("/r/a.md"));
        raw.send(Ok(read)).expect("send");
        assert!(rx.recv_timeout(Duration::from_millis(600)).is_err(), "a read is no change");

        let dropped = notify::Event::new(notify::EventKind::Other).set_flag(notify::event::Flag::Rescan);
        raw.send(Ok(dropped)).expect("send");
        assert!(matches!(next(&rx), WatchEvent::Error(_)));
        raw.send(modified("/r/d.md")).expect("send");
        assert_eq!(next(&rx), WatchEvent::Settled(paths(&["/r/d.md"])));
        assert_eq!(next(&rx), WatchEvent::Changed(paths(&["/r/d.md"])));
        drop(raw);
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_err(), "the thread ends with the watcher");
    }

    /// Changes that never stop still make batches once the first of them waited the limit, and
    /// such a batch too comes right after a `Settled` holding all of it.
    #[test]
    fn debouncing_batches_changes_that_never_stop_at_the_limit() {
        let timing = Debounce {
            debounce: Duration::from_millis(400),
            settle: Duration::from_millis(100),
            limit: Duration::from_millis(600),
        };
        let (raw, rx) = debouncer(timing);
        let sender = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(4) {
                raw.send(modified("/r/busy.md")).expect("send");
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let mut last = None;
        let batch = loop {
            match next(&rx) {
                WatchEvent::Changed(batch) => break batch,
                event => last = Some(event),
            }
        };
        assert!(!sender.is_finished(), "a batch came while the changes went on");
        assert_eq!(batch, paths(&["/r/busy.md"]));
        assert_eq!(last, Some(WatchEvent::Settled(batch)));
        sender.join().expect("sender");
    }

    /// What the watcher reported while its watches were set up (here, a dropped-events flag) is
    /// dropped once it is quiet; what comes after reaches the debouncer.
    #[test]
    fn events_from_setting_up_the_watches_are_dropped() {
        let (raw_tx, raw) = std::sync::mpsc::channel();
        let dropped = notify::Event::new(notify::EventKind::Other).set_flag(notify::event::Flag::Rescan);
        raw_tx.send(Ok(dropped)).expect("send");
        raw_tx.send(modified("/r/a.md")).expect("send");
        settle_registration(&raw);
        assert!(raw.try_recv().is_err(), "nothing left from the set-up");
        raw_tx.send(modified("/r/b.md")).expect("send");
        assert!(raw.try_recv().is_ok());
    }
}
