//! POP3 wire codec: single-line `+OK` / `-ERR` responses and SASL `+ ` continuations
//! (RFC 1939, RFC 5034), dot-stuffed multi-line responses such as RFC 2449 `CAPA`
//! (which is where RFC 2595 `STLS` is advertised), and client commands.

use super::line::{self, malformed, next_line, push_text, too_long};
use super::{Capabilities, DecodeError, Decoded, Deviation, Limits};

/// The status indicator of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `+OK`.
    Ok,
    /// `-ERR`.
    Err,
}

impl Status {
    /// The wire indicator.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "+OK",
            Status::Err => "-ERR",
        }
    }
}

/// A single-line status response: `+OK text`, `-ERR text`, or a bare `+OK` / `-ERR`.
///
/// Canonical form: text without CR or LF; an empty text is sent as the bare indicator.
/// Indicators are matched case-sensitively, as RFC 1939 writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `+OK` or `-ERR`.
    pub status: Status,
    /// The text after the indicator and its space.
    pub text: String,
}

/// A SASL continuation `+ text` (RFC 5034): the text is the base64 challenge.
///
/// Canonical form: text without CR or LF; always sent as `+ ` and the text, so an empty
/// challenge is `+ ` (a bare `+` is also accepted on decode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// The text after `+ `.
    pub text: String,
}

/// Any single line a server may send in reply to a command.
///
/// During SASL `AUTH` the server answers with either a status or a `+ ` challenge, so
/// [`Line::decode`] is the decoder to use there; [`Response::decode`] and
/// [`Continuation::decode`] accept only their own kind and report the other as
/// `Malformed` at offset 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `+OK ...` or `-ERR ...`.
    Status(Response),
    /// `+ ...`.
    Continuation(Continuation),
}

/// Checks the first byte of a line still arriving, so garbage is refused at once.
fn check_partial(rest: &[u8], at: usize) -> Result<(), DecodeError> {
    match rest.first() {
        Some(b'+' | b'-') | None => Ok(()),
        Some(_) => Err(malformed(at, "expected +OK, -ERR or +")),
    }
}

/// The grammar of one complete status or continuation line starting at `base`.
fn parse_line(content: &[u8], base: usize) -> Result<Line, DecodeError> {
    let (kind, rest) = if let Some(rest) = content.strip_prefix(b"+OK") {
        (Some(Status::Ok), rest)
    } else if let Some(rest) = content.strip_prefix(b"-ERR") {
        (Some(Status::Err), rest)
    } else if let Some(rest) = content.strip_prefix(b"+") {
        (None, rest)
    } else {
        return Err(malformed(base, "expected +OK, -ERR or +"));
    };
    let text = match rest.first() {
        None => rest,
        Some(b' ') => rest.get(1..).unwrap_or(&[]),
        Some(_) => {
            let at = base + (content.len() - rest.len());
            return Err(malformed(
                at,
                "expected SP or end of line after the indicator",
            ));
        }
    };
    let text = line::text(text);
    Ok(match kind {
        Some(status) => Line::Status(Response { status, text }),
        None => Line::Continuation(Continuation { text }),
    })
}

/// Frames and parses the line at `pos`.
fn decode_line_at(
    buf: &[u8],
    pos: usize,
    limits: &Limits,
    deviations: &mut Vec<Deviation>,
) -> Result<(Line, usize), DecodeError> {
    let framed = match next_line(buf, pos, limits, deviations) {
        Ok(framed) => framed,
        Err(e) => {
            check_partial(buf.get(pos..).unwrap_or(&[]), pos)?;
            return Err(e);
        }
    };
    let value = parse_line(line::bytes(buf, framed.content.clone()), pos)?;
    Ok((value, framed.next))
}

impl Line {
    /// Decodes one status or continuation line from the front of `buf`.
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<Line>, DecodeError> {
        let mut deviations = Vec::new();
        let (value, consumed) = decode_line_at(buf, 0, limits, &mut deviations)?;
        Ok(Decoded {
            value,
            consumed,
            deviations,
        })
    }

    /// Encodes the line with CRLF.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Line::Status(r) => r.encode(),
            Line::Continuation(c) => c.encode(),
        }
    }
}

impl Response {
    /// Decodes one status line; a `+ ` continuation is `Malformed` (use [`Line::decode`]).
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<Response>, DecodeError> {
        let d = Line::decode(buf, limits)?;
        match d.value {
            Line::Status(value) => Ok(Decoded {
                value,
                consumed: d.consumed,
                deviations: d.deviations,
            }),
            Line::Continuation(_) => Err(malformed(0, "a SASL continuation, not +OK or -ERR")),
        }
    }

    /// Encodes `+OK text` / `-ERR text` (bare indicator for empty text) with CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_status(&mut out, self.status, &self.text);
        out
    }
}

/// `+OK text` / `-ERR text` with CRLF.
fn encode_status(out: &mut Vec<u8>, status: Status, text: &str) {
    out.extend(status.as_str().bytes());
    if !text.is_empty() {
        out.push(b' ');
        push_text(out, text);
    }
    out.extend(b"\r\n");
}

impl Continuation {
    /// Decodes one `+ ` line; a status line is `Malformed` (use [`Line::decode`]).
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<Continuation>, DecodeError> {
        let d = Line::decode(buf, limits)?;
        match d.value {
            Line::Continuation(value) => Ok(Decoded {
                value,
                consumed: d.consumed,
                deviations: d.deviations,
            }),
            Line::Status(_) => Err(malformed(0, "a status line, not a SASL continuation")),
        }
    }

    /// Encodes `+ text` with CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"+ ".to_vec();
        push_text(&mut out, &self.text);
        out.extend(b"\r\n");
        out
    }
}

/// A multi-line response (`CAPA`, `LIST`, `UIDL`, `RETR`, `TOP`): the status line,
/// then dot-stuffed body lines up to a `.` alone.
///
/// Canonical form: texts and lines without CR or LF; an `Err` response has no lines
/// (a `-ERR` is never followed by a body, so none is sent or read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiLine {
    /// `+OK` or `-ERR`.
    pub status: Status,
    /// The text of the status line.
    pub text: String,
    /// The body lines, dot-unstuffed, without the terminating `.`.
    pub lines: Vec<String>,
}

impl MultiLine {
    /// Decodes one multi-line response from the front of `buf`. Body lines count
    /// against `limits.max_lines`; a line starting with `.` loses that first dot
    /// (RFC 1939 §3), so `..x` becomes `.x`.
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<MultiLine>, DecodeError> {
        let mut deviations = Vec::new();
        let (first, mut pos) = decode_line_at(buf, 0, limits, &mut deviations)?;
        let Line::Status(Response { status, text }) = first else {
            return Err(malformed(0, "a SASL continuation, not +OK or -ERR"));
        };
        let mut lines = Vec::new();
        if status == Status::Ok {
            loop {
                let framed = next_line(buf, pos, limits, &mut deviations)?;
                let content = line::bytes(buf, framed.content.clone());
                if content == b"." {
                    pos = framed.next;
                    break;
                }
                if lines.len() >= limits.max_lines {
                    return Err(too_long("multi-line response", pos, limits.max_lines));
                }
                let unstuffed = content.strip_prefix(b".").unwrap_or(content);
                lines.push(line::text(unstuffed));
                pos = framed.next;
            }
        }
        Ok(Decoded {
            value: MultiLine {
                status,
                text,
                lines,
            },
            consumed: pos,
            deviations,
        })
    }

    /// Encodes the status line and, for `+OK`, the dot-stuffed body and `.`, all CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_status(&mut out, self.status, &self.text);
        if self.status == Status::Ok {
            for line in &self.lines {
                if line.starts_with('.') {
                    out.push(b'.');
                }
                push_text(&mut out, line);
                out.extend(b"\r\n");
            }
            out.extend(b".\r\n");
        }
        out
    }

    /// The `CAPA` capabilities: one per body line (`SASL PLAIN` is keyword `SASL`).
    pub fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::new();
        for line in &self.lines {
            caps.push_line(line);
        }
        caps
    }
}

/// A client command: keyword and space-separated arguments.
///
/// Canonical form: a non-empty upper-case keyword and non-empty arguments, none
/// containing spaces, CR or LF. Decoding splits on runs of spaces, so a `PASS`
/// containing spaces comes back as several arguments, and encoding joins them with
/// single spaces, which restores the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The keyword, upper-cased on decode.
    pub keyword: String,
    /// The arguments as sent.
    pub args: Vec<String>,
}

impl Command {
    /// A command from a keyword and arguments.
    pub fn new(keyword: impl Into<String>, args: Vec<String>) -> Self {
        Command {
            keyword: keyword.into(),
            args,
        }
    }

    /// Decodes one command line from the front of `buf`.
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<Command>, DecodeError> {
        let mut deviations = Vec::new();
        let framed = next_line(buf, 0, limits, &mut deviations)?;
        let text = line::text(line::bytes(buf, framed.content.clone()));
        let value = Command::parse_line(&text).map_err(|reason| malformed(0, reason))?;
        Ok(Decoded {
            value,
            consumed: framed.next,
            deviations,
        })
    }

    /// Parses one command line without its terminator.
    pub fn parse_line(line: &str) -> Result<Command, String> {
        let mut words = line.split(' ').filter(|w| !w.is_empty());
        let keyword = words.next().ok_or("empty command")?.to_ascii_uppercase();
        Ok(Command {
            keyword,
            args: words.map(str::to_string).collect(),
        })
    }

    /// Encodes `KEYWORD arg arg` with single spaces and CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        push_text(&mut out, &self.keyword);
        for arg in &self.args {
            out.push(b' ');
            push_text(&mut out, arg);
        }
        out.extend(b"\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::line::testing::{arb_limits, assert_round_trip, mutate};
    use proptest::prelude::*;

    const CAPA: &[u8] =
        b"+OK Capability list follows\r\nUSER\r\nSTLS\r\nSASL PLAIN LOGIN\r\nTOP\r\n.\r\n";

    fn offset_of(err: Result<impl std::fmt::Debug, DecodeError>) -> usize {
        match err {
            Err(DecodeError::Malformed { offset, .. }) => offset,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn can_decode_capa() {
        let mut buf = CAPA.to_vec();
        buf.extend(b"+OK next\r\n");
        let d = MultiLine::decode(&buf, &Limits::default()).unwrap();
        assert_eq!(d.consumed, CAPA.len());
        assert!(d.deviations.is_empty());
        assert_eq!(d.value.status, Status::Ok);
        assert_eq!(d.value.text, "Capability list follows");
        let caps = d.value.capabilities();
        assert!(caps.has("STLS", None));
        assert!(caps.has("USER", None));
        assert!(caps.has("SASL", Some("PLAIN")));
        assert!(!caps.has("SASL", Some("CRAM-MD5")));
        assert_eq!(d.value.encode(), CAPA);
    }

    #[test]
    fn can_decode_incomplete_on_every_proper_prefix() {
        for n in 0..CAPA.len() {
            assert_eq!(
                MultiLine::decode(&CAPA[..n], &Limits::default()),
                Err(DecodeError::Incomplete),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn can_decode_dot_unstuffing() {
        let buf = b"+OK\r\n..x\r\n..\r\n.y\r\n\r\n.\r\n";
        let d = MultiLine::decode(buf, &Limits::default()).unwrap();
        assert_eq!(d.value.lines, vec![".x", ".", "y", ""]);
        assert_eq!(d.consumed, buf.len());
        let value = MultiLine {
            status: Status::Ok,
            text: String::new(),
            lines: vec![".x".into(), ".".into(), "".into()],
        };
        assert_eq!(value.encode(), b"+OK\r\n..x\r\n..\r\n\r\n.\r\n");
    }

    #[test]
    fn can_decode_err_without_body() {
        let buf = b"-ERR no such message\r\n.\r\n";
        let d = MultiLine::decode(buf, &Limits::default()).unwrap();
        assert_eq!(d.consumed, 22);
        assert_eq!(d.value.status, Status::Err);
        assert!(d.value.lines.is_empty());
    }

    #[test]
    fn can_decode_single_lines() {
        let limits = Limits::default();
        let d = Response::decode(b"+OK\r\n", &limits).unwrap();
        assert_eq!(
            d.value,
            Response {
                status: Status::Ok,
                text: "".into()
            }
        );
        let d = Response::decode(b"-ERR [AUTH] bad\r\n", &limits).unwrap();
        assert_eq!(d.value.text, "[AUTH] bad");
        let d = Line::decode(b"+ dGVzdA==\r\n", &limits).unwrap();
        assert_eq!(
            d.value,
            Line::Continuation(Continuation {
                text: "dGVzdA==".into()
            })
        );
        let d = Continuation::decode(b"+\r\n", &limits).unwrap();
        assert_eq!(d.value.text, "");
        assert_eq!(d.value.encode(), b"+ \r\n");
        assert_eq!(offset_of(Response::decode(b"+ x\r\n", &limits)), 0);
        assert_eq!(offset_of(Continuation::decode(b"+OK\r\n", &limits)), 0);
        assert_eq!(offset_of(MultiLine::decode(b"+ x\r\n", &limits)), 0);
    }

    #[test]
    fn rejects_bad_status_lines() {
        let limits = Limits::default();
        assert_eq!(offset_of(Line::decode(b"OK\r\n", &limits)), 0);
        assert_eq!(offset_of(Line::decode(b"+OKAY\r\n", &limits)), 3);
        assert_eq!(offset_of(Line::decode(b"-ERROR\r\n", &limits)), 4);
        assert_eq!(offset_of(Line::decode(b"+ok\r\n", &limits)), 1);
        // Refused before the line completes.
        assert_eq!(offset_of(Line::decode(b"HTTP/1.1 400", &limits)), 0);
    }

    #[test]
    fn can_decode_bare_lf_as_deviation() {
        let d = MultiLine::decode(b"+OK\r\nab\n.\r\n", &Limits::default()).unwrap();
        assert_eq!(d.deviations, vec![Deviation::BareLf { offset: 7 }]);
        assert_eq!(d.value.lines, vec!["ab"]);
        assert_eq!(d.consumed, 11);
    }

    #[test]
    fn rejects_overlong_line_even_while_incomplete() {
        let limits = Limits {
            max_line: 8,
            ..Limits::default()
        };
        assert!(matches!(
            Line::decode(b"+OK 123456", &limits),
            Err(DecodeError::TooLong { what: "line", .. })
        ));
        assert!(matches!(
            MultiLine::decode(b"+OK\r\n123456789", &limits),
            Err(DecodeError::TooLong {
                what: "line",
                offset: 5,
                ..
            })
        ));
    }

    #[test]
    fn rejects_too_many_body_lines() {
        let limits = Limits {
            max_lines: 2,
            ..Limits::default()
        };
        assert!(MultiLine::decode(b"+OK\r\na\r\nb\r\n.\r\n", &limits).is_ok());
        assert!(matches!(
            MultiLine::decode(b"+OK\r\na\r\nb\r\nc\r\n", &limits),
            Err(DecodeError::TooLong { offset: 11, .. })
        ));
    }

    #[test]
    fn can_decode_commands() {
        let d = Command::decode(b"user  bob\r\n", &Limits::default()).unwrap();
        assert_eq!(d.value, Command::new("USER", vec!["bob".into()]));
        assert_eq!(d.value.encode(), b"USER bob\r\n");
        assert_eq!(
            Command::parse_line("stls").unwrap(),
            Command::new("STLS", vec![])
        );
        assert_eq!(offset_of(Command::decode(b"  \r\n", &Limits::default())), 0);
    }

    fn text() -> impl Strategy<Value = String> {
        "[^\r\n\x00]{0,30}"
    }

    fn arb_status() -> impl Strategy<Value = Status> {
        prop_oneof![Just(Status::Ok), Just(Status::Err)]
    }

    fn arb_line() -> impl Strategy<Value = Line> {
        prop_oneof![
            (arb_status(), text())
                .prop_map(|(status, text)| Line::Status(Response { status, text })),
            text().prop_map(|text| Line::Continuation(Continuation { text })),
        ]
    }

    fn arb_multiline() -> impl Strategy<Value = MultiLine> {
        (arb_status(), text(), prop::collection::vec(text(), 0..6)).prop_map(
            |(status, text, lines)| MultiLine {
                status,
                text,
                lines: if status == Status::Ok {
                    lines
                } else {
                    Vec::new()
                },
            },
        )
    }

    fn arb_command() -> impl Strategy<Value = Command> {
        ("[A-Z]{3,4}", prop::collection::vec("[!-~]{1,10}", 0..3))
            .prop_map(|(keyword, args)| Command { keyword, args })
    }

    fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(
                prop::sample::select(b"+-. OKER\r\n\0\xffab".to_vec()),
                0..200
            ),
            mutate(prop_oneof![
                arb_line().prop_map(|l| l.encode()),
                arb_multiline().prop_map(|m| m.encode()),
                arb_command().prop_map(|c| c.encode()),
            ]),
        ]
    }

    proptest! {
        #[test]
        fn can_round_trip_line(value in arb_line()) {
            assert_round_trip(&value, &value.encode(), Line::decode)?;
        }

        #[test]
        fn can_round_trip_response(status in arb_status(), text in text()) {
            let value = Response { status, text };
            assert_round_trip(&value, &value.encode(), Response::decode)?;
        }

        #[test]
        fn can_round_trip_continuation(text in text()) {
            let value = Continuation { text };
            assert_round_trip(&value, &value.encode(), Continuation::decode)?;
        }

        #[test]
        fn can_round_trip_multiline(value in arb_multiline()) {
            assert_round_trip(&value, &value.encode(), MultiLine::decode)?;
        }

        #[test]
        fn can_round_trip_command(value in arb_command()) {
            assert_round_trip(&value, &value.encode(), Command::decode)?;
        }

        #[test]
        fn never_panics_pop3(buf in wire_bytes(), limits in arb_limits()) {
            if let Ok(d) = Line::decode(&buf, &limits) {
                prop_assert!(d.consumed > 0 && d.consumed <= buf.len());
                let _ = d.value.encode();
            }
            let _ = Response::decode(&buf, &limits);
            let _ = Continuation::decode(&buf, &limits);
            if let Ok(d) = MultiLine::decode(&buf, &limits) {
                prop_assert!(d.consumed > 0 && d.consumed <= buf.len());
                let _ = (d.value.encode(), d.value.capabilities());
            }
            if let Ok(d) = Command::decode(&buf, &limits) {
                prop_assert!(d.consumed > 0 && d.consumed <= buf.len());
                let _ = d.value.encode();
            }
        }
    }
}
