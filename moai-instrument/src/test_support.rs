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

/// A recorder with `config`'s settings that is not installed globally: record into it inside
/// [`in_scope`]. For tests that need a fresh recorder per case; the attribute macros record only
/// into the installed one (or a `testing::capture`).
pub fn detached_recorder(config: crate::Config) -> Result<crate::MetricsHandle, crate::InitError> {
    config.detached()
}

/// Runs `f` with `handle`'s recorder as the current thread's `metrics` recorder.
pub fn in_scope<T>(handle: &crate::MetricsHandle, f: impl FnOnce() -> T) -> T {
    handle.with_local(f)
}

/// The exposition alone, without the scrape-time collectors and the `/proc` reads that
/// `render()` runs first (benchmarks time the two separately).
pub fn render_exposition_only(handle: &crate::MetricsHandle) -> String {
    handle.exposition_only()
}

/// Starts a new summary window period now, as the upkeep thread does once per period.
pub fn rotate_summary_window(handle: &crate::MetricsHandle) {
    handle.rotate_windows();
}
