//! The walk on Unix: directories listed with `getdents`, files stat'ed relative to their
//! directory, ignore files matched with the `ignore` crate's gitignore matcher.
//!
//! It lists what the `ignore` crate's walker lists as the adapter configures it (hidden entries
//! walked, no parent directories' ignore files, `.gitignore` honoured outside git repositories
//! too) and costs less: the `ignore` walker stats every file by its whole path from the working
//! directory, so the kernel resolves every component of it again, and opens every directory
//! through the C library, which stats it once more. Here a file is stat'ed by its name in the
//! directory just listed, and a directory costs its open, its reads and its close. At 50,000
//! files in 34,000 directories a `scan --changed` that finds nothing changed (mostly the walk)
//! spends ~18% less system time (0.455 → 0.375 s, median of ten).
//!
//! Precedence of ignore files, as in the `ignore` crate: a match in the caller's ignore file
//! (`.skillmapignore`) decides before one in `.ignore`, which decides before `.gitignore`, which
//! decides before `.git/info/exclude`; for each, the nearest directory's file decides first, and a
//! whitelist (`!pattern`) match stops the search like an ignore match. The extra patterns are
//! applied on top: what they match is left out whatever the files say.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat};
use sm_kernel::ports::{WalkOptions, WalkedFile};

/// Ignore files found in one directory, and those of the directories above it (up to the root).
struct Rules {
    custom: Gitignore,
    ignore: Gitignore,
    git: Gitignore,
    exclude: Gitignore,
    parent: Option<Arc<Rules>>,
}

impl Rules {
    /// Whether `rel` (relative to the walk's root) is ignored by the files of this directory or of
    /// those above it.
    fn ignores(self: &Arc<Self>, rel: &Path, is_dir: bool) -> bool {
        let (mut custom, mut ignore, mut git, mut exclude) = (Match::None, Match::None, Match::None, Match::None);
        let mut level = Some(self);
        while let Some(rules) = level {
            if custom.is_none() {
                custom = rules.custom.matched(rel, is_dir);
            }
            if ignore.is_none() {
                ignore = rules.ignore.matched(rel, is_dir);
            }
            if git.is_none() {
                git = rules.git.matched(rel, is_dir);
            }
            if exclude.is_none() {
                exclude = rules.exclude.matched(rel, is_dir);
            }
            level = rules.parent.as_ref();
        }
        custom.or(ignore).or(git).or(exclude).is_ignore()
    }
}

/// A directory waiting to be listed.
struct Job {
    /// Its path to open (the root joined with `rel`).
    path: PathBuf,
    /// Its path relative to the root (empty for the root).
    rel: PathBuf,
    rules: Option<Arc<Rules>>,
    /// Device and inode of it and the directories above it, when symbolic links are followed
    /// (a link to one of them is a loop and is not walked).
    ancestors: Arc<Vec<(u64, u64)>>,
}

/// The walk's shared state: directories to list, and how many are being listed.
struct Queue {
    state: Mutex<(Vec<Job>, usize)>,
    changed: Condvar,
}

impl Queue {
    /// The next directory to list, waiting while others are being listed; `None` once there is
    /// nothing left.
    fn take(&self) -> Option<Job> {
        let mut state = self.state.lock().expect("the walk's queue is never poisoned");
        loop {
            if let Some(job) = state.0.pop() {
                state.1 += 1;
                return Some(job);
            }
            if state.1 == 0 {
                return None;
            }
            state = self.changed.wait(state).expect("the walk's queue is never poisoned");
        }
    }

    /// Adds the subdirectories of a listed directory and marks it done.
    fn done(&self, found: Vec<Job>) {
        let mut state = self.state.lock().expect("the walk's queue is never poisoned");
        state.0.extend(found);
        state.1 -= 1;
        // Waiters wait for work or for the end: both may have come.
        self.changed.notify_all();
    }
}

/// Walks `root` with `threads` threads; the files found, unsorted.
pub(crate) fn walk(root: &Path, options: &WalkOptions, extra: &Gitignore, threads: usize) -> Vec<WalkedFile> {
    let ancestors = if options.follow_symlinks {
        rustix::fs::stat(root).map(|st| vec![dev_ino(&st)]).unwrap_or_default()
    } else {
        Vec::new()
    };
    let first = Job { path: root.to_path_buf(), rel: PathBuf::new(), rules: None, ancestors: Arc::new(ancestors) };
    let queue = Queue { state: Mutex::new((vec![first], 0)), changed: Condvar::new() };
    let found: Mutex<Vec<WalkedFile>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut files = Vec::new();
                while let Some(job) = queue.take() {
                    let dirs = list(&job, options, extra, &mut files);
                    queue.done(dirs);
                }
                found.lock().expect("the walk's results are never poisoned").append(&mut files);
            });
        }
    });
    found.into_inner().expect("the walk's threads have finished")
}

/// Lists one directory: its files go to `files`, its subdirectories are returned. A directory
/// that cannot be read is skipped, as is an entry that vanished meanwhile.
fn list(job: &Job, options: &WalkOptions, extra: &Gitignore, files: &mut Vec<WalkedFile>) -> Vec<Job> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::open(&job.path, flags, Mode::empty()) else {
        return Vec::new();
    };
    let Ok(mut dir) = Dir::new(fd) else {
        return Vec::new();
    };
    let mut entries: Vec<(CString, FileType)> = Vec::new();
    while let Some(entry) = dir.read() {
        let Ok(entry) = entry else { break };
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        entries.push((name.to_owned(), entry.file_type()));
    }
    let Ok(fd) = dir.fd() else {
        return Vec::new();
    };
    let rules = rules_for(job, &entries, options);
    let mut dirs = Vec::new();
    for (name, file_type) in entries {
        let name_os = OsStr::from_bytes(name.to_bytes());
        if name_os == ".git" {
            continue;
        }
        let stat_at = |flags: AtFlags| rustix::fs::statat(fd, name.as_c_str(), flags).ok();
        let mut file_type = file_type;
        let mut stat = None;
        if file_type == FileType::Unknown {
            // Some filesystems do not say in the listing.
            stat = stat_at(AtFlags::SYMLINK_NOFOLLOW);
            file_type = stat.as_ref().map_or(FileType::Unknown, |st| FileType::from_raw_mode(st.st_mode as _));
        }
        let link = file_type == FileType::Symlink;
        if link {
            if !options.follow_symlinks {
                continue;
            }
            stat = stat_at(AtFlags::empty());
            file_type = stat.as_ref().map_or(FileType::Unknown, |st| FileType::from_raw_mode(st.st_mode as _));
        }
        let is_dir = match file_type {
            FileType::Directory => true,
            FileType::RegularFile => false,
            _ => continue,
        };
        let rel = job.rel.join(name_os);
        if rules.as_ref().is_some_and(|rules| rules.ignores(&rel, is_dir)) || extra.matched(&rel, is_dir).is_ignore() {
            continue;
        }
        if is_dir {
            let ancestors = if options.follow_symlinks {
                let Some(st) = stat.or_else(|| stat_at(AtFlags::empty())) else { continue };
                // As in the `ignore` crate, only a link is checked: a directory reached through
                // one may itself be an ancestor, and its own links are then caught.
                if link && job.ancestors.contains(&dev_ino(&st)) {
                    continue;
                }
                let mut chain = Vec::with_capacity(job.ancestors.len() + 1);
                chain.extend_from_slice(&job.ancestors);
                chain.push(dev_ino(&st));
                Arc::new(chain)
            } else {
                Arc::clone(&job.ancestors)
            };
            dirs.push(Job { path: job.path.join(name_os), rel, rules: rules.clone(), ancestors });
        } else {
            let Some(st) = stat.or_else(|| stat_at(AtFlags::SYMLINK_NOFOLLOW)) else { continue };
            files.push(WalkedFile { path: crate::to_posix(&rel), size: st.st_size as u64, mtime_ms: mtime_ms(&st) });
        }
    }
    dirs
}

/// The rules that apply inside `job`'s directory: its parent's, under the ignore files it holds
/// (a new level only when it holds one).
fn rules_for(job: &Job, entries: &[(CString, FileType)], options: &WalkOptions) -> Option<Arc<Rules>> {
    let has = |wanted: &str| !wanted.is_empty() && entries.iter().any(|(name, _)| name.to_bytes() == wanted.as_bytes());
    let (custom, ignore, git, dot_git) =
        (has(&options.ignore_file_name), has(".ignore"), has(".gitignore"), has(".git"));
    if !(custom || ignore || git || dot_git) {
        return job.rules.clone();
    }
    // Matched against root-relative paths: rooted at `.` for the root, else at the directory.
    let base = if job.rel.as_os_str().is_empty() { Path::new(".") } else { job.rel.as_path() };
    let load = |present: bool, file: PathBuf| if present { gitignore(base, &file) } else { Gitignore::empty() };
    let exclude = if dot_git {
        git_dir(&job.path).map_or_else(Gitignore::empty, |dir| gitignore(base, &dir.join("info/exclude")))
    } else {
        Gitignore::empty()
    };
    Some(Arc::new(Rules {
        custom: load(custom, job.path.join(&options.ignore_file_name)),
        ignore: load(ignore, job.path.join(".ignore")),
        git: load(git, job.path.join(".gitignore")),
        exclude,
        parent: job.rules.clone(),
    }))
}

/// The matcher of the ignore file `file` for paths under `base`; lines that do not parse are
/// skipped, a file that cannot be read matches nothing (as the `ignore` crate does).
fn gitignore(base: &Path, file: &Path) -> Gitignore {
    if !file.exists() {
        return Gitignore::empty();
    }
    let mut builder = GitignoreBuilder::new(base);
    let _ = builder.add(file);
    builder.build().unwrap_or_else(|_| Gitignore::empty())
}

/// The git directory whose `info/exclude` applies in `dir` (which holds `.git`): `.git` itself,
/// or for a worktree (`.git` is a file naming its git directory) that directory's common one.
fn git_dir(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if !std::fs::metadata(&dot_git).ok()?.is_file() {
        return Some(dot_git);
    }
    let first_line = |path: &Path| std::fs::read_to_string(path).ok()?.lines().next().map(str::to_owned);
    let real = PathBuf::from(first_line(&dot_git)?.strip_prefix("gitdir: ")?);
    let common = first_line(&real.join("commondir"))?;
    Some(if common.starts_with('.') { real.join(common) } else { PathBuf::from(common) })
}

// The fields' types differ between platforms: the casts are no-ops on some only.
#[allow(clippy::unnecessary_cast)]
fn dev_ino(st: &Stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

/// Modification time in ms since the epoch; 0 before the epoch (as `crate::mtime_ms`).
#[allow(clippy::unnecessary_cast)]
fn mtime_ms(st: &Stat) -> i64 {
    let (secs, nanos) = (st.st_mtime as i64, st.st_mtime_nsec as i64);
    if secs < 0 { 0 } else { secs * 1000 + nanos / 1_000_000 }
}
