//! A log file that cannot take lines (here: a symlink to `/dev/full`, as a full disk) loses
//! nothing silently: each lost line is counted in `moai_instrument_log_lines_dropped_total`, and
//! the `log_file` check turns `/readyz` to 503.

use moai_test_support as common;

use common::{http, sample, temp_dir};
use moai_instrument::Config;

#[test]
fn lines_the_file_cannot_take_are_counted_and_fail_readiness() {
    if !common::own_process() {
        return;
    }
    assert!(
        std::path::Path::new("/dev/full").exists(),
        "this test needs /dev/full (Linux's always-full device; in a container, the runtime's \
         default devices include it)"
    );
    let dir = temp_dir("log-failure");
    std::os::unix::fs::symlink("/dev/full", dir.join("moai-flow.log")).unwrap();
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(&dir))
        .log_filter("warn")
        .init()
        .expect("init");
    let addr = guard.metrics_addr().expect("the exporter listens");
    // The SDK's first scheduled run of the checks (at start-up) is done: the next is 30 s away,
    // so the lines below are the only ones written.
    let first_run = r#"moai_flow_health_check_status{check="log_file"}"#;
    let started = std::time::Instant::now();
    while sample(&http(addr, "GET", "/metrics", &[]).2, first_run) != Some(1.0) {
        assert!(
            started.elapsed().as_secs() < 10,
            "the first run of the checks"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for n in 0..5 {
        tracing::warn!(n, "this line cannot reach the file");
    }
    tracing::info!("filtered out by RUST_LOG=warn: neither written nor counted");
    // The file's writer thread has taken every line; the start-up run's results (shared for a
    // second) have expired.
    guard.flush_logs();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let body = http(addr, "GET", "/metrics", &[]).2;
    assert_eq!(
        sample(
            &body,
            r#"moai_instrument_log_lines_dropped_total{sink="file"}"#
        ),
        Some(5.0),
        "{body}"
    );
    let (status, _, text) = http(addr, "GET", "/readyz", &[]);
    assert_eq!((status, text.as_str()), (503, "unhealthy: log_file\n"));
    // It keeps failing for two check periods, whoever runs it: a probe seeing the loss first does
    // not hide it from the next one (or from the SDK's scheduled run).
    let (status, _, text) = http(addr, "GET", "/readyz", &[]);
    assert_eq!((status, text.as_str()), (503, "unhealthy: log_file\n"));
}
