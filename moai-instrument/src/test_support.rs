//! Entry points for the SDK's own benchmarks, tests and fuzz targets into parts that are not
//! public API (the JSON formatter without installing it, the exporter's request-head parser).
//! Exported as `moai_instrument::__test_support`, hidden from the documentation: no stability
//! promise, and nothing an application needs.

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
        .map(|r| (r.method().to_string(), r.uri().path().to_owned()))
}
