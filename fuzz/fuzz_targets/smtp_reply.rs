//! SMTP replies: decode → encode → decode gives the same reply; limits hold.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailtls::wire::smtp::Reply;

fuzz_target!(|data: &[u8]| {
    let (limits, _) = mailtls_fuzz::limits_and_rest(data);
    if let Some(reply) = mailtls_fuzz::decode_encode_decode(data, Reply::decode, Reply::encode) {
        assert!((200..=599).contains(&reply.code) || reply.code < 1000);
        assert!(reply.lines.len() <= limits.max_lines.max(1));
    }
});
