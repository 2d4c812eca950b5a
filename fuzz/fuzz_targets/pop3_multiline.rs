//! POP3 multi-line responses: decode → encode → decode is stable (dot-stuffing
//! included); the line cap holds.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailtls::wire::pop3::MultiLine;

fuzz_target!(|data: &[u8]| {
    let (limits, _) = mailtls_fuzz::limits_and_rest(data);
    if let Some(response) =
        mailtls_fuzz::decode_encode_decode(data, MultiLine::decode, MultiLine::encode)
    {
        assert!(response.lines.len() <= limits.max_lines);
    }
});
