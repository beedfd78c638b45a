//! The log file cannot silently vanish: deleted, or its whole directory removed, while the app
//! logs (by hand, or by a clean-up that knows nothing of it), it is back within a second with
//! every line, nothing counted as dropped and `log_file` healthy; and a directory named like a
//! rotated file in the log directory never stops the app from starting.

use moai_test_support as common;

use std::time::{Duration, Instant};

use common::{http, sample, temp_dir};
use moai_instrument::Config;

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let json: serde_json::Value = serde_json::from_str(l).ok()?;
            json["n"].as_u64().map(|n| n.to_string())
        })
        .collect()
}

#[test]
fn a_deleted_log_file_or_directory_comes_back_with_every_line() {
    if !common::own_process() {
        return;
    }
    let dir = temp_dir("log-vanish");
    let logs = dir.join("logs");
    // A directory named like a rotated file, and a stray file: start-up goes on, both stay.
    std::fs::create_dir_all(logs.join("moai-flow.log.0-archive")).unwrap();
    std::fs::create_dir_all(logs.join("moai-flow.log.2001-01-01")).unwrap();
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(&logs))
        .log_filter("info")
        .init()
        .expect("a directory named like a rotated file does not stop start-up");
    let addr = guard.metrics_addr().unwrap();
    let path = guard.log_file().unwrap().to_owned();
    let mut n = 0u64;
    let log_for = |n: &mut u64, d: Duration| {
        let until = Instant::now() + d;
        while Instant::now() < until {
            tracing::info!(n = *n, "line");
            *n += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    log_for(&mut n, Duration::from_millis(300));
    // The file, then the whole directory, deleted while lines keep coming: every line logged
    // from the deletion on is in the recreated file. (Lines the deleted file already held are
    // gone with it: that is the deletion, not the log.)
    for delete_dir in [false, true] {
        guard.flush_logs();
        let from = n;
        if delete_dir {
            std::fs::remove_dir_all(&logs).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        log_for(&mut n, Duration::from_millis(1200));
        guard.flush_logs();
        let found = lines(&path);
        let missing: Vec<u64> = (from..n)
            .filter(|i| !found.contains(&i.to_string()))
            .collect();
        assert!(
            missing.is_empty(),
            "delete_dir {delete_dir}: {} of {} lines logged from the deletion on are missing: {:?}",
            missing.len(),
            n - from,
            &missing[..missing.len().min(10)]
        );
    }
    let metrics = http(addr, "GET", "/metrics", &[]).2;
    assert_eq!(
        sample(
            &metrics,
            r#"moai_instrument_log_lines_dropped_total{sink="file"}"#
        ),
        Some(0.0),
        "nothing was dropped"
    );
    let (status, _, body) = http(addr, "GET", "/readyz", &[]);
    assert_eq!(status, 200, "{body}");
    // Recreated without a line: the watcher brings a deleted directory back within a second.
    std::fs::remove_dir_all(&logs).unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "the log file is not back within a second"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
