//! The SMTP session (RFC 5321) with STARTTLS (RFC 3207) and AUTH PLAIN/LOGIN
//! (RFC 4954). Messages are accepted and discarded.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use super::behaviours::{self, Arrival, Triplet};
use super::conn::{Conn, Input};
use super::sasl::{self, Verdict};
use super::Shared;

/// The advertised and enforced message size limit, in octets.
const SIZE_LIMIT: usize = 10_240_000;

/// More recipients than this per message is certainly abuse of a test server.
const MAX_RECIPIENTS: usize = 100;

/// Which greeting the client used; AUTH needs the extended one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Greeted {
    Helo,
    Ehlo,
}

/// Everything the session has learnt from the client, all of which must be
/// forgotten at STARTTLS (RFC 3207 §4.2).
#[derive(Debug, Default)]
struct State {
    greeted: Option<Greeted>,
    authenticated: bool,
    mail_from: Option<String>,
    recipients: Vec<String>,
}

impl State {
    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
    }
}

/// Whether the session goes on after a command.
enum Flow {
    Continue,
    Close,
}

/// The answer to one SASL prompt.
enum Response {
    Data(Vec<u8>),
    Cancelled,
    Undecodable,
    Gone,
}

/// Which SMTP service a listener offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Port {
    /// Relay/MX (port 25): TLS is opportunistic (RFC 3207 §4).
    Mx,
    /// Message submission (587, 465): TLS before business (RFC 8314 §3).
    Submission,
}

struct Session {
    conn: Conn,
    shared: Arc<Shared>,
    state: State,
    port: Port,
    arrival: Arrival,
}

/// Runs an SMTP session until QUIT, error or disconnect.
pub(crate) async fn run(conn: Conn, shared: Arc<Shared>, port: Port, arrival: Arrival) {
    let mut session = Session {
        conn,
        shared,
        state: State::default(),
        port,
        arrival,
    };
    let _ = session.serve().await;
    session.conn.close().await;
}

/// Splits `VERB args` into the verb and its trimmed argument string.
fn split_verb(line: &str) -> (&str, &str) {
    match line.split_once(' ') {
        Some((verb, rest)) => (verb, rest.trim()),
        None => (line, ""),
    }
}

/// `s` without a case-insensitive ASCII `prefix`.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Parses `<path> params` (after `FROM:`/`TO:`), tolerating the space some
/// clients put before the `<`.
fn parse_path(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start().strip_prefix('<')?;
    let (path, params) = rest.split_once('>')?;
    if path.contains(['<', ' ']) {
        return None;
    }
    Some((path, params.trim()))
}

/// The local part of a forward path, ignoring any (obsolete) source route.
fn local_part(path: &str) -> &str {
    let mailbox = match path.strip_prefix('@') {
        Some(routed) => routed.split_once(':').map_or(routed, |(_, m)| m),
        None => path,
    };
    mailbox.rsplit_once('@').map_or(mailbox, |(local, _)| local)
}

impl Session {
    async fn reply(&mut self, line: &str) -> io::Result<()> {
        self.conn.send_line(line).await
    }

    /// The next line, or `None` once the session is over (after telling the
    /// client why, where there is something to tell).
    async fn read(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.conn.read_line().await {
            Input::Data(line) => Ok(Some(line)),
            Input::TooLong => {
                self.reply("500 5.5.2 Line too long").await?;
                Ok(None)
            }
            Input::TimedOut => {
                let line = format!("421 4.4.2 {} Error: timeout exceeded", self.shared.hostname);
                self.reply(&line).await?;
                Ok(None)
            }
            Input::Closed => Ok(None),
        }
    }

    async fn serve(&mut self) -> io::Result<()> {
        let greeting = format!(
            "220 {} ESMTP mailtls reference server",
            self.shared.hostname
        );
        self.reply(&greeting).await?;
        let mut commands = 0;
        while let Some(line) = self.read().await? {
            commands += 1;
            let behaviours = self.shared.behaviours;
            if behaviours.smtp_busy_at_command(self.arrival.number, commands) {
                self.reply(behaviours::SMTP_BUSY_CLOSING).await?;
                break;
            }
            let line = String::from_utf8_lossy(&line);
            if let Flow::Close = self.command(&line).await? {
                break;
            }
        }
        Ok(())
    }

    async fn command(&mut self, line: &str) -> io::Result<Flow> {
        let (verb, arg) = split_verb(line);
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => return self.ehlo(arg).await,
            "HELO" => return self.helo(arg).await,
            "MAIL" => self.mail(arg),
            "RCPT" => {
                let reply = self.rcpt(arg);
                self.reply(&reply).await?;
                return Ok(Flow::Continue);
            }
            "DATA" => return self.data(arg).await,
            "RSET" => {
                self.state.reset_transaction();
                "250 2.0.0 Ok"
            }
            "NOOP" => "250 2.0.0 Ok",
            "VRFY" if arg.is_empty() => "501 5.5.4 Syntax: VRFY address",
            "VRFY" => "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery",
            "HELP" => "214 2.0.0 mailtls reference server, see RFC 5321",
            "QUIT" => {
                self.reply("221 2.0.0 Bye").await?;
                return Ok(Flow::Close);
            }
            "STARTTLS" => return self.starttls(arg).await,
            "AUTH" => return self.auth(arg).await,
            "" => "500 5.5.2 Error: bad syntax",
            _ => "500 5.5.2 Error: command not recognized",
        };
        self.reply(reply).await?;
        Ok(Flow::Continue)
    }

    async fn ehlo(&mut self, arg: &str) -> io::Result<Flow> {
        if arg.is_empty() {
            self.reply("501 5.5.4 Syntax: EHLO hostname").await?;
            return Ok(Flow::Continue);
        }
        // A new EHLO implies RSET (RFC 5321 §4.1.4); AUTH survives it.
        self.state.reset_transaction();
        self.state.greeted = Some(Greeted::Ehlo);
        let tls = self.conn.is_tls();
        let mut lines = vec![
            self.shared.hostname.clone(),
            "PIPELINING".to_owned(),
            format!("SIZE {SIZE_LIMIT}"),
            "8BITMIME".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if self.shared.flaws.offer_starttls(tls) {
            lines.push("STARTTLS".to_owned());
        }
        if self.shared.flaws.auth_allowed(tls) {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        let last = lines.len() - 1;
        let mut reply = String::new();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            reply.push_str(&format!("250{sep}{line}\r\n"));
        }
        self.conn.send(reply.as_bytes()).await?;
        Ok(Flow::Continue)
    }

    async fn helo(&mut self, arg: &str) -> io::Result<Flow> {
        if arg.is_empty() {
            self.reply("501 5.5.4 Syntax: HELO hostname").await?;
        } else {
            self.state.reset_transaction();
            self.state.greeted = Some(Greeted::Helo);
            let reply = format!("250 {}", self.shared.hostname);
            self.reply(&reply).await?;
        }
        Ok(Flow::Continue)
    }

    fn mail(&mut self, arg: &str) -> &'static str {
        if self.state.greeted.is_none() {
            return "503 5.5.1 Error: send HELO/EHLO first";
        }
        if self.port == Port::Submission
            && !self.conn.is_tls()
            && !self.shared.flaws.submission_mail_before_tls()
        {
            return "530 5.7.0 Must issue a STARTTLS command first";
        }
        if self.state.mail_from.is_some() {
            return "503 5.5.1 Error: nested MAIL command";
        }
        let Some((path, params)) = strip_prefix_ci(arg, "FROM:").and_then(parse_path) else {
            return "501 5.5.4 Syntax: MAIL FROM:<address>";
        };
        for param in params.split_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(size) if size > SIZE_LIMIT as u64 => {
                        return "552 5.3.4 Message size exceeds fixed maximum message size";
                    }
                    Ok(_) => {}
                    Err(_) => return "501 5.5.4 Bad SIZE parameter",
                },
                "BODY"
                    if value.eq_ignore_ascii_case("7BIT")
                        || value.eq_ignore_ascii_case("8BITMIME") => {}
                "BODY" => return "501 5.5.4 Bad BODY parameter",
                // RFC 4954 §5; the server has nobody to relay the identity to.
                "AUTH" => {}
                _ => return "555 5.5.4 Unsupported MAIL parameter",
            }
        }
        self.state.mail_from = Some(path.to_owned());
        "250 2.1.0 Ok"
    }

    fn rcpt(&mut self, arg: &str) -> Cow<'static, str> {
        let Some(sender) = &self.state.mail_from else {
            return "503 5.5.1 Error: need MAIL command".into();
        };
        let Some((path, params)) = strip_prefix_ci(arg, "TO:").and_then(parse_path) else {
            return "501 5.5.4 Syntax: RCPT TO:<address>".into();
        };
        if path.is_empty() {
            return "501 5.1.3 Bad recipient address syntax".into();
        }
        if !params.is_empty() {
            return "555 5.5.4 Unsupported RCPT parameter".into();
        }
        if self.state.recipients.len() >= MAX_RECIPIENTS {
            return "452 4.5.3 Error: too many recipients".into();
        }
        let local = local_part(path);
        if !local.eq_ignore_ascii_case(&self.shared.user)
            && !local.eq_ignore_ascii_case("postmaster")
        {
            return "550 5.1.1 Recipient address rejected: User unknown".into();
        }
        // Greylisting comes last, as a policy service does after the
        // recipient checks: only mail that would be taken is deferred.
        let triplet = Triplet {
            client: self.arrival.peer,
            sender,
            recipient: path,
        };
        if (self.shared.behaviours).greylist_defers(&self.shared.greylist, triplet) {
            return behaviours::greylist_reply(path).into();
        }
        self.state.recipients.push(path.to_owned());
        "250 2.1.5 Ok".into()
    }

    async fn data(&mut self, arg: &str) -> io::Result<Flow> {
        let refusal = if self.state.mail_from.is_none() {
            Some("503 5.5.1 Error: need MAIL command")
        } else if self.state.recipients.is_empty() {
            Some("503 5.5.1 Error: need RCPT command")
        } else if !arg.is_empty() {
            Some("501 5.5.4 Syntax: DATA")
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.reply(refusal).await?;
            return Ok(Flow::Continue);
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let mut body = Vec::new();
        let mut size = 0usize;
        loop {
            let Some(line) = self.read().await? else {
                return Ok(Flow::Close);
            };
            if line == b"." {
                break;
            }
            if self.shared.flaws.bare_lf_ends_data() {
                // The smuggling bug: a bare LF ends a line inside DATA, so `\n.\n`,
                // `\n.\r\n` or `\r\n.\n` ends the message and what follows is
                // read as the next command (CVE-2023-51764 class).
                let parts: Vec<&[u8]> = line.split(|&b| b == b'\n').collect();
                if let Some(dot) = parts.iter().position(|part| *part == b".") {
                    if self.shared.behaviours.drop_read_ahead_at_odd_end() {
                        // Neither the rest of this line nor anything read
                        // after it survives the end of the message.
                        self.conn.drop_read_ahead();
                    } else if dot + 1 < parts.len() {
                        let rest = parts[dot + 1..].join(&b'\n');
                        self.conn.unread_line(&rest);
                    }
                    body.extend_from_slice(&parts[..dot].join(&b'\n'));
                    break;
                }
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            size = size.saturating_add(line.len() + 2);
            // Past the limit the rest is read (to stay in sync) but not kept.
            if size <= SIZE_LIMIT {
                body.extend_from_slice(line);
                body.extend_from_slice(b"\r\n");
            }
        }
        self.state.reset_transaction();
        if size > SIZE_LIMIT {
            self.reply("552 5.3.4 Message size exceeds fixed maximum message size")
                .await?;
        } else {
            *self
                .shared
                .last_message
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(body);
            self.reply("250 2.0.0 Ok: queued").await?;
        }
        Ok(Flow::Continue)
    }

    async fn starttls(&mut self, arg: &str) -> io::Result<Flow> {
        let flaws = self.shared.flaws;
        let refusal = if !flaws.starttls_supported() {
            Some("502 5.5.1 Error: command not implemented")
        } else if !arg.is_empty() {
            Some("501 5.5.4 Syntax: STARTTLS")
        } else if !flaws.offer_starttls(self.conn.is_tls()) {
            Some("503 5.5.1 Error: TLS already active")
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.reply(refusal).await?;
            return Ok(Flow::Continue);
        }
        self.reply("220 2.0.0 Ready to start TLS").await?;
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
        if flaws.reset_smtp_on_upgrade() {
            self.state = State::default();
        }
        Ok(Flow::Continue)
    }

    async fn auth(&mut self, arg: &str) -> io::Result<Flow> {
        let refusal = if !self.shared.flaws.auth_allowed(self.conn.is_tls()) {
            Some("530 5.7.0 Must issue a STARTTLS command first")
        } else if self.state.greeted != Some(Greeted::Ehlo) {
            Some("503 5.5.1 Error: send EHLO first")
        } else if self.state.authenticated {
            Some("503 5.5.1 Error: already authenticated")
        } else if self.state.mail_from.is_some() {
            Some("503 5.5.1 Error: MAIL transaction in progress")
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.reply(refusal).await?;
            return Ok(Flow::Continue);
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((mechanism, initial)) => (mechanism, Some(initial.trim())),
            None => (arg, None),
        };
        let verdict = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => match self.sasl_step(initial, "").await? {
                Response::Data(message) => {
                    let authzid = message.split(|b| *b == 0).next().unwrap_or_default();
                    if (self.shared.flaws).authzid_crashes(self.conn.is_tls(), authzid.len()) {
                        // The planted crash: no reply, the process is gone.
                        self.shared.crash();
                        return std::future::pending().await;
                    }
                    sasl::check_plain(&message, &self.shared.user, &self.shared.password)
                }
                other => return self.sasl_failure(other).await,
            },
            "LOGIN" => {
                let user = match self.sasl_step(initial, "Username:").await? {
                    Response::Data(user) => user,
                    other => return self.sasl_failure(other).await,
                };
                let password = match self.sasl_step(None, "Password:").await? {
                    Response::Data(password) => password,
                    other => return self.sasl_failure(other).await,
                };
                sasl::check(&user, &password, &self.shared.user, &self.shared.password)
            }
            "" => {
                self.reply("501 5.5.4 Syntax: AUTH mechanism").await?;
                return Ok(Flow::Continue);
            }
            _ => {
                self.reply("504 5.5.4 Unsupported authentication mechanism")
                    .await?;
                return Ok(Flow::Continue);
            }
        };
        if verdict == Verdict::Granted {
            self.state.authenticated = true;
            self.reply("235 2.7.0 Authentication successful").await?;
        } else {
            self.reply("535 5.7.8 Error: authentication failed").await?;
        }
        Ok(Flow::Continue)
    }

    /// Gets one SASL response: the initial response if the client gave one,
    /// otherwise by sending a `334` challenge (`challenge` is plain text).
    async fn sasl_step(&mut self, initial: Option<&str>, challenge: &str) -> io::Result<Response> {
        let owned;
        let response = match initial {
            Some(initial) => initial,
            None => {
                let prompt = format!("334 {}", sasl::encode(challenge.as_bytes()));
                self.reply(&prompt).await?;
                let Some(line) = self.read().await? else {
                    return Ok(Response::Gone);
                };
                owned = String::from_utf8_lossy(&line).into_owned();
                &owned
            }
        };
        if response.trim() == "*" {
            return Ok(Response::Cancelled);
        }
        Ok(match sasl::decode(response) {
            Some(data) => Response::Data(data),
            None => Response::Undecodable,
        })
    }

    async fn sasl_failure(&mut self, response: Response) -> io::Result<Flow> {
        let reply = match response {
            Response::Gone => return Ok(Flow::Close),
            Response::Cancelled => "501 5.7.0 Authentication aborted",
            Response::Undecodable | Response::Data(_) => "501 5.5.2 Cannot decode response",
        };
        self.reply(reply).await?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("<a@b> SIZE=1"), Some(("a@b", "SIZE=1")));
        assert_eq!(parse_path(" <>"), Some(("", "")));
        assert_eq!(parse_path("a@b"), None);
        assert_eq!(parse_path("<a@b"), None);
        assert_eq!(local_part("mailtls@x.test"), "mailtls");
        assert_eq!(local_part("postmaster"), "postmaster");
        assert_eq!(local_part("@relay.test:Postmaster@x.test"), "Postmaster");
        assert_eq!(strip_prefix_ci("from:<x>", "FROM:"), Some("<x>"));
        assert_eq!(strip_prefix_ci("fr", "FROM:"), None);
        assert_eq!(strip_prefix_ci("fröm:", "FROM:"), None);
    }
}
