//! Test data shared by the kernel's integration tests: the corpus beside the repository.

use std::path::{Path, PathBuf};

/// Every Markdown file under `../shared/corpora`, sorted; `None` when the corpus is not there.
pub fn corpus_markdown_files() -> Option<Vec<PathBuf>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora");
    if !root.is_dir() {
        return None;
    }
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    Some(files)
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}
