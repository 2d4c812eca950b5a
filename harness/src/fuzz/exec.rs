//! Runs one session against one endpoint: connect, read the greeting, then each
//! step — exact segments, the answers the grammar promises, STARTTLS with its
//! handshake, the login with the target's credentials — recording every byte and
//! the server states seen. When an answer does not come, a protocol-specific
//! resynchronisation (end DATA, fill a pending IMAP literal, a NOOP) is sent before
//! the silence counts: a server that rightly waits for more is not hung.

use super::case::{fnv1a, Case, Step};
use crate::checks::context::CheckContext;
use crate::session::answer::pop3_is_multi_line;
use crate::session::{
    read_answer, Answer, Connection, Dial, Governor, SessionError, SessionOptions, Transcript,
    Waited, Want,
};
use crate::target::{Endpoint, Protocol, TlsMode};
use crate::wire::credentials;
use std::sync::Arc;

/// How one session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Every step ran (answers may have drifted; that is not judged).
    Completed,
    /// The TCP connection could not be made.
    Refused(String),
    /// Connected, but no greeting came (closed, silent or unreadable).
    NoGreeting(String),
    /// Step `step` waited for an answer that never came, the resynchronisation got
    /// none either, and the connection stayed open.
    Silent {
        /// Index of the step.
        step: usize,
    },
    /// The server closed (or reset) the connection during step `step`.
    Closed {
        /// Index of the step.
        step: usize,
    },
    /// The server's answer to step `step` broke the protocol's grammar.
    Unreadable {
        /// Index of the step.
        step: usize,
        /// What the decoder said.
        error: String,
    },
    /// The TLS handshake of step `step` failed.
    TlsFailed {
        /// Index of the step.
        step: usize,
        /// What the TLS library said.
        error: String,
    },
}

impl Event {
    /// The step the event happened at, if any.
    pub fn step(&self) -> Option<usize> {
        match self {
            Event::Silent { step }
            | Event::Closed { step }
            | Event::Unreadable { step, .. }
            | Event::TlsFailed { step, .. } => Some(*step),
            _ => None,
        }
    }
}

/// The record of one session.
#[derive(Debug)]
pub struct Run {
    /// How it ended.
    pub event: Event,
    /// Hashes of the (phase, command, answer status) triples seen: the server
    /// states this session reached.
    pub states: Vec<u64>,
    /// Every byte, both ways.
    pub transcript: Transcript,
    /// `pre-tls`, `tls` or `logged-in` at the end (or at the event).
    pub phase: &'static str,
    /// The command each step ran, by step: its verb, or for a line that answers
    /// a continuation (a SASL response, a literal) the verb of the command it
    /// continues. Signatures use it, so one bug has one signature.
    pub verbs: Vec<String>,
}

/// Runs `case` against `endpoint`, connecting once through `governor` (the
/// endpoint's budget): a refusal or a silent greeting is an event to judge, not
/// something to wait out.
pub async fn execute(
    case: &Case,
    endpoint: &Endpoint,
    governor: &Arc<Governor>,
    options: &SessionOptions,
) -> Run {
    let ctx = CheckContext::new(endpoint.clone());
    let transcript = ctx.new_transcript();
    let implicit = endpoint.scheme.tls_mode() == TlsMode::Implicit;
    let mut exec = Exec {
        protocol: case.protocol,
        states: Vec::new(),
        logged_in: false,
        in_data: false,
        sent: Vec::new(),
        unsynced: false,
        verbs: Vec::new(),
        continuing: false,
    };
    let conn = governor
        .connect_once(&dial(endpoint), options, transcript)
        .await;
    let mut conn = match conn {
        Ok(conn) => conn,
        Err((SessionError::Connect { source, .. }, transcript)) => {
            return exec.finish(Event::Refused(source.to_string()), transcript, implicit)
        }
        Err((e, transcript)) => {
            return exec.finish(Event::NoGreeting(e.to_string()), transcript, implicit)
        }
    };
    match read_answer(&mut conn, case.protocol, &Want::greeting(case.protocol)).await {
        Ok(answer) => exec.state(&conn, "GREETING", &answer),
        Err(e) => {
            let tls = conn.tls().is_some();
            return exec.finish(
                Event::NoGreeting(e.to_string()),
                conn.into_transcript(),
                tls,
            );
        }
    }
    let mut event = Event::Completed;
    for (i, step) in case.steps.iter().enumerate() {
        if let Err(e) = exec.step(&mut conn, step, endpoint, i).await {
            event = e;
            break;
        }
    }
    let tls = conn.tls().is_some();
    exec.finish(event, conn.into_transcript(), tls)
}

/// Where the fuzzer connects for `endpoint`: TLS at once on implicit-TLS ports;
/// the greeting is read by the caller, never awaited by the governor.
pub(crate) fn dial(endpoint: &Endpoint) -> Dial<'_> {
    Dial {
        host: &endpoint.host,
        port: endpoint.port,
        implicit_tls: endpoint.scheme.tls_mode() == TlsMode::Implicit,
        greeting: None,
    }
}

/// The running state of one execution.
struct Exec {
    protocol: Protocol,
    states: Vec<u64>,
    logged_in: bool,
    in_data: bool,
    /// Everything sent (IMAP and SMTP; bounded by the case's size), to find a
    /// pending literal or BDAT chunk the way the server frames it.
    sent: Vec<u8>,
    /// The command each step ran (see [`Run::verbs`]).
    verbs: Vec<String>,
    /// Whether the last answer asked for more (334, `+`).
    continuing: bool,
    /// Whether a send went out whose answers are not all accounted for, so the
    /// next answer read may belong to it.
    unsynced: bool,
}

impl Exec {
    fn finish(self, event: Event, transcript: Transcript, tls: bool) -> Run {
        Run {
            phase: phase(tls, self.logged_in),
            event,
            states: self.states,
            verbs: self.verbs,
            transcript,
        }
    }

    fn state(&mut self, conn: &Connection, verb: &str, answer: &Answer) {
        let phase = phase(conn.tls().is_some(), self.logged_in);
        let data = if self.in_data { "data" } else { "" };
        let key = format!(
            "{phase}/{data}/{verb}/{}",
            answer.status.to_ascii_uppercase()
        );
        self.states.push(fnv1a(key.as_bytes()));
        self.in_data = answer.status == "354";
        self.continuing = matches!(answer.status.as_str(), "334" | "+");
        let positive = matches!(answer.status.as_str(), "235" | "OK" | "+OK");
        if answer.status == "235"
            || (positive && matches!(verb, "AUTHENTICATE" | "PASS" | "AUTH"))
            || (positive && verb == "LOGIN" && self.protocol == Protocol::Imap)
        {
            self.logged_in = true;
        }
    }

    async fn step(
        &mut self,
        conn: &mut Connection,
        step: &Step,
        endpoint: &Endpoint,
        i: usize,
    ) -> Result<(), Event> {
        let verb = match step {
            Step::Send { .. } if self.continuing => self.verbs.last().cloned().unwrap_or_default(),
            _ => step.verb(self.protocol),
        };
        self.verbs.push(verb);
        match step {
            Step::Send { segments, answers } => {
                for segment in segments {
                    self.send(conn, &segment.0, i).await?;
                }
                let bytes = step.bytes();
                let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
                self.unsynced |= usize::from(*answers) != lines.len();
                for k in 0..usize::from(*answers) {
                    let line = lines.get(k).copied().unwrap_or_default();
                    let answer = self.answer(conn, line, i).await?;
                    if is_go_ahead(self.protocol, line, &answer) && conn.tls().is_none() {
                        // What was pipelined behind STARTTLS is the injection checks'
                        // business; from here on the server speaks TLS.
                        return self.upgrade(conn, i).await;
                    }
                }
                Ok(())
            }
            Step::StartTls => {
                let command: &[u8] = match self.protocol {
                    Protocol::Smtp => b"STARTTLS\r\n",
                    Protocol::Imap => b"fs STARTTLS\r\n",
                    Protocol::Pop3 => b"STLS\r\n",
                };
                self.drain(conn).await;
                self.send(conn, command, i).await?;
                let answer = self.answer(conn, command, i).await?;
                if is_go_ahead(self.protocol, command, &answer) && conn.tls().is_none() {
                    return self.upgrade(conn, i).await;
                }
                Ok(())
            }
            Step::Login => {
                let Some(credentials) = &endpoint.credentials else {
                    return Ok(());
                };
                let (user, password) = (&credentials.user, &credentials.password);
                // Each command is chunks: the first at once, each later one (an
                // IMAP literal's bytes) only after the server's `+`.
                let commands: Result<Vec<Vec<Vec<u8>>>, _> = match self.protocol {
                    Protocol::Smtp => credentials::sasl_plain(user, password)
                        .map(|plain| vec![vec![format!("AUTH PLAIN {plain}\r\n").into_bytes()]]),
                    Protocol::Imap => credentials::imap_login("fl", user, password)
                        .map(|login| vec![login.chunks().to_vec()]),
                    Protocol::Pop3 => credentials::pop3_user(user).and_then(|user| {
                        let pass = credentials::pop3_pass(password)?;
                        Ok(vec![
                            vec![format!("{user}\r\n").into_bytes()],
                            vec![format!("{pass}\r\n").into_bytes()],
                        ])
                    }),
                };
                let commands = match commands {
                    Ok(commands) => commands,
                    Err(e) => {
                        conn.transcript_mut().note(format!("no login: {e}"));
                        return Ok(());
                    }
                };
                for chunks in commands {
                    let mut answer = None;
                    for chunk in &chunks {
                        if answer
                            .as_ref()
                            .is_some_and(|a: &crate::session::Answer| a.tag.as_deref() != Some("+"))
                        {
                            // Answered in place of a literal's `+`: the rest is not sent.
                            break;
                        }
                        self.send(conn, chunk, i).await?;
                        answer = Some(self.answer(conn, chunk, i).await?);
                    }
                    let is_pass = chunks.first().is_some_and(|c| c.starts_with(b"PASS"));
                    if let Some(answer) = answer {
                        if matches!(answer.status.as_str(), "235" | "OK")
                            || is_pass && answer.status == "+OK"
                        {
                            self.logged_in = true;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads and drops answers still owed to earlier sends, so that the next
    /// answer read is the next command's (STARTTLS's go-ahead must not be missed).
    async fn drain(&mut self, conn: &mut Connection) {
        // `unsynced` stays set: what was drained may have held a go-ahead.
        if !self.unsynced {
            return;
        }
        let wait = (conn.timeout() / 4).min(std::time::Duration::from_millis(100));
        for _ in 0..8 {
            if !matches!(conn.wait_for_bytes(wait).await, Ok(Waited::Spoke(_))) {
                break;
            }
        }
    }

    async fn upgrade(&mut self, conn: &mut Connection, i: usize) -> Result<(), Event> {
        match conn.start_tls().await.handshake {
            Ok(()) => Ok(()),
            Err(e) => Err(Event::TlsFailed {
                step: i,
                error: e.to_string(),
            }),
        }
    }

    async fn send(&mut self, conn: &mut Connection, bytes: &[u8], i: usize) -> Result<(), Event> {
        if self.protocol != Protocol::Pop3 {
            self.sent.extend_from_slice(bytes);
        }
        conn.send_segment(bytes).await.map_err(|e| event_of(e, i))
    }

    /// Reads the answer to `line`; on silence, resynchronises once.
    async fn answer(
        &mut self,
        conn: &mut Connection,
        line: &[u8],
        i: usize,
    ) -> Result<Answer, Event> {
        let want = match self.protocol {
            Protocol::Smtp => Want::SmtpReply,
            Protocol::Imap => Want::ImapCompletion,
            Protocol::Pop3 => Want::Pop3 {
                multi_line: pop3_is_multi_line(&String::from_utf8_lossy(line)),
            },
        };
        let verb = self.verbs.last().cloned().unwrap_or_default();
        match read_answer(conn, self.protocol, &want).await {
            Ok(answer) => {
                self.state(conn, &verb, &answer);
                Ok(answer)
            }
            Err(SessionError::Timeout { .. }) => Err(self.resync(conn, i).await),
            Err(SessionError::Decode(_)) if self.unsynced => {
                // A send went out whose answers could not be counted (a broken line,
                // a literal), so this may be the middle of another answer, or TLS
                // after a STARTTLS whose go-ahead went to another step. Our
                // confusion, not the server's fault: only sessions in step with the
                // server are judged by the grammar.
                let why = if tls_record_in_plaintext(conn) {
                    "a TLS record in the plaintext stream: lost count around STARTTLS"
                } else {
                    "unreadable answer after a send whose answers could not be counted; not judged"
                };
                conn.transcript_mut().note(why);
                Err(Event::Completed)
            }
            Err(e) => Err(event_of(e, i)),
        }
    }

    /// After a silence: nudges the server out of any state in which silence is
    /// right, and says whether it then spoke. Either way the session ends here.
    async fn resync(&mut self, conn: &mut Connection, i: usize) -> Event {
        let owed = match self.protocol {
            Protocol::Smtp => pending_chunk(&self.sent),
            _ => 0,
        };
        if owed > MAX_RESYNC_FILL {
            // RFC 3030: the server reads the whole chunk before it answers BDAT.
            conn.transcript_mut().note(format!(
                "no answer before the deadline, rightly: a BDAT chunk of {owed} more bytes is pending; not judged"
            ));
            return Event::Completed;
        }
        conn.transcript_mut()
            .note("no answer before the deadline; resynchronising");
        let nudge = resync_bytes(self.protocol, &self.sent);
        if let Err(e) = conn.send_segment(&nudge).await {
            return event_of(e, i);
        }
        match conn.wait_for_bytes(conn.timeout()).await {
            Ok(Waited::Spoke(_)) => Event::Completed,
            Ok(Waited::Quiet) => Event::Silent { step: i },
            Ok(Waited::Closed) => Event::Closed { step: i },
            Err(e) => event_of(e, i),
        }
    }
}

/// Whether the last bytes from the server, read as plaintext, start a TLS record
/// (alert or handshake, version 3.x).
fn tls_record_in_plaintext(conn: &Connection) -> bool {
    conn.tls().is_none()
        && conn
            .transcript()
            .entries()
            .iter()
            .rev()
            .find(|e| e.dir == crate::report::model::Dir::Server)
            .is_some_and(|e| {
                ["\\x15\\x03", "\\x16\\x03"]
                    .iter()
                    .any(|p| e.data.starts_with(p))
            })
}

/// Whether `answer` is the go-ahead for a STARTTLS/STLS in `line`.
fn is_go_ahead(protocol: Protocol, line: &[u8], answer: &Answer) -> bool {
    let verb = super::case::verb_of(line, protocol);
    matches!(verb.as_str(), "STARTTLS" | "STLS")
        && matches!(answer.status.as_str(), "220" | "OK" | "+OK")
}

fn phase(tls: bool, logged_in: bool) -> &'static str {
    match (tls, logged_in) {
        (false, _) => "pre-tls",
        (true, false) => "tls",
        (true, true) => "logged-in",
    }
}

fn event_of(e: SessionError, step: usize) -> Event {
    match e {
        SessionError::Decode(e) => Event::Unreadable {
            step,
            error: e.to_string(),
        },
        // The fuzzer's sessions have no check deadline: out of time cannot happen.
        SessionError::Timeout { .. } | SessionError::OutOfTime { .. } => Event::Silent { step },
        SessionError::Handshake(error)
        | SessionError::HandshakeDropped(error)
        | SessionError::HandshakeNotTls(error) => Event::TlsFailed { step, error },
        SessionError::HandshakeAlert(alert) => Event::TlsFailed {
            step,
            error: format!("received fatal alert: {alert}"),
        },
        SessionError::Closed { .. }
        | SessionError::Io(_)
        | SessionError::Connect { .. }
        | SessionError::Busy(_)
        | SessionError::Overloaded(_) => Event::Closed { step },
    }
}

/// The most bytes a resynchronisation sends to complete a pending IMAP literal
/// or BDAT chunk; a longer one is left pending (and the silence not judged).
pub const MAX_RESYNC_FILL: usize = 1 << 20;

/// What to send after a silence so that a correct server must answer: SMTP
/// completes a pending BDAT chunk, ends any DATA and asks NOOP; IMAP completes a
/// pending literal (from everything sent, framed as the server frames it) and asks
/// NOOP; POP3 ends any SASL exchange and asks NOOP.
pub fn resync_bytes(protocol: Protocol, sent: &[u8]) -> Vec<u8> {
    match protocol {
        Protocol::Smtp => {
            let mut out = vec![b'x'; pending_chunk(sent).min(MAX_RESYNC_FILL)];
            out.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
            out
        }
        Protocol::Pop3 => b"\r\nNOOP\r\n".to_vec(),
        Protocol::Imap => {
            let mut out = vec![b'x'; pending_literal(sent).min(MAX_RESYNC_FILL)];
            out.extend_from_slice(b"\r\nfz NOOP\r\n");
            out
        }
    }
}

/// Bytes still owed to a BDAT chunk at the end of `sent` (RFC 3030): a line
/// `BDAT n [LAST]` announces n bytes taken whole, after which commands go on.
/// Lines that are not BDAT commands (DATA bodies included) announce nothing.
fn pending_chunk(sent: &[u8]) -> usize {
    bytes_owed(sent, chunk_size)
}

/// The n of a `BDAT n [LAST]` line (the verb in any case).
fn chunk_size(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?;
    // Servers split on any run of blanks (Postfix takes `BDAT  5`).
    let mut words = text.split_ascii_whitespace();
    if !words.next()?.eq_ignore_ascii_case("BDAT") {
        return None;
    }
    // Larger than memory: as good as infinite.
    let size = words.next()?;
    if !size.bytes().all(|b| b.is_ascii_digit()) || size.is_empty() {
        return None;
    }
    Some(size.parse::<usize>().unwrap_or(usize::MAX))
}

/// Bytes still owed to an IMAP literal at the end of `sent`, framing it as the
/// server does: lines, a `{n}` or `{n+}` at the end of a line announcing n bytes
/// that are taken whole (line ends included), after which the line goes on.
fn pending_literal(sent: &[u8]) -> usize {
    bytes_owed(sent, literal_at_end)
}

/// Bytes still owed at the end of `sent`, read as lines where `announced` says how
/// many raw bytes a line announces (taken whole, line ends included) before the
/// next line starts.
fn bytes_owed(sent: &[u8], announced: fn(&[u8]) -> Option<usize>) -> usize {
    let mut owed = 0usize;
    let mut i = 0;
    while i < sent.len() {
        if owed > 0 {
            let take = owed.min(sent.len() - i);
            i += take;
            owed -= take;
            continue;
        }
        let Some(lf) = sent[i..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = &sent[i..i + lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        owed = announced(line).unwrap_or(0);
        i += lf + 1;
    }
    owed
}

/// The n of a `{n}` or `{n+}` that ends `line`.
fn literal_at_end(line: &[u8]) -> Option<usize> {
    let open = line.strip_suffix(b"}")?;
    let digits = &open[open.iter().rposition(|&c| c == b'{')? + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_chunks() {
        assert_eq!(pending_chunk(b"BDAT 10\r\nabc"), 7);
        assert_eq!(pending_chunk(b"bdat 3 LAST\r\nabc"), 0);
        assert_eq!(pending_chunk(b"BDAT 3\r\nabcNOOP\r\n"), 0);
        assert_eq!(pending_chunk(b"BDAT 4294967296\r\n"), 4_294_967_296);
        assert_eq!(pending_chunk(b"BDAT  4294967296\r\n"), 4_294_967_296);
        assert_eq!(pending_chunk(b"BDAT x\r\nNOOP\r\n"), 0);
        assert_eq!(pending_chunk(b"EHLO x\r\n"), 0);
        // The chunk may contain what looks like another BDAT.
        assert_eq!(pending_chunk(b"BDAT 9\r\nBDAT 99\r\n"), 0);
    }

    #[test]
    fn pending_literals() {
        assert_eq!(pending_literal(b"a APPEND INBOX {10}\r\nabc"), 7);
        assert_eq!(pending_literal(b"a APPEND INBOX {3+}\r\nabc\r\n"), 0);
        assert_eq!(pending_literal(b"a NOOP\r\n"), 0);
        assert_eq!(pending_literal(b"a X {5}\r\na\r\nb"), 1);
        assert_eq!(pending_literal(b"a X {9}\r\na\r\nb"), 5);
        // The line goes on after a literal, and may announce another.
        assert_eq!(pending_literal(b"{2}\r\nab {4}\r\nx"), 3);
    }
}
