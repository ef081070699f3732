//! Shared helpers: temp projects, running the real binary, reading the database.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub const SM: &str = env!("CARGO_BIN_EXE_sm");

pub struct Project {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("project");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::create_dir_all(&home).expect("mkdir");
        Self { _dir: dir, root, home }
    }

    pub fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> &Self {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).expect("read")
    }

    pub fn command(&self, bin: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(args).current_dir(&self.root).env("HOME", &self.home);
        for var in ["SKILL_MAP_SCOPE", "SKILL_MAP_JSON", "SKILL_MAP_DB", "SKILL_MAP_PROGRESS", "NO_COLOR"] {
            cmd.env_remove(var);
        }
        for var in ["SKILL_MAP_DISABLE_ALL_ADAPTERS", "SKILL_MAP_DISABLE_ALL_DETECTORS", "SKILL_MAP_DISABLE_ALL_RULES"]
        {
            cmd.env_remove(var);
        }
        cmd
    }

    pub fn sm(&self, args: &[&str]) -> Run {
        let out = self.command(SM, args).output().expect("run sm");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.root.join(".skill-map/skill-map.db")
    }

    pub fn db_count(&self, table: &str) -> i64 {
        db_count(&self.db(), table)
    }

    /// A small Claude project: one of each kind, one frontmatter reference.
    pub fn claude_project(&self) -> &Self {
        self.write(".claude/agents/reviewer.md", "---\nname: reviewer\ndescription: Reviews code.\n---\n\nReviews.\n")
            .write(".claude/commands/deploy.md", "---\nname: deploy\ndescription: Deploys.\n---\n\n# Deploy\n")
            .write(
                ".claude/skills/pdf/SKILL.md",
                "---\nname: pdf\ndescription: PDF tools.\nmetadata:\n  requires: [.claude/agents/reviewer.md]\n---\n\n# PDF\n",
            )
            .write("README.md", "# Project\n\nHello.\n")
    }
}

pub fn db_count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).expect("count")
}

pub fn validate(schema: &str, value: &Value) {
    let errors = sm_conformance::spec::validate(schema, value).expect("schema compiles");
    assert!(errors.is_empty(), "{schema}: {errors:?}");
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A project holding the spec's `rich` fixture, scanned into its database.
pub fn rich_project() -> Project {
    let p = Project::new();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/conformance/fixtures/rich"), &p.root);
    let scan = p.sm(&["scan"]);
    assert_eq!(scan.code, 1, "the rich fixture has one error issue: {}", scan.stderr);
    p
}

/// Compares `actual` with `tests/golden/<name>`; `UPDATE_GOLDEN=1` rewrites the file.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}; run with UPDATE_GOLDEN=1", path.display()));
    if expected != actual {
        let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{name} differs from its golden file at line {}:\n  expected: {:?}\n  actual:   {:?}\n(UPDATE_GOLDEN=1 to accept)",
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}
