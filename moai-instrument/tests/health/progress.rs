//! Liveness that means progress: once the host reports progress with `heartbeat()`, `/livez`
//! fails when the reports stop for longer than the configured time, and
//! `moai_flow_last_progress_age_seconds` says how long ago the last one was.

use moai_test_support as common;

use std::time::Duration;

use common::{http, sample};
use moai_instrument::Config;

#[test]
fn livez_follows_the_heartbeat() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<std::path::PathBuf>)
        .log_filter("error")
        .progress_timeout(Duration::from_millis(1500))
        .init()
        .unwrap();
    let addr = guard.metrics_addr().expect("the exporter listens");
    let livez = || http(addr, "GET", "/livez", &[]);
    let (status, _, body) = livez();
    assert_eq!(
        status, 200,
        "no heartbeat yet: judged by other checks only: {body}"
    );
    let (_, _, metrics) = http(addr, "GET", "/metrics", &[]);
    assert_eq!(
        sample(&metrics, "moai_flow_last_progress_age_seconds"),
        None,
        "{metrics}"
    );

    moai_instrument::health::heartbeat();
    assert_eq!(livez().0, 200);
    std::thread::sleep(Duration::from_millis(2000));
    let (status, _, body) = livez();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("progress"), "{body}");
    let (_, _, healthz) = http(addr, "GET", "/healthz", &[]);
    assert!(healthz.contains("the work loop is stuck"), "{healthz}");
    let (_, _, metrics) = http(addr, "GET", "/metrics", &[]);
    let age = sample(&metrics, "moai_flow_last_progress_age_seconds").unwrap();
    assert!((1.9..10.0).contains(&age), "{age}");

    moai_instrument::health::heartbeat();
    // Check results are shared for a second: the next run sees the heartbeat.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(livez().0, 200, "progress again: live again");
}
