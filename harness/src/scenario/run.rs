//! The scenario interpreter: runs a [`Scenario`] against one endpoint on its own
//! connection and turns what happened into a verdict with a one-line detail.
//! Applicability (implicit TLS, policy, credentials) is the caller's: see
//! [`crate::checks::Check::run`].

use super::ast::*;
use crate::checks::{CheckContext, Verdict};
use crate::report::model::Outcome;
use crate::session::answer::pop3_is_multi_line;
use crate::session::{
    busy_sign, read_answer, Answer, Connection, SessionError, Transcript, Waited, Want,
};
use crate::target::Protocol;
use crate::wire::credentials::{line_argument, CredentialError, Field, ImapChunks};
use crate::wire::Capabilities;
use regex::Regex;
use std::collections::VecDeque;
use std::time::Duration;

/// Runs the scenario; the transcript holds every byte of the session.
pub async fn run(
    scenario: &Scenario,
    ctx: &CheckContext,
    transcript: Transcript,
) -> (Verdict, Transcript) {
    let conn = match ctx.connect(transcript).await {
        Ok(conn) => conn,
        Err((e, transcript)) => return (Verdict::trouble(&e, e.to_string()), transcript),
    };
    let mut interpreter = Interpreter {
        scenario,
        ctx,
        conn,
        tag: fresh_tag(),
        capabilities: None,
        pending: VecDeque::new(),
        early_answer: None,
    };
    let verdict = match interpreter.steps().await {
        Ok(()) => Verdict::passed(&scenario.meta),
        Err(verdict) => verdict,
    };
    if verdict.outcome == Outcome::Fail {
        // The evidence of a failure includes what the server still had to say
        // (the answer to a command already sent, its goodbye): without this the
        // transcript would depend on how the replies happened to be split.
        interpreter.settle().await;
    }
    let mut transcript = interpreter.conn.into_transcript();
    transcript.note(format!("verdict: {} — {}", verdict.outcome, verdict.detail));
    (verdict, transcript)
}

struct Interpreter<'a> {
    scenario: &'a Scenario,
    ctx: &'a CheckContext,
    conn: Connection,
    tag: String,
    /// What the server last advertised; `None` until it says, and again after TLS
    /// starts, so a script can never judge stale pre-TLS capabilities by accident.
    capabilities: Option<Capabilities>,
    /// Command lines sent and not yet answered (SMTP, POP3), oldest first.
    pending: VecDeque<String>,
    /// IMAP: what the server said instead of `+` to a literal's `{n}`, the answer
    /// of the command cut short; the next `S:` reads it.
    early_answer: Option<Answer>,
}

/// How long the server may stay quiet before a failed session's transcript is closed.
const SETTLE_QUIET: Duration = Duration::from_millis(300);

/// At most this many further reads when closing a failed session's transcript.
const SETTLE_READS: usize = 8;

impl Interpreter<'_> {
    /// Reads (into the transcript) whatever the server still sends, until it goes
    /// quiet, closes, or a few reads have passed.
    async fn settle(&mut self) {
        for _ in 0..SETTLE_READS {
            match self.conn.wait_for_bytes(SETTLE_QUIET).await {
                Ok(Waited::Spoke(_)) => {}
                Ok(Waited::Quiet | Waited::Closed) | Err(_) => break,
            }
        }
    }

    async fn steps(&mut self) -> Result<(), Verdict> {
        for step in &self.scenario.steps {
            match &step.action {
                Action::Send(parts) => self.send(step, parts).await?,
                Action::Expect { expected, evidence } => {
                    self.expect(step, expected, evidence.as_ref()).await?
                }
                Action::Capability {
                    present,
                    keyword,
                    param,
                } => self.capability(step, *present, keyword, param.as_deref())?,
                Action::StartTls => self.start_tls(step).await?,
                Action::Silence(wait) => match self.conn.wait_for_bytes(*wait).await {
                    Ok(Waited::Quiet) => {}
                    Ok(Waited::Closed) => {
                        self.note("the server closed the connection, sending nothing")
                    }
                    Ok(Waited::Spoke(bytes)) => {
                        return Err(self.unmet(
                            step,
                            &format!("silence for {} ms", wait.as_millis()),
                            &format!("the server sent {}", quote(&bytes)),
                        ))
                    }
                    Err(e) => return Err(self.trouble(step, "silence", e)),
                },
                Action::Close => match self.conn.wait_for_bytes(self.conn.timeout()).await {
                    Ok(Waited::Closed) => {}
                    Ok(Waited::Quiet) => {
                        return Err(Verdict::new(
                            Outcome::Error,
                            format!(
                                "the server did not close the connection within {} ms (line {})",
                                self.conn.timeout().as_millis(),
                                step.line
                            ),
                        ))
                    }
                    Ok(Waited::Spoke(bytes)) => {
                        return Err(self.unmet(
                            step,
                            "the server to close the connection",
                            &format!("it sent {}", quote(&bytes)),
                        ))
                    }
                    Err(e) => return Err(self.trouble(step, "the server to close", e)),
                },
            }
        }
        Ok(())
    }

    async fn send(&mut self, step: &Step, parts: &[Template]) -> Result<(), Verdict> {
        let mut command = ImapChunks::new();
        for part in parts {
            self.expand(part, &mut command)
                .map_err(|e| Verdict::new(Outcome::Error, format!("line {}: {e}", step.line)))?;
        }
        let bytes = command.joined();
        for line in bytes.split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(line).trim().to_string();
            if !line.is_empty() {
                self.pending.push_back(line);
            }
        }
        let mut chunks = command.chunks().iter();
        let first = chunks.next().map(Vec::as_slice).unwrap_or_default();
        self.conn
            .send_segment(first)
            .await
            .map_err(|e| self.trouble(step, "the server to take our command", e))?;
        for literal in chunks {
            // A literal's bytes go only after the server's `+`; anything else is
            // the command's answer, for the next `S:` to judge.
            let waiting = "a `+` continuation request for a literal";
            let answer = read_answer(&mut self.conn, Protocol::Imap, &Want::ImapCompletion)
                .await
                .map_err(|e| self.trouble(step, waiting, e))?;
            if answer.tag.as_deref() != Some("+") {
                self.note("the server answered the literal's length instead of asking for it: the rest of the command was not sent");
                self.early_answer = Some(answer);
                return Ok(());
            }
            self.conn
                .send_segment(literal)
                .await
                .map_err(|e| self.trouble(step, "the server to take our command", e))?;
        }
        Ok(())
    }

    /// Reads one answer: `pattern` goes on; `evidence` (or, without one, any other
    /// answer) gives the script's `else` outcome; anything else is `error`. An answer
    /// that never came whole (a close, a timeout, bytes over a limit or outside the
    /// grammar) is `error` naming what happened, whatever the script says: no
    /// verdict rests on what the server did not say.
    async fn expect(
        &mut self,
        step: &Step,
        pattern: &ReplyPattern,
        evidence: Option<&ReplyPattern>,
    ) -> Result<(), Verdict> {
        let protocol = self.ctx.endpoint.protocol();
        let answered = self.pending.pop_front();
        let want = match (protocol, &pattern.tag) {
            (Protocol::Smtp, _) => Want::SmtpReply,
            (Protocol::Pop3, _) => Want::Pop3 {
                multi_line: answered.as_deref().is_some_and(pop3_is_multi_line),
            },
            (Protocol::Imap, Some(TagPattern::Tagged(_))) => Want::ImapCompletion,
            (Protocol::Imap, _) => Want::ImapNext,
        };
        let read = match self.early_answer.take() {
            Some(answer) => Ok(answer),
            None => read_answer(&mut self.conn, protocol, &want).await,
        };
        let answer = match read {
            Ok(answer) => answer,
            Err(e) => {
                let detail = format!(
                    "{e} (line {}, expecting `{}`)",
                    step.line,
                    self.shown(pattern)
                );
                return Err(Verdict::trouble(&e, detail));
            }
        };
        let answered_ehlo = answered
            .as_deref()
            .is_some_and(|line| verb_is(line, "EHLO"));
        if protocol != Protocol::Smtp || answered_ehlo {
            if let Some(caps) = &answer.capabilities {
                self.capabilities = Some(caps.clone());
            }
        }
        if self.matches(pattern, &answer) {
            Ok(())
        } else if let Some(busy) = busy_sign(protocol, &answer, false) {
            // About the server's load, not the check: never a verdict.
            let e = SessionError::Busy(busy);
            Err(self.trouble(step, &format!("`{}`", self.shown(pattern)), e))
        } else if protocol == Protocol::Smtp
            && matches!(answer.status.as_str(), "450" | "451")
            && answered
                .as_deref()
                .is_some_and(|line| verb_is(line, "RCPT"))
        {
            // Greylisting (or a passing local problem): about the harness, not the
            // check, so the check runs again later rather than reading it.
            let e = SessionError::Busy(format!("{} (greylisting?)", answer.summary()));
            Err(self.trouble(step, &format!("`{}`", self.shown(pattern)), e))
        } else if evidence.is_none_or(|evidence| self.matches(evidence, &answer)) {
            Err(self.unmet(
                step,
                &format!("`{}`", self.shown(pattern)),
                &format!("the server answered `{}`", answer.summary()),
            ))
        } else {
            // Neither what the script expected nor the answer that decides its
            // `else`: nothing to judge.
            let evidence = evidence.map(|e| self.shown(e)).unwrap_or_default();
            Err(Verdict::new(
                Outcome::Error,
                format!(
                    "line {}: expected `{}` (or `{evidence}`, the answer that means `{}`); the server answered `{}`",
                    step.line,
                    self.shown(pattern),
                    step.otherwise.outcome,
                    answer.summary()
                ),
            ))
        }
    }

    /// A pattern as written, with this run's IMAP tag in place of `${tag}`, so a
    /// detail shows what was really awaited.
    fn shown(&self, pattern: &ReplyPattern) -> String {
        pattern.written.replace("${tag}", &self.tag)
    }

    fn matches(&self, pattern: &ReplyPattern, answer: &Answer) -> bool {
        let tag_ok = match &pattern.tag {
            None => true,
            Some(TagPattern::Untagged) => answer.tag.as_deref() == Some("*"),
            Some(TagPattern::Continuation) => answer.tag.as_deref() == Some("+"),
            Some(TagPattern::Tagged(template)) => {
                let mut tag = ImapChunks::new();
                // A tag pattern holds no credentials, so it always expands.
                let _ = self.expand(template, &mut tag);
                answer.tag.as_deref().map(str::as_bytes) == Some(tag.joined().as_slice())
            }
        };
        let status_ok = pattern.status.is_empty()
            || pattern.status.iter().any(|status| match status {
                StatusPattern::Code(_) => answer
                    .status
                    .parse()
                    .is_ok_and(|code| status.matches_code(code)),
                StatusPattern::Word(word) => answer.status.eq_ignore_ascii_case(word),
            });
        let text_ok = pattern
            .text
            .as_ref()
            .is_none_or(|re: &Regex| re.is_match(&answer.text));
        tag_ok && status_ok && text_ok
    }

    fn capability(
        &mut self,
        step: &Step,
        present: bool,
        keyword: &str,
        param: Option<&str>,
    ) -> Result<(), Verdict> {
        let wanted = format!(
            "{} {keyword}{}",
            if present { "has" } else { "lacks" },
            param.map(|p| format!(" {p}")).unwrap_or_default()
        );
        let Some(caps) = &self.capabilities else {
            return Err(Verdict::new(
                Outcome::Error,
                format!(
                    "line {}: `CAP: {wanted}` but no capabilities were received since the connection or TLS started",
                    step.line
                ),
            ));
        };
        if caps.has(keyword, param) == present {
            return Ok(());
        }
        let advertised = if caps.is_empty() {
            "nothing".to_string()
        } else {
            caps.to_string()
        };
        Err(self.unmet(
            step,
            &format!("`{wanted}`"),
            &format!("the server advertised {advertised}"),
        ))
    }

    async fn start_tls(&mut self, step: &Step) -> Result<(), Verdict> {
        let upgrade = self.conn.start_tls().await;
        if !upgrade.early_plaintext.is_empty() {
            return Err(self.unmet(
                step,
                "a TLS handshake right after the go-ahead",
                &format!(
                    "the server sent {} of plaintext after its STARTTLS reply",
                    quote(&upgrade.early_plaintext)
                ),
            ));
        }
        match upgrade.handshake {
            Ok(()) => {}
            // A server that cannot do TLS, or one that fed our pipelined bytes to
            // its TLS library, hangs up like this; so does an overloaded one. The
            // script's `else` stands only if it happens run after run.
            Err(e @ SessionError::HandshakeDropped(_)) => {
                return Err(self
                    .unmet(step, "a TLS handshake", &e.to_string())
                    .to_confirm());
            }
            Err(e) => return Err(self.trouble(step, "a TLS handshake", e)),
        }
        // Fresh TLS, fresh knowledge: nothing learned or pipelined in cleartext counts.
        self.capabilities = None;
        self.pending.clear();
        Ok(())
    }

    /// An expectation the server did not meet: the script's `else` decides.
    fn unmet(&self, step: &Step, expected: &str, got: &str) -> Verdict {
        let detail = match &step.otherwise.message {
            Some(message) => format!("{message} (expected {expected}; {got})"),
            None => format!("line {}: expected {expected}; {got}", step.line),
        };
        Verdict::new(step.otherwise.outcome, detail)
    }

    /// A session error outside an `S:` read (those are always `error`, see
    /// [`Interpreter::expect`]): the harness's own trouble is `error` whatever the
    /// script says; what the server did (a failed handshake, closing while we
    /// sent) takes the script's `else`.
    fn trouble(&self, step: &Step, expected: &str, e: SessionError) -> Verdict {
        if e.is_harness_trouble() {
            Verdict::trouble(
                &e,
                format!("{e} (line {}, expecting {expected})", step.line),
            )
        } else {
            self.unmet(step, expected, &e.to_string())
        }
    }

    fn note(&mut self, text: &str) {
        self.conn.transcript_mut().note(text);
    }

    /// Appends the template's bytes to `out`: credentials plain (refused when a
    /// line cannot carry them) or as IMAP astrings (a literal splits `out`).
    fn expand(&self, template: &Template, out: &mut ImapChunks) -> Result<(), CredentialError> {
        let creds = self.ctx.credentials.as_ref();
        let value = |var: &Var| -> (&str, Option<Field>) {
            match var {
                Var::Host => (self.ctx.endpoint.host.as_str(), None),
                Var::Client => (self.ctx.client_name.as_str(), None),
                Var::User => (creds.map_or("", |c| c.user.as_str()), Some(Field::User)),
                Var::Password => (
                    creds.map_or("", |c| c.password.as_str()),
                    Some(Field::Password),
                ),
                Var::Tag => (self.tag.as_str(), None),
            }
        };
        for piece in &template.0 {
            match piece {
                Piece::Bytes(bytes) => out.push_bytes(bytes),
                Piece::Var(var) => match value(var) {
                    (text, Some(field)) => out.push_bytes(
                        line_argument(field, text, "a command line (it ends at CRLF)")?.as_bytes(),
                    ),
                    (text, None) => out.push_bytes(text.as_bytes()),
                },
                Piece::Astring(var) => {
                    let (text, field) = value(var);
                    out.push_astring(field.unwrap_or(Field::User), text.as_bytes())?;
                }
            }
        }
        Ok(())
    }
}

/// Whether `line` is a command with this verb.
fn verb_is(line: &str, verb: &str) -> bool {
    line.split_ascii_whitespace()
        .next()
        .is_some_and(|first| first.eq_ignore_ascii_case(verb))
}

/// A short random IMAP tag prefix, fresh for each check, so replies of one run can
/// never be mistaken for another's.
fn fresh_tag() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..4)
        .map(|i| {
            if i == 0 {
                rng.gen_range(b'a'..=b'z') as char
            } else {
                let c = rng.gen_range(0..36u8);
                (if c < 10 { b'0' + c } else { b'a' + c - 10 }) as char
            }
        })
        .collect()
}

/// Bytes for a detail line: escaped, and cut so a detail stays one readable line.
fn quote(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let text = crate::session::transcript::escape_bytes(bytes)
        .replace('\r', "\\r")
        .replace('\n', "\\n");
    let cut: String = text.chars().take(MAX).collect();
    let ellipsis = if text.chars().count() > MAX {
        "..."
    } else {
        ""
    };
    format!("{} byte(s) \"{cut}{ellipsis}\"", bytes.len())
}
