//! SMTP wire codec: replies (RFC 5321 §4.2, multi-line with `NNN-`), RFC 3463
//! enhanced status codes as used by RFC 2034, RFC 1869 EHLO keywords, and the
//! client commands a harness sends or a fake server receives.

use std::fmt;

use super::line::{self, malformed, next_line, push_text, too_long};
use super::{Capabilities, DecodeError, Decoded, Deviation, Limits};

/// A server reply: one code and the text of each of its lines.
///
/// Canonical form (what [`Reply::encode`] emits and [`Reply::decode`] returns
/// unchanged): at least one line, a code of three digits whose first is 2..=5, and
/// lines without CR or LF. An empty last line is sent as the bare code (`250`),
/// as RFC 5321's `Reply-code [ SP textstring ]` allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code of the first line.
    pub code: u16,
    /// The text after `NNN-` / `NNN ` of each line; empty for `250 ` or a bare `250`.
    pub lines: Vec<String>,
}

/// The `NNN` and separator at the start of a reply line.
struct Header {
    code: u16,
    last: bool,
    text_start: usize,
}

/// Checks a reply line's `NNN` and separator. With `complete == false` the content is a
/// line still arriving: a bad prefix is reported at once, a good one gives `None`.
fn parse_header(
    content: &[u8],
    base: usize,
    complete: bool,
) -> Result<Option<Header>, DecodeError> {
    let mut code: u16 = 0;
    for i in 0..3 {
        let Some(&b) = content.get(i) else {
            if complete {
                return Err(malformed(base + i, "a reply code needs three digits"));
            }
            return Ok(None);
        };
        let valid = if i == 0 {
            (b'2'..=b'5').contains(&b)
        } else {
            b.is_ascii_digit()
        };
        if !valid {
            let reason = if i == 0 {
                "a reply code must start with a digit from 2 to 5"
            } else {
                "a reply code needs three digits"
            };
            return Err(malformed(base + i, reason));
        }
        code = code * 10 + u16::from(b - b'0');
    }
    let header = match content.get(3) {
        None => Header {
            code,
            last: true,
            text_start: 3,
        },
        Some(b' ') => Header {
            code,
            last: true,
            text_start: 4,
        },
        Some(b'-') => Header {
            code,
            last: false,
            text_start: 4,
        },
        Some(_) => {
            return Err(malformed(
                base + 3,
                "expected '-', SP or end of line after the reply code",
            ))
        }
    };
    Ok(complete.then_some(header))
}

impl Reply {
    /// A reply; no lines at all is normalised to one empty line, which is what goes on the wire.
    pub fn new(code: u16, lines: Vec<String>) -> Self {
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Reply { code, lines }
    }

    /// Decodes one complete (possibly multi-line) reply from the front of `buf`.
    ///
    /// A continuation line with another code is kept and reported as
    /// [`Deviation::CodeMismatch`]; the reply keeps the first line's code.
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<Reply>, DecodeError> {
        let mut deviations = Vec::new();
        let mut lines = Vec::new();
        let mut first_code = None;
        let mut pos = 0;
        loop {
            // Only reached after a `NNN-` line, so one more line is certainly coming.
            if lines.len() >= limits.max_lines {
                return Err(too_long("reply", pos, limits.max_lines));
            }
            let framed = match next_line(buf, pos, limits, &mut deviations) {
                Ok(framed) => framed,
                Err(e) => {
                    let partial = line::partial(buf.get(pos..).unwrap_or(&[]));
                    parse_header(partial, pos, false)?;
                    return Err(e);
                }
            };
            let content = line::bytes(buf, framed.content.clone());
            let Some(header) = parse_header(content, pos, true)? else {
                return Err(malformed(pos, "reply line could not be parsed"));
            };
            match first_code {
                None => first_code = Some(header.code),
                Some(expected) if expected != header.code => {
                    deviations.push(Deviation::CodeMismatch {
                        offset: pos,
                        expected,
                        found: header.code,
                    });
                }
                Some(_) => {}
            }
            lines.push(line::text(content.get(header.text_start..).unwrap_or(&[])));
            pos = framed.next;
            if header.last {
                break;
            }
        }
        deviations.sort_by_key(Deviation::offset);
        Ok(Decoded {
            value: Reply {
                code: first_code.unwrap_or_default(),
                lines,
            },
            consumed: pos,
            deviations,
        })
    }

    /// Encodes the reply: `NNN-text` lines and a last `NNN text` (or bare `NNN`), CRLF each.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let empty = [String::new()];
        let lines: &[String] = if self.lines.is_empty() {
            &empty
        } else {
            &self.lines
        };
        for (i, text) in lines.iter().enumerate() {
            out.extend(format!("{:03}", self.code).bytes());
            if i + 1 < lines.len() {
                out.push(b'-');
                push_text(&mut out, text);
            } else if !text.is_empty() {
                out.push(b' ');
                push_text(&mut out, text);
            }
            out.extend(b"\r\n");
        }
        out
    }

    /// All lines joined with ` / `, for messages and transcripts.
    pub fn text(&self) -> String {
        self.lines.join(" / ")
    }

    /// The RFC 3463 enhanced status code at the start of the first line, if any.
    pub fn enhanced_status(&self) -> Option<EnhancedStatus> {
        let first = self.lines.first()?;
        EnhancedStatus::parse(first.split_ascii_whitespace().next()?)
    }

    /// The EHLO keywords: every line after the first (the first is the greeting).
    pub fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::new();
        for line in self.lines.iter().skip(1) {
            caps.push_line(line);
        }
        caps
    }

    /// Whether the code is 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

/// An RFC 3463 enhanced status code: `class.subject.detail`, e.g. `5.7.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// The subject, 0..=999.
    pub subject: u16,
    /// The detail, 0..=999.
    pub detail: u16,
}

impl EnhancedStatus {
    /// Parses exactly one token such as `5.7.0`; `None` if it is not an enhanced code.
    pub fn parse(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let class = match parts.next()? {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        let subject = number_1_to_3(parts.next()?)?;
        let detail = number_1_to_3(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Some(EnhancedStatus {
            class,
            subject,
            detail,
        })
    }
}

/// 1 to 3 ASCII digits, as RFC 3463 allows for subject and detail.
fn number_1_to_3(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// A client command.
///
/// Canonical form (what [`Command::encode`] emits and [`Command::decode`] returns
/// unchanged): the verb in upper case and one space before the arguments; no field
/// contains CR or LF. String arguments (`Ehlo`, `Helo`, `Vrfy`, `Noop`, `Help`,
/// `Other::args`) are everything after the first space, verbatim, and must be
/// non-empty where present (`Noop(Some(""))` is sent as `NOOP` and comes back as
/// `Noop(None)`). Paths are sent in angle brackets and contain no `>`; each param is
/// non-empty without spaces. `Auth`'s mechanism and initial response contain no
/// spaces. `Other::verb` is upper case, has no spaces and is not a verb this enum
/// knows (see [`Command::is_known_verb`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain`.
    Ehlo(String),
    /// `HELO domain`.
    Helo(String),
    /// `MAIL FROM:<path> params`; the path without brackets (`<>` is "").
    MailFrom {
        /// The reverse-path without its angle brackets.
        path: String,
        /// ESMTP parameters such as `SIZE=10`, as sent.
        params: Vec<String>,
    },
    /// `RCPT TO:<path> params`; the path without brackets.
    RcptTo {
        /// The forward-path without its angle brackets.
        path: String,
        /// ESMTP parameters such as `NOTIFY=NEVER`, as sent.
        params: Vec<String>,
    },
    /// `DATA`.
    Data,
    /// RFC 3030 `BDAT size [LAST]`; the `size` octets that follow are not part of the command.
    Bdat {
        /// The chunk size in octets.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [string]`.
    Noop(Option<String>),
    /// `QUIT`.
    Quit,
    /// RFC 3207 `STARTTLS`.
    StartTls,
    /// RFC 4954 `AUTH mechanism [initial-response]`.
    Auth {
        /// The SASL mechanism as sent.
        mechanism: String,
        /// The initial response as sent (base64, or `=` for an empty one).
        initial: Option<String>,
    },
    /// `VRFY string`.
    Vrfy(String),
    /// `HELP [string]`.
    Help(Option<String>),
    /// Any other verb (upper-cased) and the rest of the line verbatim.
    Other {
        /// The verb, upper case.
        verb: String,
        /// Everything after the first space, or "" if there was none.
        args: String,
    },
}

/// The verbs with their own [`Command`] variant.
const KNOWN_VERBS: [&str; 13] = [
    "EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "STARTTLS", "AUTH",
    "VRFY", "HELP",
];

/// A parse failure: offset inside the line, and why.
type LineError = (usize, String);

impl Command {
    /// Whether `verb` (any case) has its own variant, so it can never be [`Command::Other`].
    pub fn is_known_verb(verb: &str) -> bool {
        KNOWN_VERBS.iter().any(|k| k.eq_ignore_ascii_case(verb))
    }

    /// Decodes one command line from the front of `buf`. A `Malformed` offset points
    /// into the line; it is exact unless invalid UTF-8 precedes it in the line.
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<Command>, DecodeError> {
        let mut deviations = Vec::new();
        let framed = next_line(buf, 0, limits, &mut deviations)?;
        let text = line::text(line::bytes(buf, framed.content.clone()));
        let value = parse(&text)
            .map_err(|(offset, reason)| malformed(framed.content.start + offset, reason))?;
        Ok(Decoded {
            value,
            consumed: framed.next,
            deviations,
        })
    }

    /// Parses one command line without its terminator.
    pub fn parse_line(line: &str) -> Result<Command, String> {
        parse(line).map_err(|(_, reason)| reason)
    }

    /// Encodes the command in canonical form with CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let verb_and_arg = |out: &mut Vec<u8>, verb: &str, arg: Option<&str>| {
            out.extend(verb.bytes());
            if let Some(arg) = arg.filter(|a| !a.is_empty()) {
                out.push(b' ');
                push_text(out, arg);
            }
        };
        match self {
            Command::Ehlo(domain) => verb_and_arg(&mut out, "EHLO", Some(domain)),
            Command::Helo(domain) => verb_and_arg(&mut out, "HELO", Some(domain)),
            Command::MailFrom { path, params } => encode_path(&mut out, "MAIL FROM:", path, params),
            Command::RcptTo { path, params } => encode_path(&mut out, "RCPT TO:", path, params),
            Command::Data => out.extend(b"DATA"),
            Command::Bdat { size, last } => {
                out.extend(format!("BDAT {size}").bytes());
                if *last {
                    out.extend(b" LAST");
                }
            }
            Command::Rset => out.extend(b"RSET"),
            Command::Noop(arg) => verb_and_arg(&mut out, "NOOP", arg.as_deref()),
            Command::Quit => out.extend(b"QUIT"),
            Command::StartTls => out.extend(b"STARTTLS"),
            Command::Auth { mechanism, initial } => {
                out.extend(b"AUTH ");
                push_text(&mut out, mechanism);
                if let Some(initial) = initial {
                    out.push(b' ');
                    push_text(&mut out, initial);
                }
            }
            Command::Vrfy(arg) => verb_and_arg(&mut out, "VRFY", Some(arg)),
            Command::Help(arg) => verb_and_arg(&mut out, "HELP", arg.as_deref()),
            Command::Other { verb, args } => {
                push_text(&mut out, verb);
                if !args.is_empty() {
                    out.push(b' ');
                    push_text(&mut out, args);
                }
            }
        }
        out.extend(b"\r\n");
        out
    }
}

/// `MAIL FROM:<path> p1 p2` / `RCPT TO:<path> ...`.
fn encode_path(out: &mut Vec<u8>, prefix: &str, path: &str, params: &[String]) {
    out.extend(prefix.bytes());
    out.push(b'<');
    push_text(out, path);
    out.push(b'>');
    for p in params {
        out.push(b' ');
        push_text(out, p);
    }
}

/// The command grammar, on one line without terminator.
fn parse(line: &str) -> Result<Command, LineError> {
    let (verb_raw, rest) = match line.split_once(' ') {
        Some((verb, rest)) => (verb, Some(rest)),
        None => (line, None),
    };
    if verb_raw.is_empty() {
        return Err((0, "empty command verb".into()));
    }
    let verb = verb_raw.to_ascii_uppercase();
    let arg_offset = verb_raw.len() + 1;
    let required = |rest: Option<&str>| match rest {
        Some(r) if !r.is_empty() => Ok(r.to_string()),
        _ => Err((line.len(), format!("{verb} needs an argument"))),
    };
    let optional = |rest: Option<&str>| rest.filter(|r| !r.is_empty()).map(str::to_string);
    let no_args = |rest: Option<&str>, value: Command| match rest {
        Some(r) if r.bytes().any(|b| b != b' ') => {
            Err((arg_offset, format!("{verb} takes no arguments")))
        }
        _ => Ok(value),
    };
    match verb.as_str() {
        "EHLO" => required(rest).map(Command::Ehlo),
        "HELO" => required(rest).map(Command::Helo),
        "MAIL" => {
            let (path, params) = parse_path(rest, arg_offset, "FROM:", line.len())?;
            Ok(Command::MailFrom { path, params })
        }
        "RCPT" => {
            let (path, params) = parse_path(rest, arg_offset, "TO:", line.len())?;
            Ok(Command::RcptTo { path, params })
        }
        "DATA" => no_args(rest, Command::Data),
        "RSET" => no_args(rest, Command::Rset),
        "QUIT" => no_args(rest, Command::Quit),
        "STARTTLS" => no_args(rest, Command::StartTls),
        "NOOP" => Ok(Command::Noop(optional(rest))),
        "HELP" => Ok(Command::Help(optional(rest))),
        "VRFY" => required(rest).map(Command::Vrfy),
        "BDAT" => parse_bdat(rest.unwrap_or(""), arg_offset),
        "AUTH" => {
            let mut words = rest.unwrap_or("").split(' ').filter(|w| !w.is_empty());
            let Some(mechanism) = words.next() else {
                return Err((line.len(), "AUTH needs a mechanism".into()));
            };
            let initial = words.next().map(str::to_string);
            if words.next().is_some() {
                return Err((
                    arg_offset,
                    "AUTH takes a mechanism and at most one response".into(),
                ));
            }
            Ok(Command::Auth {
                mechanism: mechanism.to_string(),
                initial,
            })
        }
        _ => Ok(Command::Other {
            verb,
            args: rest.unwrap_or("").to_string(),
        }),
    }
}

/// `BDAT size [LAST]`.
fn parse_bdat(rest: &str, offset: usize) -> Result<Command, LineError> {
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse::<u64>().ok())
        .ok_or_else(|| (offset, "BDAT needs a chunk size in decimal".to_string()))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err((offset, "BDAT's second argument can only be LAST".into())),
    };
    if words.next().is_some() {
        return Err((offset, "BDAT takes a size and LAST only".into()));
    }
    Ok(Command::Bdat { size, last })
}

/// `FROM:<path> params` after `MAIL ` (or `TO:` after `RCPT `). Tolerates spaces
/// around the colon and an unbracketed path, as many servers do.
fn parse_path(
    rest: Option<&str>,
    offset: usize,
    keyword: &str,
    line_len: usize,
) -> Result<(String, Vec<String>), LineError> {
    let missing = || {
        (
            offset.min(line_len),
            format!("expected {keyword} and a path"),
        )
    };
    let rest = rest.ok_or_else(missing)?;
    let trimmed = rest.trim_start_matches(' ');
    let at = offset + (rest.len() - trimmed.len());
    let has_keyword = trimmed
        .get(..keyword.len())
        .is_some_and(|k| k.eq_ignore_ascii_case(keyword));
    if !has_keyword {
        return Err((at, format!("expected {keyword}")));
    }
    let after = trimmed.get(keyword.len()..).unwrap_or("");
    let after_sp = after.trim_start_matches(' ');
    let path_at = at + keyword.len() + (after.len() - after_sp.len());
    let (path, remainder) = if let Some(inner) = after_sp.strip_prefix('<') {
        let close = inner
            .find('>')
            .ok_or_else(|| (path_at, "path has no closing '>'".to_string()))?;
        (
            inner.get(..close).unwrap_or(""),
            inner.get(close + 1..).unwrap_or(""),
        )
    } else {
        let end = after_sp.find(' ').unwrap_or(after_sp.len());
        let path = after_sp.get(..end).unwrap_or("");
        if path.is_empty() {
            return Err((path_at, "missing path".into()));
        }
        // Found by fuzz/ (smtp_command): `<x>>` would not encode back to this path.
        if path.contains(['<', '>']) {
            return Err((
                path_at,
                "a path without angle brackets holds '<' or '>'".into(),
            ));
        }
        (path, after_sp.get(end..).unwrap_or(""))
    };
    let params = remainder
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    Ok((path.to_string(), params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::line::testing::{arb_limits, assert_round_trip, mutate};
    use proptest::prelude::*;

    const EHLO: &[u8] =
        b"250-mx.example.org Hello\r\n250-AUTH PLAIN LOGIN\r\n250-SIZE 1000\r\n250 STARTTLS\r\n";

    fn reply(buf: &[u8]) -> Result<Decoded<Reply>, DecodeError> {
        Reply::decode(buf, &Limits::default())
    }

    fn command(buf: &[u8]) -> Result<Decoded<Command>, DecodeError> {
        Command::decode(buf, &Limits::default())
    }

    fn offset_of(err: Result<impl std::fmt::Debug, DecodeError>) -> usize {
        match err {
            Err(DecodeError::Malformed { offset, .. }) => offset,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn can_decode_multiline_ehlo_capabilities() {
        let mut buf = EHLO.to_vec();
        buf.extend(b"250 pipelined\r\n");
        let d = reply(&buf).unwrap();
        assert_eq!(d.consumed, EHLO.len());
        assert!(d.deviations.is_empty());
        assert_eq!(d.value.code, 250);
        assert_eq!(d.value.lines.len(), 4);
        assert_eq!(d.value.lines[0], "mx.example.org Hello");
        let caps = d.value.capabilities();
        assert!(caps.has("AUTH", Some("PLAIN")));
        assert!(caps.has("auth", Some("login")));
        assert!(caps.has("SIZE", Some("1000")));
        assert!(caps.has("STARTTLS", None));
        assert!(!caps.has("mx.example.org", None));
        assert!(d.value.is_positive());
        assert_eq!(d.value.encode(), EHLO);
    }

    #[test]
    fn can_decode_enhanced_status() {
        let d = reply(b"530 5.7.0 Must issue a STARTTLS command first\r\n").unwrap();
        let status = d.value.enhanced_status().unwrap();
        assert_eq!(
            status,
            EnhancedStatus {
                class: 5,
                subject: 7,
                detail: 0
            }
        );
        assert_eq!(status.to_string(), "5.7.0");
        assert!(!d.value.is_positive());
        assert_eq!(
            EnhancedStatus::parse("2.123.45"),
            Some(EnhancedStatus {
                class: 2,
                subject: 123,
                detail: 45
            })
        );
        for bad in ["3.1.1", "5.1", "5.1.2.3", "5.1234.0", "5..0", "5.a.0", ""] {
            assert_eq!(EnhancedStatus::parse(bad), None, "{bad}");
        }
        assert_eq!(reply(b"250 ok\r\n").unwrap().value.enhanced_status(), None);
    }

    #[test]
    fn can_decode_code_with_empty_text() {
        for buf in [&b"250\r\n"[..], b"250 \r\n"] {
            let d = reply(buf).unwrap();
            assert_eq!(d.value, Reply::new(250, vec![String::new()]));
            assert_eq!(d.consumed, buf.len());
        }
        let d = reply(b"250-\r\n250\r\n").unwrap();
        assert_eq!(d.value.lines, vec!["", ""]);
        assert_eq!(Reply::new(220, vec![]).encode(), b"220\r\n");
    }

    #[test]
    fn can_decode_text_joined() {
        let d = reply(b"550-first\r\n550 second\r\n").unwrap();
        assert_eq!(d.value.text(), "first / second");
    }

    #[test]
    fn can_decode_bare_lf_as_deviation() {
        let d = reply(b"250-a\n250 b\r\n").unwrap();
        assert_eq!(d.value.lines, vec!["a", "b"]);
        assert_eq!(d.deviations, vec![Deviation::BareLf { offset: 5 }]);
        assert_eq!(d.consumed, 13);
    }

    #[test]
    fn can_decode_code_mismatch_as_deviation() {
        let d = reply(b"250-a\r\n251-b\x00\r\n250 c\xff\r\n").unwrap();
        assert_eq!(d.value.code, 250);
        assert_eq!(d.value.lines, vec!["a", "b\0", "c\u{fffd}"]);
        assert_eq!(
            d.deviations,
            vec![
                Deviation::CodeMismatch {
                    offset: 7,
                    expected: 250,
                    found: 251
                },
                Deviation::Nul { offset: 12 },
                Deviation::InvalidUtf8 { offset: 20 },
            ]
        );
    }

    #[test]
    fn rejects_bad_reply_lines() {
        assert_eq!(offset_of(reply(b"hello\r\n")), 0);
        assert_eq!(offset_of(reply(b"199 too low\r\n")), 0);
        assert_eq!(offset_of(reply(b"250x\r\n")), 3);
        assert_eq!(offset_of(reply(b"25\r\n")), 2);
        assert_eq!(offset_of(reply(b"250-ok\r\n2a0 x\r\n")), 9);
        // A bad prefix is rejected before the line completes.
        assert_eq!(offset_of(reply(b"250-ok\r\n25a")), 10);
        assert_eq!(offset_of(reply(b"HTTP/1.1")), 0);
    }

    #[test]
    fn can_decode_incomplete_on_every_proper_prefix() {
        for n in 0..EHLO.len() {
            assert_eq!(
                reply(&EHLO[..n]),
                Err(DecodeError::Incomplete),
                "prefix {n}"
            );
        }
        let cmd = b"MAIL FROM:<a@b> SIZE=10\r\n";
        for n in 0..cmd.len() {
            assert_eq!(
                command(&cmd[..n]),
                Err(DecodeError::Incomplete),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn rejects_overlong_line_even_while_incomplete() {
        let limits = Limits {
            max_line: 16,
            ..Limits::default()
        };
        let mut buf = b"250 ".to_vec();
        buf.extend([b'a'; 20]);
        assert!(matches!(
            Reply::decode(&buf, &limits),
            Err(DecodeError::TooLong { what: "line", .. })
        ));
        assert!(matches!(
            Command::decode(&buf, &limits),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn rejects_too_many_lines_even_while_incomplete() {
        let limits = Limits {
            max_lines: 2,
            ..Limits::default()
        };
        assert!(Reply::decode(b"250-a\r\n250 b\r\n", &limits).is_ok());
        assert_eq!(
            Reply::decode(b"250-a\r\n250-b\r\n", &limits),
            Err(DecodeError::TooLong {
                what: "reply",
                offset: 14,
                limit: 2
            })
        );
    }

    #[test]
    fn can_decode_commands() {
        let cases: Vec<(&[u8], Command, &[u8])> = vec![
            (
                b"mail from:<a@b> SIZE=10\r\n",
                Command::MailFrom {
                    path: "a@b".into(),
                    params: vec!["SIZE=10".into()],
                },
                b"MAIL FROM:<a@b> SIZE=10\r\n",
            ),
            (
                b"MAIL FROM: <>\r\n",
                Command::MailFrom {
                    path: "".into(),
                    params: vec![],
                },
                b"MAIL FROM:<>\r\n",
            ),
            (
                b"RCPT TO:b@c NOTIFY=NEVER\r\n",
                Command::RcptTo {
                    path: "b@c".into(),
                    params: vec!["NOTIFY=NEVER".into()],
                },
                b"RCPT TO:<b@c> NOTIFY=NEVER\r\n",
            ),
            (
                b"ehlo client.example\r\n",
                Command::Ehlo("client.example".into()),
                b"EHLO client.example\r\n",
            ),
            (b"StartTLS\r\n", Command::StartTls, b"STARTTLS\r\n"),
            (b"DATA \r\n", Command::Data, b"DATA\r\n"),
            (
                b"bdat 100 last\r\n",
                Command::Bdat {
                    size: 100,
                    last: true,
                },
                b"BDAT 100 LAST\r\n",
            ),
            (
                b"AUTH PLAIN dGVzdA==\r\n",
                Command::Auth {
                    mechanism: "PLAIN".into(),
                    initial: Some("dGVzdA==".into()),
                },
                b"AUTH PLAIN dGVzdA==\r\n",
            ),
            (b"NOOP\r\n", Command::Noop(None), b"NOOP\r\n"),
            (
                b"help me\r\n",
                Command::Help(Some("me".into())),
                b"HELP me\r\n",
            ),
            (
                b"xclient ADDR=1.2.3.4\r\n",
                Command::Other {
                    verb: "XCLIENT".into(),
                    args: "ADDR=1.2.3.4".into(),
                },
                b"XCLIENT ADDR=1.2.3.4\r\n",
            ),
        ];
        for (wire, value, canonical) in cases {
            let d = command(wire).unwrap();
            assert_eq!(d.value, value, "{}", String::from_utf8_lossy(wire));
            assert_eq!(d.consumed, wire.len());
            assert_eq!(value.encode(), canonical);
        }
    }

    #[test]
    fn rejects_bad_commands() {
        assert_eq!(offset_of(command(b"\r\n")), 0);
        assert_eq!(offset_of(command(b"MAIL TO:<a>\r\n")), 5);
        assert_eq!(offset_of(command(b"MAIL FROM:<a\r\n")), 10);
        assert_eq!(offset_of(command(b"DATA now\r\n")), 5);
        assert_eq!(offset_of(command(b"EHLO\r\n")), 4);
        assert!(Command::parse_line("BDAT x").is_err());
        assert!(Command::parse_line("BDAT +5").is_err());
        assert!(Command::parse_line("BDAT 99999999999999999999").is_err());
        assert!(Command::parse_line("BDAT 5 FIRST").is_err());
        assert!(Command::parse_line("AUTH").is_err());
        assert!(Command::parse_line("AUTH PLAIN a b").is_err());
        assert!(Command::parse_line("VRFY").is_err());
    }

    #[test]
    fn can_encode_without_smuggling_line_breaks() {
        let cmd = Command::Ehlo("a\r\nMAIL FROM:<x>".into());
        assert_eq!(cmd.encode(), b"EHLO a  MAIL FROM:<x>\r\n");
        let r = Reply::new(250, vec!["a\nb".into()]);
        assert_eq!(r.encode(), b"250 a b\r\n");
    }

    fn text() -> impl Strategy<Value = String> {
        "[^\r\n\x00]{0,30}"
    }

    fn arb_reply() -> impl Strategy<Value = Reply> {
        (2u16..=5, 0u16..100, prop::collection::vec(text(), 1..5))
            .prop_map(|(c, rest, lines)| Reply::new(c * 100 + rest, lines))
    }

    fn arb_command() -> impl Strategy<Value = Command> {
        let arg = || "[^\r\n\x00]{1,30}";
        let path = || "[a-zA-Z0-9@.+_=,:-]{0,20}";
        let params = || prop::collection::vec("[A-Za-z0-9=+._-]{1,10}", 0..3);
        prop_oneof![
            arg().prop_map(Command::Ehlo),
            arg().prop_map(Command::Helo),
            (path(), params()).prop_map(|(path, params)| Command::MailFrom { path, params }),
            (path(), params()).prop_map(|(path, params)| Command::RcptTo { path, params }),
            Just(Command::Data),
            (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Command::Bdat { size, last }),
            Just(Command::Rset),
            prop::option::of(arg()).prop_map(Command::Noop),
            Just(Command::Quit),
            Just(Command::StartTls),
            ("[A-Z0-9_-]{1,20}", prop::option::of("[A-Za-z0-9+/=]{1,40}"))
                .prop_map(|(mechanism, initial)| Command::Auth { mechanism, initial }),
            arg().prop_map(Command::Vrfy),
            prop::option::of(arg()).prop_map(Command::Help),
            ("[A-Z]{1,10}", "[^\r\n\x00]{0,30}")
                .prop_filter("known verb", |(verb, _)| !Command::is_known_verb(verb))
                .prop_map(|(verb, args)| Command::Other { verb, args }),
        ]
    }

    fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(
                prop::sample::select(b"0123456789 -<>:.=\r\n\0\xffEHLOMAILFROMmail".to_vec()),
                0..200
            ),
            mutate(prop_oneof![
                arb_reply().prop_map(|r| r.encode()),
                arb_command().prop_map(|c| c.encode()),
            ]),
        ]
    }

    proptest! {
        #[test]
        fn can_round_trip_reply(value in arb_reply()) {
            assert_round_trip(&value, &value.encode(), Reply::decode)?;
        }

        #[test]
        fn can_round_trip_command(value in arb_command()) {
            assert_round_trip(&value, &value.encode(), Command::decode)?;
        }

        #[test]
        fn never_panics_smtp(buf in wire_bytes(), limits in arb_limits()) {
            if let Ok(d) = Reply::decode(&buf, &limits) {
                prop_assert!(d.consumed > 0 && d.consumed <= buf.len());
                let _ = (d.value.encode(), d.value.text(), d.value.enhanced_status(), d.value.capabilities());
            }
            if let Ok(d) = Command::decode(&buf, &limits) {
                prop_assert!(d.consumed > 0 && d.consumed <= buf.len());
                let _ = d.value.encode();
            }
            if let Ok(s) = std::str::from_utf8(&buf) {
                let _ = Command::parse_line(s);
                let _ = EnhancedStatus::parse(s);
            }
        }
    }
}
