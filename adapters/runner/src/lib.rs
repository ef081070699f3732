//! `sm-adapter-runner`: the RunnerPort as a subprocess under tokio.
//!
//! Spawns the configured agent CLI (e.g. `claude -p`), writes the prompt to its stdin, captures
//! stdout/stderr and enforces a timeout (the child is killed when it expires). Tokio stays inside
//! this crate and the CLI; it never crosses into the kernel or a plugin.

use std::process::Stdio;
use std::time::{Duration, Instant};

use sm_kernel::ports::{RunOutcome, RunRequest, RunnerError, RunnerPort};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Runs real processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct SubprocessRunner;

#[async_trait::async_trait]
impl RunnerPort for SubprocessRunner {
    async fn run(&self, request: RunRequest) -> Result<RunOutcome, RunnerError> {
        let started = Instant::now();
        let mut child = Command::new(&request.program)
            .args(&request.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RunnerError::Spawn { program: request.program.clone(), message: e.to_string() })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A child that exits without reading its input is not an error of ours.
            let _ = stdin.write_all(request.stdin.as_bytes()).await;
        }
        let waited = tokio::time::timeout(Duration::from_millis(request.timeout_ms), child.wait_with_output()).await;
        let output = match waited {
            Ok(result) => result.map_err(|e| RunnerError::Io(e.to_string()))?,
            Err(_) => {
                return Err(RunnerError::Timeout { program: request.program, timeout_ms: request.timeout_ms });
            }
        };
        Ok(RunOutcome {
            exit_code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn req(args: &[&str], stdin: &str, timeout_ms: u64) -> RunRequest {
        RunRequest {
            program: "sh".into(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            stdin: stdin.into(),
            timeout_ms,
        }
    }

    #[tokio::test]
    async fn captures_output_and_exit_code() {
        let out = SubprocessRunner.run(req(&["-c", "cat; echo err >&2; exit 3"], "prompt", 10_000)).await;
        let out = out.expect("sh runs");
        assert_eq!(out.stdout, "prompt");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.exit_code, Some(3));
    }

    #[tokio::test]
    async fn times_out_and_reports_missing_programs() {
        let slow = SubprocessRunner.run(req(&["-c", "sleep 5"], "", 100)).await;
        assert!(matches!(slow, Err(RunnerError::Timeout { .. })));
        let missing = SubprocessRunner
            .run(RunRequest {
                program: "sm-no-such-program".into(),
                args: vec![],
                stdin: String::new(),
                timeout_ms: 1000,
            })
            .await;
        assert!(matches!(missing, Err(RunnerError::Spawn { .. })));
    }
}
