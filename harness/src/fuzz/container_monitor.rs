//! Watches a fuzzed container for what its sockets cannot show. Real servers
//! survive a crashing child: Postfix's master and Dovecot's master restart it and
//! the next connection is greeted as if nothing happened, so the container's log
//! is the only evidence. Two background tasks feed one bounded channel:
//!
//! - the log follower reads the container's stdout and stderr as they are written
//!   (lines capped at [`MAX_LINE`] bytes, the last [`TAIL_LINES`] kept for
//!   context) and reports every line that matches a crash signature;
//! - the state watcher asks the engine every [`POLL`] whether the container still
//!   runs, and reports an exit (status, OOM kill), a restart or its removal.
//!
//! Lines that arrive within [`COALESCE`] of each other are one event (a Dovecot
//! panic is followed by the master's "killed with signal 6"; one bug, one
//! finding), named by the first. Signatures are normalised — time stamps, pids,
//! addresses and other numbers stripped, the signal number and exit status kept
//! — so the same crash in another child has the same signature.

use super::oracle::{Monitor, MonitorEvent};
use futures_util::StreamExt;
use regex::Regex;
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testcontainers::bollard::errors::Error as BollardError;
use testcontainers::bollard::query_parameters::LogsOptions;
use testcontainers::bollard::Docker;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The longest log line kept; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 2048;
/// How many recent log lines are kept for a finding's context.
pub const TAIL_LINES: usize = 400;
/// How often the container's state is asked for.
pub const POLL: Duration = Duration::from_millis(500);
/// Signature lines closer together than this are one event.
pub const COALESCE: Duration = Duration::from_millis(300);
/// Most raw events waiting to be collected; more are dropped (and counted).
const CHANNEL: usize = 256;

/// What the patterns below look for, each with the name it is known by. Order
/// matters only for the name; every line is checked against all of them.
static CRASH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i:segfault)|\bsignal (?:11|6)\b|SIGSEGV|SIGABRT|SIGBUS|SIGILL|SIGFPE",
        // `Aborted` alone, as a shell reports an abort, never Dovecot's "Aborted login".
        r"|\bAborted(?: \(core dumped\))?\s*$",
        r"|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|stack smashing|double free",
        r"|free\(\): invalid|malloc\(\): |corrupted (?:size|double-linked)",
        // Postfix's master about a child: killed by any signal, or a non-zero exit.
        r"|\bkilled by signal \d+|\bpid \d+ exit status [1-9]\d*",
        // Dovecot's fatal errors and its master about a child.
        r"|\bFatal: |killed with signal \d+|dumped core|\(core dumped\)",
        r"|(?i:\bpanic:)",
    ))
    .expect("crash pattern")
});

/// A syslog-style time stamp and host at the start of a line (`Nov 21 03:10:57 mail `),
/// or an ISO 8601 one.
static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // Syslog's, with the host when one follows (`mail postfix/smtpd[9]: `).
        r"^(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)? (?:[\w.-]+ )?",
        r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)? )",
    ))
    .expect("prefix pattern")
});

/// What is stripped inside a line: the numbers to keep (signal, exit status) are
/// captured; session ids, hex and all other numbers become placeholders.
static VOLATILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(signal \d+|exit status \d+)",
        r"|<[A-Za-z0-9+/=]{8,}>|0x[0-9a-fA-F]+|\d+",
    ))
    .expect("volatile pattern")
});

/// The normalised signature of `line` when it reports a crash, else `None`.
pub fn crash_signature(line: &str) -> Option<String> {
    if !CRASH.is_match(line) {
        return None;
    }
    Some(normalise(line))
}

/// `line` without its time stamp, host, pids and other volatile numbers, at most
/// 200 characters: the same crash in another child or at another time reads the same.
pub fn normalise(line: &str) -> String {
    let line = PREFIX.replace(line.trim(), "");
    let out = VOLATILE.replace_all(&line, |c: &regex::Captures<'_>| match c.get(1) {
        Some(kept) => kept.as_str().to_string(),
        None if c[0].starts_with('<') => "<ID>".into(),
        None if c[0].starts_with("0x") => "0xN".into(),
        None => "N".into(),
    });
    out.chars().take(200).collect()
}

/// One log line or state change, as the tasks report it before coalescing.
#[derive(Debug, Clone)]
struct Raw {
    at: Instant,
    signature: String,
    line: String,
    exited: bool,
    seq: u64,
}

/// The recent log lines, numbered.
#[derive(Debug, Default)]
struct Tail {
    lines: VecDeque<(u64, String)>,
    next: u64,
}

impl Tail {
    fn push(&mut self, line: String) -> u64 {
        let seq = self.next;
        self.next += 1;
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back((seq, line));
        seq
    }
}

/// Follows one container's log and state; dropped (or [`ContainerMonitor::close`]d)
/// with the container. See the module documentation.
pub struct ContainerMonitor {
    docker: Docker,
    id: String,
    raw: mpsc::Receiver<Raw>,
    pending: Vec<Raw>,
    tail: Arc<Mutex<Tail>>,
    exit_seen: bool,
    tasks: Vec<JoinHandle<()>>,
}

impl ContainerMonitor {
    /// Starts following container `id` from now on (the log from the start of the
    /// current second; what came before is the server's start-up, not the fuzzer's
    /// doing).
    pub fn start(docker: Docker, id: &str) -> ContainerMonitor {
        let (sender, raw) = mpsc::channel(CHANNEL);
        let tail = Arc::new(Mutex::new(Tail::default()));
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX));
        let tasks = vec![
            tokio::spawn(follow_log(
                docker.clone(),
                id.to_string(),
                since,
                tail.clone(),
                sender.clone(),
            )),
            tokio::spawn(watch_state(docker.clone(), id.to_string(), sender)),
        ];
        ContainerMonitor {
            docker,
            id: id.to_string(),
            raw,
            pending: Vec::new(),
            tail,
            exit_seen: false,
            tasks,
        }
    }

    /// Stops following and returns every event not yet collected, whatever its
    /// age, plus the container's exit if it has exited and the watcher had not
    /// yet said so (a restart must not lose why it was needed).
    pub async fn close(mut self) -> Vec<MonitorEvent> {
        // Let the log follower deliver what the engine already has.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for task in &self.tasks {
            task.abort();
        }
        self.collect();
        if !self.exit_seen {
            if let Some(raw) = inspect_exit(&self.docker, &self.id).await {
                self.pending.push(raw);
            }
        }
        let pending = std::mem::take(&mut self.pending);
        self.group(pending)
    }

    /// Moves what the tasks sent into `pending`.
    fn collect(&mut self) {
        while let Ok(raw) = self.raw.try_recv() {
            self.exit_seen |= raw.exited;
            self.pending.push(raw);
        }
    }

    /// Coalesces raw events into events: each starts a group that takes every
    /// later one within [`COALESCE`] of the previous.
    fn group(&self, raws: Vec<Raw>) -> Vec<MonitorEvent> {
        let mut out: Vec<(MonitorEvent, Instant)> = Vec::new();
        for raw in raws {
            if let Some((event, last)) = out.last_mut() {
                if raw.at.saturating_duration_since(*last) <= COALESCE {
                    event.exited |= raw.exited;
                    if event.also.len() < 16 {
                        event.also.push(raw.line);
                    }
                    *last = raw.at;
                    continue;
                }
            }
            let at = raw.at;
            out.push((
                MonitorEvent {
                    at,
                    signature: raw.signature,
                    line: raw.line,
                    also: Vec::new(),
                    exited: raw.exited,
                    log: Vec::new(),
                },
                at,
            ));
            let seq = raw.seq;
            if let Some((event, _)) = out.last_mut() {
                event.log = self.around(seq);
            }
        }
        out.into_iter().map(|(event, _)| event).collect()
    }

    /// Up to 40 lines before line `seq` and 20 after it, as far as still kept.
    fn around(&self, seq: u64) -> Vec<String> {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        if seq == u64::MAX {
            // A state change: the last lines of the log.
            let skip = tail.lines.len().saturating_sub(40);
            return tail
                .lines
                .iter()
                .skip(skip)
                .map(|(_, l)| l.clone())
                .collect();
        }
        tail.lines
            .iter()
            .filter(|(n, _)| *n + 40 >= seq && *n <= seq + 20)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// The container this monitor follows.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Monitor for ContainerMonitor {
    fn events(&mut self) -> Vec<MonitorEvent> {
        self.collect();
        // A group is complete once its last line is older than COALESCE.
        let Some(last) = self.pending.last().map(|r| r.at) else {
            return Vec::new();
        };
        if last.elapsed() <= COALESCE {
            return Vec::new();
        }
        let pending = std::mem::take(&mut self.pending);
        self.group(pending)
    }
}

impl Drop for ContainerMonitor {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Reads the container's log as it is written, line by line (capped), into the
/// tail, and sends the lines that match a crash signature.
async fn follow_log(
    docker: Docker,
    id: String,
    since: i32,
    tail: Arc<Mutex<Tail>>,
    sender: mpsc::Sender<Raw>,
) {
    let options = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        since,
        ..LogsOptions::default()
    };
    let mut stream = docker.logs(&id, Some(options));
    let mut line: Vec<u8> = Vec::new();
    let mut overlong = false;
    while let Some(Ok(frame)) = stream.next().await {
        for &byte in frame.as_ref() {
            if byte == b'\n' {
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                line.clear();
                overlong = false;
                let signature = crash_signature(&text);
                let seq = tail
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(text.clone());
                if let Some(signature) = signature {
                    let _ = sender.try_send(Raw {
                        at: Instant::now(),
                        signature: format!("log:{signature}"),
                        line: text,
                        exited: false,
                        seq,
                    });
                }
            } else if line.len() < MAX_LINE {
                line.push(byte);
            } else if !overlong {
                overlong = true;
            }
        }
    }
}

/// Asks the engine every [`POLL`] whether the container runs; sends its exit (or
/// removal) and stops, or sends each restart.
async fn watch_state(docker: Docker, id: String, sender: mpsc::Sender<Raw>) {
    let mut restarts: Option<i64> = None;
    loop {
        tokio::time::sleep(POLL).await;
        let inspect =
            tokio::time::timeout(Duration::from_secs(10), docker.inspect_container(&id, None))
                .await;
        match inspect {
            Ok(Ok(info)) => {
                let state = info.state.unwrap_or_default();
                if !state.running.unwrap_or(false) && !state.restarting.unwrap_or(false) {
                    let _ = sender.try_send(exit_event(
                        state.exit_code.unwrap_or(-1),
                        state.oom_killed.unwrap_or(false),
                    ));
                    return;
                }
                let count = info.restart_count.unwrap_or(0);
                if restarts.is_some_and(|before| count > before) {
                    let _ = sender.try_send(Raw {
                        at: Instant::now(),
                        signature: "container:restarted".into(),
                        line: format!("the container was restarted ({count} restart(s))"),
                        exited: true,
                        seq: u64::MAX,
                    });
                }
                restarts = Some(count);
            }
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => {
                let _ = sender.try_send(Raw {
                    at: Instant::now(),
                    signature: "container:gone".into(),
                    line: "the container no longer exists".into(),
                    exited: true,
                    seq: u64::MAX,
                });
                return;
            }
            // The engine is busy or briefly unreachable: ask again.
            Ok(Err(_)) | Err(_) => {}
        }
    }
}

/// The container's exit, if it is not running.
async fn inspect_exit(docker: &Docker, id: &str) -> Option<Raw> {
    let info = tokio::time::timeout(Duration::from_secs(10), docker.inspect_container(id, None))
        .await
        .ok()?
        .ok()?;
    let state = info.state.unwrap_or_default();
    if state.running.unwrap_or(false) {
        return None;
    }
    Some(exit_event(
        state.exit_code.unwrap_or(-1),
        state.oom_killed.unwrap_or(false),
    ))
}

fn exit_event(code: i64, oom: bool) -> Raw {
    let (signature, line) = if oom {
        (
            "container:oom-killed".to_string(),
            format!("the container was killed for lack of memory (OOMKilled, exit status {code})"),
        )
    } else {
        (
            format!("container:exited with status {code}"),
            format!("the container exited with status {code}"),
        )
    };
    Raw {
        at: Instant::now(),
        signature,
        line,
        exited: true,
        seq: u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_postfix_and_dovecot_crash_lines() {
        let postfix = "Nov 21 03:10:57 mail postfix/master[1]: warning: process /usr/lib/postfix/sbin/smtpd pid 103 killed by signal 11";
        assert_eq!(
            crash_signature(postfix).as_deref(),
            Some("postfix/master[N]: warning: process /usr/lib/postfix/sbin/smtpd pid N killed by signal 11")
        );
        let exit = "Nov 21 03:10:57 mail postfix/master[1]: warning: process /usr/lib/postfix/sbin/smtpd pid 4711 exit status 1";
        assert_eq!(
            crash_signature(exit).as_deref(),
            Some("postfix/master[N]: warning: process /usr/lib/postfix/sbin/smtpd pid N exit status 1")
        );
        let dovecot = "Nov 21 03:11:02 master: Error: service(imap-login): child 77 killed with signal 6 (core dumps disabled - https://dovecot.org/bugreport.html#coredumps)";
        assert_eq!(
            crash_signature(dovecot).as_deref(),
            Some("master: Error: service(imap-login): child N killed with signal 6 (core dumps disabled - https://dovecot.org/bugreport.html#coredumps)")
        );
        for line in [
            "Nov 21 03:11:02 imap(alice)<81><AbCdEfGh1234>: Panic: file istream.c: line 3: assertion failed",
            "Nov 21 03:11:02 imap-login: Fatal: master: service(imap-login): child 12 returned error 89",
            "==12==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000011",
            "*** stack smashing detected ***: terminated",
            "free(): double free detected in tcache 2",
            "Aborted (core dumped)",
            "kernel: smtpd[12]: segfault at 0 ip 000055 sp 00007ff error 4",
        ] {
            assert!(crash_signature(line).is_some(), "{line}");
        }
    }

    #[test]
    fn ignores_what_busy_servers_log_normally() {
        for line in [
            "Nov 21 03:11:02 imap-login: Info: Aborted login (no auth attempts in 0 secs): user=<>, rip=172.17.0.1",
            "Nov 21 03:10:56 mail postfix/smtpd[103]: connect from unknown[172.17.0.1]",
            "Nov 21 03:10:56 mail postfix/smtpd[103]: lost connection after STARTTLS from unknown[172.17.0.1]",
            "Nov 21 03:10:56 mail postfix/smtpd[103]: warning: unknown[172.17.0.1]: SASL PLAIN authentication failed: authentication failure",
            "Nov 21 03:10:56 mail postfix/anvil[106]: statistics: max connection rate 60/60s for (smtp:172.17.0.1) at Nov 21 03:10:56",
            "Nov 21 03:11:02 pop3-login: Info: Disconnected: Too many invalid commands (no auth attempts in 0 secs)",
            "Nov 21 03:10:53 mail postfix/master[1]: daemon started -- version 3.7.11",
            "Nov 21 03:10:57 mail postfix/master[1]: warning: process /usr/lib/postfix/sbin/smtpd pid 103 exit status 0",
            "Nov 21 03:10:57 mail postfix/smtpd[3]: disconnect from unknown[172.17.0.1] ehlo=1 starttls=1 quit=1 commands=3",
        ] {
            assert_eq!(crash_signature(line), None, "{line}");
        }
    }

    #[test]
    fn one_bug_one_signature() {
        let a = crash_signature("Nov 21 03:10:57 mail postfix/master[1]: warning: process /usr/lib/postfix/sbin/smtpd pid 103 killed by signal 11");
        let b = crash_signature("Dec  1 23:59:01 mail postfix/master[1]: warning: process /usr/lib/postfix/sbin/smtpd pid 99812 killed by signal 11");
        let c = crash_signature("Dec  1 23:59:01 mail postfix/master[1]: warning: process /usr/lib/postfix/sbin/smtpd pid 99812 killed by signal 6");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            normalise("2024-05-01T12:00:00.123Z imap(alice)<81><AbCdEfGh1234>: Panic: at 0x7f00ab"),
            "imap(alice)<N><ID>: Panic: at 0xN"
        );
    }
}
