//! The exporter's request-head parser on arbitrary bytes: never a panic, and what it accepts is
//! a well-formed request line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|head: &[u8]| {
    if let Some((method, path)) = moai_instrument::__test_support::parse_request_head(head) {
        assert!(
            !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()),
            "{method:?}"
        );
        assert!(
            path.starts_with('/') && !path.contains(['?', '#', ' ']),
            "{path:?}"
        );
    }
});
