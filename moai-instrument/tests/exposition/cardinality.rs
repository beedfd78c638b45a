//! Label values from data are bounded: past the per-metric limit they fold into `other`, counted,
//! and 100,000 distinct values leave memory bounded.

use moai_test_support as common;

use common::{metrics_with, resident_mb, sample};
use moai_instrument::{Config, counted_event};

#[counted_event(event_type = kind)]
fn event(kind: &str) {}

#[test]
fn distinct_values_past_the_limit_fold_into_other() {
    if !common::own_process() {
        return;
    }
    let handle = metrics_with(|| Config::new().series_limit(10));
    let before = handle.render();
    let existing = before
        .lines()
        .filter(|l| l.starts_with("moai_flow_events_total{"))
        .count();
    let before_mb = resident_mb();
    for i in 0..100_000 {
        event(&format!("kind-{i}"));
    }
    let grown_mb = resident_mb() - before_mb;
    assert!(
        grown_mb < 16.0,
        "100,000 distinct values grew memory by {grown_mb:.1} MB"
    );
    event("kind-0");
    let exposition = handle.render();
    let series = exposition
        .lines()
        .filter(|l| l.starts_with("moai_flow_events_total{"))
        .count();
    assert_eq!(series, 10 + 1, "the limit plus `other`:\n{exposition}");
    let admitted = (10 - existing) as f64;
    assert_eq!(
        sample(
            &exposition,
            r#"moai_flow_events_total{event_type="kind-0"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&exposition, r#"moai_flow_events_total{event_type="other"}"#),
        Some(100_000.0 - admitted)
    );
    assert_eq!(
        sample(
            &exposition,
            r#"moai_instrument_label_overflow_total{metric="moai_flow_events_total"}"#
        ),
        Some(100_000.0 - admitted)
    );
}
