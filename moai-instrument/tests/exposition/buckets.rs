//! `HistogramMode::Buckets`: cumulative `le` buckets that `histogram_quantile` can aggregate.

use moai_test_support as common;

use std::time::Duration;

use common::{metrics_with, sample};
use moai_instrument::{Config, HistogramMode, timed_query};

#[timed_query(query_type = "bucket_sleep")]
fn sleeps(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn durations_land_in_cumulative_buckets() {
    if !common::own_process() {
        return;
    }
    let handle = metrics_with(|| {
        Config::new()
            .histogram_mode(HistogramMode::Buckets)
            .histogram_buckets([0.005, 0.05, 0.5])
    });
    for ms in [1, 2, 20, 30, 60] {
        sleeps(ms);
    }
    let exposition = handle.render();
    assert!(
        exposition.contains("# TYPE moai_flow_query_duration_seconds histogram\n"),
        "{exposition}"
    );
    let bucket = |le: &str| {
        sample(
            &exposition,
            &format!(
                r#"moai_flow_query_duration_seconds_bucket{{query_type="bucket_sleep",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(bucket("0.005"), Some(2.0));
    assert_eq!(bucket("0.05"), Some(4.0));
    assert_eq!(bucket("0.5"), Some(5.0));
    assert_eq!(bucket("+Inf"), Some(5.0));
    assert_eq!(
        sample(
            &exposition,
            r#"moai_flow_query_duration_seconds_count{query_type="bucket_sleep"}"#
        ),
        Some(5.0)
    );
    assert!(
        !exposition.contains("quantile="),
        "no summary lines in bucket mode"
    );
}
