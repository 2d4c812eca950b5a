//! An arbitrary SMTP reply (code, lines of printable text) encodes to bytes that
//! decode back to it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailtls::wire::smtp::Reply;

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    code: u16,
    lines: Vec<String>,
}

fuzz_target!(|input: Input| {
    let code = 200 + input.code % 400;
    let mut lines: Vec<String> = input
        .lines
        .iter()
        .take(64)
        .map(|l| mailtls_fuzz::line_text(l, &[]))
        .collect();
    // A last line that is only spaces encodes as a bare code; keep text meaningful.
    if let Some(last) = lines.last_mut() {
        if last.trim().is_empty() {
            last.clear();
        }
    }
    let reply = Reply::new(code, lines);
    mailtls_fuzz::value_round_trip(&reply, &reply.encode(), Reply::decode);
});
