//! Shared properties of the fuzz targets: each target is a thin shim that feeds
//! bytes (or an `arbitrary` value) to one of mailtls's parsers and checks a
//! property, not only the absence of a panic.
#![forbid(unsafe_code)]

use mailtls::wire::{DecodeError, Decoded, Limits};

/// Limits chosen by the first input byte: the defaults, or tiny ones that make
/// every cap trip. Returns the limits and the rest of the input.
pub fn limits_and_rest(data: &[u8]) -> (Limits, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) if b & 0x80 != 0 => (
            Limits {
                max_line: usize::from(b & 0x1f) + 1,
                max_lines: usize::from((b >> 5) & 0x3),
                max_literal: usize::from(b & 0x0f),
            },
            rest,
        ),
        Some((_, rest)) => (Limits::default(), rest),
        None => (Limits::default(), data),
    }
}

/// The codec property: whatever `decode` accepts consumed no more than it was
/// given; its canonical encoding decodes (under default limits) to the same
/// value, consuming exactly the encoding; decoding is deterministic.
pub fn decode_encode_decode<T: PartialEq + std::fmt::Debug>(
    data: &[u8],
    decode: impl Fn(&[u8], &Limits) -> Result<Decoded<T>, DecodeError>,
    encode: impl Fn(&T) -> Vec<u8>,
) -> Option<T> {
    let (limits, bytes) = limits_and_rest(data);
    let first = decode(bytes, &limits);
    assert_eq!(first, decode(bytes, &limits), "decoding is deterministic");
    let decoded = first.ok()?;
    assert!(decoded.consumed <= bytes.len(), "consumed past the end");
    assert!(decoded.consumed > 0, "a value from no bytes");
    let encoded = encode(&decoded.value);
    let again = decode(&encoded, &Limits::default()).unwrap_or_else(|e| {
        panic!(
            "canonical encoding {encoded:?} of {:?} does not decode: {e}",
            decoded.value
        )
    });
    assert_eq!(
        again.value, decoded.value,
        "value changed through {encoded:?}"
    );
    assert_eq!(again.consumed, encoded.len(), "encoding not consumed whole");
    Some(decoded.value)
}

/// The value property: a value built from arbitrary parts encodes to bytes that
/// decode back to it, consuming all of them, with no framing deviation.
pub fn value_round_trip<T: PartialEq + std::fmt::Debug>(
    value: &T,
    encoded: &[u8],
    decode: impl Fn(&[u8], &Limits) -> Result<Decoded<T>, DecodeError>,
) {
    let decoded = decode(encoded, &Limits::default())
        .unwrap_or_else(|e| panic!("{value:?} encoded as {encoded:?} does not decode: {e}"));
    assert_eq!(&decoded.value, value, "through {encoded:?}");
    assert_eq!(decoded.consumed, encoded.len());
    assert!(decoded.deviations.is_empty(), "{:?}", decoded.deviations);
}

/// Text safe inside one protocol line: printable ASCII without the characters
/// `forbidden` (separators the grammar gives a meaning).
pub fn line_text(raw: &str, forbidden: &[char]) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .filter(|c| !forbidden.contains(c))
        .collect()
}
