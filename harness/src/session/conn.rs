//! A connection to a mail server that starts as plain TCP or implicit TLS and can be
//! upgraded with STARTTLS. Sends are exact (one call, one segment); every read has a
//! deadline; every byte goes to the transcript; bytes buffered at the moment of the
//! upgrade are handed to the caller instead of being dropped or fed to TLS.

use super::governor::Permit;
use super::transcript::Transcript;
use crate::tls::client::{permissive_config, server_name};
use crate::wire::{DecodeError, Decoded, Limits};
use rustls::pki_types::CertificateDer;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// What a connect timeout was waiting for, before the address.
const TCP_CONNECTION_WAIT: &str = "the TCP connection to";

/// How big one socket read is while little is buffered.
const READ_CHUNK: usize = 16 * 1024;

/// How big one socket read may grow while a long value is being buffered.
const MAX_READ_CHUNK: usize = 256 * 1024;

/// One answer may take at most this many read timeouts in all (an IMAP answer
/// with all the untagged responses before its completion, too).
pub const ANSWER_CEILING_FACTOR: u32 = 3;

/// When the check a session belongs to must be over: every connect, send and
/// read of the session ends by then, with [`SessionError::OutOfTime`], so the
/// check still returns its transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckDeadline {
    /// The instant.
    pub at: Instant,
    /// The check's whole time budget, for the error that names it.
    pub budget: Duration,
}

/// What a session needs to know beyond the address.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Deadline for connecting and for the TLS handshake; for reads, how long the
    /// server may stay silent (one answer takes at most three times this in all).
    pub timeout: Duration,
    /// Caps on what the server may send.
    pub limits: Limits,
    /// The name sent in SNI and recorded; defaults to the target host.
    pub server_name: Option<String>,
    /// The end of the check's time budget, when it has one.
    pub deadline: Option<CheckDeadline>,
}

impl SessionOptions {
    /// `wait` from now, or the check's deadline when that comes first (then
    /// `true`): what a single wait of this session may last.
    fn bounded(&self, wait: Duration) -> (Instant, bool) {
        let idle = Instant::now() + wait;
        match self.deadline {
            Some(deadline) if deadline.at <= idle => (deadline.at, true),
            _ => (idle, false),
        }
    }

    fn out_of_time(&self, waiting_for: &str) -> SessionError {
        SessionError::OutOfTime {
            budget_ms: self
                .deadline
                .map_or(0, |deadline| deadline.budget.as_millis() as u64),
            waiting_for: waiting_for.to_string(),
        }
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            timeout: Duration::from_secs(5),
            limits: Limits::default(),
            server_name: None,
            deadline: None,
        }
    }
}

/// Why a session operation did not complete. The interpreter maps each to a
/// verdict: trouble reaching or hearing the server is the harness's `error`;
/// what the server did (close, malformed reply, failed handshake) is judged.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// TCP connect failed (refused, unreachable, bad address).
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// host:port as given.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// Nothing arrived (or could be sent) before the deadline.
    #[error("timed out after {ms} ms waiting for {waiting_for}")]
    Timeout {
        /// The deadline that passed.
        ms: u64,
        /// What the session was waiting for.
        waiting_for: String,
        /// Whether the ceiling of a whole answer passed, not the read timeout:
        /// the server kept sending without finishing its answer, which another
        /// connection would most likely see again.
        whole_answer: bool,
    },
    /// The server closed the connection.
    #[error("server closed the connection while we waited for {waiting_for}")]
    Closed {
        /// What the session was waiting for.
        waiting_for: String,
    },
    /// The server sent bytes the protocol grammar does not allow, or too many.
    #[error("server sent an unreadable reply: {0}")]
    Decode(#[from] DecodeError),
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The server closed or reset the connection during the TLS handshake,
    /// without an alert: what a server that cannot do TLS does, but also an
    /// overloaded one or a middlebox, so never evidence on its own.
    #[error("TLS handshake failed: the server closed the connection without an alert ({0})")]
    HandshakeDropped(String),
    /// The server answered the TLS handshake with bytes that are not TLS (a
    /// plaintext `421` on an implicit-TLS port, or text after a STARTTLS go-ahead).
    #[error("TLS handshake failed: {0}")]
    HandshakeNotTls(String),
    /// The server answered that it is busy and closing (SMTP 421) in the middle of
    /// a session: about the harness's load, not a verdict.
    #[error("the server is busy: `{0}`")]
    Busy(String),
    /// The server kept refusing or turning away connections until the governor's
    /// budget was spent (the cause and what to do).
    #[error("{0}")]
    Overloaded(String),
    /// The server answered the TLS handshake with a fatal alert (its name): a TLS
    /// stack is there and refused, unlike a connection that closed or broke.
    #[error("TLS handshake failed: received fatal alert: {0}")]
    HandshakeAlert(String),
    /// A socket error other than the above.
    #[error("I/O error: {0}")]
    Io(io::Error),
    /// The check's overall time budget ran out: a bound of the harness, never a
    /// verdict on the server.
    #[error("the check's time budget of {budget_ms} ms ran out while waiting for {waiting_for}")]
    OutOfTime {
        /// The whole budget of the check.
        budget_ms: u64,
        /// What the session was waiting for.
        waiting_for: String,
    },
}

impl SessionError {
    /// Whether the TCP connection itself could not be made (refused, unreachable,
    /// or no answer to the SYN in time), as opposed to anything after it.
    pub fn is_connect_failure(&self) -> bool {
        match self {
            SessionError::Connect { .. } => true,
            SessionError::Timeout { waiting_for, .. } => {
                waiting_for.starts_with(TCP_CONNECTION_WAIT)
            }
            _ => false,
        }
    }

    /// Whether another connection might well fare better: the harness's trouble,
    /// but not a connect that failed where none ever succeeded (nothing listens),
    /// not a governor that has already spent its budget on retries, and not a
    /// bound the server ran into by sending (an answer that never ended or grew
    /// past the caps) or the check's own deadline: those would come again.
    pub fn is_worth_retrying(&self) -> bool {
        self.is_harness_trouble()
            && !self.is_connect_failure()
            && !matches!(
                self,
                SessionError::Overloaded(_)
                    | SessionError::OutOfTime { .. }
                    | SessionError::Timeout {
                        whole_answer: true,
                        ..
                    }
                    | SessionError::Decode(DecodeError::TooLong { .. })
            )
    }

    /// Whether this is the harness's trouble (timeout, refused, socket error, a
    /// bound of the harness spent) rather than something the server did that a
    /// check can judge. An answer longer than the harness's caps is not evidence
    /// of a flaw: the caps are the harness's, not the protocol's.
    pub fn is_harness_trouble(&self) -> bool {
        matches!(
            self,
            SessionError::Connect { .. }
                | SessionError::Timeout { .. }
                | SessionError::Io(_)
                | SessionError::Busy(_)
                | SessionError::Overloaded(_)
                | SessionError::HandshakeDropped(_)
                | SessionError::OutOfTime { .. }
                | SessionError::Decode(DecodeError::TooLong { .. })
        )
    }
}

/// The TLS parameters a handshake settled on.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The server's certificate chain as sent, leaf first.
    pub peer_certificates: Vec<CertificateDer<'static>>,
}

/// A plain TCP stream taken out of a [`Connection`] at the point where TLS begins.
#[derive(Debug)]
pub struct PlainStream {
    /// The socket.
    pub tcp: TcpStream,
    /// Bytes the server had sent that were read but not consumed.
    pub buffered: Vec<u8>,
    /// The session so far.
    pub transcript: Transcript,
    /// The governor's slot for this connection, held until the stream is dropped.
    pub permit: Option<Permit>,
}

/// The result of a STARTTLS upgrade.
#[derive(Debug)]
pub struct StartTls {
    /// Plaintext the server sent after its go-ahead, before the handshake began.
    pub early_plaintext: Vec<u8>,
    /// Whether the handshake completed.
    pub handshake: Result<(), SessionError>,
}

/// What happened while waiting for silence or for the server to close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// Nothing arrived and the connection is still open.
    Quiet,
    /// The server closed the connection.
    Closed,
    /// The server sent these bytes.
    Spoke(Vec<u8>),
}

/// Which deadline a read waited under.
enum Bound {
    /// The read timeout: how long the server may stay silent.
    Idle,
    /// The ceiling of the whole answer.
    Answer,
    /// The check's time budget.
    Check,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the TCP stream is handed to the TLS connector, or after a failed upgrade.
    Gone,
}

/// One connection to the server under test.
pub struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    host: String,
    options: SessionOptions,
    tls: Option<TlsInfo>,
    transcript: Transcript,
    /// While peeking: the bytes decoded so far, to be put back.
    peeked: Option<Vec<u8>>,
    /// The governor's slot, released when the connection ends.
    permit: Option<Permit>,
}

impl Connection {
    /// Connects to `host:port`; with `implicit_tls`, does the TLS handshake at once.
    pub async fn connect(
        host: &str,
        port: u16,
        implicit_tls: bool,
        options: SessionOptions,
        mut transcript: Transcript,
    ) -> Result<Connection, (SessionError, Transcript)> {
        let addr = format!("{host}:{port}");
        let (deadline, out_of_time) = options.bounded(options.timeout);
        let dial_host = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = match timeout_at(deadline, TcpStream::connect((dial_host, port))).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(source)) => {
                transcript.note(format!("could not connect to {addr}: {source}"));
                return Err((SessionError::Connect { addr, source }, transcript));
            }
            Err(_) => {
                let waiting_for = format!("{TCP_CONNECTION_WAIT} {addr}");
                let err = if out_of_time {
                    options.out_of_time(&waiting_for)
                } else {
                    SessionError::Timeout {
                        ms: options.timeout.as_millis() as u64,
                        waiting_for,
                        whole_answer: false,
                    }
                };
                transcript.note(err.to_string());
                return Err((err, transcript));
            }
        };
        // Each send is meant to be one segment: no Nagle coalescing.
        if let Err(e) = tcp.set_nodelay(true) {
            return Err((SessionError::Io(e), transcript));
        }
        let peer = tcp
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| addr.clone());
        transcript.note(format!("connected to {peer}"));
        let mut conn = Connection {
            stream: Stream::Plain(tcp),
            buf: Vec::new(),
            host: host.to_string(),
            options,
            tls: None,
            transcript,
            peeked: None,
            permit: None,
        };
        if implicit_tls {
            if let Err(e) = conn.handshake().await {
                return Err((e, conn.transcript));
            }
        }
        Ok(conn)
    }

    /// Keeps the governor's slot for as long as this connection lives.
    pub(crate) fn hold(&mut self, permit: Permit) {
        self.permit = Some(permit);
    }

    /// Starts reading ahead without consuming: what [`Connection::read_decoded`]
    /// decodes from now on is put back by [`Connection::end_peek`], and its
    /// deviations are noted only when it is read for real.
    pub(crate) fn start_peek(&mut self) {
        self.peeked = Some(Vec::new());
    }

    /// Puts back everything decoded since [`Connection::start_peek`].
    pub(crate) fn end_peek(&mut self) {
        if let Some(mut peeked) = self.peeked.take() {
            peeked.append(&mut self.buf);
            self.buf = peeked;
        }
    }

    /// The transcript so far.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// The transcript, to add notes.
    pub fn transcript_mut(&mut self) -> &mut Transcript {
        &mut self.transcript
    }

    /// Ends the connection and returns its transcript.
    pub fn into_transcript(self) -> Transcript {
        self.transcript
    }

    /// Gives up the plain TCP stream, for probes that speak TLS by hand (their own
    /// ClientHello). Bytes already buffered come back with it, never dropped.
    pub fn into_plain(self) -> Result<PlainStream, SessionError> {
        match self.stream {
            Stream::Plain(tcp) => Ok(PlainStream {
                tcp,
                buffered: self.buf,
                transcript: self.transcript,
                permit: self.permit,
            }),
            _ => Err(SessionError::Handshake(
                "TLS is already active on this connection".into(),
            )),
        }
    }

    /// TLS parameters, once TLS is up.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// The read deadline in force.
    pub fn timeout(&self) -> Duration {
        self.options.timeout
    }

    /// Sends `bytes` in one write and one flush, so that (with TCP_NODELAY, and below
    /// the MSS) they leave in one TCP segment, or in one TLS record inside TLS.
    pub async fn send_segment(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        self.transcript.client(bytes);
        let (deadline, out_of_time) = self.options.bounded(self.options.timeout);
        let result = timeout_at(deadline, async {
            match &mut self.stream {
                Stream::Plain(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Tls(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Gone => Err(io::Error::from(io::ErrorKind::NotConnected)),
            }
        })
        .await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if is_peer_gone(&e) => Err(SessionError::Closed {
                waiting_for: "the server to take our bytes".into(),
            }),
            Ok(Err(e)) => Err(SessionError::Io(e)),
            Err(_) if out_of_time => Err(self.out_of_time("the server to take our bytes")),
            Err(_) => Err(self.timeout_error("the server to take our bytes")),
        }
    }

    /// Reads until `decode` yields one value, consumes exactly its bytes and leaves the
    /// rest buffered for the next read. Deviations the decoder tolerated become notes.
    pub async fn read_decoded<T>(
        &mut self,
        decode: impl Fn(&[u8], &Limits) -> Result<Decoded<T>, DecodeError>,
        waiting_for: &str,
    ) -> Result<Decoded<T>, SessionError> {
        let ceiling = self.answer_ceiling();
        self.read_decoded_within(decode, waiting_for, ceiling).await
    }

    /// The ceiling of an answer that starts now: [`ANSWER_CEILING_FACTOR`] read
    /// timeouts.
    pub fn answer_ceiling(&self) -> Instant {
        Instant::now() + self.options.timeout * ANSWER_CEILING_FACTOR
    }

    /// [`Connection::read_decoded`] under a ceiling the caller set, for an answer
    /// made of several values (an IMAP completion and the untagged responses
    /// before it) that must end within one ceiling in all.
    pub async fn read_decoded_within<T>(
        &mut self,
        decode: impl Fn(&[u8], &Limits) -> Result<Decoded<T>, DecodeError>,
        waiting_for: &str,
        ceiling: Instant,
    ) -> Result<Decoded<T>, SessionError> {
        // The timeout is an idle deadline, renewed whenever bytes arrive (a slow
        // multi-line greeting is not a dead server), under a ceiling for the whole
        // answer so a server dripping one byte at a time cannot hold a check forever.
        loop {
            match decode(&self.buf, &self.options.limits) {
                Ok(decoded) => {
                    let consumed = self.buf.drain(..decoded.consumed.min(self.buf.len()));
                    match &mut self.peeked {
                        Some(peeked) => peeked.extend(consumed),
                        None => {
                            drop(consumed);
                            for deviation in &decoded.deviations {
                                self.transcript.note(format!("deviation: {deviation}"));
                            }
                        }
                    }
                    return Ok(decoded);
                }
                Err(DecodeError::Incomplete) => {
                    if self
                        .fill(self.options.timeout, Some(ceiling), waiting_for)
                        .await?
                        == 0
                    {
                        return Err(SessionError::Closed {
                            waiting_for: waiting_for.to_string(),
                        });
                    }
                }
                Err(e) => {
                    self.transcript.note(format!("unreadable reply: {e}"));
                    return Err(SessionError::Decode(e));
                }
            }
        }
    }

    /// Waits up to `wait` for anything from the server. Bytes already buffered count.
    pub async fn wait_for_bytes(&mut self, wait: Duration) -> Result<Waited, SessionError> {
        if !self.buf.is_empty() {
            return Ok(Waited::Spoke(std::mem::take(&mut self.buf)));
        }
        // The check's deadline ends the wait with an error, never as `Quiet`:
        // silence cut short is no evidence of silence.
        match self.fill(wait, None, "silence").await {
            Ok(0) => Ok(Waited::Closed),
            Ok(_) => Ok(Waited::Spoke(std::mem::take(&mut self.buf))),
            Err(SessionError::Timeout { .. }) => Ok(Waited::Quiet),
            Err(e) => Err(e),
        }
    }

    /// Waits up to `wait` until the server has sent something, and leaves it
    /// buffered for the next [`Connection::read_decoded`]: to learn *whether* an
    /// answer came within a short window, then read it with the usual deadline.
    /// `Spoke` holds a copy of what is buffered (bytes already buffered count, at
    /// once); `Closed` means the server closed with nothing buffered.
    pub async fn wait_readable(&mut self, wait: Duration) -> Result<Waited, SessionError> {
        if self.buf.is_empty() {
            match self.fill(wait, None, "a reply").await {
                Ok(0) => return Ok(Waited::Closed),
                Ok(_) => {}
                Err(SessionError::Timeout { .. }) => return Ok(Waited::Quiet),
                Err(e) => return Err(e),
            }
        }
        Ok(Waited::Spoke(self.buf.clone()))
    }

    /// Does the STARTTLS handshake on the current plain connection. Bytes the server
    /// sent after its go-ahead and before the handshake (already buffered, or already
    /// waiting in the socket) are handed back whatever the handshake's fate: they are
    /// evidence, never fed to TLS and never dropped.
    pub async fn start_tls(&mut self) -> StartTls {
        let mut early = std::mem::take(&mut self.buf);
        if let Stream::Plain(tcp) = &self.stream {
            let mut chunk = [0u8; READ_CHUNK];
            // Catches plaintext that arrived behind the go-ahead without waiting.
            while let Ok(n @ 1..) = tcp.try_read(&mut chunk) {
                self.transcript.server(&chunk[..n]);
                early.extend_from_slice(&chunk[..n]);
                if early.len() > self.options.limits.max_line {
                    break;
                }
            }
        }
        if !early.is_empty() {
            self.transcript.note(format!(
                "{} byte(s) of plaintext arrived after the STARTTLS reply, before the TLS handshake",
                early.len()
            ));
        }
        StartTls {
            handshake: self.handshake().await,
            early_plaintext: early,
        }
    }

    async fn handshake(&mut self) -> Result<(), SessionError> {
        let tcp = match std::mem::replace(&mut self.stream, Stream::Gone) {
            Stream::Plain(tcp) => tcp,
            other => {
                self.stream = other;
                return Err(SessionError::Handshake(
                    "TLS is already active on this connection".into(),
                ));
            }
        };
        let name_text = self.options.server_name.as_deref().unwrap_or(&self.host);
        let name = server_name(name_text).map_err(SessionError::Handshake)?;
        let connector = TlsConnector::from(permissive_config());
        let (deadline, out_of_time) = self.options.bounded(self.options.timeout);
        self.transcript.note("TLS handshake started");
        let tls = match timeout_at(deadline, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                self.transcript.note(format!("TLS handshake failed: {e}"));
                return Err(handshake_error(&e));
            }
            Err(_) => {
                let err = if out_of_time {
                    self.out_of_time("the TLS handshake")
                } else {
                    self.timeout_error("the TLS handshake")
                };
                self.transcript.note(err.to_string());
                return Err(err);
            }
        };
        let (_, state) = tls.get_ref();
        let info = TlsInfo {
            version: state
                .protocol_version()
                .map(version_name)
                .unwrap_or_else(|| "unknown".into()),
            cipher_suite: state
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_else(|| "unknown".into()),
            peer_certificates: state
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
        };
        self.transcript.note(format!(
            "TLS established: {} {}; server certificate chain of {} certificate(s)",
            info.version,
            info.cipher_suite,
            info.peer_certificates.len()
        ));
        self.tls = Some(info);
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// Reads one chunk into the buffer, waiting at most `idle`, and never past
    /// the answer's `ceiling` or the check's deadline; 0 means the server closed
    /// the connection. A timeout says which of the three ran out.
    async fn fill(
        &mut self,
        idle: Duration,
        ceiling: Option<Instant>,
        waiting_for: &str,
    ) -> Result<usize, SessionError> {
        // A reply may be framed only after several chunks; refuse to buffer past what
        // any decoder would accept.
        let cap = self.options.limits.max_literal
            + self.options.limits.max_line * self.options.limits.max_lines.min(64);
        if self.buf.len() > cap {
            return Err(SessionError::Decode(DecodeError::TooLong {
                what: "buffered reply",
                offset: self.buf.len(),
                limit: cap,
            }));
        }
        let (mut deadline, out_of_time) = self.options.bounded(idle);
        let mut bound = if out_of_time {
            Bound::Check
        } else {
            Bound::Idle
        };
        if let Some(ceiling) = ceiling.filter(|ceiling| *ceiling < deadline) {
            deadline = ceiling;
            bound = Bound::Answer;
        }
        // A value that spans many chunks is decoded again after each: reading
        // in chunks as large as what is already buffered (up to a cap) keeps the
        // decoding of a megabyte from costing a hundred passes over it.
        let mut chunk = vec![0u8; READ_CHUNK.max(self.buf.len()).min(MAX_READ_CHUNK)];
        let read = timeout_at(deadline, async {
            match &mut self.stream {
                Stream::Plain(s) => s.read(&mut chunk).await,
                Stream::Tls(s) => s.read(&mut chunk).await,
                Stream::Gone => Ok(0),
            }
        })
        .await;
        match read {
            Ok(Ok(n)) => {
                if n > 0 {
                    self.transcript.server(&chunk[..n]);
                    self.buf.extend_from_slice(&chunk[..n]);
                } else {
                    self.transcript.note("server closed the connection");
                }
                Ok(n)
            }
            Ok(Err(e)) if is_peer_gone(&e) => {
                self.transcript
                    .note(format!("server closed the connection ({e})"));
                Ok(0)
            }
            Ok(Err(e)) => Err(SessionError::Io(e)),
            Err(_) => Err(match bound {
                Bound::Idle => self.timeout_error(waiting_for),
                Bound::Answer => {
                    let err = SessionError::Timeout {
                        ms: (self.options.timeout * ANSWER_CEILING_FACTOR).as_millis() as u64,
                        waiting_for: format!(
                            "the end of {waiting_for} (one answer may take at most {ANSWER_CEILING_FACTOR} x --timeout in all)"
                        ),
                        whole_answer: true,
                    };
                    self.transcript.note(err.to_string());
                    err
                }
                Bound::Check => {
                    let err = self.out_of_time(waiting_for);
                    self.transcript.note(err.to_string());
                    err
                }
            }),
        }
    }

    fn out_of_time(&self, waiting_for: &str) -> SessionError {
        self.options.out_of_time(waiting_for)
    }

    fn timeout_error(&self, waiting_for: &str) -> SessionError {
        SessionError::Timeout {
            ms: self.options.timeout.as_millis() as u64,
            waiting_for: waiting_for.to_string(),
            whole_answer: false,
        }
    }
}

/// A failed rustls handshake as a session error: a fatal alert the server sent;
/// a connection the server dropped (closed or reset); an answer in bytes that
/// are not TLS (as a plaintext refusal is); or anything else.
pub fn handshake_error(e: &io::Error) -> SessionError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::AlertReceived(alert)) => {
            SessionError::HandshakeAlert(format!("{alert:?}"))
        }
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            SessionError::HandshakeNotTls(e.to_string())
        }
        None if is_peer_gone(e) => SessionError::HandshakeDropped(e.to_string()),
        _ => SessionError::Handshake(e.to_string()),
    }
}

/// Errors that mean the peer went away rather than that our side broke; a TLS peer
/// that closes without close_notify shows up as UnexpectedEof.
pub(crate) fn is_peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}
