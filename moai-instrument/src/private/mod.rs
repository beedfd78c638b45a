//! Support for the code the macros generate, exported as `moai_instrument::__private`. Not public
//! API: names and signatures may change in any release.

mod calls;
mod callsite;
mod outcome;
mod query_guard;

pub use crate::__moai_observe_outcome as observe_outcome;
pub use calls::call_once;
pub use callsite::{Callsite, EventCallsite, Location, QueryCallsite, count_event};
pub use inventory;
pub use outcome::{ObserveDisplay, ObserveNothing, ObserveOpaque, ObserveStdError, Outcome};
pub use query_guard::QueryGuard;

pub(crate) use callsite::callsites;
pub(crate) use query_guard::set_default_slow_query;

/// The SDK's JSON formatter as a `tracing` subscriber writing each line to `write`, without
/// installing anything (benchmarks compare it with other formatters).
pub fn json_subscriber(
    write: impl Fn(&[u8]) + Send + Sync + 'static,
) -> impl tracing::Subscriber + Send + Sync {
    crate::logging::json_subscriber(write)
}

/// Parses an HTTP request head as the exporter does; `Some((method, path))` when accepted. For the
/// fuzz target: it must never panic, and what it accepts must be well formed.
pub fn parse_request_head(head: &[u8]) -> Option<(String, String)> {
    crate::exporter::parse_head(head)
        .ok()
        .map(|r| (r.method, r.path))
}
