//! The recorded p95 that `query_performance` judges covers the recent window in every histogram
//! mode: after a burst of slow calls, fast traffic brings it back down within two window periods,
//! so readiness recovers with the app. (In bucket and native modes the exposition stays
//! cumulative; only the judged quantile is windowed.) Native mode reads its native buckets, so a
//! 30 ms call is judged as about 30 ms, not up to the classic bucket's 50 ms.

use moai_test_support as common;

use std::time::{Duration, Instant};

use moai_instrument::{Config, HistogramMode, metrics};

fn record(seconds: f64, times: usize) {
    for _ in 0..times {
        metrics::histogram!("moai_flow_query_duration_seconds", "query_type" => "burst")
            .record(seconds);
    }
}

fn recovers_after_a_burst(mode: HistogramMode, burst_tolerance: f64) {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("none")
        .log_dir(None::<&str>)
        .histogram_mode(mode)
        .summary_window_period(Duration::from_millis(500))
        .init()
        .expect("init");
    let handle = guard.metrics();
    record(0.030, 50);
    let (_, p95) = handle
        .worst_quantile("moai_flow_query_duration_seconds", 0.95)
        .unwrap();
    assert!(
        (p95 - 0.030).abs() / 0.030 <= burst_tolerance,
        "{mode:?}: the burst's p95 {p95}"
    );
    // Fast calls only from now on: within two periods (and a tick of the upkeep thread) the
    // burst has left the window.
    let started = Instant::now();
    loop {
        record(0.002, 20);
        std::thread::sleep(Duration::from_millis(50));
        let (_, p95) = handle
            .worst_quantile("moai_flow_query_duration_seconds", 0.95)
            .unwrap();
        if p95 < 0.005 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{mode:?}: p95 still {p95} after {:?}",
            started.elapsed()
        );
    }
    // And the exposition still counts every call since the start.
    let text = handle.render();
    let count = text
        .lines()
        .find(|l| l.starts_with("moai_flow_query_duration_seconds_count{query_type=\"burst\"}"))
        .and_then(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok());
    assert!(count.is_some_and(|c| c > 50), "{mode:?}: {count:?}");
}

#[test]
fn bucket_mode_recovers_after_a_burst() {
    // Classic buckets: 30 ms reads as interpolated within (25 ms, 50 ms].
    recovers_after_a_burst(HistogramMode::Buckets, 0.7);
}

#[test]
fn native_mode_recovers_after_a_burst_and_judges_within_a_native_bucket() {
    recovers_after_a_burst(HistogramMode::Native, 0.1);
}

#[test]
fn summary_mode_recovers_after_a_burst() {
    recovers_after_a_burst(HistogramMode::Summary, 0.05);
}
