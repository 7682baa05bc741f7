//! Supervised external programs (pict-rs `process.rs` shape): explicit argument vectors (never a
//! shell), no stdin, `kill_on_drop(true)` so a dropped or cancelled future kills the child, a
//! timeout that kills, and stderr captured into [`MediaError`].

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::MediaError;

/// How many trailing stderr lines an error message keeps: enough for ffmpeg's cause, short
/// enough for a job result.
pub const STDERR_TAIL_LINES: usize = 20;

/// Where the programs live. Defaults to `ffmpeg` / `ffprobe` on `PATH`.
#[derive(Debug, Clone)]
pub struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
        }
    }
}

/// A command with its stdio set up for supervision: stdin closed, stdout/stderr piped.
pub(crate) fn command(program: &std::path::Path, args: &[OsString]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

pub(crate) fn spawn(program: &std::path::Path, args: &[OsString]) -> Result<Child, MediaError> {
    command(program, args).spawn().map_err(|source| {
        let program = program.display().to_string();
        if source.kind() == std::io::ErrorKind::NotFound {
            MediaError::ToolMissing { program }
        } else {
            MediaError::Spawn { program, source }
        }
    })
}

/// The output of a program that ran to completion.
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs `program` to completion, collecting stdout and stderr, killing it after `timeout`.
/// Only for programs with small outputs (ffprobe JSON, a poster frame's log).
pub(crate) async fn run(
    program: &std::path::Path,
    args: &[OsString],
    timeout: Duration,
) -> Result<Finished, MediaError> {
    let child = spawn(program, args)?;
    // Dropping `wait_with_output` on timeout drops the child, which kill_on_drop kills.
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => {
            let output = output?;
            Ok(Finished {
                status: output.status,
                stdout: output.stdout,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
        Err(_) => Err(MediaError::Timeout {
            program: program.display().to_string(),
            timeout,
        }),
    }
}

/// The failure error for a program that exited unsuccessfully.
pub(crate) fn failed(program: &std::path::Path, status: ExitStatus, stderr: &str) -> MediaError {
    let mut tail = StderrTail::default();
    for line in stderr.lines() {
        tail.push(line);
    }
    MediaError::Failed {
        program: program.display().to_string(),
        status: status.to_string(),
        stderr: tail.joined(),
    }
}

/// The last [`STDERR_TAIL_LINES`] non-empty lines of a program's stderr.
#[derive(Debug, Default)]
pub(crate) struct StderrTail {
    lines: VecDeque<String>,
}

impl StderrTail {
    pub fn push(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if self.lines.len() == STDERR_TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_owned());
    }

    pub fn joined(&self) -> String {
        self.lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_only_the_last_lines() {
        let mut tail = StderrTail::default();
        for i in 0..(STDERR_TAIL_LINES + 5) {
            tail.push(&format!("line {i}"));
        }
        tail.push("   ");
        let joined = tail.joined();
        assert_eq!(joined.lines().count(), STDERR_TAIL_LINES);
        assert!(joined.starts_with("line 5\n"));
        assert!(joined.ends_with(&format!("line {}", STDERR_TAIL_LINES + 4)));
    }

    #[tokio::test]
    async fn missing_program_is_a_typed_error() {
        let err = run(
            std::path::Path::new("studio-no-such-program"),
            &[],
            Duration::from_secs(5),
        )
        .await
        .err()
        .expect("must fail");
        assert_eq!(err.code(), "media_tool_missing");
    }

    #[tokio::test]
    async fn timeout_kills() {
        let started = std::time::Instant::now();
        let err = run(
            std::path::Path::new("sleep"),
            &["30".into()],
            Duration::from_millis(200),
        )
        .await
        .err()
        .expect("must time out");
        assert_eq!(err.code(), "media_timeout");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
