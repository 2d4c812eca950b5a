//! Reads one protocol answer off a connection and reduces it to what checks compare:
//! a status (`250`, `OK`, `+OK`), an IMAP tag, the text, and any capabilities it carried.

use super::conn::{Connection, SessionError};
use crate::target::Protocol;
use crate::wire::{imap, pop3, smtp, Capabilities};

/// The most untagged IMAP responses read while waiting for one tagged completion;
/// a server streaming untagged data forever must not keep a check alive forever.
const MAX_UNTAGGED: usize = 1000;

/// The most bytes one answer may take, all its untagged responses and literals
/// together: two of the largest literals the codec frames. No answer a check
/// asks for (a greeting, CAPABILITY, STARTTLS, a login) comes near it; a
/// single decoded value is held to less by the connection's buffer cap.
pub const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

/// Which answer to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// SMTP: the next reply (multi-line replies are one reply).
    SmtpReply,
    /// POP3: the next status line; with `multi_line`, a `+OK` is followed by a body.
    Pop3 {
        /// The command answered has a multi-line response (CAPA, LIST, RETR...).
        multi_line: bool,
    },
    /// IMAP: the next response, whatever it is (a greeting, an untagged response).
    ImapNext,
    /// IMAP: untagged responses are gathered until a tagged completion or a
    /// continuation request arrives; that one is the answer.
    ImapCompletion,
}

impl Want {
    /// What a server's greeting is, in `protocol`.
    pub fn greeting(protocol: Protocol) -> Want {
        match protocol {
            Protocol::Smtp => Want::SmtpReply,
            Protocol::Imap => Want::ImapNext,
            Protocol::Pop3 => Want::Pop3 { multi_line: false },
        }
    }
}

/// One answer, reduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `250`; `OK`/`NO`/`BAD`/`PREAUTH`/`BYE` or the untagged keyword; `+OK`/`-ERR`; `+`.
    pub status: String,
    /// IMAP: the tag, `*` for untagged, `+` for a continuation request.
    pub tag: Option<String>,
    /// The human text of the answer (all lines of an SMTP reply, joined with newlines;
    /// an IMAP response code in brackets in front, as sent).
    pub text: String,
    /// Capabilities the answer (or, for IMAP, the untagged responses before it) carried.
    pub capabilities: Option<Capabilities>,
}

impl Answer {
    /// One line for a check's detail: `250 2.0.0 Ok`, `a1 OK done`, `+OK ready`.
    pub fn summary(&self) -> String {
        let first = self.text.lines().next().unwrap_or("");
        let head = match &self.tag {
            Some(tag) if tag == "+" => "+".to_string(),
            Some(tag) => format!("{tag} {}", self.status),
            None => self.status.clone(),
        };
        let more = if self.text.lines().count() > 1 {
            " ..."
        } else {
            ""
        };
        if first.is_empty() {
            head
        } else {
            format!("{head} {first}{more}")
        }
    }
}

/// Reads the answer `want` describes.
pub async fn read_answer(
    conn: &mut Connection,
    protocol: Protocol,
    want: &Want,
) -> Result<Answer, SessionError> {
    match (protocol, want) {
        (Protocol::Smtp, _) => {
            let reply = conn
                .read_decoded(smtp::Reply::decode, "an SMTP reply")
                .await?
                .value;
            // Only an EHLO reply carries keywords; the caller knows which command this
            // answered and keeps these only then.
            let capabilities = (reply.code == 250).then(|| reply.capabilities());
            Ok(Answer {
                status: reply.code.to_string(),
                tag: None,
                text: reply.lines.join("\n"),
                capabilities,
            })
        }
        (Protocol::Pop3, Want::Pop3 { multi_line: true }) => {
            let response = conn
                .read_decoded(pop3::MultiLine::decode, "a multi-line POP3 response")
                .await?
                .value;
            let ok = response.status == pop3::Status::Ok;
            Ok(Answer {
                status: pop3_status(response.status),
                tag: None,
                capabilities: ok.then(|| response.capabilities()),
                text: std::iter::once(response.text.as_str())
                    .chain(response.lines.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
        }
        (Protocol::Pop3, _) => {
            let line = conn
                .read_decoded(pop3::Line::decode, "a POP3 response")
                .await?
                .value;
            Ok(match line {
                pop3::Line::Status(response) => Answer {
                    status: pop3_status(response.status),
                    tag: None,
                    text: response.text,
                    capabilities: None,
                },
                pop3::Line::Continuation(continuation) => Answer {
                    status: "+".into(),
                    tag: None,
                    text: continuation.text,
                    capabilities: None,
                },
            })
        }
        (Protocol::Imap, Want::ImapCompletion) => {
            // One ceiling and one byte budget for the whole answer: a server that
            // sends an untagged line every little while, or huge literals, must
            // not stretch one answer by a ceiling per response.
            let ceiling = conn.answer_ceiling();
            let mut bytes = 0;
            let mut capabilities = None;
            for _ in 0..MAX_UNTAGGED {
                let decoded = conn
                    .read_decoded_within(imap::Response::decode, "an IMAP response", ceiling)
                    .await?;
                bytes += decoded.consumed;
                let response = decoded.value;
                if bytes > MAX_ANSWER_BYTES {
                    let err = crate::wire::DecodeError::TooLong {
                        what: crate::wire::ANSWER_BYTES,
                        offset: 0,
                        limit: MAX_ANSWER_BYTES,
                    };
                    conn.transcript_mut()
                        .note(format!("unreadable reply: {err}"));
                    return Err(SessionError::Decode(err));
                }
                if let Some(caps) = response.capabilities() {
                    capabilities = Some(caps);
                }
                if !matches!(response, imap::Response::Untagged(_)) {
                    let mut answer = imap_answer(response);
                    answer.capabilities = answer.capabilities.or(capabilities);
                    return Ok(answer);
                }
            }
            Err(SessionError::Decode(crate::wire::DecodeError::TooLong {
                what: "run of untagged responses",
                offset: 0,
                limit: MAX_UNTAGGED,
            }))
        }
        (Protocol::Imap, _) => Ok(imap_answer(read_imap(conn).await?)),
    }
}

/// Reads the answer `want` describes without consuming it: the next read gets it
/// again. The bytes are in the transcript once, as they arrived.
pub async fn peek_answer(
    conn: &mut Connection,
    protocol: Protocol,
    want: &Want,
) -> Result<Answer, SessionError> {
    conn.start_peek();
    let answer = read_answer(conn, protocol, want).await;
    conn.end_peek();
    answer
}

/// Whether `answer` says the server is too busy for us, or limits this client,
/// rather than anything about the check: a reason to back off and come again,
/// never a verdict. At the greeting: SMTP 4xx, POP3 `-ERR`, IMAP `* BYE`. Later:
/// SMTP 421 (service not available, closing), POP3 `-ERR [SYS/TEMP]` (RFC 3206: a
/// temporary failure), IMAP `NO [UNAVAILABLE]` (RFC 5530: a subsystem is down, try
/// later). Other refusals later in a session (POP3 `-ERR [IN-USE]` to PASS, say)
/// are evidence for the check that got them.
pub fn busy_sign(protocol: Protocol, answer: &Answer, at_greeting: bool) -> Option<String> {
    let code = |code: &str| answer.text.to_ascii_uppercase().starts_with(code);
    let busy = match protocol {
        Protocol::Smtp if at_greeting => answer.status.starts_with('4'),
        Protocol::Smtp => answer.status == "421",
        Protocol::Pop3 => answer.status == "-ERR" && (at_greeting || code("[SYS/TEMP]")),
        Protocol::Imap => {
            (at_greeting && answer.tag.as_deref() == Some("*") && answer.status == "BYE")
                || (answer.status == "NO" && code("[UNAVAILABLE]"))
        }
    };
    busy.then(|| answer.summary())
}

async fn read_imap(conn: &mut Connection) -> Result<imap::Response, SessionError> {
    Ok(conn
        .read_decoded(imap::Response::decode, "an IMAP response")
        .await?
        .value)
}

fn imap_answer(response: imap::Response) -> Answer {
    let capabilities = response.capabilities();
    let (tag, status, text) = match response {
        imap::Response::Tagged {
            tag,
            status,
            code,
            text,
        } => (tag, status.to_string(), with_code(code, text)),
        imap::Response::Continuation { text } => ("+".into(), "+".into(), text),
        imap::Response::Untagged(imap::Untagged::Status { status, code, text }) => {
            ("*".into(), status.to_string(), with_code(code, text))
        }
        imap::Response::Untagged(imap::Untagged::Capability(atoms)) => {
            ("*".into(), "CAPABILITY".into(), atoms.join(" "))
        }
        imap::Response::Untagged(imap::Untagged::Data { line, .. }) => {
            let keyword = line
                .split_ascii_whitespace()
                .find(|w| !w.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or("")
                .to_ascii_uppercase();
            ("*".into(), keyword, line)
        }
    };
    Answer {
        status,
        tag: Some(tag),
        text,
        capabilities,
    }
}

/// The text with its response code in front, as on the wire (`[PRIVACYREQUIRED]
/// LOGIN is disabled`), so codes show in details and scripts can match them.
fn with_code(code: Option<imap::ResponseCode>, text: String) -> String {
    match code {
        Some(imap::ResponseCode {
            name,
            args: Some(args),
        }) => format!("[{name} {args}] {text}"),
        Some(imap::ResponseCode { name, args: None }) => format!("[{name}] {text}"),
        None => text,
    }
}

fn pop3_status(status: pop3::Status) -> String {
    match status {
        pop3::Status::Ok => "+OK".into(),
        pop3::Status::Err => "-ERR".into(),
    }
}

/// POP3 commands whose successful response is multi-line (RFC 1939, RFC 2449).
pub fn pop3_is_multi_line(command_line: &str) -> bool {
    let mut words = command_line.split_ascii_whitespace();
    let verb = words.next().unwrap_or("").to_ascii_uppercase();
    let has_arg = words.next().is_some();
    match verb.as_str() {
        "CAPA" | "RETR" | "TOP" => true,
        "LIST" | "UIDL" => !has_arg,
        // A bare AUTH lists the mechanisms, one per line, ended by `.` (the form
        // before RFC 5034 that Dovecot and Cyrus still answer).
        "AUTH" => !has_arg,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(tag: Option<&str>, status: &str, text: &str) -> Answer {
        Answer {
            status: status.into(),
            tag: tag.map(String::from),
            text: text.into(),
            capabilities: None,
        }
    }

    #[test]
    fn busy_greetings_are_signs_of_overload() {
        let smtp = answer(None, "421", "4.7.0 too many connections");
        assert!(busy_sign(Protocol::Smtp, &smtp, true).is_some());
        assert!(busy_sign(Protocol::Smtp, &answer(None, "450", "later"), true).is_some());
        let pop3 = answer(None, "-ERR", "[IN-USE] too many connections");
        assert!(busy_sign(Protocol::Pop3, &pop3, true).is_some());
        let imap = answer(Some("*"), "BYE", "too many connections");
        assert!(busy_sign(Protocol::Imap, &imap, true).is_some());
    }

    #[test]
    fn rejects_ordinary_answers_as_signs_of_overload() {
        assert!(busy_sign(Protocol::Smtp, &answer(None, "220", "ready"), true).is_none());
        assert!(busy_sign(Protocol::Smtp, &answer(None, "554", "go away"), true).is_none());
        assert!(busy_sign(Protocol::Smtp, &answer(None, "450", "greylisted"), false).is_none());
        assert!(busy_sign(Protocol::Smtp, &answer(None, "421", "closing"), false).is_some());
        let in_use = answer(None, "-ERR", "[IN-USE] locked");
        assert!(busy_sign(Protocol::Pop3, &in_use, false).is_none());
        let temp = answer(None, "-ERR", "[SYS/TEMP] try again later");
        assert!(busy_sign(Protocol::Pop3, &temp, false).is_some());
        let unavailable = answer(Some("a1"), "NO", "[UNAVAILABLE] backend down");
        assert!(busy_sign(Protocol::Imap, &unavailable, false).is_some());
        let failed = answer(Some("a1"), "NO", "[AUTHENTICATIONFAILED] no");
        assert!(busy_sign(Protocol::Imap, &failed, false).is_none());
        let logout = answer(Some("*"), "BYE", "logging out");
        assert!(busy_sign(Protocol::Imap, &logout, false).is_none());
        assert!(busy_sign(Protocol::Imap, &answer(Some("*"), "OK", "hi"), true).is_none());
    }
}
