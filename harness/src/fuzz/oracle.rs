//! The oracles: from how a session ended and whether the server still greets a new
//! connection, what (if anything) went wrong, as a kind, a detail and a signature
//! that de-duplicates findings. A timeout of ours is never a finding by itself:
//! only silence that survives resynchronisation, or a server that stops greeting.
//!
//! Targets that know more about themselves (a container's exit status, crash lines
//! in its log) report through [`Monitor`]; its findings join the same judgement.

use super::case::Case;
use super::exec::{dial, Event, Run};
use crate::session::{read_answer, Governor, SessionError, SessionOptions, Transcript, Want};
use crate::target::Endpoint;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What kind of misbehaviour a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The server (not just the session) died: new connections are refused or
    /// never greeted, or the monitor saw it exit or log a crash.
    Crash,
    /// The session stopped getting answers while the connection stayed open.
    Hang,
    /// An answer the protocol grammar does not allow.
    Grammar,
}

impl Kind {
    /// `crash`, `hang`, `grammar`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Crash => "crash",
            Kind::Hang => "hang",
            Kind::Grammar => "grammar",
        }
    }
}

/// What the oracles concluded about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The kind.
    pub kind: Kind,
    /// One line for people.
    pub detail: String,
    /// Equal for the same bug: kind, protocol, phase and the command that triggered it.
    pub signature: String,
}

/// Whether a new connection is still greeted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Greeted.
    Alive,
    /// The connection was refused.
    Refused(String),
    /// Connected, but no greeting (silence, close, garbage).
    NoGreeting(String),
}

/// What a target can tell about itself beyond its sockets: a container's exit
/// or restart, crash lines in its log (segfault, abort, AddressSanitizer). The
/// embedded server has no such channel; the container targets plug in here.
pub trait Monitor: Send {
    /// Events since the last call; an empty list when all is well. Must not block.
    fn events(&mut self) -> Vec<MonitorEvent>;
}

/// One crash a [`Monitor`] saw (several log lines close together are one event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEvent {
    /// When the monitor saw it: shortly after the crash itself (log and state
    /// are read with a delay), which is why attribution uses a window.
    pub at: std::time::Instant,
    /// The normalised signature: `log:<line without time, pids, numbers>` or
    /// `container:exited with status N`, `container:oom-killed`, ...
    pub signature: String,
    /// The line as logged (or a description of the state change).
    pub line: String,
    /// Further matching lines that came with it.
    pub also: Vec<String>,
    /// Whether the container stopped (exited, was killed, restarted or removed).
    pub exited: bool,
    /// The container log around the line, as far as kept.
    pub log: Vec<String>,
}

/// Connects anew, once, through `governor` (the endpoint's budget), and waits
/// for the greeting: a refusal is reported as it is, never retried, since a
/// server that stopped accepting connections is what this oracle looks for.
pub async fn probe(
    endpoint: &Endpoint,
    governor: &Arc<Governor>,
    options: &SessionOptions,
) -> Liveness {
    let conn = governor
        .connect_once(&dial(endpoint), options, Transcript::new())
        .await;
    let mut conn = match conn {
        Ok(conn) => conn,
        Err((SessionError::Connect { source, .. }, _)) => {
            return Liveness::Refused(source.to_string())
        }
        Err((e, _)) => return Liveness::NoGreeting(e.to_string()),
    };
    let protocol = endpoint.scheme.protocol();
    match read_answer(&mut conn, protocol, &Want::greeting(protocol)).await {
        Ok(_) => Liveness::Alive,
        Err(e) => Liveness::NoGreeting(e.to_string()),
    }
}

/// Judges one run: grammar violations at once; silence, closes, failed handshakes
/// and missing greetings by probing the server with a new connection.
pub async fn judge(
    case: &Case,
    run: &Run,
    endpoint: &Endpoint,
    governor: &Arc<Governor>,
    options: &SessionOptions,
) -> Option<Verdict> {
    let signature = |kind: Kind| {
        let verb = run
            .event
            .step()
            .and_then(|i| run.verbs.get(i))
            .map_or("CONNECT", String::as_str);
        format!(
            "{}:{}:{}:{}",
            kind.name(),
            case.protocol.name(),
            run.phase,
            verb
        )
    };
    let verdict = |kind: Kind, detail: String| {
        Some(Verdict {
            kind,
            signature: signature(kind),
            detail,
        })
    };
    match &run.event {
        Event::Completed => None,
        Event::Unreadable { step, error } => {
            verdict(Kind::Grammar, format!("the answer to step {} breaks the grammar: {error}", step + 1))
        }
        // The server was already gone before this session sent anything.
        Event::Refused(_) => None,
        event => match probe(endpoint, governor, &patient(options)).await {
            Liveness::Alive => match event {
                Event::Silent { step } => verdict(
                    Kind::Hang,
                    format!("no answer to step {} within the deadline, nor to the resynchronisation; new connections are still greeted", step + 1),
                ),
                _ => None,
            },
            Liveness::Refused(why) => verdict(
                Kind::Crash,
                format!("{}; a new connection is then refused ({why})", describe(event)),
            ),
            Liveness::NoGreeting(why) => verdict(
                Kind::Crash,
                format!("{}; a new connection is then not greeted ({why})", describe(event)),
            ),
        },
    }
}

/// The deadline of the liveness probe: a crash is a server that does not greet
/// at all, not one that greets late because it is busy (Dovecot, forking a login
/// process per connection, takes over a second under 64 concurrent sessions).
pub const LIVENESS_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// `options` with at least [`LIVENESS_PATIENCE`] as the deadline.
fn patient(options: &SessionOptions) -> SessionOptions {
    SessionOptions {
        timeout: options.timeout.max(LIVENESS_PATIENCE),
        ..options.clone()
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::Silent { step } => format!("the server went silent at step {}", step + 1),
        Event::Closed { step } => format!("the server dropped the connection at step {}", step + 1),
        Event::TlsFailed { step, error } => {
            format!("the TLS handshake at step {} failed ({error})", step + 1)
        }
        Event::NoGreeting(why) => format!("the session was not greeted ({why})"),
        Event::Refused(why) => format!("the connection was refused ({why})"),
        Event::Completed => "the session completed".into(),
        Event::Unreadable { step, error } => {
            format!("unreadable answer at step {}: {error}", step + 1)
        }
    }
}
