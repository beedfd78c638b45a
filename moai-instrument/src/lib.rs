//! Production monitoring for MoAI-Flow hosts, in a few lines.
//!
//! # Basics
//!
//! Annotate the functions worth watching, install the SDK once at start-up, and every call is
//! measured into the metrics of the MoAI-Flow monitoring guide:
//!
//! | metric | from |
//! |---|---|
//! | `moai_flow_query_duration_seconds{query_type}` | [`#[timed_query]`](timed_query) |
//! | `moai_flow_errors_total{operation}` | an `Err` returned by a `#[timed_query]` fn |
//! | `moai_flow_events_total{event_type}` | [`#[counted_event]`](counted_event) |
//! | `moai_flow_build_info{version}` | set at installation |
//!
//! The full list, with types, labels and HELP texts, is [`catalog::CATALOG`].
//!
//! # Usage
//!
//! ```
//! use moai_instrument::{Config, counted_event, timed_query};
//!
//! #[derive(Debug)]
//! struct NotFound;
//! impl std::fmt::Display for NotFound {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("agent not found")
//!     }
//! }
//!
//! #[timed_query(query_type = "get_agent")]
//! fn get_agent(id: u32) -> Result<String, NotFound> {
//!     if id == 7 { Ok("agent-7".into()) } else { Err(NotFound) }
//! }
//!
//! #[counted_event(event_type = "spawn")]
//! fn spawn_agent() {}
//!
//! let metrics = Config::new().install_recorder()?;
//! spawn_agent();
//! let _ = get_agent(7);
//! let _ = get_agent(8);
//!
//! let exposition = metrics.render();
//! assert!(exposition.contains(r#"moai_flow_events_total{event_type="spawn"} 1"#));
//! assert!(exposition.contains(r#"moai_flow_errors_total{operation="get_agent"} 1"#));
//! assert!(exposition.contains(r#"moai_flow_query_duration_seconds_count{query_type="get_agent"} 2"#));
//! # Ok::<(), moai_instrument::InitError>(())
//! ```
//!
//! In an application, [`init`] does everything at once: the recorder, the embedded exporter
//! (`/metrics`, `/livez`, `/readyz`, `/healthz`), and JSON logs on stdout and in a rotating file,
//! from the defaults and the `MOAI_*` environment ([`Config`] for code):
//!
//! ```no_run
//! fn main() -> Result<(), moai_instrument::InitError> {
//!     let guard = moai_instrument::init()?;
//!     tracing::info!(agent_id = "agent-7", user_id = 42, "Agent spawned successfully");
//!     if let Some(addr) = guard.metrics_addr() {
//!         println!("scrape http://{addr}/metrics");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! In a service that has its own `tracing` subscriber and HTTP router, [`Config::build`] hands
//! over the parts instead of installing them: the [`logging::JsonLayer`] for the host's
//! subscriber and, through the [`Guard`], the [`exporter::Routes`] to serve from the host's own
//! port (`metrics_addr("none")` binds none of the SDK's):
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let (json, guard) = moai_instrument::Config::new()
//!     .metrics_addr("none")
//!     .log_dir(None::<&str>)
//!     .build()?;
//! let subscriber = tracing_subscriber::registry()
//!     .with(json)
//!     .with(tracing_subscriber::fmt::layer());
//! # let _ = subscriber;
//! let request = moai_instrument::http::Request::get("/readyz").body(()).unwrap();
//! assert_eq!(guard.routes().handle(&request).status(), 200);
//! # Ok::<(), moai_instrument::InitError>(())
//! ```
//!
//! Libraries plug into the same process through public extension points:
//! [`recorder::add_collector`] refreshes gauges at each scrape and [`health::add_check`] adds a
//! liveness or readiness check, each until its handle drops. MoAI-Flow's store, `moai-swarmdb`,
//! serves its database gauges and the guide's database checks that way as soon as it opens.
//! Unit tests read what a function recorded with [`testing::capture`], without a global recorder.
//!
//! Both attributes work on free fns, methods, generic fns, `async fn` (timing the awaited work)
//! and `#[async_trait]` methods. They record through a drop guard, so early `return`, `?`,
//! panics and futures dropped before completion are measured exactly once. Mistakes in their
//! arguments are compile errors on the user's own tokens.
//!
//! # Features
//!
//! - **Cheap**: with literal labels each callsite caches its handles; nothing is looked up or
//!   allocated per call. Before installation the macros record nothing and cost one atomic load.
//!   Figures are in `BENCHMARKS.md`.
//! - **Bounded memory**: histograms are fixed sets of atomic log-linear buckets, whatever the
//!   traffic and whether or not anyone scrapes. Each metric keeps at most
//!   [`Config::series_limit`] series; further label values fold into `other` and are counted in
//!   `moai_instrument_label_overflow_total`.
//! - **Summary, buckets or native**: by default durations export as a summary whose quantiles
//!   (0.5, 0.9, 0.95, 0.99, each within 5% of the exact value for any finite values, negative and
//!   very large ones included; magnitudes below 2^-1022 count as 0) cover the last 30 to 60 s, as
//!   the guide's alerts expect;
//!   [`HistogramMode::Buckets`] exports cumulative buckets for `histogram_quantile`, and
//!   [`HistogramMode::Native`] native histograms over protobuf (at
//!   [`Config::native_histogram_schema`]) with those buckets for text scrapes.
//! - **One `metrics`**: [`metrics`] is re-exported, so host code that records with
//!   `moai_instrument::metrics::counter!` lands in the same recorder and exposition, under the
//!   rules of [Host metric names](#host-metric-names).
//! - **One render path**: [`MetricsHandle::render`] runs the [`Config::on_scrape`] collectors and
//!   reads the `process_*` metrics, exactly as a scrape of `/metrics` does, so a host that serves
//!   the exposition itself gets the exporter's output.
//! - **Logs**: one JSON object per line with `agent_id` and `user_id` lifted from the event or any
//!   enclosing span, then the event's fields, then the fields of the enclosing spans
//!   (`request_id`, `session_id`, `task_id`, ...), all at the top level: the innermost span
//!   wins over outer ones and the event's own field over any span's; a key is never written
//!   twice (a field named like one of the line's own keys is written as `fields.<name>`).
//!   Each sink (stdout, the file) has its own queue and writer thread: a stalled sink delays a
//!   line by at most 20 ms once, then costs nothing while it stays stalled; what it cannot take
//!   is counted in `moai_instrument_log_lines_dropped_total{sink}`, never lost silently, and the
//!   file only ever holds whole lines.
//! - **Secured like any exporter**: [`Config::web_config`] (`MOAI_WEB_CONFIG`) reads
//!   exporter-toolkit's web config file: TLS 1.2+ through rustls (no OpenSSL), client
//!   certificates, bcrypt basic-auth users for `/metrics`, response headers; followed while the
//!   app runs, so a rotated password or certificate needs no restart
//!   ([`exporter::web_config`]).
//! - **Lean**: no async runtime, no HTTP server crate, no database client; the exporter is plain
//!   threads that work inside a tokio runtime and without one. The [`http`] crate's types are
//!   re-exported for [`exporter::Routes`].
//!
//! # Host metric names
//!
//! Whatever names and label keys host code records through [`metrics`], the exposition stays
//! valid for Prometheus, `promtool check metrics` and the client libraries' parsers. A series
//! takes its exposition form when it is first registered, so every comparison (which family a
//! name belongs to, its kind, repeated label keys, the series limit) is made on what Prometheus
//! will see:
//!
//! - **Characters**: outside `[a-zA-Z0-9_:]` in names and `[a-zA-Z0-9_]` in label keys, each
//!   becomes `_`; a leading digit, an empty name or the name `_total` gets a `_` in front. Names
//!   that become alike are one family: `counter!("jobs.done")` and `counter!("jobs_done")` add up
//!   in `jobs_done`. Label keys are sorted, so their order never makes two series.
//! - **Repeated label keys**: when two keys of one series become the same key (`kind.a` and
//!   `kind_a`), the first one given keeps its value and the others are dropped, with one WARN.
//! - **Reserved label keys**: `quantile` and `le` (which summaries and histograms add) and keys
//!   starting with `__` (reserved by Prometheus) are renamed `exported_<key>`, as Prometheus
//!   renames a scraped label that collides with a target label, with one WARN. This holds for
//!   every kind and every [`HistogramMode`], so a series keeps its labels when the mode changes.
//! - **Empty label values**: a label whose value is empty is left out, as Prometheus reads it
//!   (`m{queue=""}` and `m` are one series, their values merged), with one WARN.
//! - **How many names**: past [`Config::family_limit`] distinct names (10,000 by default) new
//!   names are refused (no-op handles), counted in `moai_instrument_families_refused_total`,
//!   with one WARN in all; names already held keep recording.
//! - **Kinds**: a name keeps the kind it was first registered with; using it as another kind is
//!   ignored (a no-op handle) with one WARN.
//! - **Generated sample names**: each family claims the sample names it writes or that
//!   OpenMetrics parsers attribute to it: a gauge `g` claims `g`; a counter `c` or `c_total` claims
//!   both `c` and `c_total`; a histogram `h` claims `h`, `h_sum`, `h_count` and `h_bucket` in either
//!   mode. A new family whose claims meet an earlier family's is refused (a no-op handle) with one
//!   WARN: first registered wins, and the [`catalog::CATALOG`]'s names are claimed at installation, so a
//!   host gauge `moai_flow_query_duration_seconds_count` is refused. One name never gets two
//!   `# TYPE` lines.
//! - **HELP**: every family has a `# HELP` line; one recorded without `describe_*` says so.
//!
//! The exposition keeps host names otherwise as given: promtool's style lints (a counter without
//! `_total`, `camelCase`, `_ms`) may still report them, but nothing a scraper rejects.

pub mod catalog;
mod clock;
mod config;
mod error;
pub mod exporter;
pub mod health;
mod init;
pub mod logging;
mod process;
pub mod recorder;
pub mod testing;
mod timestamp;
mod trace_context;

pub use config::{Config, HistogramMode};
pub use error::{InitError, error_chain};
pub use init::{Guard, init};
pub use logging::{LogFormat, LogRotation};
pub use recorder::MetricsHandle;

/// Times a fn into `moai_flow_query_duration_seconds{query_type}`.
///
/// - `#[timed_query]`: `query_type` is the fn name.
/// - `#[timed_query(query_type = "get_active_agents")]`: an explicit, non-empty name.
/// - `#[timed_query(slow_ms = 250)]`: this fn's slow threshold (default: the configured one,
///   100 ms). A slower call logs WARN `Query took 150.2ms (expected <100ms)`.
///
/// A return value that is an `Err` (of any `Result`, including aliases such as `io::Result`)
/// increments `moai_flow_errors_total{operation = query_type}` and logs ERROR with the error's
/// text and, for `std::error::Error` types, its source chain. Other return types never count as
/// errors. Panics and dropped futures are timed, not counted as errors.
///
/// Which results are failures can be the fn's own decision, with the path of a
/// `fn(&ReturnType) -> bool` (as autometrics does; one of the two per fn):
///
/// - `#[timed_query(ok_if = is_not_found)]`: a result for which it returns `true` is a success,
///   an `Err` included (no error count, no ERROR line): a `NotFound` that is an answer;
/// - `#[timed_query(error_if = is_empty)]`: a result for which it returns `true` is a failure,
///   whatever its type (logged as "the result was judged a failure by is_empty"), and no other.
///
/// ```
/// use moai_instrument::{testing, timed_query};
///
/// #[derive(Debug)]
/// enum Lookup { NotFound, Down }
/// impl std::fmt::Display for Lookup {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
/// }
///
/// fn is_not_found(result: &Result<u32, Lookup>) -> bool {
///     matches!(result, Err(Lookup::NotFound))
/// }
///
/// #[timed_query(ok_if = is_not_found)]
/// fn get_agent(id: u32) -> Result<u32, Lookup> {
///     match id { 0 => Err(Lookup::NotFound), 1 => Err(Lookup::Down), n => Ok(n) }
/// }
///
/// let (_, snapshot) = testing::capture(|| (get_agent(0), get_agent(1), get_agent(2)));
/// let errors = snapshot.counter("moai_flow_errors_total", &[("operation", "get_agent")]);
/// assert_eq!(errors, Some(1)); // only `Down`
/// ```
pub use moai_instrument_macros::timed_query;

/// Counts each call in `moai_flow_events_total{event_type}`.
///
/// - `#[counted_event]`: `event_type` is the fn name.
/// - `#[counted_event(event_type = "spawn")]`: a literal; the callsite caches its counter.
/// - `#[counted_event(event_type = event.kind.as_str())]`: any expression over the arguments
///   whose value is `AsRef<str>`, evaluated when the call starts.
///
/// An `async fn` counts when it first runs, not when its future is created.
pub use moai_instrument_macros::counted_event;

/// The `metrics` facade, in the one version the SDK records with.
pub use metrics;

/// The `http` crate (1.x) whose `Request` and `Response` [`exporter::Routes`] takes and gives.
pub use http;

/// Hooks for the SDK's own benchmarks, tests and fuzz targets. Not public API.
#[doc(hidden)]
#[path = "test_support.rs"]
pub mod __test_support;

/// Support for the macros' generated code. Not public API.
#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;
