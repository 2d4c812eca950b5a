//! IMAP commands: decode → encode → decode gives the same command.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailtls::wire::imap::Command;

fuzz_target!(|data: &[u8]| {
    mailtls_fuzz::decode_encode_decode(data, Command::decode, Command::encode);
});
