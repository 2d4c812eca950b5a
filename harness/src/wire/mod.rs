//! Codecs for SMTP, IMAP and POP3: bytes to typed commands and replies and back.
//!
//! Everything here is pure (no I/O) and bounded: a decoder looks at a buffer,
//! and either returns one complete value with the number of bytes it consumed,
//! says it needs more bytes, or says exactly where and why the input is bad.
//! Deviations that a lenient parser would swallow (bare LF, a missing CRLF at
//! the end of a reply, a bad continuation marker) are accepted only to be
//! *reported*: they come back in [`Decoded::deviations`] so a check can judge them.

use std::fmt;

pub mod capabilities;
pub mod credentials;
pub mod imap;
pub mod line;
pub mod pop3;
pub mod smtp;

pub use capabilities::Capabilities;

/// Hard caps that keep a hostile peer from growing our buffers without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line accepted, terminator included (RFC 5321 §4.5.3.1.5 says 512 for
    /// replies; real servers send longer, so the default is generous but finite).
    pub max_line: usize,
    /// Most lines in one multi-line reply (SMTP continuation lines, POP3 multi-line bodies).
    pub max_lines: usize,
    /// Largest IMAP literal `{n}` that will be framed.
    pub max_literal: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 8 * 1024,
            max_lines: 1024,
            max_literal: 1024 * 1024,
        }
    }
}

/// A departure from the protocol's framing that the decoder tolerated so it could
/// report it. `offset` is the byte offset in the buffer given to the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deviation {
    /// A line ended with LF alone instead of CRLF.
    BareLf {
        /// Where the LF is.
        offset: usize,
    },
    /// A CR that is not followed by LF, inside a line.
    BareCr {
        /// Where the CR is.
        offset: usize,
    },
    /// A NUL byte inside a line.
    Nul {
        /// Where the NUL is.
        offset: usize,
    },
    /// SMTP: a continuation line whose code differs from the first line's.
    CodeMismatch {
        /// Where the continuation line starts.
        offset: usize,
        /// The first line's code.
        expected: u16,
        /// This line's code.
        found: u16,
    },
    /// Text is not valid UTF-8 and was decoded lossily.
    InvalidUtf8 {
        /// Where the line starts.
        offset: usize,
    },
    /// IMAP: a literal in a tagged response, whose grammar allows none. It is framed,
    /// so the stream stays in step, but its contents are dropped.
    UnexpectedLiteral {
        /// Where its `{n}` marker starts.
        offset: usize,
    },
}

impl Deviation {
    /// The byte offset the deviation was found at, so a decoder can report them in order.
    pub fn offset(&self) -> usize {
        match self {
            Deviation::BareLf { offset }
            | Deviation::BareCr { offset }
            | Deviation::Nul { offset }
            | Deviation::CodeMismatch { offset, .. }
            | Deviation::InvalidUtf8 { offset }
            | Deviation::UnexpectedLiteral { offset } => *offset,
        }
    }
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deviation::BareLf { offset } => write!(f, "bare LF line ending at byte {offset}"),
            Deviation::BareCr { offset } => write!(f, "bare CR inside a line at byte {offset}"),
            Deviation::Nul { offset } => write!(f, "NUL byte at byte {offset}"),
            Deviation::CodeMismatch {
                offset,
                expected,
                found,
            } => write!(
                f,
                "continuation line at byte {offset} has code {found}, first line had {expected}"
            ),
            Deviation::InvalidUtf8 { offset } => {
                write!(f, "invalid UTF-8 in the line at byte {offset}")
            }
            Deviation::UnexpectedLiteral { offset } => write!(
                f,
                "literal in a tagged response at byte {offset} (the grammar allows none; its contents are dropped)"
            ),
        }
    }
}

/// Why a buffer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer holds the start of a value; read more bytes and try again.
    #[error("incomplete: more bytes are needed")]
    Incomplete,
    /// A line, a reply or a literal exceeded its cap.
    #[error("{}", too_long_message(what, *limit, *offset))]
    TooLong {
        /// What grew too long: a line, a reply, a literal.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// The cap it exceeded.
        limit: usize,
    },
    /// The bytes are not what the grammar allows.
    #[error("malformed at byte {offset}: {reason}")]
    Malformed {
        /// Where the bytes go wrong.
        offset: usize,
        /// What the grammar wanted there.
        reason: String,
    },
}

/// What the byte budget of one whole answer is called in a [`DecodeError::TooLong`]
/// (every untagged response and literal before an IMAP completion together).
pub const ANSWER_BYTES: &str = "answer (untagged responses and literals together)";

/// The words for a [`DecodeError::TooLong`]: each cap in its own unit. A line, a
/// literal or a buffer is capped in bytes ([`Limits::max_line`],
/// [`Limits::max_literal`]); a reply or response in lines ([`Limits::max_lines`]); a
/// run of IMAP untagged responses in responses.
fn too_long_message(what: &str, limit: usize, offset: usize) -> String {
    match what {
        "line" | "literal" | "buffered reply" | ANSWER_BYTES => {
            format!("{what} longer than {limit} bytes at byte {offset}")
        }
        "reply" | "response" | "multi-line response" => {
            format!("{what} of more than {limit} lines at byte {offset}")
        }
        "run of untagged responses" => {
            format!("{what} longer than {limit} responses at byte {offset}")
        }
        // A new `what` without its unit here still reads truthfully.
        _ => format!("{what} over its cap of {limit} at byte {offset}"),
    }
}

/// A complete value decoded from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<T> {
    /// The value.
    pub value: T,
    /// How many bytes at the front of the buffer it took, terminator included.
    pub consumed: usize,
    /// Framing deviations the decoder tolerated, in order.
    pub deviations: Vec<Deviation>,
}

#[cfg(test)]
mod tests {
    use super::{DecodeError, Limits};

    fn message<T: std::fmt::Debug>(decoded: Result<T, DecodeError>) -> String {
        decoded.expect_err("the cap is exceeded").to_string()
    }

    /// Every cap is named in its own unit: a reply of too many lines never claims
    /// to be too many bytes.
    #[test]
    fn too_long_names_the_unit_of_each_cap() {
        let limits = Limits {
            max_line: 24,
            max_lines: 2,
            max_literal: 4,
        };
        let messages = [
            message(super::smtp::Reply::decode(
                b"250 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                &limits,
            )),
            message(super::smtp::Reply::decode(b"250-a\r\n250-b\r\n", &limits)),
            message(super::imap::Response::decode(
                b"* 1 FETCH (BODY[] {5}\r\n",
                &limits,
            )),
            message(super::imap::Response::decode(
                b"* 1 {1}\r\na {1}\r\nb",
                &limits,
            )),
            message(super::pop3::MultiLine::decode(
                b"+OK\r\na\r\nb\r\nc\r\n",
                &limits,
            )),
            DecodeError::TooLong {
                what: "run of untagged responses",
                offset: 0,
                limit: 10_000,
            }
            .to_string(),
            DecodeError::TooLong {
                what: "buffered reply",
                offset: 70_000,
                limit: 65_536,
            }
            .to_string(),
            DecodeError::TooLong {
                what: "greeting",
                offset: 0,
                limit: 3,
            }
            .to_string(),
        ];
        insta::assert_snapshot!(messages.join("\n"));
    }
}
