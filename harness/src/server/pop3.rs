//! The POP3 session (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595) and
//! AUTH PLAIN (RFC 5034). The maildrop is always empty.

use std::io;
use std::sync::Arc;

use super::conn::{Conn, Flow, Input};
use super::sasl::{self, Verdict};
use super::Shared;

/// The protocol states of RFC 1939 §3 (UPDATE happens at QUIT and has
/// nothing to do with an empty maildrop).
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Before login; `user` is what USER named, awaiting PASS.
    Authorization {
        user: Option<Vec<u8>>,
    },
    Transaction,
}

struct Session {
    conn: Conn,
    shared: Arc<Shared>,
    state: State,
}

/// Runs a POP3 session until QUIT, error or disconnect.
pub(crate) async fn run(conn: Conn, shared: Arc<Shared>) {
    let mut session = Session {
        conn,
        shared,
        state: State::Authorization { user: None },
    };
    let _ = session.serve().await;
    session.conn.close().await;
}

impl Session {
    async fn send(&mut self, line: &str) -> io::Result<()> {
        self.conn.send_line(line).await
    }

    async fn reply(&mut self, line: &str) -> io::Result<Flow> {
        self.send(line).await?;
        Ok(Flow::Continue)
    }

    /// The next line, or `None` once the session is over (after telling the
    /// client why, where there is something to tell).
    async fn read(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.conn.read_line().await {
            Input::Data(line) => Ok(Some(line)),
            Input::TooLong => {
                self.send("-ERR Line too long").await?;
                Ok(None)
            }
            Input::TimedOut => {
                self.send("-ERR Idle timeout, closing connection").await?;
                Ok(None)
            }
            Input::Closed => Ok(None),
        }
    }

    async fn serve(&mut self) -> io::Result<()> {
        self.send("+OK mailtls reference server ready").await?;
        while let Some(line) = self.read().await? {
            if let Flow::Close = self.command(&line).await? {
                break;
            }
        }
        Ok(())
    }

    async fn command(&mut self, line: &[u8]) -> io::Result<Flow> {
        let end = line.iter().position(|b| *b == b' ').unwrap_or(line.len());
        let (verb, arg) = line.split_at(end);
        // PASS takes the rest of the line verbatim, passwords may have spaces.
        let arg = arg.get(1..).unwrap_or_default();
        let verb = String::from_utf8_lossy(verb).to_ascii_uppercase();
        let authorized = self.state == State::Transaction;
        match verb.as_str() {
            "CAPA" => self.capa().await,
            "QUIT" => {
                self.send("+OK mailtls reference server signing off")
                    .await?;
                Ok(Flow::Close)
            }
            "NOOP" => self.reply("+OK").await,
            "STLS" => self.stls().await,
            "USER" => self.user(arg).await,
            "PASS" => self.pass(arg).await,
            "AUTH" => self.auth(arg).await,
            "STAT" | "LIST" | "UIDL" | "RSET" | "RETR" | "TOP" | "DELE" if !authorized => {
                self.reply("-ERR Not authenticated").await
            }
            "STAT" => self.reply("+OK 0 0").await,
            "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" if !arg.is_empty() => {
                self.reply("-ERR No such message").await
            }
            "LIST" => self.reply("+OK 0 messages (0 octets)\r\n.").await,
            "UIDL" => self.reply("+OK\r\n.").await,
            "RETR" | "TOP" | "DELE" => self.reply("-ERR Missing message number").await,
            "RSET" => self.reply("+OK").await,
            _ => self.reply("-ERR Unknown command").await,
        }
    }

    async fn capa(&mut self) -> io::Result<Flow> {
        let tls = self.conn.is_tls();
        let mut lines = vec!["+OK Capability list follows"];
        if self.shared.flaws.offer_starttls(tls) {
            lines.push("STLS");
        }
        lines.extend(["TOP", "UIDL", "RESP-CODES", "PIPELINING"]);
        if self.shared.flaws.auth_allowed(tls) {
            lines.extend(["USER", "SASL PLAIN"]);
        }
        lines.push(".");
        self.reply(&lines.join("\r\n")).await
    }

    async fn stls(&mut self) -> io::Result<Flow> {
        let flaws = self.shared.flaws;
        if !flaws.starttls_supported() {
            return self.reply("-ERR Unknown command").await;
        }
        let logged_in = self.state == State::Transaction;
        if logged_in && !flaws.starttls_after_login() {
            return self
                .reply("-ERR STLS not allowed after authentication")
                .await;
        }
        if !flaws.offer_starttls(self.conn.is_tls()) {
            return self.reply("-ERR TLS already active").await;
        }
        self.send("+OK Begin TLS negotiation").await?;
        if self
            .conn
            .start_tls(
                flaws.keep_plaintext_after_upgrade(),
                flaws.keep_late_plaintext(),
            )
            .await
            .is_err()
        {
            return Ok(Flow::Close);
        }
        if !(logged_in && flaws.starttls_after_login()) {
            self.state = State::Authorization { user: None };
        }
        Ok(Flow::Continue)
    }

    /// Refuses authentication in the wrong state or without TLS; `Some` is
    /// the refusal already sent.
    async fn auth_refusal(&mut self) -> io::Result<Option<Flow>> {
        if self.state == State::Transaction {
            return self.reply("-ERR Already authenticated").await.map(Some);
        }
        if !self.shared.flaws.pop3_login_allowed(self.conn.is_tls()) {
            return self
                .reply("-ERR TLS required for authentication")
                .await
                .map(Some);
        }
        Ok(None)
    }

    async fn user(&mut self, arg: &[u8]) -> io::Result<Flow> {
        if let Some(flow) = self.auth_refusal().await? {
            return Ok(flow);
        }
        if arg.is_empty() {
            return self.reply("-ERR Missing user name").await;
        }
        self.state = State::Authorization {
            user: Some(arg.to_vec()),
        };
        self.reply("+OK").await
    }

    async fn pass(&mut self, arg: &[u8]) -> io::Result<Flow> {
        if let Some(flow) = self.auth_refusal().await? {
            return Ok(flow);
        }
        let State::Authorization { user: Some(user) } = &self.state else {
            return self.reply("-ERR USER first").await;
        };
        let verdict = sasl::check(user, arg, &self.shared.user, &self.shared.password);
        self.granted(verdict).await
    }

    async fn granted(&mut self, verdict: Verdict) -> io::Result<Flow> {
        if verdict == Verdict::Granted {
            self.state = State::Transaction;
            self.reply("+OK Logged in").await
        } else {
            self.state = State::Authorization { user: None };
            self.reply("-ERR [AUTH] Authentication failed").await
        }
    }

    async fn auth(&mut self, arg: &[u8]) -> io::Result<Flow> {
        if let Some(flow) = self.auth_refusal().await? {
            return Ok(flow);
        }
        let arg = String::from_utf8_lossy(arg);
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((mechanism, initial)) => (mechanism, Some(initial.trim().to_owned())),
            None => (arg.as_ref(), None),
        };
        if mechanism.is_empty() {
            return self.reply("-ERR Missing mechanism").await;
        }
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return self
                .reply("-ERR Unsupported authentication mechanism")
                .await;
        }
        let response = match initial {
            Some(initial) => initial,
            None => {
                self.send("+ ").await?;
                match self.read().await? {
                    Some(line) => String::from_utf8_lossy(&line).into_owned(),
                    None => return Ok(Flow::Close),
                }
            }
        };
        if response.trim() == "*" {
            return self.reply("-ERR Authentication cancelled").await;
        }
        let Some(message) = sasl::decode(&response) else {
            return self.reply("-ERR Invalid base64").await;
        };
        let verdict = sasl::check_plain(&message, &self.shared.user, &self.shared.password);
        self.granted(verdict).await
    }
}
