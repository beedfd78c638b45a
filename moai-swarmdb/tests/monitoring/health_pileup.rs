//! Health without pile-ups: another process holds `BEGIN EXCLUSIVE` on SwarmDB while four clients
//! poll `/healthz`. Every answer comes within the check set's deadline (under a kubelet's 5 s),
//! threads stay bounded (one run per check at a time, results shared), liveness needs no write
//! lock, and everything is healthy again once the lock goes.

use moai_test_support as common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{http, temp_dir, thread_count};
use moai_instrument::Config;
use moai_swarmdb::SwarmDb;

#[test]
fn a_locked_database_and_a_probe_flood_cost_bounded_threads_and_time() {
    if !common::own_process() {
        return;
    }
    let dir = temp_dir("health-pileup");
    // Opening SwarmDB is all the wiring its checks need.
    let db = SwarmDb::open(dir.join("swarm.db")).unwrap();
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<std::path::PathBuf>)
        .log_filter("error")
        .health_interval(Duration::from_secs(3600))
        .init()
        .unwrap();
    let addr = guard.metrics_addr().expect("the exporter listens");
    assert_eq!(http(addr, "GET", "/healthz", &[]).0, 200);
    let baseline = thread_count();

    let lock = common::LockedDatabase::hold(db.path().unwrap(), false);
    let stop = AtomicBool::new(false);
    let slowest_ms = AtomicU64::new(0);
    let answers = AtomicU64::new(0);
    let mut most_threads = 0;
    let mut live_during = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let (status, _, _) = http(addr, "GET", "/healthz", &[]);
                    assert!(status == 200 || status == 503, "{status}");
                    slowest_ms.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    answers.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let until = Instant::now() + Duration::from_secs(8);
        while Instant::now() < until {
            most_threads = most_threads.max(thread_count());
            live_during.push(http(addr, "GET", "/livez", &[]).0);
            std::thread::sleep(Duration::from_millis(250));
        }
        stop.store(true, Ordering::Relaxed);
    });
    lock.rollback();

    let slowest = slowest_ms.load(Ordering::Relaxed);
    assert!(
        slowest < 4_900,
        "every /healthz answered within the deadline: {slowest} ms"
    );
    assert!(
        answers.load(Ordering::Relaxed) >= 8,
        "the clients were answered"
    );
    // One run per check at a time (five checks and the liveness check), plus the four clients.
    assert!(
        most_threads <= baseline + 6 + 4,
        "threads stayed bounded: {baseline} before, {most_threads} at most"
    );
    assert!(live_during.iter().all(|&s| s == 200), "{live_during:?}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // The database takes writes again. (Query latency stays high for its window: the probe
        // that waited out the lock was recorded, as it should be.)
        let (_, _, body) = http(addr, "GET", "/healthz", &[]);
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        let database = &report["checks"]["database"];
        if database["healthy"] == true && database["details"]["stale"].is_null() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "healthy again after the lock: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
