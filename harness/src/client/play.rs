//! The player: runs one client script as the server side of one accepted
//! connection and turns what the client did into a verdict. Every read has a
//! deadline and every line a cap (the reference server's connection does both).

use super::responder::{answer, next_tag, ClientCommand};
use super::script::{ClientAction, ClientScenario, ClientStep, CommandPattern};
use crate::checks::Verdict;
use crate::report::model::Outcome;
use crate::scenario::ast::{Piece, Var};
use crate::server::conn::{Conn, Input};
use crate::session::Transcript;
use crate::target::Protocol;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// Most commands a `C: never` step answers before it stops waiting.
const MAX_GUARDED_COMMANDS: usize = 64;

/// Most times a `C:` step answers the same question again before giving up.
const MAX_REPEATS: usize = 4;

/// What a player needs besides the script.
#[derive(Clone)]
pub struct PlayOptions {
    /// The name the harness's server gives itself (`${host}`).
    pub host: String,
    /// How long the client may stay silent when it is expected to speak.
    pub idle: Duration,
    /// The TLS configuration that presents the scenario's certificate.
    pub tls: Arc<rustls::ServerConfig>,
}

/// Plays `scenario` on the accepted connection `tcp`; the transcript gets every
/// byte, also when the caller's deadline cuts the play short.
pub async fn play(
    scenario: &ClientScenario,
    tcp: TcpStream,
    options: &PlayOptions,
    transcript: &mut Transcript,
) -> Verdict {
    let _ = tcp.set_nodelay(true);
    let conn = Conn::new(
        Box::new(tcp),
        false,
        TlsAcceptor::from(options.tls.clone()),
        options.idle,
    );
    let mut player = Player {
        protocol: scenario.meta.protocol.unwrap_or(Protocol::Smtp),
        options,
        conn,
        transcript,
        tag: String::new(),
        client_name: String::new(),
        last_verb: String::new(),
        last_answer: None,
    };
    let verdict = match player.steps(&scenario.steps).await {
        Ok(()) => Verdict::passed(&scenario.meta),
        Err(verdict) => verdict,
    };
    player.conn.close().await;
    verdict
}

struct Player<'a> {
    protocol: Protocol,
    options: &'a PlayOptions,
    conn: Conn,
    transcript: &'a mut Transcript,
    /// The tag of the client's last IMAP command.
    tag: String,
    /// What the client called itself in EHLO/HELO.
    client_name: String,
    /// The verb of the client's last command.
    last_verb: String,
    /// The script's answer to a command and that command's verb, so that the
    /// same question asked again (a second CAPA) gets the same answer.
    last_answer: Option<(String, Vec<super::script::ast::ClientTemplate>)>,
}

/// What reading one client line gave.
enum Heard {
    Line(String),
    Closed,
    TimedOut,
    TooLong,
}

impl Player<'_> {
    async fn steps(&mut self, steps: &[ClientStep]) -> Result<(), Verdict> {
        for step in steps {
            match &step.action {
                ClientAction::Send(parts) => {
                    self.send_parts(parts).await?;
                    self.last_answer = Some((self.last_verb.clone(), parts.clone()));
                }
                ClientAction::Expect(pattern) => self.expect(step, pattern).await?,
                ClientAction::Never(pattern) => self.never(step, pattern).await?,
                ClientAction::StartTls => self.start_tls(step).await?,
                ClientAction::Silence(wait) => match self.hear(*wait).await {
                    Heard::TimedOut => {}
                    Heard::Closed => self.transcript.note("the client closed the connection"),
                    Heard::Line(_) | Heard::TooLong => {
                        return Err(self.unmet(
                            step,
                            &format!("silence for {} ms", wait.as_millis()),
                            &format!("the client sent {}", self.last_client_line()),
                        ))
                    }
                },
                ClientAction::Close => match self.hear(self.options.idle).await {
                    Heard::Closed => {}
                    Heard::TimedOut => return Err(self.timed_out(step, "the client to close")),
                    _ => {
                        return Err(self.unmet(
                            step,
                            "the client to close the connection",
                            &format!("it sent {}", self.last_client_line()),
                        ))
                    }
                },
            }
        }
        Ok(())
    }

    fn expand(&self, piece: &super::script::ast::ClientPiece, out: &mut Vec<u8>) {
        use super::script::ast::ClientPiece;
        match piece {
            ClientPiece::NextTag => out.extend_from_slice(next_tag(&self.tag).as_bytes()),
            ClientPiece::Shared(template) => {
                for piece in &template.0 {
                    match piece {
                        Piece::Bytes(bytes) => out.extend_from_slice(bytes),
                        Piece::Var(Var::Host) => {
                            out.extend_from_slice(self.options.host.as_bytes())
                        }
                        Piece::Var(Var::Client) => {
                            out.extend_from_slice(self.client_name.as_bytes())
                        }
                        Piece::Var(Var::Tag) => out.extend_from_slice(self.tag.as_bytes()),
                        // The parser rejects credentials in client scripts.
                        Piece::Var(Var::User | Var::Password) | Piece::Astring(_) => {}
                    }
                }
            }
        }
    }

    async fn send_parts(
        &mut self,
        parts: &[super::script::ast::ClientTemplate],
    ) -> Result<(), Verdict> {
        let mut bytes = Vec::new();
        for part in parts {
            for piece in &part.0 {
                self.expand(piece, &mut bytes);
            }
        }
        self.send(&bytes).await
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Verdict> {
        self.transcript.server(bytes);
        self.conn
            .send(bytes)
            .await
            .map_err(|e| Verdict::new(Outcome::Error, format!("could not send to the client: {e}")))
    }

    /// Reads one command line of the client, recording it.
    async fn hear(&mut self, deadline: Duration) -> Heard {
        match self.conn.read_line_within(deadline).await {
            Input::Data(line) => {
                let mut recorded = line.clone();
                recorded.extend_from_slice(b"\r\n");
                self.transcript.client(&recorded);
                let line = String::from_utf8_lossy(&line).into_owned();
                let command = ClientCommand::parse(self.protocol, &line);
                if self.protocol == Protocol::Imap && !command.tag.is_empty() {
                    self.tag = command.tag.clone();
                }
                self.last_verb = command.verb.clone();
                if matches!(command.verb.as_str(), "EHLO" | "HELO") {
                    self.client_name = line.split_ascii_whitespace().nth(1).unwrap_or("").into();
                }
                Heard::Line(line)
            }
            Input::Closed => Heard::Closed,
            Input::TimedOut => Heard::TimedOut,
            Input::TooLong => {
                self.transcript
                    .note("the client sent a line longer than the cap");
                Heard::TooLong
            }
        }
    }

    /// The client's last line as recorded (secrets already redacted), for details.
    fn last_client_line(&self) -> String {
        self.transcript
            .entries()
            .iter()
            .rev()
            .find(|e| e.dir == crate::report::model::Dir::Client)
            .map_or_else(|| "nothing".into(), |e| format!("`{}`", e.data.trim_end()))
    }

    async fn expect(&mut self, step: &ClientStep, pattern: &CommandPattern) -> Result<(), Verdict> {
        let expected = format!("`{}`", pattern.written);
        for _ in 0..MAX_REPEATS {
            let line = match self.hear(self.options.idle).await {
                Heard::Line(line) => line,
                // Leaving is always safe: a client that closes is never `fail`.
                Heard::Closed => {
                    let mut verdict =
                        self.unmet(step, &expected, "the client closed the connection");
                    if verdict.outcome == Outcome::Fail {
                        verdict.outcome = Outcome::Error;
                    }
                    return Err(verdict);
                }
                Heard::TooLong => {
                    return Err(self.unmet(step, &expected, "the client sent an over-long line"))
                }
                Heard::TimedOut => return Err(self.timed_out(step, &expected)),
            };
            let command = ClientCommand::parse(self.protocol, &line);
            if pattern.matches(&command.verb, &line) {
                return Ok(());
            }
            // The same question again (a second CAPA, EHLO or CAPABILITY): the
            // script's answer to it stands.
            match self.last_answer.clone() {
                Some((verb, parts)) if !verb.is_empty() && verb == command.verb => {
                    self.send_parts(&parts).await?;
                }
                _ => {
                    return Err(self.unmet(
                        step,
                        &expected,
                        &format!("the client sent {}", self.last_client_line()),
                    ))
                }
            }
        }
        Err(self.unmet(step, &expected, "the client kept asking the same question"))
    }

    /// Answers with stock replies until the client leaves; a matching command is
    /// the unmet expectation.
    async fn never(&mut self, step: &ClientStep, pattern: &CommandPattern) -> Result<(), Verdict> {
        let where_ = if self.conn.is_tls() {
            "inside TLS"
        } else {
            "in cleartext"
        };
        for _ in 0..MAX_GUARDED_COMMANDS {
            let line = match self.hear(self.options.idle).await {
                Heard::Line(line) => line,
                Heard::Closed => {
                    self.transcript.note("the client closed the connection");
                    return Ok(());
                }
                Heard::TimedOut => {
                    self.transcript.note(format!(
                        "the client went quiet for {} ms",
                        self.options.idle.as_millis()
                    ));
                    return Ok(());
                }
                Heard::TooLong => return Ok(()),
            };
            let command = ClientCommand::parse(self.protocol, &line);
            if pattern.matches(&command.verb, &line) {
                return Err(self.unmet(
                    step,
                    &format!("no `{}` {where_}", pattern.written),
                    &format!("the client sent {} {where_}", self.last_client_line()),
                ));
            }
            let reply = answer(self.protocol, &command, &self.options.host);
            self.send(&reply.bytes).await?;
            if reply.close {
                return Ok(());
            }
        }
        self.transcript.note(format!(
            "stopped answering after {MAX_GUARDED_COMMANDS} commands"
        ));
        Ok(())
    }

    async fn start_tls(&mut self, step: &ClientStep) -> Result<(), Verdict> {
        let early = self.conn.buffered().to_vec();
        if !early.is_empty() {
            self.transcript.client(&early);
            self.transcript.note(format!(
                "the client sent {} byte(s) after the go-ahead, before its ClientHello; they are discarded",
                early.len()
            ));
        }
        match self.conn.start_tls(false, false).await {
            Ok(()) => {
                self.transcript.note("TLS established");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err(self.timed_out(step, "the client's TLS handshake"))
            }
            Err(e) => {
                self.transcript.note(format!("TLS handshake failed: {e}"));
                Err(self.unmet(step, "a TLS handshake", &format!("it failed: {e}")))
            }
        }
    }

    /// The step's `else` verdict, with the script's explanation and what happened.
    fn unmet(&self, step: &ClientStep, expected: &str, got: &str) -> Verdict {
        let what = format!("expected {expected}; {got}");
        Verdict::new(
            step.otherwise.outcome,
            match &step.otherwise.message {
                Some(message) => format!("{message} ({what})"),
                None => format!("line {}: {what}", step.line),
            },
        )
    }

    /// A timeout is never the client's failure: always `error`.
    fn timed_out(&self, step: &ClientStep, expected: &str) -> Verdict {
        Verdict::new(
            Outcome::Error,
            format!(
                "the client sent nothing within {} ms; expected {expected} (line {})",
                self.options.idle.as_millis(),
                step.line
            ),
        )
    }
}
