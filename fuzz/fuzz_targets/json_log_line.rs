//! The JSON log formatter on arbitrary field content: every event is exactly one line, the line
//! is valid JSON, and every string comes back intact.
#![no_main]

use std::cell::RefCell;
use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

thread_local! {
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fuzz_target!(|data: &[u8]| {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = moai_instrument::__test_support::json_subscriber(|line| {
            OUT.with_borrow_mut(|out| out.extend_from_slice(line))
        });
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    });
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let (first, second, third) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    OUT.with_borrow_mut(Vec::clear);
    {
        let span = tracing::info_span!("fuzz", agent_id = %second, user_id = data.len());
        let _entered = span.enter();
        tracing::info!(note = %first, line = %third, debug = ?second, "{first}");
    }
    let out = OUT.with_borrow(|out| String::from_utf8(out.clone()).expect("UTF-8"));
    assert!(
        out.ends_with('\n') && out.matches('\n').count() == 1,
        "one line: {out:?}"
    );
    let line: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(line["message"], *first);
    assert_eq!(line["note"], *first);
    assert_eq!(line["agent_id"], *second);
    assert_eq!(line["fields.line"], *third);
    assert_eq!(line["user_id"], data.len());
});
