//! The line framer the three protocols share: finds one CRLF-terminated line,
//! enforces [`Limits::max_line`] before the line is even complete, and records
//! every framing deviation (bare LF, bare CR, NUL, invalid UTF-8) at its
//! absolute offset so the protocol decoders only deal with grammar.

use std::ops::Range;

use super::{DecodeError, Deviation, Limits};

/// One framed line inside a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line's content without its terminator, as absolute offsets into the buffer.
    pub content: Range<usize>,
    /// Offset of the first byte after the terminator, where the next line starts.
    pub next: usize,
}

/// Frames the line that starts at `start` in `buf`.
///
/// Returns [`DecodeError::Incomplete`] when no LF has arrived yet, unless the bytes
/// already waiting could never fit in `limits.max_line` (terminator included), in
/// which case it returns [`DecodeError::TooLong`] at once: a peer that never sends
/// LF must not make the caller buffer forever. Deviations in a complete line are
/// appended to `deviations` in offset order; nothing is appended on error.
pub fn next_line(
    buf: &[u8],
    start: usize,
    limits: &Limits,
    deviations: &mut Vec<Deviation>,
) -> Result<Line, DecodeError> {
    let rest = buf.get(start..).unwrap_or(&[]);
    // Searching only max_line bytes keeps each call bounded however much is buffered.
    let window = rest.get(..limits.max_line).unwrap_or(rest);
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        // Even a bare LF arriving next would make the line longer than the cap.
        if rest.len() >= limits.max_line {
            return Err(too_long("line", start, limits.max_line));
        }
        return Err(DecodeError::Incomplete);
    };
    let mut found = Vec::new();
    let content_len = if lf > 0 && window.get(lf - 1) == Some(&b'\r') {
        lf - 1
    } else {
        found.push(Deviation::BareLf { offset: start + lf });
        lf
    };
    let content = window.get(..content_len).unwrap_or(&[]);
    for (i, &b) in content.iter().enumerate() {
        // Any CR left inside the content is not part of the terminator, so it is bare.
        match b {
            b'\r' => found.push(Deviation::BareCr { offset: start + i }),
            0 => found.push(Deviation::Nul { offset: start + i }),
            _ => {}
        }
    }
    if let Err(e) = std::str::from_utf8(content) {
        found.push(Deviation::InvalidUtf8 {
            offset: start + e.valid_up_to(),
        });
    }
    found.sort_by_key(Deviation::offset);
    deviations.extend(found);
    Ok(Line {
        content: start..start + content_len,
        next: start + lf + 1,
    })
}

/// The bytes of `range` in `buf`, or nothing if the range does not fit (never panics).
pub fn bytes(buf: &[u8], range: Range<usize>) -> &[u8] {
    buf.get(range).unwrap_or(&[])
}

/// The bytes as text, decoded lossily; the framer has already reported invalid UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The first line of `buf` as far as it has arrived (everything before the first LF,
/// minus a final CR that may be the start of CRLF), for decoders that can reject a
/// bad prefix before the line completes.
pub fn partial(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf.get(..end).unwrap_or(buf);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Appends `s` for an encoder, with CR and LF replaced by spaces: an encoder must
/// emit exactly one line per field, so text can never smuggle in a terminator.
/// Deliberate framing violations belong in raw bytes, not in typed values.
pub(crate) fn push_text(out: &mut Vec<u8>, s: &str) {
    out.extend(
        s.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

/// Shorthand for a [`DecodeError::Malformed`].
pub(crate) fn malformed(offset: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        offset,
        reason: reason.into(),
    }
}

/// Shorthand for a [`DecodeError::TooLong`].
pub(crate) fn too_long(what: &'static str, offset: usize, limit: usize) -> DecodeError {
    DecodeError::TooLong {
        what,
        offset,
        limit,
    }
}

/// Strategies the protocol modules' property tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::super::{DecodeError, Decoded, Limits};
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    /// The round-trip property every codec holds: the canonical encoding decodes back
    /// to the value, whole and without deviations, and every proper prefix of it is
    /// `Incomplete` (never an error, never a shorter value).
    pub(crate) fn assert_round_trip<T: PartialEq + std::fmt::Debug>(
        value: &T,
        bytes: &[u8],
        decode: impl Fn(&[u8], &Limits) -> Result<Decoded<T>, DecodeError>,
    ) -> Result<(), TestCaseError> {
        let decoded = decode(bytes, &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("{e} decoding {bytes:?}")))?;
        prop_assert_eq!(&decoded.value, value);
        prop_assert_eq!(decoded.consumed, bytes.len());
        prop_assert!(decoded.deviations.is_empty(), "{:?}", decoded.deviations);
        for n in 0..bytes.len() {
            prop_assert_eq!(
                decode(&bytes[..n], &Limits::default()).err(),
                Some(DecodeError::Incomplete)
            );
        }
        Ok(())
    }

    /// Default limits, or tiny ones that make every cap trip.
    pub(crate) fn arb_limits() -> impl Strategy<Value = Limits> {
        prop_oneof![
            Just(Limits::default()),
            (0usize..24, 0usize..4, 0usize..8).prop_map(|(max_line, max_lines, max_literal)| {
                Limits {
                    max_line,
                    max_lines,
                    max_literal,
                }
            }),
        ]
    }

    /// Valid wire bytes with a few bytes overwritten and the end cut off, which reaches
    /// much deeper into a decoder than uniformly random bytes do.
    pub(crate) fn mutate(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
        (
            valid,
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            any::<Option<prop::sample::Index>>(),
        )
            .prop_map(|(mut bytes, edits, cut)| {
                if !bytes.is_empty() {
                    for (at, b) in edits {
                        let i = at.index(bytes.len());
                        bytes[i] = b;
                    }
                    if let Some(cut) = cut {
                        bytes.truncate(cut.index(bytes.len() + 1));
                    }
                }
                bytes
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(
        buf: &[u8],
        start: usize,
        limits: &Limits,
    ) -> (Result<Line, DecodeError>, Vec<Deviation>) {
        let mut devs = Vec::new();
        let r = next_line(buf, start, limits, &mut devs);
        (r, devs)
    }

    #[test]
    fn can_decode_crlf_line() {
        let (line, devs) = frame(b"ab\r\ncd", 0, &Limits::default());
        assert_eq!(
            line.unwrap(),
            Line {
                content: 0..2,
                next: 4
            }
        );
        assert!(devs.is_empty());
    }

    #[test]
    fn can_decode_deviations_in_offset_order() {
        let (line, devs) = frame(b"xx\x00a\rb\xffc\n", 2, &Limits::default());
        assert_eq!(
            line.unwrap(),
            Line {
                content: 2..8,
                next: 9
            }
        );
        assert_eq!(
            devs,
            vec![
                Deviation::Nul { offset: 2 },
                Deviation::BareCr { offset: 4 },
                Deviation::InvalidUtf8 { offset: 6 },
                Deviation::BareLf { offset: 8 },
            ]
        );
    }

    #[test]
    fn rejects_overlong_line_while_incomplete() {
        let limits = Limits {
            max_line: 4,
            ..Limits::default()
        };
        assert_eq!(frame(b"abc", 0, &limits).0, Err(DecodeError::Incomplete));
        assert_eq!(frame(b"ab\r\n", 0, &limits).0.unwrap().next, 4);
        assert!(matches!(
            frame(b"abcd", 0, &limits).0,
            Err(DecodeError::TooLong { offset: 0, .. })
        ));
        assert!(matches!(
            frame(b"abc\r\n", 0, &limits).0,
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn can_decode_past_end_as_incomplete() {
        assert_eq!(
            frame(b"ab", 7, &Limits::default()).0,
            Err(DecodeError::Incomplete)
        );
    }
}
