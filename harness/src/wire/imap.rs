//! IMAP wire codec: server responses per the RFC 9051 / RFC 3501 response grammar
//! with literal framing (`{n}`, LITERAL+ `{n+}`, BINARY `~{n}`), and client commands.

use std::fmt;

use super::line::{self, malformed, next_line, push_text, too_long};
use super::{Capabilities, DecodeError, Decoded, Deviation, Limits};

/// The status of a tagged or untagged status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `OK`.
    Ok,
    /// `NO`.
    No,
    /// `BAD`.
    Bad,
    /// `PREAUTH` (untagged greeting only).
    PreAuth,
    /// `BYE` (untagged only).
    Bye,
}

impl Status {
    /// The wire atom.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::PreAuth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }

    /// The status for a wire atom in any case.
    pub fn from_atom(atom: &str) -> Option<Status> {
        Status::from_bytes(atom.as_bytes())
    }

    /// [`Status::from_atom`] on raw bytes, before any UTF-8 decoding.
    fn from_bytes(atom: &[u8]) -> Option<Status> {
        [
            Status::Ok,
            Status::No,
            Status::Bad,
            Status::PreAuth,
            Status::Bye,
        ]
        .into_iter()
        .find(|s| s.as_str().as_bytes().eq_ignore_ascii_case(atom))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bracketed response code: `[CAPABILITY IMAP4rev1 STARTTLS]` is name `CAPABILITY`
/// with args `IMAP4rev1 STARTTLS`; `[ALERT]` has no args. Both kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseCode {
    /// The code's atom, as sent (compare with [`ResponseCode::is`]).
    pub name: String,
    /// Everything after the first space inside the brackets, if there was a space.
    pub args: Option<String>,
}

impl ResponseCode {
    /// A code from its name and optional args.
    pub fn new(name: impl Into<String>, args: Option<String>) -> Self {
        ResponseCode {
            name: name.into(),
            args,
        }
    }

    /// Whether the code's name is `name`, ignoring case as IMAP atoms do.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// One complete server response.
///
/// Canonical form (what [`Response::encode`] emits and [`Response::decode`] returns
/// unchanged): no text contains CR or LF; tags are valid (see [`is_tag`]); a code's
/// name is a non-empty atom, its args non-empty when present, neither containing `]`;
/// without a code, a text does not start with `[`; texts do not end in a literal
/// marker; [`Untagged::Capability`] atoms are non-empty without spaces; and for
/// [`Untagged::Data`] see its own documentation. Empty parts are omitted on the wire
/// rather than sent as trailing spaces (`a1 OK`, `* OK [ALERT]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `tag OK|NO|BAD [code] text`.
    ///
    /// The grammar allows no literal here; if a server sends one anyway it is framed
    /// (so the stream stays in sync) and its `{n}` marker stays in `text`, but its
    /// contents are dropped.
    Tagged {
        /// The command tag.
        tag: String,
        /// OK, NO or BAD.
        status: Status,
        /// The bracketed response code, if any.
        code: Option<ResponseCode>,
        /// The human-readable text after the code.
        text: String,
    },
    /// A response starting with `* `.
    Untagged(Untagged),
    /// A command continuation request `+ text`. The grammar allows no literal in it, so
    /// a trailing `{n}` here is text, not a literal: waiting for bytes the server
    /// will not send would deadlock.
    Continuation {
        /// The text (or base64 SASL challenge) after `+ `.
        text: String,
    },
}

/// The body of an untagged response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    /// `* OK|NO|BAD|PREAUTH|BYE [code] text` (without literals; see [`Untagged::Data`]).
    Status {
        /// The status.
        status: Status,
        /// The bracketed response code, if any.
        code: Option<ResponseCode>,
        /// The human-readable text after the code.
        text: String,
    },
    /// `* CAPABILITY atom...`, atoms as sent.
    Capability(Vec<String>),
    /// Any other untagged response (`* 3 EXISTS`, `* LIST ...`, `* 1 FETCH ...`), and
    /// any untagged response that carried literals.
    ///
    /// `line` is the response after `* ` with every CRLF+literal removed: each literal's
    /// marker (`{5}`, `{5+}`, `~{5}`) stays where it was, and the literal records where
    /// (byte offset in `line` just past the marker) and its contents. Positions are
    /// kept rather than re-discovered because a server may put a marker anywhere, even
    /// inside an unterminated quoted string, and only the line breaks tell which `{n}`
    /// announced a literal.
    ///
    /// Canonical form: `line` is non-empty and has no CR or LF; literal positions
    /// increase, and the text between one position and the next ends in a marker
    /// counting that literal's length; the text after the last literal does not end in
    /// a marker; without literals the line does not start with a status atom or
    /// `CAPABILITY`.
    Data {
        /// The response text after `* `, literal markers kept.
        line: String,
        /// The literals, in order.
        literals: Vec<Literal>,
    },
}

/// A literal inside an [`Untagged::Data`] response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// Byte offset in the response's `line` just past this literal's marker: where the
    /// CRLF and the contents went on the wire.
    pub after_marker: usize,
    /// The literal's bytes.
    pub contents: Vec<u8>,
}

impl Literal {
    /// The literal whose marker ends at `after_marker`.
    pub fn new(after_marker: usize, contents: impl Into<Vec<u8>>) -> Literal {
        Literal {
            after_marker,
            contents: contents.into(),
        }
    }
}

/// What to do with a line that ends in a literal marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literals {
    /// Read the literal and continue the response after it.
    Frame,
    /// Treat the marker as text.
    Ignore,
    /// Refuse: framing would need a continuation exchange the decoder cannot do.
    Reject,
}

/// A response or command framed across its literals.
struct Framed {
    /// Every line's content concatenated, literal contents removed.
    text: Vec<u8>,
    /// For each line: where it starts in `text` and in the buffer, to map offsets back.
    segments: Vec<(usize, usize)>,
    /// Literals in order.
    literals: Vec<FramedLiteral>,
    /// Bytes consumed, final CRLF included.
    consumed: usize,
}

/// One literal as framed.
struct FramedLiteral {
    /// Where its line ended in [`Framed::text`].
    end_in_text: usize,
    /// Where its marker's `{` is in the buffer.
    marker_at: usize,
    /// Its contents.
    contents: Vec<u8>,
}

impl Framed {
    /// The buffer offset of byte `at` of `text`.
    fn offset(&self, at: usize) -> usize {
        self.segments
            .iter()
            .rev()
            .find(|(start, _)| *start <= at)
            .map_or(at, |(start, abs)| abs + (at - start))
    }
}

/// A literal marker at the end of `line`: where its `{` is and the announced size
/// (saturated, so an absurd size is just "too long").
fn literal_marker(line: &[u8]) -> Option<(usize, u64)> {
    let body = line.strip_suffix(b"}")?;
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let digits_start = body
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let digits = body.get(digits_start..)?;
    if digits.is_empty() || digits_start == 0 || body.get(digits_start - 1) != Some(&b'{') {
        return None;
    }
    let size = digits.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some((digits_start - 1, size))
}

/// Frames one response or command, following literals as `mode` says. Each line
/// counts against `max_lines`, each line against `max_line`, each literal against
/// `max_literal`, so the caller's buffer stays bounded.
fn frame(
    buf: &[u8],
    limits: &Limits,
    mode: Literals,
    deviations: &mut Vec<Deviation>,
) -> Result<Framed, DecodeError> {
    let mut framed = Framed {
        text: Vec::new(),
        segments: Vec::new(),
        literals: Vec::new(),
        consumed: 0,
    };
    let mut pos = 0;
    loop {
        // Only reached after a literal, so one more line is certainly coming.
        if framed.segments.len() >= limits.max_lines {
            return Err(too_long("response", pos, limits.max_lines));
        }
        let l = next_line(buf, pos, limits, deviations)?;
        let content = line::bytes(buf, l.content.clone());
        framed.segments.push((framed.text.len(), l.content.start));
        framed.text.extend_from_slice(content);
        let marker = match mode {
            Literals::Ignore => None,
            _ => literal_marker(content),
        };
        let Some((open, size)) = marker else {
            framed.consumed = l.next;
            return Ok(framed);
        };
        let open = l.content.start + open;
        if mode == Literals::Reject {
            let reason = if content.ends_with(b"+}") {
                "non-synchronizing literal in a command (not supported)"
            } else {
                "synchronizing literal in a command: the server must send a continuation first"
            };
            return Err(malformed(open, reason));
        }
        if size > limits.max_literal as u64 {
            return Err(too_long("literal", open, limits.max_literal));
        }
        // size <= max_literal, which is a usize, so the cast is lossless.
        let end = l.next.saturating_add(size as usize);
        let Some(literal) = buf.get(l.next..end) else {
            return Err(DecodeError::Incomplete);
        };
        framed.literals.push(FramedLiteral {
            end_in_text: framed.text.len(),
            marker_at: open,
            contents: literal.to_vec(),
        });
        pos = end;
    }
}

/// How a client sends a string where the grammar wants an `astring` (RFC 9051 §4.3,
/// §9: LOGIN's user name and password): a quoted string when every byte may stand
/// in one, else a synchronizing literal, whose contents go only after the server's
/// continuation request. Writing `"${password}"` by hand breaks on `"` or `\`
/// (and a BAD then reads as a refusal), so every LOGIN the harness sends uses this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AstringForm {
    /// `"..."` with `\` and `"` escaped, quotes included.
    Quoted(Vec<u8>),
    /// The raw bytes, sent as `{n}` CRLF, then (after `+`) the bytes.
    Literal(Vec<u8>),
}

impl AstringForm {
    /// The form `value` must take: quoted when it is 7-bit text without CR, LF or
    /// NUL (IMAP4rev1's QUOTED-CHAR, which every server reads), a literal otherwise.
    pub fn of(value: &[u8]) -> AstringForm {
        let quotable = value
            .iter()
            .all(|&b| (0x01..=0x7f).contains(&b) && b != b'\r' && b != b'\n');
        if !quotable {
            return AstringForm::Literal(value.to_vec());
        }
        let mut out = Vec::with_capacity(value.len() + 2);
        out.push(b'"');
        out.extend(quoted_inside(value));
        out.push(b'"');
        AstringForm::Quoted(out)
    }

    /// What goes on the command line in place of the value: the quoted string, or
    /// the literal's `{n}` marker (the line then ends, and the bytes follow later).
    pub fn on_line(&self) -> Vec<u8> {
        match self {
            AstringForm::Quoted(quoted) => quoted.clone(),
            AstringForm::Literal(bytes) => format!("{{{}}}", bytes.len()).into_bytes(),
        }
    }
}

/// The inside of an IMAP quoted string holding `value`: `\` and `"` escaped, no
/// quotes around (what a redactor must look for as well as what goes out).
pub fn quoted_inside(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// Whether `tag` is a valid IMAP tag: one or more ASTRING-CHARs other than `+`
/// (printable ASCII except `(){%*"\` and space, and not `+`).
pub fn is_tag(tag: impl AsRef<[u8]>) -> bool {
    let tag = tag.as_ref();
    !tag.is_empty() && tag.iter().all(|&b| is_tag_char(b))
}

/// An ASTRING-CHAR other than `+` (RFC 9051 `tag`).
fn is_tag_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !b"(){%*\"\\+".contains(&b)
}

/// An ATOM-CHAR (RFC 9051 `atom`), for command names.
fn is_atom_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !b"(){%*\"\\]".contains(&b)
}

/// Splits at the first space: the word and what follows the space (if any).
fn split_word(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    match bytes.iter().position(|&b| b == b' ') {
        Some(i) => (
            bytes.get(..i).unwrap_or(&[]),
            Some(bytes.get(i + 1..).unwrap_or(&[])),
        ),
        None => (bytes, None),
    }
}

/// Checks a tag, returning the offset (within `tag`) of the first bad byte.
fn check_tag(tag: &[u8]) -> Result<(), (usize, &'static str)> {
    if tag.is_empty() {
        return Err((0, "empty tag"));
    }
    match tag.iter().position(|&b| !is_tag_char(b)) {
        Some(i) => Err((i, "invalid character in tag")),
        None => Ok(()),
    }
}

/// `[code] text` after a status atom; `at` is where `rest` starts in the framed text.
fn parse_resp_text(
    framed: &Framed,
    rest: Option<&[u8]>,
    at: usize,
) -> Result<(Option<ResponseCode>, String), DecodeError> {
    let Some(rest) = rest else {
        return Ok((None, String::new()));
    };
    let Some(inner_and_more) = rest.strip_prefix(b"[") else {
        return Ok((None, line::text(rest)));
    };
    let Some(close) = inner_and_more.iter().position(|&b| b == b']') else {
        return Err(malformed(
            framed.offset(at),
            "response code has no closing ']'",
        ));
    };
    let inner = inner_and_more.get(..close).unwrap_or(&[]);
    let (name, args) = split_word(inner);
    if name.is_empty() {
        return Err(malformed(framed.offset(at + 1), "empty response code"));
    }
    let after = inner_and_more.get(close + 1..).unwrap_or(&[]);
    // RFC 9051 wants SP after `]`; servers that omit it are still understood.
    let text = after.strip_prefix(b" ").unwrap_or(after);
    Ok((
        Some(ResponseCode {
            name: line::text(name),
            args: args.map(line::text),
        }),
        line::text(text),
    ))
}

impl Response {
    /// Decodes one complete response, following literals, from the front of `buf`.
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<Response>, DecodeError> {
        let mut deviations = Vec::new();
        let mode = if buf.first() == Some(&b'+') {
            Literals::Ignore
        } else {
            Literals::Frame
        };
        let framed = frame(buf, limits, mode, &mut deviations)?;
        let value = parse_response(&framed)?;
        if let Response::Tagged { .. } = value {
            deviations.extend(
                framed
                    .literals
                    .iter()
                    .map(|literal| Deviation::UnexpectedLiteral {
                        offset: literal.marker_at,
                    }),
            );
            deviations.sort_by_key(Deviation::offset);
        }
        Ok(Decoded {
            value,
            consumed: framed.consumed,
            deviations,
        })
    }

    /// Encodes the response in canonical form, literals included, with CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Response::Tagged {
                tag,
                status,
                code,
                text,
            } => {
                push_text(&mut out, tag);
                out.push(b' ');
                encode_status(&mut out, *status, code.as_ref(), text);
            }
            Response::Untagged(Untagged::Status { status, code, text }) => {
                out.extend(b"* ");
                encode_status(&mut out, *status, code.as_ref(), text);
            }
            Response::Untagged(Untagged::Capability(atoms)) => {
                out.extend(b"* CAPABILITY");
                for atom in atoms {
                    out.push(b' ');
                    push_text(&mut out, atom);
                }
                // A last atom like `{0}` would announce a literal; the decoder
                // drops the trailing space that prevents it.
                if literal_marker(&out).is_some() {
                    out.push(b' ');
                }
            }
            Response::Untagged(Untagged::Data { line, literals }) => {
                out.extend(b"* ");
                encode_with_literals(&mut out, line, literals);
            }
            Response::Continuation { text } => {
                out.extend(b"+ ");
                push_text(&mut out, text);
            }
        }
        out.extend(b"\r\n");
        out
    }

    /// The capabilities in a `* CAPABILITY` response or a `[CAPABILITY ...]` code.
    pub fn capabilities(&self) -> Option<Capabilities> {
        let mut caps = Capabilities::new();
        match self {
            Response::Untagged(Untagged::Capability(atoms)) => {
                for atom in atoms {
                    caps.push_keyword(atom);
                }
            }
            Response::Tagged {
                code: Some(code), ..
            }
            | Response::Untagged(Untagged::Status {
                code: Some(code), ..
            }) if code.is("CAPABILITY") => {
                for atom in code.args.as_deref().unwrap_or("").split_ascii_whitespace() {
                    caps.push_keyword(atom);
                }
            }
            _ => return None,
        }
        Some(caps)
    }
}

/// `STATUS [code] text`, omitting the parts that are empty.
fn encode_status(out: &mut Vec<u8>, status: Status, code: Option<&ResponseCode>, text: &str) {
    out.extend(status.as_str().bytes());
    if let Some(code) = code {
        out.extend(b" [");
        push_text(out, &code.name);
        if let Some(args) = &code.args {
            out.push(b' ');
            push_text(out, args);
        }
        out.push(b']');
    }
    if !text.is_empty() {
        out.push(b' ');
        push_text(out, text);
    }
}

/// Writes `line`, putting CRLF and each literal right after its marker. Markers are
/// matched left to right, skipping quoted strings and markers whose size differs from
/// the next literal's, so a quoted `"{3}"` is not mistaken for one. Literals left
/// without a marker (a non-canonical value) get one appended, so the output always
/// frames as one response.
fn encode_with_literals(out: &mut Vec<u8>, line: &str, literals: &[Literal]) {
    let mut written = 0;
    let mut rest = literals.iter();
    for literal in rest.by_ref() {
        let at = literal.after_marker;
        let counted = line
            .get(written..at)
            .and_then(|upto| literal_marker(upto.as_bytes()))
            .is_some_and(|(_, n)| n == literal.contents.len() as u64);
        if !counted {
            // Not canonical: this and every later literal go after the line.
            push_text(out, line.get(written..).unwrap_or(""));
            append_literal(out, literal);
            written = line.len();
            break;
        }
        push_text(out, line.get(written..at).unwrap_or(""));
        out.extend(b"\r\n");
        out.extend_from_slice(&literal.contents);
        written = at;
    }
    push_text(out, line.get(written..).unwrap_or(""));
    for literal in rest {
        append_literal(out, literal);
    }
}

/// A literal with a fresh marker, for one whose recorded position does not fit.
fn append_literal(out: &mut Vec<u8>, literal: &Literal) {
    out.extend(format!(" {{{}}}\r\n", literal.contents.len()).bytes());
    out.extend_from_slice(&literal.contents);
}

/// The response grammar on a framed response.
fn parse_response(framed: &Framed) -> Result<Response, DecodeError> {
    let t = framed.text.as_slice();
    match t.first() {
        None => Err(malformed(0, "empty response")),
        Some(b'+') => {
            let rest = t.get(1..).unwrap_or(&[]);
            let text = match rest.first() {
                None => rest,
                Some(b' ') => rest.get(1..).unwrap_or(&[]),
                Some(_) => return Err(malformed(framed.offset(1), "expected SP after '+'")),
            };
            Ok(Response::Continuation {
                text: line::text(text),
            })
        }
        Some(b'*') => {
            if t.get(1) != Some(&b' ') {
                return Err(malformed(framed.offset(1), "expected SP after '*'"));
            }
            let body = t.get(2..).unwrap_or(&[]);
            if body.is_empty() {
                return Err(malformed(framed.offset(2), "empty untagged response"));
            }
            let (atom, rest) = split_word(body);
            if framed.literals.is_empty() {
                if let Some(status) = Status::from_bytes(atom) {
                    let (code, text) = parse_resp_text(framed, rest, 2 + atom.len() + 1)?;
                    return Ok(Response::Untagged(Untagged::Status { status, code, text }));
                }
                if atom.eq_ignore_ascii_case(b"CAPABILITY") {
                    let atoms = rest
                        .unwrap_or(&[])
                        .split(|&b| b == b' ')
                        .filter(|a| !a.is_empty())
                        .map(line::text)
                        .collect();
                    return Ok(Response::Untagged(Untagged::Capability(atoms)));
                }
            }
            // Offsets in `text` become offsets in the (lossily decoded) line; each cut
            // follows an ASCII `}`, so decoding up to it never splits a character.
            let literals = framed
                .literals
                .iter()
                .map(|literal| {
                    let upto = t.get(2..literal.end_in_text).unwrap_or(&[]);
                    Literal::new(line::text(upto).len(), literal.contents.clone())
                })
                .collect();
            Ok(Response::Untagged(Untagged::Data {
                line: line::text(body),
                literals,
            }))
        }
        Some(_) => {
            let (tag, rest) = split_word(t);
            check_tag(tag).map_err(|(i, reason)| malformed(framed.offset(i), reason))?;
            let at = tag.len() + 1;
            let Some(rest) = rest else {
                return Err(malformed(
                    framed.offset(tag.len()),
                    "expected a status after the tag",
                ));
            };
            let (atom, rest) = split_word(rest);
            let status = match Status::from_bytes(atom) {
                Some(s @ (Status::Ok | Status::No | Status::Bad)) => s,
                _ => {
                    return Err(malformed(
                        framed.offset(at),
                        "a tagged response must be OK, NO or BAD",
                    ))
                }
            };
            let (code, text) = parse_resp_text(framed, rest, at + atom.len() + 1)?;
            Ok(Response::Tagged {
                tag: line::text(tag),
                status,
                code,
                text,
            })
        }
    }
}

/// A client command: `tag NAME args`.
///
/// Canonical form: a valid tag, a non-empty upper-case atom name, args without CR or
/// LF and not ending in a literal marker; args are everything after the name's
/// space, verbatim, and are omitted with their space when empty.
///
/// Literals in commands are not framed: a synchronizing `{n}` needs the server to
/// send a continuation before the client sends the data, which a pure decoder cannot
/// do, so [`Command::decode`] reports a line ending in a marker as `Malformed` at
/// the marker rather than wait for bytes that will not come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The tag.
    pub tag: String,
    /// The command name, upper-cased on decode.
    pub name: String,
    /// Everything after the name and its space, verbatim.
    pub args: String,
}

impl Command {
    /// Decodes one command line from the front of `buf` (see the type's docs on literals).
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded<Command>, DecodeError> {
        let mut deviations = Vec::new();
        let framed = frame(buf, limits, Literals::Reject, &mut deviations)?;
        let value = parse_command(&framed.text).map_err(|(i, reason)| malformed(i, reason))?;
        Ok(Decoded {
            value,
            consumed: framed.consumed,
            deviations,
        })
    }

    /// Parses one command line without its terminator (no literal framing).
    pub fn parse_line(line: &str) -> Result<Command, String> {
        parse_command(line.as_bytes()).map_err(|(_, reason)| reason.to_string())
    }

    /// Encodes `tag NAME args` with CRLF, without a trailing space when args are empty.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        push_text(&mut out, &self.tag);
        out.push(b' ');
        push_text(&mut out, &self.name);
        if !self.args.is_empty() {
            out.push(b' ');
            push_text(&mut out, &self.args);
        }
        out.extend(b"\r\n");
        out
    }
}

/// The command grammar on one line; errors carry the offset within the line.
fn parse_command(t: &[u8]) -> Result<Command, (usize, &'static str)> {
    let (tag, rest) = split_word(t);
    check_tag(tag)?;
    let Some(rest) = rest else {
        return Err((tag.len(), "expected a command name after the tag"));
    };
    let (name, args) = split_word(rest);
    if name.is_empty() {
        return Err((tag.len() + 1, "empty command name"));
    }
    if let Some(i) = name.iter().position(|&b| !is_atom_char(b)) {
        return Err((tag.len() + 1 + i, "invalid character in command name"));
    }
    Ok(Command {
        tag: line::text(tag),
        name: line::text(name).to_ascii_uppercase(),
        args: args.map(line::text).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::line::testing::{arb_limits, assert_round_trip, mutate};
    use proptest::prelude::*;

    fn decode(buf: &[u8]) -> Result<Decoded<Response>, DecodeError> {
        Response::decode(buf, &Limits::default())
    }

    fn offset_of(err: Result<impl std::fmt::Debug, DecodeError>) -> usize {
        match err {
            Err(DecodeError::Malformed { offset, .. }) => offset,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn can_decode_greeting_with_capability_code() {
        let buf = b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n";
        let d = decode(buf).unwrap();
        assert_eq!(d.consumed, buf.len());
        assert!(d.deviations.is_empty());
        assert_eq!(
            d.value,
            Response::Untagged(Untagged::Status {
                status: Status::Ok,
                code: Some(ResponseCode::new(
                    "CAPABILITY",
                    Some("IMAP4rev1 STARTTLS LOGINDISABLED".into())
                )),
                text: "ready".into(),
            })
        );
        let caps = d.value.capabilities().unwrap();
        assert!(caps.has("STARTTLS", None));
        assert!(caps.has("LOGINDISABLED", None));
        assert!(caps.has("imap4rev1", None));
        assert_eq!(d.value.encode(), buf);
    }

    #[test]
    fn can_decode_capability_response() {
        let d = decode(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN  SASL-IR\r\n").unwrap();
        assert_eq!(
            d.value,
            Response::Untagged(Untagged::Capability(vec![
                "IMAP4rev1".into(),
                "AUTH=PLAIN".into(),
                "SASL-IR".into()
            ]))
        );
        let caps = d.value.capabilities().unwrap();
        assert!(caps.has("AUTH", Some("PLAIN")));
        assert!(decode(b"* 3 EXISTS\r\n")
            .unwrap()
            .value
            .capabilities()
            .is_none());
    }

    #[test]
    fn can_decode_tagged_no_with_code() {
        let buf = b"a1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n";
        let d = decode(buf).unwrap();
        assert_eq!(
            d.value,
            Response::Tagged {
                tag: "a1".into(),
                status: Status::No,
                code: Some(ResponseCode::new("AUTHENTICATIONFAILED", None)),
                text: "Invalid credentials".into(),
            }
        );
        assert_eq!(d.value.encode(), buf);
        let d = decode(b"A2 ok [ALERT]\r\n").unwrap();
        assert_eq!(
            d.value,
            Response::Tagged {
                tag: "A2".into(),
                status: Status::Ok,
                code: Some(ResponseCode::new("ALERT", None)),
                text: "".into(),
            }
        );
        let d = decode(b"A3 BAD\r\n").unwrap();
        assert!(
            matches!(d.value, Response::Tagged { status: Status::Bad, code: None, ref text, .. } if text.is_empty())
        );
    }

    #[test]
    fn can_decode_continuation() {
        for (buf, text) in [
            (&b"+ Ready for literal\r\n"[..], "Ready for literal"),
            (b"+ \r\n", ""),
            (b"+\r\n", ""),
            (b"+ dGVzdA== {5}\r\n", "dGVzdA== {5}"),
        ] {
            let d = decode(buf).unwrap();
            assert_eq!(d.value, Response::Continuation { text: text.into() });
            assert_eq!(d.consumed, buf.len());
        }
    }

    #[test]
    fn can_decode_literal_split_across_reads() {
        let buf = b"* 1 FETCH (BODY[] {8}\r\nab\r\ncd\r\n FLAGS ~{2}\r\n\r\n UID {0+}\r\n)\r\n* 2 EXISTS\r\n";
        let end = buf.len() - b"* 2 EXISTS\r\n".len();
        for n in 0..end {
            assert_eq!(
                decode(&buf[..n]),
                Err(DecodeError::Incomplete),
                "prefix {n}"
            );
        }
        for n in end..=buf.len() {
            let d = decode(&buf[..n]).unwrap();
            assert_eq!(d.consumed, end);
            assert!(d.deviations.is_empty());
            assert_eq!(
                d.value,
                Response::Untagged(Untagged::Data {
                    line: "1 FETCH (BODY[] {8} FLAGS ~{2} UID {0+})".into(),
                    literals: vec![
                        Literal::new(19, *b"ab\r\ncd\r\n"),
                        Literal::new(30, *b"\r\n"),
                        Literal::new(39, []),
                    ],
                })
            );
            assert_eq!(d.value.encode(), &buf[..end]);
        }
    }

    #[test]
    fn can_decode_literal_in_tagged_and_status() {
        let d = decode(b"a1 OK {3}\r\nabc done\r\n").unwrap();
        assert_eq!(d.consumed, 21);
        assert_eq!(
            d.deviations,
            vec![Deviation::UnexpectedLiteral { offset: 6 }]
        );
        assert_eq!(
            d.value,
            Response::Tagged {
                tag: "a1".into(),
                status: Status::Ok,
                code: None,
                text: "{3} done".into(),
            }
        );
        let d = decode(b"* OK {2}\r\nhi\r\n").unwrap();
        assert_eq!(
            d.value,
            Response::Untagged(Untagged::Data {
                line: "OK {2}".into(),
                literals: vec![Literal::new(6, *b"hi")],
            })
        );
    }

    #[test]
    fn can_encode_quoted_braces_as_text() {
        let line = "1 FETCH (X \"{3}\" Y {3})";
        let value = Response::Untagged(Untagged::Data {
            line: line.into(),
            literals: vec![Literal::new(line.len() - 1, *b"abc")],
        });
        let bytes = value.encode();
        assert_eq!(bytes, b"* 1 FETCH (X \"{3}\" Y {3}\r\nabc)\r\n");
        assert_eq!(decode(&bytes).unwrap().value, value);
    }

    /// Found by the `imap_response` fuzz target: markers inside an unterminated
    /// quoted string still announce literals, because only line ends decide.
    #[test]
    fn can_round_trip_markers_inside_an_open_quote() {
        let bytes = b"* 1\"F{5}\r\nhelDY[ {5}\r\nhello)\r\n";
        let value = decode(bytes).unwrap().value;
        assert_eq!(
            value,
            Response::Untagged(Untagged::Data {
                line: "1\"F{5}[ {5})".into(),
                literals: vec![Literal::new(6, *b"helDY"), Literal::new(11, *b"hello")],
            })
        );
        assert_eq!(value.encode(), bytes);
    }

    #[test]
    fn can_keep_literal_positions_after_invalid_utf8() {
        // Each invalid byte becomes a 3-byte U+FFFD in the line; positions follow.
        let bytes = b"* 1 \xff{2}\r\nhi \xfe{1}\r\nx\r\n";
        let value = decode(bytes).unwrap().value;
        let Response::Untagged(Untagged::Data { line, literals }) = &value else {
            panic!("{value:?}");
        };
        assert_eq!(line, "1 \u{fffd}{2} \u{fffd}{1}");
        assert_eq!(literals[0].after_marker, 8);
        assert_eq!(literals[1].after_marker, line.len());
        assert_eq!(decode(&value.encode()).unwrap().value, value);
    }

    /// Found by the `imap_response` fuzz target: the decoder drops trailing spaces
    /// between atoms, which here were all that kept `{0}` from being a marker.
    #[test]
    fn can_round_trip_a_capability_atom_that_looks_like_a_marker() {
        let value = decode(b"* CAPABILITY IMAP4rev1 {0}  \r\n").unwrap().value;
        assert_eq!(
            value,
            Response::Untagged(Untagged::Capability(vec!["IMAP4rev1".into(), "{0}".into()]))
        );
        assert_eq!(value.encode(), b"* CAPABILITY IMAP4rev1 {0} \r\n");
        assert_eq!(decode(&value.encode()).unwrap().value, value);
    }

    #[test]
    fn can_encode_a_literal_whose_position_does_not_fit() {
        let value = Response::Untagged(Untagged::Data {
            line: "1 FETCH (BODY[] {3})".into(),
            literals: vec![Literal::new(4, *b"abc")],
        });
        assert_eq!(value.encode(), b"* 1 FETCH (BODY[] {3}) {3}\r\nabc\r\n");
    }

    #[test]
    fn rejects_literal_bigger_than_limit_before_it_arrives() {
        let limits = Limits {
            max_literal: 4,
            ..Limits::default()
        };
        assert_eq!(
            Response::decode(b"* 1 FETCH (BODY[] {5}\r\n", &limits),
            Err(DecodeError::TooLong {
                what: "literal",
                offset: 18,
                limit: 4
            })
        );
        assert!(matches!(
            Response::decode(b"* 1 X {99999999999999999999999}\r\n", &limits),
            Err(DecodeError::TooLong {
                what: "literal",
                ..
            })
        ));
        assert!(Response::decode(b"* 1 X {4}\r\nabcd\r\n", &limits).is_ok());
    }

    #[test]
    fn rejects_too_many_literals() {
        let limits = Limits {
            max_lines: 2,
            ..Limits::default()
        };
        assert!(Response::decode(b"* 1 {1}\r\na\r\n", &limits).is_ok());
        assert!(matches!(
            Response::decode(b"* 1 {1}\r\na {1}\r\nb", &limits),
            Err(DecodeError::TooLong {
                what: "response",
                ..
            })
        ));
    }

    #[test]
    fn rejects_bad_responses() {
        assert_eq!(offset_of(decode(b"a+1 OK x\r\n")), 1);
        assert_eq!(offset_of(decode(b"a(b OK x\r\n")), 1);
        assert_eq!(offset_of(decode(b"a1 BYE x\r\n")), 3);
        assert_eq!(offset_of(decode(b"a1 FOO x\r\n")), 3);
        assert_eq!(offset_of(decode(b"a1\r\n")), 2);
        assert_eq!(offset_of(decode(b"\r\n")), 0);
        assert_eq!(offset_of(decode(b"*\r\n")), 1);
        assert_eq!(offset_of(decode(b"* \r\n")), 2);
        assert_eq!(offset_of(decode(b"+x\r\n")), 1);
        assert_eq!(offset_of(decode(b"* OK [ALERT oops\r\n")), 5);
        assert_eq!(offset_of(decode(b"* OK [] x\r\n")), 6);
        // Offsets map back through literals to the buffer.
        assert_eq!(offset_of(decode(b"a1 OK [X {1}\r\nz\r\n")), 6);
    }

    #[test]
    fn can_decode_bare_lf_as_deviation() {
        let d = decode(b"* 1 X {2}\nab)\r\n").unwrap();
        assert_eq!(d.deviations, vec![Deviation::BareLf { offset: 9 }]);
        assert_eq!(d.consumed, 15);
    }

    #[test]
    fn rejects_overlong_line_even_while_incomplete() {
        let limits = Limits {
            max_line: 10,
            ..Limits::default()
        };
        assert!(matches!(
            Response::decode(b"* OK hello world", &limits),
            Err(DecodeError::TooLong { what: "line", .. })
        ));
    }

    #[test]
    fn can_decode_commands() {
        let d = Command::decode(b"a1 login bob secret\r\nnext", &Limits::default()).unwrap();
        assert_eq!(d.consumed, 21);
        assert_eq!(
            d.value,
            Command {
                tag: "a1".into(),
                name: "LOGIN".into(),
                args: "bob secret".into()
            }
        );
        assert_eq!(d.value.encode(), b"a1 LOGIN bob secret\r\n");
        let noop = Command::parse_line("x NOOP").unwrap();
        assert_eq!(noop.args, "");
        assert_eq!(noop.encode(), b"x NOOP\r\n");
    }

    #[test]
    fn rejects_bad_commands() {
        let limits = Limits::default();
        assert_eq!(offset_of(Command::decode(b"a1 LOGIN {5}\r\n", &limits)), 9);
        assert_eq!(
            offset_of(Command::decode(b"a1 LOGIN {5+}\r\nbob\r\n", &limits)),
            9
        );
        assert_eq!(offset_of(Command::decode(b"a*1 NOOP\r\n", &limits)), 1);
        assert_eq!(offset_of(Command::decode(b"a1\r\n", &limits)), 2);
        assert_eq!(offset_of(Command::decode(b"a1 \r\n", &limits)), 3);
        assert_eq!(offset_of(Command::decode(b"a1 NO(OP\r\n", &limits)), 5);
        assert!(Command::parse_line("+ x").is_err());
    }

    fn text() -> impl Strategy<Value = String> {
        "[^\r\n\x00{]{0,30}"
    }

    fn arb_status(tagged: bool) -> impl Strategy<Value = Status> {
        if tagged {
            prop::sample::select(vec![Status::Ok, Status::No, Status::Bad])
        } else {
            prop::sample::select(vec![
                Status::Ok,
                Status::No,
                Status::Bad,
                Status::PreAuth,
                Status::Bye,
            ])
        }
    }

    fn arb_code_text() -> impl Strategy<Value = (Option<ResponseCode>, String)> {
        let code = ("[A-Z-]{1,12}", prop::option::of("[A-Za-z0-9 =.()-]{1,20}"))
            .prop_map(|(name, args)| ResponseCode { name, args });
        (prop::option::of(code), text()).prop_filter("text could read as a code", |(code, text)| {
            code.is_some() || !text.starts_with('[')
        })
    }

    fn arb_tag() -> impl Strategy<Value = String> {
        "[A-Za-z0-9.\\]!#&-]{1,8}"
    }

    fn arb_data() -> impl Strategy<Value = Untagged> {
        let piece = (
            prop::collection::vec(any::<u8>(), 0..20),
            0u8..3,
            "[a-zA-Z0-9 ()\\[\\]]{0,10}",
        );
        ("[0-9]{1,4} [A-Z]{1,8}", prop::collection::vec(piece, 0..3)).prop_map(|(head, pieces)| {
            let mut line = head;
            let mut literals = Vec::new();
            for (literal, marker, tail) in pieces {
                line.push(' ');
                line.push_str(&match marker {
                    0 => format!("{{{}}}", literal.len()),
                    1 => format!("{{{}+}}", literal.len()),
                    _ => format!("~{{{}}}", literal.len()),
                });
                literals.push(Literal::new(line.len(), literal));
                line.push_str(&tail);
            }
            Untagged::Data { line, literals }
        })
    }

    fn arb_response() -> impl Strategy<Value = Response> {
        prop_oneof![
            (arb_tag(), arb_status(true), arb_code_text()).prop_map(
                |(tag, status, (code, text))| {
                    Response::Tagged {
                        tag,
                        status,
                        code,
                        text,
                    }
                }
            ),
            (arb_status(false), arb_code_text()).prop_map(|(status, (code, text))| {
                Response::Untagged(Untagged::Status { status, code, text })
            }),
            prop::collection::vec("[A-Za-z0-9=+-]{1,12}", 0..5)
                .prop_map(|atoms| Response::Untagged(Untagged::Capability(atoms))),
            arb_data().prop_map(Response::Untagged),
            "[^\r\n\x00]{0,30}".prop_map(|text| Response::Continuation { text }),
        ]
    }

    fn arb_command() -> impl Strategy<Value = Command> {
        (arb_tag(), "[A-Z][A-Z0-9.]{0,10}", text()).prop_map(|(tag, name, args)| Command {
            tag,
            name,
            args,
        })
    }

    fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(
                prop::sample::select(
                    b"0123456789 *+~{}[]()\"\\\r\n\0\xffaOKNOBADCAPABILITY".to_vec()
                ),
                0..200
            ),
            mutate(prop_oneof![
                arb_response().prop_map(|r| r.encode()),
                arb_command().prop_map(|c| c.encode()),
            ]),
        ]
    }

    /// A minimal reader of a quoted string, as a server reads one, to prove the
    /// encoder's output means the value and nothing else.
    fn unquote(quoted: &[u8]) -> Option<Vec<u8>> {
        let inner = quoted.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        let mut out = Vec::new();
        let mut bytes = inner.iter();
        while let Some(&b) = bytes.next() {
            match b {
                b'\\' => out.push(*bytes.next()?),
                b'"' | b'\r' | b'\n' | 0 => return None,
                b => out.push(b),
            }
        }
        Some(out)
    }

    #[test]
    fn quotes_astrings_with_escapes_and_falls_back_to_literals() {
        assert_eq!(
            AstringForm::of(br#"Zq9\Hunter"2"#),
            AstringForm::Quoted(br#""Zq9\\Hunter\"2""#.to_vec())
        );
        assert_eq!(
            AstringForm::of("pässword".as_bytes()).on_line(),
            b"{9}".to_vec()
        );
        assert!(matches!(
            AstringForm::of(b"a\r\nb"),
            AstringForm::Literal(_)
        ));
        assert!(matches!(AstringForm::of(b"a\0b"), AstringForm::Literal(_)));
    }

    proptest! {
        #[test]
        fn can_round_trip_response(value in arb_response()) {
            assert_round_trip(&value, &value.encode(), Response::decode)?;
        }

        #[test]
        fn can_round_trip_command(value in arb_command()) {
            assert_round_trip(&value, &value.encode(), Command::decode)?;
        }

        #[test]
        fn can_round_trip_astring(value in proptest::collection::vec(any::<u8>(), 0..40)) {
            match AstringForm::of(&value) {
                AstringForm::Quoted(quoted) => {
                    prop_assert_eq!(unquote(&quoted), Some(value));
                }
                AstringForm::Literal(bytes) => {
                    prop_assert!(bytes.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n' || b >= 0x80));
                    prop_assert_eq!(bytes, value);
                }
            }
        }

        #[test]
        fn never_panics_imap(buf in wire_bytes(), limits in arb_limits()) {
            if let Ok(d) = Response::decode(&buf, &limits) {
                prop_assert!(d.consumed > 0 && d.consumed <= buf.len());
                let _ = (d.value.encode(), d.value.capabilities());
            }
            if let Ok(d) = Command::decode(&buf, &limits) {
                prop_assert!(d.consumed > 0 && d.consumed <= buf.len());
                let _ = d.value.encode();
            }
            if let Ok(s) = std::str::from_utf8(&buf) {
                let _ = Command::parse_line(s);
                let _ = is_tag(s);
            }
        }
    }
}
