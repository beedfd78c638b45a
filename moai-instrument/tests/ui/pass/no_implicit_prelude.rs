//! The expansion names every path absolutely, so it works without the prelude.
#![no_implicit_prelude]

#[::moai_instrument::timed_query(query_type = "np_query", slow_ms = 5)]
fn query(fail: bool) -> ::core::result::Result<u32, ::std::string::String> {
    if fail {
        return ::core::result::Result::Err(::std::borrow::ToOwned::to_owned("failed"));
    }
    ::core::result::Result::Ok(1)
}

#[::moai_instrument::counted_event(event_type = kind)]
fn event(kind: &str) {}

#[::moai_instrument::counted_event]
#[::moai_instrument::timed_query]
async fn both() -> ::std::vec::Vec<u8> {
    ::std::vec::Vec::new()
}

fn main() {
    let _ = query(true);
    event("np_event");
    let _ = both();
}
