//! Runs a client command: spawned with its output captured (capped), and killed
//! when the test is over or its deadline passes, so no client is ever left running.
//!
//! The client starts in a process group of its own and the whole group is killed,
//! not just the process we started: a client command is often a shell or a wrapper
//! script whose children (the real client, a `sleep`) would otherwise outlive it.
//! The group is killed on completion, on timeout, and when the process is dropped
//! unfinished (Ctrl-C drops the run).

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Most bytes of a client's stdout plus stderr kept for the transcript.
const OUTPUT_CAP: usize = 4096;

/// How long a killed client gets to be reaped.
const REAP_GRACE: Duration = Duration::from_secs(2);

/// Why a client could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot run `{program}`: {source}")]
pub struct SpawnError {
    /// The program.
    pub program: String,
    /// What the OS said.
    pub source: std::io::Error,
}

/// A running client.
pub struct ClientProcess {
    child: Child,
    group: ProcessGroup,
    output: Vec<JoinHandle<Vec<u8>>>,
}

/// The client's process group; killed (SIGKILL) when dropped.
struct ProcessGroup {
    /// The group id (the id of the process we started, its leader); `None` once killed.
    id: Option<u32>,
}

impl ProcessGroup {
    /// Kills every process of the group. Called before the leader is reaped where
    /// possible: while any member lives, the id cannot be reused.
    fn kill(&mut self) {
        if let Some(id) = self.id.take() {
            kill_group(id);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(unix)]
fn kill_group(id: u32) {
    let pid = i32::try_from(id)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // ESRCH (the group is already empty) is the usual, harmless answer.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_id: u32) {}

/// How a client ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// Its exit status as text (`exit status: 0`, `killed`).
    pub status: String,
    /// The start of what it wrote to stdout and stderr.
    pub output: String,
}

impl ClientProcess {
    /// Starts `argv` in `dir` with `stdin` on its standard input.
    pub fn spawn(
        argv: &[String],
        dir: &std::path::Path,
        stdin: Option<&str>,
    ) -> Result<ClientProcess, SpawnError> {
        let program = argv.first().cloned().unwrap_or_default();
        let mut command = Command::new(&program);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command
            .args(argv.get(1..).unwrap_or_default())
            .current_dir(dir)
            .env("HOME", dir)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SpawnError {
                program: program.clone(),
                source,
            })?;
        let group = ProcessGroup { id: child.id() };
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let text = text.to_string();
            tokio::spawn(async move {
                let _ = pipe.write_all(text.as_bytes()).await;
            });
        }
        let mut output = Vec::new();
        if let Some(out) = child.stdout.take() {
            output.push(tokio::spawn(capped(out)));
        }
        if let Some(err) = child.stderr.take() {
            output.push(tokio::spawn(capped(err)));
        }
        Ok(ClientProcess {
            child,
            group,
            output,
        })
    }

    /// Waits for the client to exit by itself (it gave up before connecting).
    pub async fn exited(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Kills the client and everything it started (if still running), reaps it and
    /// collects its output.
    pub async fn finish(mut self) -> Ended {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => {
                // The client is gone, but what it left in the background is not.
                self.group.kill();
                status.to_string()
            }
            _ => {
                self.group.kill();
                let _ = self.child.start_kill();
                match tokio::time::timeout(REAP_GRACE, self.child.wait()).await {
                    Ok(Ok(_)) => "killed by the harness".to_string(),
                    _ => "could not be reaped".to_string(),
                }
            }
        };
        let mut output = Vec::new();
        for task in self.output {
            if let Ok(Ok(bytes)) = tokio::time::timeout(REAP_GRACE, task).await {
                output.extend_from_slice(&bytes);
            }
        }
        output.truncate(OUTPUT_CAP);
        Ended {
            status,
            output: String::from_utf8_lossy(&output).trim_end().to_string(),
        }
    }
}

/// Reads a pipe to its end, keeping at most [`OUTPUT_CAP`] bytes.
async fn capped(mut pipe: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 1024];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let room = OUTPUT_CAP.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
    kept
}
