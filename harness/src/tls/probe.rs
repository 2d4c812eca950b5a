//! One probe: a fresh connection brought to the start of TLS (after STARTTLS where
//! the scheme has it), one hand-built hello, and the server's answer read with a
//! deadline into a bounded buffer. Every byte goes to the probe's transcript.

use crate::checks::CheckContext;
use crate::session::conn::is_peer_gone;
use crate::session::{open_to_tls_start, PreambleError, Transcript};
use crate::tls::response::{self, Response, ResponseError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

/// What a probe sends.
#[derive(Debug, Clone)]
pub struct Probe {
    /// What the transcript calls it: `TLS 1.0 hello`, `RC4 suites at TLS 1.2`.
    pub label: String,
    /// The hello record, as encoded.
    pub hello: Vec<u8>,
    /// Whether to read the flight up to ServerHelloDone for its certificates.
    pub want_certificates: bool,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The server answered.
    Response(Response),
    /// The server closed the connection without answering: a refusal.
    Closed,
}

impl Answer {
    /// The ServerHello, if the server accepted.
    pub fn hello(&self) -> Option<&response::ServerHello> {
        match self {
            Answer::Response(Response::Hello(hello)) => Some(hello),
            _ => None,
        }
    }

    /// A line for details and transcripts.
    pub fn summary(&self) -> String {
        match self {
            Answer::Response(r) => r.summary(),
            Answer::Closed => "closed the connection".into(),
        }
    }
}

/// Why a probe could not be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The endpoint does not advertise STARTTLS: there is no TLS to probe.
    #[error("STARTTLS not offered, nothing to test")]
    NotOffered,
    /// Connecting or the STARTTLS exchange failed: a server that cannot be
    /// brought to TLS.
    #[error("could not reach the start of TLS: {0}")]
    Preamble(String),
    /// Connecting or the STARTTLS exchange was cut short by the harness's own
    /// trouble (a timeout, a socket error, a busy server).
    #[error("could not reach the start of TLS: {0}")]
    Lost(String),
    /// Nothing (or not enough) arrived before the deadline.
    #[error("timed out after {0} ms waiting for the server's answer to the ClientHello")]
    Timeout(u64),
    /// The connection was reset before the server answered: a lost connection,
    /// never a refusal (only an alert, a close or another version's ServerHello
    /// refuses).
    #[error("the connection was reset before the server answered the ClientHello ({0})")]
    Reset(String),
    /// A socket error.
    #[error("I/O error: {0}")]
    Io(String),
    /// The answer is not readable TLS.
    #[error(transparent)]
    Malformed(#[from] ResponseError),
}

impl ProbeError {
    /// Whether another connection may well get an answer: a reset, a timeout, a
    /// socket error (ours, such as too many open files) or a connection that could
    /// not be brought to TLS for one of those reasons.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProbeError::Timeout(_) | ProbeError::Reset(_) | ProbeError::Io(_) | ProbeError::Lost(_)
        )
    }
}

/// A probe's answer (or why there is none) and its transcript.
#[derive(Debug, Clone)]
pub struct ProbeRecord {
    /// What was sent.
    pub label: String,
    /// The answer.
    pub answer: Result<Answer, ProbeError>,
    /// Every byte of the connection.
    pub transcript: Transcript,
}

/// Runs one probe on its own connection.
pub async fn run(ctx: &CheckContext, probe: &Probe) -> ProbeRecord {
    let mut transcript = ctx.new_transcript();
    transcript.note(format!("probe: {}", probe.label));
    let answer = match open_to_tls_start(
        &ctx.governor,
        &ctx.endpoint,
        &ctx.client_name,
        ctx.session.clone(),
        transcript,
    )
    .await
    {
        Ok(plain) => {
            transcript = plain.transcript;
            exchange(plain.tcp, probe, ctx.session.timeout, &mut transcript).await
        }
        Err((PreambleError::NotOffered, t)) => {
            transcript = t;
            Err(ProbeError::NotOffered)
        }
        // A connect that fails where none ever succeeded (the governor retries
        // the others): nothing listens there, and another try will not change it.
        Err((PreambleError::Session(e), t)) if e.is_worth_retrying() => {
            transcript = t;
            Err(ProbeError::Lost(e.to_string()))
        }
        Err((e, t)) => {
            transcript = t;
            Err(ProbeError::Preamble(e.to_string()))
        }
    };
    match &answer {
        Ok(a) => transcript.note(a.summary()),
        Err(e) => transcript.note(e.to_string()),
    }
    ProbeRecord {
        label: probe.label.clone(),
        answer,
        transcript,
    }
}

async fn exchange(
    mut tcp: tokio::net::TcpStream,
    probe: &Probe,
    timeout: Duration,
    transcript: &mut Transcript,
) -> Result<Answer, ProbeError> {
    let ceiling = Instant::now() + timeout * crate::session::conn::ANSWER_CEILING_FACTOR;
    transcript.client(&probe.hello);
    let sent = timeout_at(Instant::now() + timeout, async {
        tcp.write_all(&probe.hello).await?;
        tcp.flush().await
    })
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(e)) if is_reset(&e) => return Err(ProbeError::Reset(e.to_string())),
        Ok(Err(e)) if is_peer_gone(&e) => return Ok(Answer::Closed),
        Ok(Err(e)) => return Err(ProbeError::Io(e.to_string())),
        Err(_) => return Err(ProbeError::Timeout(timeout.as_millis() as u64)),
    }
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(response) = response::parse(&buf, probe.want_certificates, false)? {
            return Ok(Answer::Response(response));
        }
        let deadline = (Instant::now() + timeout).min(ceiling);
        let closed = match timeout_at(deadline, tcp.read(&mut chunk)).await {
            Ok(Ok(0)) => true,
            Ok(Ok(n)) => {
                transcript.server(&chunk[..n]);
                buf.extend_from_slice(&chunk[..n]);
                false
            }
            Ok(Err(e)) if is_reset(&e) => {
                transcript.note(format!("connection reset ({e})"));
                return Err(ProbeError::Reset(e.to_string()));
            }
            Ok(Err(e)) if is_peer_gone(&e) => true,
            Ok(Err(e)) => return Err(ProbeError::Io(e.to_string())),
            Err(_) => return Err(ProbeError::Timeout(timeout.as_millis() as u64)),
        };
        if closed {
            transcript.note("server closed the connection");
            return Ok(
                match response::parse(&buf, probe.want_certificates, true)? {
                    Some(response) => Answer::Response(response),
                    None => Answer::Closed,
                },
            );
        }
    }
}

/// A reset or abort, as opposed to an orderly close.
fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
    )
}
