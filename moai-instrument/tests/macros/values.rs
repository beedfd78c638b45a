//! The macros record exact values: counts from several threads, histogram count and sum, errors
//! only on `Err`, and the slow-query WARN only above the threshold.

use moai_test_support as common;

use std::time::{Duration, Instant};

use common::{log_lines, metrics, sample, value};
use moai_instrument::{counted_event, timed_query};

#[counted_event(event_type = "values_two_threads")]
fn counted_from_threads() {}

#[test]
fn calls_from_two_threads_are_all_counted() {
    metrics();
    const PER_THREAD: usize = 50_000;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| (0..PER_THREAD).for_each(|_| counted_from_threads()));
        }
    });
    assert_eq!(
        value(r#"moai_flow_events_total{event_type="values_two_threads"}"#),
        (2 * PER_THREAD) as f64
    );
}

#[timed_query(query_type = "values_sleep")]
fn sleeps(d: Duration) -> Duration {
    std::thread::sleep(d);
    d
}

#[test]
fn histogram_count_and_sum_match_the_calls() {
    metrics();
    let mut measured = Duration::ZERO;
    let mut slept = Duration::ZERO;
    for ms in [1, 2, 3, 5, 8] {
        let started = Instant::now();
        slept += sleeps(Duration::from_millis(ms));
        measured += started.elapsed();
    }
    let count = value(r#"moai_flow_query_duration_seconds_count{query_type="values_sleep"}"#);
    let sum = value(r#"moai_flow_query_duration_seconds_sum{query_type="values_sleep"}"#);
    assert_eq!(count, 5.0);
    // The recorded time lies between what was asked to sleep and what the caller measured.
    assert!(
        sum >= slept.as_secs_f64() * 0.999,
        "sum {sum} < slept {slept:?}"
    );
    assert!(
        sum <= measured.as_secs_f64() * 1.001 + 1e-4,
        "sum {sum} > measured {measured:?}"
    );
    let p99 =
        value(r#"moai_flow_query_duration_seconds{query_type="values_sleep",quantile="0.99"}"#);
    assert!((0.008 * 0.95..0.05).contains(&p99), "p99 {p99}");
}

#[derive(Debug)]
struct QueryFailed(u32);

impl std::fmt::Display for QueryFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {} is locked", self.0)
    }
}

#[timed_query(query_type = "values_fallible")]
fn fallible(row: u32) -> Result<u32, QueryFailed> {
    if row.is_multiple_of(3) {
        Err(QueryFailed(row))
    } else {
        Ok(row)
    }
}

#[timed_query(query_type = "values_infallible")]
fn infallible(row: u32) -> Option<u32> {
    (!row.is_multiple_of(3)).then_some(row)
}

#[test]
fn errors_are_counted_only_for_err_and_logged_with_their_text() {
    metrics();
    let failures = (0..30).filter(|&row| fallible(row).is_err()).count();
    let nones = (0..30).filter(|&row| infallible(row).is_none()).count();
    assert_eq!(failures, 10);
    assert_eq!(nones, 10);
    assert_eq!(
        value(r#"moai_flow_errors_total{operation="values_fallible"}"#),
        10.0
    );
    assert_eq!(
        value(r#"moai_flow_errors_total{operation="values_infallible"}"#),
        0.0
    );
    assert_eq!(
        value(r#"moai_flow_query_duration_seconds_count{query_type="values_fallible"}"#),
        30.0
    );
    let lines = log_lines("Failed to values_fallible");
    assert_eq!(lines.len(), 10, "{lines:#?}");
    assert!(lines.iter().all(|l| l.starts_with("ERROR")), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Failed to values_fallible: row 3 is locked")),
        "{lines:#?}"
    );
}

#[timed_query(query_type = "values_slow", slow_ms = 20)]
fn maybe_slow(d: Duration) {
    std::thread::sleep(d);
}

#[test]
fn slow_query_warning_only_above_the_threshold_with_the_measured_time() {
    metrics();
    maybe_slow(Duration::from_millis(1));
    assert!(
        log_lines("query_type=\"values_slow\"").is_empty(),
        "a fast call must not warn"
    );
    let started = Instant::now();
    maybe_slow(Duration::from_millis(45));
    let outer_ms = started.elapsed().as_secs_f64() * 1e3;
    let lines = log_lines("query_type=\"values_slow\"");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(
        line.starts_with(" WARN") || line.starts_with("WARN"),
        "{line}"
    );
    let took: f64 = line
        .split("Query took ")
        .nth(1)
        .and_then(|rest| rest.split("ms (expected <20ms)").next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {line}"));
    assert!(
        (45.0..=outer_ms + 0.1).contains(&took),
        "took {took} outside 45..={outer_ms}"
    );
}

#[timed_query(query_type = "values_default_threshold")]
fn default_threshold(d: Duration) {
    std::thread::sleep(d);
}

#[test]
fn default_threshold_is_100ms() {
    metrics();
    default_threshold(Duration::from_millis(60));
    assert!(log_lines("values_default_threshold").is_empty());
    default_threshold(Duration::from_millis(105));
    let lines = log_lines("values_default_threshold");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("(expected <100ms)"), "{}", lines[0]);
}

#[test]
fn exposition_has_help_type_and_build_info() {
    let exposition = metrics().render();
    for spec in [
        moai_instrument::catalog::EVENTS_TOTAL,
        moai_instrument::catalog::ERRORS_TOTAL,
        moai_instrument::catalog::QUERY_DURATION_SECONDS,
    ] {
        assert!(
            exposition.contains(&format!("# HELP {} {}\n", spec.name, spec.help)),
            "{exposition}"
        );
    }
    assert!(exposition.contains("# TYPE moai_flow_query_duration_seconds summary\n"));
    assert!(exposition.contains("# TYPE moai_flow_events_total counter\n"));
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(
            &exposition,
            &format!("moai_flow_build_info{{version=\"{version}\"}}")
        ),
        Some(1.0)
    );
}
