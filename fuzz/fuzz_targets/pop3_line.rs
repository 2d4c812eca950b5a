//! POP3 status lines and continuations: decode → encode → decode is stable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailtls::wire::pop3::Line;

fuzz_target!(|data: &[u8]| {
    mailtls_fuzz::decode_encode_decode(data, Line::decode, Line::encode);
});
