//! Exit codes, errors, and the rules for what goes to stdout and stderr.
//!
//! `--json`: stdout holds exactly one JSON document, written completely and flushed (also when
//! piped); logs and progress go to stderr. Human mode: text from files is stripped of terminal
//! control characters before printing; colour only on a terminal and never with `--no-color` /
//! `NO_COLOR`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::{Value, json};

/// Documented exit codes (BLUEPRINT §8). 6–15 are reserved.
pub mod exit {
    pub const OK: u8 = 0;
    pub const ISSUES: u8 = 1;
    pub const OPERATIONAL: u8 = 2;
    #[allow(dead_code, reason = "reserved for sm job submit")]
    pub const DUPLICATE: u8 = 3;
    #[allow(dead_code, reason = "reserved for sm record")]
    pub const NONCE_MISMATCH: u8 = 4;
    pub const NOT_FOUND: u8 = 5;
}

/// A failed command: what to tell the user and which exit code to use.
#[derive(Debug)]
pub struct CliError {
    pub exit_code: u8,
    /// Stable kebab-case code for `--json` consumers.
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl CliError {
    pub fn operational(code: &'static str, message: impl Into<String>) -> Self {
        Self { exit_code: exit::OPERATIONAL, code, message: message.into(), details: Value::Null }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self { exit_code: exit::NOT_FOUND, code, message: message.into(), details: Value::Null }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// How this invocation prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
    pub color: bool,
}

impl Output {
    /// Writes a JSON document to stdout, complete and flushed.
    pub fn print_json(&self, value: &impl serde::Serialize) {
        let mut text = serde_json::to_string(value).expect("in-memory values always serialise");
        text.push('\n');
        write_stdout(text.as_bytes());
    }

    /// Writes human text to stdout.
    pub fn print_text(&self, text: &str) {
        write_stdout(text.as_bytes());
    }

    /// A note on stderr (suppressed by -q).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A detail on stderr shown with -v.
    pub fn verbose(&self, level: u8, text: &str) {
        if self.verbose >= level && !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Reports an error in the mode's format.
    pub fn error(&self, err: &CliError) {
        if self.json {
            self.print_json(&json!({
                "ok": false,
                "error": { "code": err.code, "message": err.message, "details": err.details }
            }));
        } else {
            let prefix = self.paint("error", "1;31");
            eprintln!("sm: {prefix}: {}", sanitize(&err.message));
        }
    }

    /// Wraps `text` in an ANSI style when colour is on.
    pub fn paint(&self, text: &str, style: &str) -> String {
        if self.color { format!("\x1b[{style}m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// `done in <elapsed>` on stderr.
    pub fn done_in(&self, elapsed: Duration) {
        self.note(&format!("done in {}", format_elapsed(elapsed)));
    }
}

/// Whether colour is allowed: a terminal on stderr, no `--no-color`, no `NO_COLOR`.
pub fn color_enabled(no_color_flag: bool) -> bool {
    let env_off = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color_flag && !env_off && std::io::stderr().is_terminal()
}

fn write_stdout(bytes: &[u8]) {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    // A closed pipe (`sm scan --json | head`) is the reader's choice, not our failure.
    let _ = lock.write_all(bytes).and_then(|()| lock.flush());
}

/// `<N>ms` below a second, `<N.N>s` below a minute, `<M>m <S>s` above.
pub fn format_elapsed(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Removes C0/C1 control characters (ESC included) except tab and newline.
pub fn sanitize(text: &str) -> String {
    text.chars().filter(|&c| c == '\n' || c == '\t' || !(c.is_control())).collect()
}

/// Left-aligned columns separated by two spaces; numeric columns (by index) right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>], numeric: &[usize]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = i + 1 == cells.len();
            if numeric.contains(&i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if !last {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                s.push_str("  ");
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Asks before a destructive step. `--yes` skips the question; without a terminal on stdin and
/// without `--yes` the step is refused (exit 2) rather than guessed.
pub fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::operational(
            "confirmation-required",
            format!("{question} — refusing without --yes (stdin is not a terminal)"),
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::operational("confirmation-required", format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(CliError::operational("aborted", "aborted; nothing changed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_formats() {
        assert_eq!(format_elapsed(Duration::from_millis(42)), "42ms");
        assert_eq!(format_elapsed(Duration::from_millis(1540)), "1.5s");
        assert_eq!(format_elapsed(Duration::from_secs(125)), "2m 5s");
    }

    #[test]
    fn sanitize_strips_escapes() {
        assert_eq!(sanitize("a\x1b[31mb\u{7}c\n"), "a[31mbc\n");
    }
}
