//! The stock replies of a malicious server while it waits for a client to either
//! give up or give itself away (`C: never ...`): friendly enough that a careless
//! client goes on, never offering TLS, and closing when the client says goodbye.

use crate::target::Protocol;

/// A client command split into what the judge needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCommand {
    /// The IMAP tag (empty for SMTP and POP3).
    pub tag: String,
    /// The verb, upper case (`MAIL`, `LOGIN`, `USER`).
    pub verb: String,
}

impl ClientCommand {
    /// Splits a command line: SMTP and POP3 start with the verb, IMAP with a tag.
    pub fn parse(protocol: Protocol, line: &str) -> ClientCommand {
        let mut words = line.split_ascii_whitespace();
        let (tag, verb) = match protocol {
            Protocol::Imap => (words.next().unwrap_or(""), words.next().unwrap_or("")),
            Protocol::Smtp | Protocol::Pop3 => ("", words.next().unwrap_or("")),
        };
        // `MAIL FROM:<a>` has its verb before the space; `RCPT TO:<b>` too.
        let verb = verb.split(':').next().unwrap_or("");
        ClientCommand {
            tag: tag.to_string(),
            verb: verb.to_ascii_uppercase(),
        }
    }
}

/// What to answer, and whether to close afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The bytes, CRLFs included.
    pub bytes: Vec<u8>,
    /// The client said goodbye: close once the reply is out.
    pub close: bool,
}

/// The stock reply of a server named `host` to `command`.
pub fn answer(protocol: Protocol, command: &ClientCommand, host: &str) -> Reply {
    let tag = if command.tag.is_empty() {
        "*"
    } else {
        &command.tag
    };
    let (text, close) = match (protocol, command.verb.as_str()) {
        (Protocol::Smtp, "QUIT") => ("221 2.0.0 Bye".to_string(), true),
        (Protocol::Smtp, "EHLO") => (
            format!("250-{host}\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME"),
            false,
        ),
        (Protocol::Smtp, "HELO") => (format!("250 {host}"), false),
        (Protocol::Smtp, "NOOP" | "RSET") => ("250 2.0.0 Ok".into(), false),
        (Protocol::Smtp, "STARTTLS") => ("454 4.7.0 TLS not available".into(), false),
        (Protocol::Smtp, _) => ("502 5.5.2 Command not recognized".into(), false),
        (Protocol::Imap, "LOGOUT") => (format!("* BYE Bye\r\n{tag} OK LOGOUT completed"), true),
        (Protocol::Imap, "CAPABILITY") => (
            format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK CAPABILITY completed"),
            false,
        ),
        (Protocol::Imap, "NOOP") => (format!("{tag} OK NOOP completed"), false),
        (Protocol::Imap, "STARTTLS") => (format!("{tag} NO TLS not available"), false),
        (Protocol::Imap, _) => (format!("{tag} BAD Command not recognized"), false),
        (Protocol::Pop3, "QUIT") => ("+OK Bye".into(), true),
        (Protocol::Pop3, "CAPA") => ("+OK\r\nUSER\r\nSASL PLAIN\r\n.".into(), false),
        (Protocol::Pop3, "NOOP") => ("+OK".into(), false),
        (Protocol::Pop3, "STLS") => ("-ERR TLS not available".into(), false),
        (Protocol::Pop3, _) => ("-ERR Command not recognized".into(), false),
    };
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\r\n");
    Reply { bytes, close }
}

/// The tag a client's next IMAP command will most likely carry: the number at the
/// end of `tag` counted up, keeping its width (`A002` → `A003`, `KDEF9` → `KDEF10`).
pub fn next_tag(tag: &str) -> String {
    let digits = tag.len() - tag.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, number) = tag.split_at(tag.len() - digits);
    match number.parse::<u64>() {
        Ok(n) => format!("{prefix}{:0width$}", n.saturating_add(1), width = digits),
        Err(_) => format!("{tag}1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_of_each_protocol() {
        let imap = ClientCommand::parse(Protocol::Imap, "A001 login u p");
        assert_eq!((imap.tag.as_str(), imap.verb.as_str()), ("A001", "LOGIN"));
        assert_eq!(
            ClientCommand::parse(Protocol::Smtp, "MAIL FROM:<a@b>").verb,
            "MAIL"
        );
        assert_eq!(ClientCommand::parse(Protocol::Pop3, "").verb, "");
    }

    #[test]
    fn counts_tags_up() {
        assert_eq!(next_tag("A002"), "A003");
        assert_eq!(next_tag("KDEF9"), "KDEF10");
        assert_eq!(next_tag("A099"), "A100");
        assert_eq!(next_tag("x"), "x1");
    }

    #[test]
    fn closes_after_goodbye_only() {
        let quit = ClientCommand::parse(Protocol::Smtp, "QUIT");
        assert!(answer(Protocol::Smtp, &quit, "h").close);
        let stls = ClientCommand::parse(Protocol::Pop3, "STLS");
        assert_eq!(
            answer(Protocol::Pop3, &stls, "h").bytes,
            b"-ERR TLS not available\r\n"
        );
    }
}
