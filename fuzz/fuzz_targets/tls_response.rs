//! The ServerHello/alert parser: never panics, is deterministic, answers every
//! complete flight once the connection is closed, and caps the flight size.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mailtls::tls::response::{parse, ResponseError, MAX_FLIGHT};

fuzz_target!(|data: &[u8]| {
    let (flags, bytes) = data.split_first().map_or((0, data), |(f, r)| (*f, r));
    let (want, closed) = (flags & 1 != 0, flags & 2 != 0);
    let first = parse(bytes, want, closed);
    assert_eq!(
        format!("{first:?}"),
        format!("{:?}", parse(bytes, want, closed))
    );
    if bytes.len() > MAX_FLIGHT {
        assert!(matches!(first, Err(ResponseError::TooLong)));
    }
});
