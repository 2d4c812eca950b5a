//! The IMAP session (RFC 9051/3501) with STARTTLS and LOGINDISABLED
//! (RFC 2595) and AUTHENTICATE PLAIN, including SASL-IR (RFC 4959). The only
//! mailbox is an empty INBOX.

use std::io;
use std::sync::Arc;

use super::conn::{Conn, Flow, Input};
use super::sasl::{self, Verdict};
use super::Shared;
use crate::wire::imap::is_tag;

/// Largest literal accepted; credentials and mailbox names are short.
const MAX_LITERAL: usize = 4096;

/// Largest command, literals included.
const MAX_COMMAND: usize = 16 * 1024;

/// The protocol states of RFC 9051 §3 (logout is simply the end of the session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotAuthenticated,
    Authenticated,
    Selected,
}

struct Session {
    conn: Conn,
    shared: Arc<Shared>,
    state: State,
}

/// Runs an IMAP session until LOGOUT, error or disconnect.
pub(crate) async fn run(conn: Conn, shared: Arc<Shared>) {
    let mut session = Session {
        conn,
        shared,
        state: State::NotAuthenticated,
    };
    let _ = session.serve().await;
    session.conn.close().await;
}

/// Splits at the first space, dropping the space.
fn split_at_space(bytes: &[u8]) -> (&[u8], &[u8]) {
    let end = bytes.iter().position(|b| *b == b' ').unwrap_or(bytes.len());
    let (head, tail) = bytes.split_at(end);
    (head, tail.get(1..).unwrap_or_default())
}

/// The literal announced at the end of a line, as (length, synchronizing).
fn literal_at_end(line: &[u8]) -> Option<(usize, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    let spec = inner.get(open + 1..)?;
    let (digits, sync) = match spec.strip_suffix(b"+") {
        Some(digits) => (digits, false),
        None => (spec, true),
    };
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, sync))
}

/// A cursor over a command's arguments.
struct Args<'a> {
    rest: &'a [u8],
}

impl<'a> Args<'a> {
    /// The next atom, quoted string or literal.
    fn astring(&mut self) -> Option<Vec<u8>> {
        let start = self.rest.iter().position(|b| *b != b' ')?;
        let rest = self.rest.get(start..)?;
        match rest.first()? {
            b'"' => {
                let mut out = Vec::new();
                let mut i = 1;
                loop {
                    match *rest.get(i)? {
                        b'\\' => {
                            out.push(*rest.get(i + 1)?);
                            i += 2;
                        }
                        b'"' => {
                            self.rest = rest.get(i + 1..)?;
                            return Some(out);
                        }
                        b'\r' | b'\n' => return None,
                        b => {
                            out.push(b);
                            i += 1;
                        }
                    }
                }
            }
            b'{' => {
                let close = rest.iter().position(|b| *b == b'}')?;
                let spec = rest.get(1..close)?;
                let digits = spec.strip_suffix(b"+").unwrap_or(spec);
                let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
                if rest.get(close + 1..close + 3)? != b"\r\n" {
                    return None;
                }
                let data_end = (close + 3).checked_add(n)?;
                let data = rest.get(close + 3..data_end)?.to_vec();
                self.rest = rest.get(data_end..)?;
                Some(data)
            }
            _ => {
                let end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
                let (atom, tail) = rest.split_at(end);
                self.rest = tail;
                Some(atom.to_vec())
            }
        }
    }

    /// Whether nothing but spaces is left.
    fn done(&self) -> bool {
        self.rest.iter().all(|b| *b == b' ')
    }
}

impl Session {
    async fn send(&mut self, line: &str) -> io::Result<()> {
        self.conn.send_line(line).await
    }

    async fn tagged(&mut self, tag: &str, text: &str) -> io::Result<Flow> {
        self.send(&format!("{tag} {text}")).await?;
        Ok(Flow::Continue)
    }

    /// The capabilities for the current state of the session.
    fn capabilities(&self) -> String {
        let tls = self.conn.is_tls();
        let mut caps = vec!["IMAP4rev1"];
        if self.shared.flaws.offer_starttls(tls) {
            caps.push("STARTTLS");
        }
        if self.shared.flaws.auth_allowed(tls) {
            caps.push("AUTH=PLAIN");
        } else {
            caps.push("LOGINDISABLED");
        }
        caps.join(" ")
    }

    /// What to do with a read that did not produce data: tell the client
    /// why the session ends, where there is something to tell.
    async fn end(&mut self, input: Input) -> io::Result<Option<Vec<u8>>> {
        match input {
            Input::Data(data) => return Ok(Some(data)),
            Input::TooLong => self.send("* BYE Command line too long").await?,
            Input::TimedOut => self.send("* BYE Autologout; idle for too long").await?,
            Input::Closed => {}
        }
        Ok(None)
    }

    /// The next line, or `None` once the session is over.
    async fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let input = self.conn.read_line().await;
        self.end(input).await
    }

    /// The next complete command with its literals inlined (each literal is
    /// kept as `{n}CRLF` followed by its bytes, for [`Args`] to parse), or
    /// `None` once the session is over.
    async fn read_command(&mut self) -> io::Result<Option<Vec<u8>>> {
        'command: loop {
            let mut command = Vec::new();
            loop {
                let Some(line) = self.read_line().await? else {
                    return Ok(None);
                };
                command.extend_from_slice(&line);
                let Some((n, sync)) = literal_at_end(&line) else {
                    return Ok(Some(command));
                };
                if n > MAX_LITERAL || command.len().saturating_add(n) > MAX_COMMAND {
                    if !sync {
                        // The client is sending the bytes regardless and
                        // they can't be told apart from commands: give up.
                        self.send("* BYE Literal too large").await?;
                        return Ok(None);
                    }
                    let (tag, _) = split_at_space(&command);
                    let tag = if is_tag(tag) {
                        String::from_utf8_lossy(tag).into_owned()
                    } else {
                        "*".to_owned()
                    };
                    self.send(&format!("{tag} BAD Literal too large")).await?;
                    continue 'command;
                }
                command.extend_from_slice(b"\r\n");
                if sync {
                    self.send("+ Ready for literal data").await?;
                }
                let input = self.conn.read_exact(n).await;
                let Some(data) = self.end(input).await? else {
                    return Ok(None);
                };
                command.extend_from_slice(&data);
            }
        }
    }

    async fn serve(&mut self) -> io::Result<()> {
        let greeting = format!(
            "* OK [CAPABILITY {}] mailtls reference server ready",
            self.capabilities()
        );
        self.send(&greeting).await?;
        while let Some(command) = self.read_command().await? {
            if let Flow::Close = self.command(&command).await? {
                break;
            }
        }
        Ok(())
    }

    async fn command(&mut self, command: &[u8]) -> io::Result<Flow> {
        if command.is_empty() {
            self.send("* BAD Empty command line").await?;
            return Ok(Flow::Continue);
        }
        let (tag, rest) = split_at_space(command);
        if !is_tag(tag) {
            self.send("* BAD Invalid tag").await?;
            return Ok(Flow::Continue);
        }
        let tag = String::from_utf8_lossy(tag).into_owned();
        let (name, args) = split_at_space(rest);
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        let mut args = Args { rest: args };
        let no_args = args.done();
        match name.as_str() {
            "" => self.tagged(&tag, "BAD Missing command").await,
            "CAPABILITY" | "NOOP" | "LOGOUT" | "STARTTLS" | "CLOSE" if !no_args => {
                self.tagged(&tag, "BAD Unexpected arguments").await
            }
            "CAPABILITY" => {
                let caps = format!("* CAPABILITY {}", self.capabilities());
                self.send(&caps).await?;
                self.tagged(&tag, "OK CAPABILITY completed").await
            }
            "NOOP" => self.tagged(&tag, "OK NOOP completed").await,
            "LOGOUT" => {
                self.send("* BYE mailtls reference server logging out")
                    .await?;
                self.tagged(&tag, "OK LOGOUT completed").await?;
                Ok(Flow::Close)
            }
            "STARTTLS" => self.starttls(&tag).await,
            "LOGIN" => self.login(&tag, &mut args).await,
            "AUTHENTICATE" => self.authenticate(&tag, &mut args).await,
            "SELECT" | "EXAMINE" => self.select(&tag, &name, &mut args).await,
            "CLOSE" if self.state == State::Selected => {
                self.state = State::Authenticated;
                self.tagged(&tag, "OK CLOSE completed").await
            }
            "CLOSE" => self.tagged(&tag, "BAD No mailbox selected").await,
            _ => self.tagged(&tag, "BAD Unknown command").await,
        }
    }

    async fn starttls(&mut self, tag: &str) -> io::Result<Flow> {
        let flaws = self.shared.flaws;
        if !flaws.starttls_supported() {
            return self.tagged(tag, "BAD Unknown command").await;
        }
        let logged_in = self.state != State::NotAuthenticated;
        if logged_in && !flaws.starttls_after_login() {
            return self
                .tagged(tag, "BAD STARTTLS not allowed after authentication")
                .await;
        }
        if !flaws.offer_starttls(self.conn.is_tls()) {
            return self.tagged(tag, "BAD TLS already active").await;
        }
        self.tagged(tag, "OK Begin TLS negotiation now").await?;
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
            self.state = State::NotAuthenticated;
        }
        Ok(Flow::Continue)
    }

    /// Refuses authentication in the wrong state or without TLS; `Some` is
    /// the refusal already sent.
    async fn auth_refusal(&mut self, tag: &str, what: &str) -> io::Result<Option<Flow>> {
        if self.state != State::NotAuthenticated {
            return self
                .tagged(tag, "BAD Already authenticated")
                .await
                .map(Some);
        }
        if !self.shared.flaws.imap_login_allowed(self.conn.is_tls()) {
            let text = format!("NO [PRIVACYREQUIRED] {what} is disabled until TLS is negotiated");
            return self.tagged(tag, &text).await.map(Some);
        }
        Ok(None)
    }

    async fn granted(&mut self, tag: &str, verdict: Verdict, what: &str) -> io::Result<Flow> {
        if verdict == Verdict::Granted {
            self.state = State::Authenticated;
            let text = format!("OK [CAPABILITY {}] {what} completed", self.capabilities());
            self.tagged(tag, &text).await
        } else {
            self.tagged(tag, "NO [AUTHENTICATIONFAILED] Invalid credentials")
                .await
        }
    }

    async fn login(&mut self, tag: &str, args: &mut Args<'_>) -> io::Result<Flow> {
        if let Some(flow) = self.auth_refusal(tag, "LOGIN").await? {
            return Ok(flow);
        }
        let (Some(user), Some(password), true) = (args.astring(), args.astring(), args.done())
        else {
            return self.tagged(tag, "BAD Syntax: LOGIN user password").await;
        };
        let verdict = sasl::check(&user, &password, &self.shared.user, &self.shared.password);
        self.granted(tag, verdict, "LOGIN").await
    }

    async fn authenticate(&mut self, tag: &str, args: &mut Args<'_>) -> io::Result<Flow> {
        if let Some(flow) = self.auth_refusal(tag, "AUTHENTICATE").await? {
            return Ok(flow);
        }
        let Some(mechanism) = args.astring() else {
            return self.tagged(tag, "BAD Syntax: AUTHENTICATE mechanism").await;
        };
        let initial = args.astring();
        if !args.done() {
            return self.tagged(tag, "BAD Syntax: AUTHENTICATE mechanism").await;
        }
        if !mechanism.eq_ignore_ascii_case(b"PLAIN") {
            return self
                .tagged(tag, "NO Unsupported authentication mechanism")
                .await;
        }
        let response = match initial {
            Some(initial) => initial,
            None => {
                self.send("+ ").await?;
                match self.read_line().await? {
                    Some(line) => line,
                    None => return Ok(Flow::Close),
                }
            }
        };
        let response = String::from_utf8_lossy(&response);
        if response.trim() == "*" {
            return self.tagged(tag, "BAD Authentication cancelled").await;
        }
        let Some(message) = sasl::decode(&response) else {
            return self.tagged(tag, "BAD Invalid base64").await;
        };
        let verdict = sasl::check_plain(&message, &self.shared.user, &self.shared.password);
        self.granted(tag, verdict, "AUTHENTICATE").await
    }

    async fn select(&mut self, tag: &str, name: &str, args: &mut Args<'_>) -> io::Result<Flow> {
        if self.state == State::NotAuthenticated {
            return self.tagged(tag, "BAD Not authenticated").await;
        }
        let (Some(mailbox), true) = (args.astring(), args.done()) else {
            return self
                .tagged(tag, &format!("BAD Syntax: {name} mailbox"))
                .await;
        };
        if !mailbox.eq_ignore_ascii_case(b"INBOX") {
            // A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
            self.state = State::Authenticated;
            return self.tagged(tag, "NO [NONEXISTENT] No such mailbox").await;
        }
        self.send(
            "* 0 EXISTS\r\n\
             * 0 RECENT\r\n\
             * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
             * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n\
             * OK [UIDVALIDITY 1] UIDs valid\r\n\
             * OK [UIDNEXT 1] Predicted next UID",
        )
        .await?;
        self.state = State::Selected;
        let access = if name == "EXAMINE" {
            "READ-ONLY"
        } else {
            "READ-WRITE"
        };
        self.tagged(tag, &format!("OK [{access}] {name} completed"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert!(is_tag(b"a1"));
        assert!(is_tag(b"A.]"));
        assert!(!is_tag(b""));
        assert!(!is_tag(b"a+"));
        assert!(!is_tag(b"*"));
        assert!(!is_tag(b"a\x01"));
        assert!(!is_tag("é".as_bytes()));
    }

    #[test]
    fn literals() {
        assert_eq!(literal_at_end(b"a LOGIN {7}"), Some((7, true)));
        assert_eq!(literal_at_end(b"a LOGIN {7+}"), Some((7, false)));
        assert_eq!(literal_at_end(b"a LOGIN {}"), None);
        assert_eq!(literal_at_end(b"a LOGIN {x}"), None);
        assert_eq!(literal_at_end(b"a LOGIN {99999999999}"), None);
        assert_eq!(literal_at_end(b"a NOOP"), None);
    }

    #[test]
    fn astrings() {
        let mut args = Args {
            rest: b"user \"p\\\"w d\" {3}\r\nx y INBOX",
        };
        assert_eq!(args.astring().as_deref(), Some(&b"user"[..]));
        assert_eq!(args.astring().as_deref(), Some(&b"p\"w d"[..]));
        assert_eq!(args.astring().as_deref(), Some(&b"x y"[..]));
        assert_eq!(args.astring().as_deref(), Some(&b"INBOX"[..]));
        assert!(args.done());
        assert_eq!(args.astring(), None);
        for hostile in [
            &b"\"open"[..],
            b"{5}\r\nab",
            b"{3}ab",
            b"{18446744073709551615}\r\n",
            b"\"\\",
        ] {
            assert_eq!(Args { rest: hostile }.astring(), None);
        }
    }
}
