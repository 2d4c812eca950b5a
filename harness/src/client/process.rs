//! Runs a client command: spawned with its output captured (capped), and killed
//! when the test is over or its deadline passes, so no client is ever left running.

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
    output: Vec<JoinHandle<Vec<u8>>>,
}

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
        let mut child = Command::new(&program)
            .args(&argv[1..])
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
        Ok(ClientProcess { child, output })
    }

    /// Waits for the client to exit by itself (it gave up before connecting).
    pub async fn exited(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Kills the client (if it still runs), reaps it and collects its output.
    pub async fn finish(mut self) -> Ended {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            _ => {
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
