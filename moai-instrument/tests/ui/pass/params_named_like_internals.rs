//! Parameters and locals named like the expansion's internals are the user's own.
use moai_instrument::{counted_event, timed_query};

#[timed_query]
#[counted_event(event_type = CALLSITE)]
#[allow(non_snake_case)]
fn query(__moai_query_guard: u32, __moai_query_output: u32, CALLSITE: &str) -> u32 {
    let guard = __moai_query_guard;
    guard + __moai_query_output + CALLSITE.len() as u32
}

#[timed_query]
async fn query_async(__moai_query_guard: u32, __moai_query_output: u32) -> u32 {
    __moai_query_guard * __moai_query_output
}

fn main() {
    assert_eq!(query(1, 2, "abc"), 6);
    let _ = query_async(2, 3);
}
