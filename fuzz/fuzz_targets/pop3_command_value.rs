//! An arbitrary POP3 command (keyword, space-free arguments) encodes to bytes
//! that decode back to it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailtls::wire::pop3::Command;

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    keyword: String,
    args: Vec<String>,
}

fuzz_target!(|input: Input| {
    let keyword = mailtls_fuzz::line_text(&input.keyword, &[' ']).to_ascii_uppercase();
    if keyword.is_empty() {
        return;
    }
    let args = input
        .args
        .iter()
        .take(16)
        .map(|a| mailtls_fuzz::line_text(a, &[' ']))
        .filter(|a| !a.is_empty())
        .collect();
    let command = Command::new(keyword, args);
    mailtls_fuzz::value_round_trip(&command, &command.encode(), Command::decode);
});
