//! The scenario parser: any text either parses or fails with a position inside
//! the text; parsing is deterministic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = mailtls::scenario::parse("fuzz.mts", text);
    let second = mailtls::scenario::parse("fuzz.mts", text);
    assert_eq!(first.is_ok(), second.is_ok());
    if let Err(e) = first {
        let message = e.to_string();
        assert!(message.starts_with("fuzz.mts"), "{message}");
    }
});
