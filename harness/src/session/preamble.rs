//! Brings a connection to the point where TLS begins: at once for implicit-TLS
//! endpoints, after the protocol's own STARTTLS exchange (greeting, capabilities,
//! STARTTLS, go-ahead) otherwise. TLS probes start from here.

use super::answer::{busy_sign, read_answer, Answer, Want};
use super::conn::{Connection, PlainStream, SessionError, SessionOptions};
use super::governor::{Dial, Governor};
use super::transcript::Transcript;
use crate::target::{Endpoint, Protocol, TlsMode};
use std::sync::Arc;

/// Why the connection did not reach the start of TLS.
#[derive(Debug, thiserror::Error)]
pub enum PreambleError {
    /// The server does not advertise STARTTLS/STLS.
    #[error("STARTTLS not offered")]
    NotOffered,
    /// The server answered something other than the expected step.
    #[error("expected {expected}, the server answered `{answer}`")]
    Unexpected {
        /// What the exchange needed.
        expected: &'static str,
        /// What came instead.
        answer: String,
    },
    /// The server sent plaintext after its go-ahead.
    #[error("the server sent {0} byte(s) of plaintext after its STARTTLS reply")]
    EarlyPlaintext(usize),
    /// The session failed (timeout, refused, closed).
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Connects to `endpoint` through `governor` and returns the plain socket (with its
/// connection slot) at the moment the first TLS byte should be sent, with the
/// transcript of the exchange that led there.
pub async fn open_to_tls_start(
    governor: &Arc<Governor>,
    endpoint: &Endpoint,
    client_name: &str,
    options: SessionOptions,
    transcript: Transcript,
) -> Result<PlainStream, (PreambleError, Transcript)> {
    let starttls = endpoint.scheme.tls_mode() == TlsMode::StartTls;
    let dial = Dial {
        host: &endpoint.host,
        port: endpoint.port,
        implicit_tls: false,
        greeting: starttls.then(|| endpoint.protocol()),
    };
    let mut conn = match governor.open(&dial, &options, transcript).await {
        Ok(conn) => conn,
        Err((e, transcript)) => return Err((e.into(), transcript)),
    };
    if starttls {
        if let Err(e) = negotiate(&mut conn, endpoint.protocol(), client_name).await {
            return Err((e, conn.into_transcript()));
        }
    }
    let plain = match conn.into_plain() {
        Ok(plain) => plain,
        Err(e) => return Err((e.into(), Transcript::new())),
    };
    if !plain.buffered.is_empty() {
        let n = plain.buffered.len();
        return Err((PreambleError::EarlyPlaintext(n), plain.transcript));
    }
    Ok(plain)
}

/// One protocol's way to STARTTLS.
struct Exchange {
    greeting: &'static str,
    ask_capabilities: String,
    capabilities_want: Want,
    keyword: &'static str,
    starttls: &'static str,
    go_ahead_want: Want,
    go_ahead: &'static str,
}

impl Exchange {
    fn of(protocol: Protocol, client_name: &str) -> Exchange {
        match protocol {
            Protocol::Smtp => Exchange {
                greeting: "220",
                ask_capabilities: format!("EHLO {client_name}\r\n"),
                capabilities_want: Want::SmtpReply,
                keyword: "STARTTLS",
                starttls: "STARTTLS\r\n",
                go_ahead_want: Want::SmtpReply,
                go_ahead: "220",
            },
            Protocol::Imap => Exchange {
                greeting: "OK",
                ask_capabilities: "m1 CAPABILITY\r\n".into(),
                capabilities_want: Want::ImapCompletion,
                keyword: "STARTTLS",
                starttls: "m2 STARTTLS\r\n",
                go_ahead_want: Want::ImapCompletion,
                go_ahead: "OK",
            },
            Protocol::Pop3 => Exchange {
                greeting: "+OK",
                ask_capabilities: "CAPA\r\n".into(),
                capabilities_want: Want::Pop3 { multi_line: true },
                keyword: "STLS",
                starttls: "STLS\r\n",
                go_ahead_want: Want::Pop3 { multi_line: false },
                go_ahead: "+OK",
            },
        }
    }
}

/// The protocol's STARTTLS exchange up to the go-ahead.
async fn negotiate(
    conn: &mut Connection,
    protocol: Protocol,
    client_name: &str,
) -> Result<(), PreambleError> {
    let steps = Exchange::of(protocol, client_name);
    let greeting = read_answer(conn, protocol, &Want::greeting(protocol)).await?;
    expect(&greeting, steps.greeting, "a greeting")?;
    conn.send_segment(steps.ask_capabilities.as_bytes()).await?;
    let capabilities = read_unless_busy(conn, protocol, &steps.capabilities_want).await?;
    let offered = capabilities
        .capabilities
        .as_ref()
        .is_some_and(|caps| caps.has(steps.keyword, None));
    if !offered {
        return Err(PreambleError::NotOffered);
    }
    conn.send_segment(steps.starttls.as_bytes()).await?;
    let go_ahead = read_unless_busy(conn, protocol, &steps.go_ahead_want).await?;
    expect(&go_ahead, steps.go_ahead, "the STARTTLS go-ahead")
}

/// Reads an answer; one that says the server is busy (SMTP 421) is harness trouble.
async fn read_unless_busy(
    conn: &mut Connection,
    protocol: Protocol,
    want: &Want,
) -> Result<Answer, SessionError> {
    let answer = read_answer(conn, protocol, want).await?;
    match busy_sign(protocol, &answer, false) {
        Some(busy) => Err(SessionError::Busy(busy)),
        None => Ok(answer),
    }
}

fn expect(
    answer: &super::Answer,
    status: &str,
    expected: &'static str,
) -> Result<(), PreambleError> {
    if answer.status.eq_ignore_ascii_case(status) {
        Ok(())
    } else {
        Err(PreambleError::Unexpected {
            expected,
            answer: answer.summary(),
        })
    }
}
