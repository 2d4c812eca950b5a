//! POP3 commands: decode → encode → decode is stable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailtls::wire::pop3::Command;

fuzz_target!(|data: &[u8]| {
    mailtls_fuzz::decode_encode_decode(data, Command::decode, Command::encode);
});
