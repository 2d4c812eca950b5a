//! IMAP responses: decode → encode → decode gives the same response; literals
//! stay within their cap.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailtls::wire::imap::Response;

fuzz_target!(|data: &[u8]| {
    mailtls_fuzz::decode_encode_decode(data, Response::decode, Response::encode);
});
