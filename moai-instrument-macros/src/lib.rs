//! Attribute macros of [`moai-instrument`](https://docs.rs/moai-instrument). Use them through
//! the re-exports `moai_instrument::{timed_query, counted_event}`; the documentation lives there.
//!
//! Each macro parses its arguments into a struct (`args`), checks the item (`target_fn`), then
//! expands (`expand`). Any mistake becomes one compile error on the user's tokens, emitted next to
//! the unchanged item.

use proc_macro::TokenStream;

mod args;
mod expand;
mod target_fn;

/// Times a fn into `moai_flow_query_duration_seconds{query_type}`, warns when it is slow, and
/// counts an `Err` result in `moai_flow_errors_total{operation}`.
///
/// Arguments (all optional): `query_type = "name"` (default: the fn name), `slow_ms = N`
/// (default: the configured slow-query threshold, 100 ms), and one of `ok_if = path` (a result
/// for which the `fn(&ReturnType) -> bool` returns true is a success) or `error_if = path` (a
/// result for which it returns true is a failure, and no other).
#[proc_macro_attribute]
pub fn timed_query(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::timed_query(args.into(), item.into()).into()
}

/// Counts each call in `moai_flow_events_total{event_type}`.
///
/// Arguments (optional): `event_type = "name"` (default: the fn name) or
/// `event_type = <expression over the arguments>` whose value is `AsRef<str>`.
#[proc_macro_attribute]
pub fn counted_event(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::counted_event(args.into(), item.into()).into()
}
