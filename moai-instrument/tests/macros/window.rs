//! Summary quantiles describe a recent window: after slow calls leave it, p95 shows today's
//! latency, not the average since start. Totals keep everything.

use moai_test_support as common;

use std::time::Duration;

use common::{metrics, sample};
use moai_instrument::timed_query;

#[timed_query(query_type = "window_query")]
fn query(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn p95() -> f64 {
    sample(
        &metrics().render(),
        r#"moai_flow_query_duration_seconds{query_type="window_query",quantile="0.95"}"#,
    )
    .expect("the summary has a 0.95 quantile")
}

#[test]
fn old_slow_calls_leave_the_quantile_window() {
    let handle = metrics();
    for _ in 0..5 {
        query(60);
    }
    assert!(
        p95() >= 0.060 * 0.95,
        "slow calls are in the window: {}",
        p95()
    );
    moai_instrument::__test_support::rotate_summary_window(handle);
    for _ in 0..20 {
        query(1);
    }
    assert!(
        p95() >= 0.060 * 0.95,
        "the previous period still counts: {}",
        p95()
    );
    moai_instrument::__test_support::rotate_summary_window(handle);
    assert!(
        p95() < 0.020,
        "the slow period has left, the fast one remains: {}",
        p95()
    );
    moai_instrument::__test_support::rotate_summary_window(handle);
    assert!(p95().is_nan(), "an empty window reports NaN");
    for _ in 0..20 {
        query(1);
    }
    assert!(
        p95() < 0.020,
        "only the recent fast calls remain: {}",
        p95()
    );
    let count = sample(
        &handle.render(),
        r#"moai_flow_query_duration_seconds_count{query_type="window_query"}"#,
    );
    assert_eq!(count, Some(45.0));
}
