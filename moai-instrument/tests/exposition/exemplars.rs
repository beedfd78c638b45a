//! Exemplars that lead to log lines: a `#[timed_query]` and a `#[counted_event]` called inside a
//! span attach the span's W3C trace id to their bucket and counter; a real Prometheus 2.42 with
//! `--enable-feature=exemplar-storage` stores them from OpenMetrics and from protobuf, and the
//! trace id it returns finds the JSON lines logged inside that very call.

use moai_test_support as common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::prometheus::{Prometheus, wait_for};
use common::{encode, files_text, temp_dir};
use moai_instrument::recorder::Format;
use moai_instrument::{Config, HistogramMode, counted_event, timed_query};

#[timed_query(query_type = "lookup_agent")]
fn lookup_agent(agent: &str) -> usize {
    tracing::info!(agent_id = agent, "looking the agent up");
    std::thread::sleep(Duration::from_millis(30));
    agent.len()
}

#[counted_event(event_type = "exemplar_spawn")]
fn spawn() {}

#[timed_query(query_type = "lookup_agent")]
fn quick_lookup() {
    tracing::info!("a quick lookup");
}

#[timed_query(query_type = "exemplar_failing")]
fn failing() -> Result<(), String> {
    Err("no such agent".into())
}

#[test]
fn an_exemplars_trace_id_finds_the_log_lines_of_its_call() {
    // OpenMetrics (Prometheus' default), then protobuf (asked for first with native histograms).
    exemplars_lead_to_log_lines(
        HistogramMode::Buckets,
        &[
            (
                &["exemplar-storage"],
                "moai_flow_query_duration_seconds_bucket",
            ),
            (
                &["exemplar-storage", "native-histograms"],
                "moai_flow_query_duration_seconds_bucket",
            ),
        ],
    );
}

/// Native mode: Prometheus stores one native series, and the exemplar that goes with it is the
/// slowest call's (Prometheus 2 keeps one per scrape), here one slower than the last `le` bound.
#[test]
fn a_native_histograms_exemplar_finds_the_log_lines_of_its_call() {
    exemplars_lead_to_log_lines(
        HistogramMode::Native,
        &[(
            &["exemplar-storage", "native-histograms"],
            "moai_flow_query_duration_seconds",
        )],
    );
}

/// Calls inside a span, then for each `(features, histogram series)` a Prometheus with those
/// features: the exemplar it stores for the histogram (and the counter) finds the call's lines.
fn exemplars_lead_to_log_lines(mode: HistogramMode, rounds: &[(&[&str], &str)]) {
    if !common::own_process() {
        return;
    }
    let logs = temp_dir("exemplars");
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .histogram_mode(mode)
        // The 30 ms lookup is past the last bound: its exemplar is on the `+Inf` bucket.
        .histogram_buckets([0.001, 0.005])
        .log_dir(Some(&logs))
        .init()
        .expect("init");
    // Outside any span: no exemplar.
    lookup_agent("outside");
    let om = String::from_utf8(
        guard
            .metrics()
            .render_as(Format::OpenMetrics { v0_0_1: false }),
    )
    .unwrap();
    assert!(!om.contains("# {trace_id"), "no span, no exemplar");
    // A fast call in a trace of its own, before the slow one: its exemplar is on a lower bucket.
    tracing::info_span!("quick").in_scope(quick_lookup);
    tracing::info_span!("request", request_id = "r-1").in_scope(|| {
        lookup_agent("agent-7");
        spawn();
        let _ = failing();
    });
    let om = String::from_utf8(
        guard
            .metrics()
            .render_as(Format::OpenMetrics { v0_0_1: false }),
    )
    .unwrap();
    let exemplar_lines: Vec<&str> = om
        .lines()
        .filter(|l| l.contains(" # {trace_id=\""))
        .collect();
    assert!(
        exemplar_lines
            .iter()
            .any(|l| l.starts_with("moai_flow_query_duration_seconds_bucket{"))
            && exemplar_lines
                .iter()
                .any(|l| l.starts_with("moai_flow_events_total{event_type=\"exemplar_spawn\"}")),
        "{exemplar_lines:?}"
    );
    // The error counter of a failing call carries the same trace as the request's other records.
    let trace_of = |prefix: &str| {
        let line = exemplar_lines.iter().find(|l| l.starts_with(prefix))?;
        let at = line.find("trace_id=\"")? + "trace_id=\"".len();
        Some(line[at..at + 32].to_owned())
    };
    let error_trace = trace_of("moai_flow_errors_total{operation=\"exemplar_failing\"}");
    assert!(error_trace.is_some(), "{exemplar_lines:?}");
    assert_eq!(
        error_trace,
        trace_of("moai_flow_events_total{event_type=\"exemplar_spawn\"}")
    );
    guard.flush_logs();

    let addr = guard.metrics_addr().unwrap();
    for &(features, histogram) in rounds {
        let prometheus =
            Prometheus::start_with_features("exemplars", addr, "", features).expect("prometheus");
        let trace_id = wait_for("a stored exemplar", Duration::from_secs(30), || {
            exemplar_trace(&prometheus, histogram)
        });
        let lines: Vec<serde_json::Value> = files_text(&logs)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["trace_id"] == trace_id.as_str())
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l["message"] == "looking the agent up" && l["agent_id"] == "agent-7"),
            "{features:?}: the exemplar's trace {trace_id} finds its call's lines: {lines:?}"
        );
        let counter = wait_for("the counter's exemplar", Duration::from_secs(10), || {
            exemplar_trace(&prometheus, "moai_flow_events_total")
        });
        assert_eq!(counter, trace_id, "{features:?}: one trace for the request");
    }
}

/// The `trace_id` of an exemplar Prometheus stored for `metric`, if any.
fn exemplar_trace(prometheus: &Prometheus, metric: &str) -> Option<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let answer = prometheus.api(&format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        encode(metric),
        now - 600,
        now + 60
    ));
    answer["data"]
        .as_array()?
        .iter()
        .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
        .find_map(|exemplar| exemplar["labels"]["trace_id"].as_str().map(str::to_owned))
}
