//! The SDK runs its registered health checks itself every `MOAI_HEALTH_INTERVAL`: the
//! `moai_flow_health_check_status{check}` gauge is on `/metrics` and follows the checks although
//! no one requests `/livez`, `/readyz` or `/healthz`; a check that takes seconds never delays a
//! scrape; and the SwarmDB checks export the volume and memory-limit gauges the alerts read.

use moai_test_support as common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Switch, http, sample, temp_dir};
use moai_instrument::Config;
use moai_instrument::health::{CheckResult, HealthCheck, HealthStatus};
use moai_swarmdb::SwarmDb;

static HEALTHY: AtomicBool = AtomicBool::new(true);

/// A check that takes far longer than a scrape may.
struct Slow;

impl HealthCheck for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn check(&self) -> CheckResult {
        std::thread::sleep(Duration::from_millis(1500));
        CheckResult::new(HealthStatus::Healthy, "slow but fine")
    }
}

fn wait_for_metrics(
    addr: std::net::SocketAddr,
    what: &str,
    limit: Duration,
    mut ok: impl FnMut(&str) -> bool,
) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let (status, _, body) = http(addr, "GET", "/metrics", &[]);
        assert_eq!(status, 200);
        if ok(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn checks_run_on_their_own_period_and_scrapes_never_wait_for_them() {
    if !common::own_process() {
        return;
    }
    let dir = temp_dir("health-schedule");
    // Opening SwarmDB is all the wiring its checks need.
    let db = SwarmDb::open(dir.join("swarm.db")).unwrap();
    let config = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<std::path::PathBuf>)
        .with_env(common::env_of(&[("MOAI_HEALTH_INTERVAL", "200ms")]))
        .expect("a valid interval")
        .health_check(Switch {
            name: "switch",
            on: &HEALTHY,
        })
        .health_check(Slow);
    let guard = config.init().expect("init succeeds");
    let addr = guard.metrics_addr().expect("the exporter listens");
    let switch = r#"moai_flow_health_check_status{check="switch"}"#;

    // Only /metrics is ever requested: the SDK's own runs set the gauge, for every check.
    let body = wait_for_metrics(addr, "every check's gauge", Duration::from_secs(10), |b| {
        [
            "switch",
            "slow",
            "database",
            "disk_space",
            "memory",
            "agents",
            "swarmdb",
        ]
        .iter()
        .all(|c| {
            sample(
                b,
                &format!(r#"moai_flow_health_check_status{{check="{c}"}}"#),
            )
            .is_some()
        })
    });
    assert_eq!(sample(&body, switch), Some(1.0));
    assert_eq!(
        sample(&body, r#"moai_flow_health_check_status{check="database"}"#),
        Some(1.0),
        "{body}"
    );

    // The gauge follows the check, without a probe request.
    HEALTHY.store(false, Ordering::SeqCst);
    wait_for_metrics(addr, "the switch to read 0", Duration::from_secs(10), |b| {
        sample(b, switch) == Some(0.0)
    });
    HEALTHY.store(true, Ordering::SeqCst);
    wait_for_metrics(addr, "the switch to read 1", Duration::from_secs(10), |b| {
        sample(b, switch) == Some(1.0)
    });

    // Each round spends 1.5 s in the slow check; scrapes meanwhile answer at once.
    for _ in 0..20 {
        let started = Instant::now();
        let (status, _, _) = http(addr, "GET", "/metrics", &[]);
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "a scrape waited {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The disk_space check's reading of the SwarmDB volume, and the memory limit, as gauges.
    let body = wait_for_metrics(addr, "the volume gauges", Duration::from_secs(10), |b| {
        sample(b, "moai_flow_db_volume_size_bytes").is_some()
    });
    let size = sample(&body, "moai_flow_db_volume_size_bytes").unwrap();
    let avail = sample(&body, "moai_flow_db_volume_avail_bytes").unwrap();
    let disk = moai_instrument::health::disk_usage(db.path().unwrap()).unwrap();
    assert_eq!(size, disk.total as f64);
    assert!(avail > 0.0 && avail <= size, "{avail} of {size}");
    let limit = sample(&body, "moai_flow_memory_limit_bytes").unwrap();
    let rss = sample(&body, "process_resident_memory_bytes").unwrap();
    assert_eq!(
        limit,
        moai_instrument::health::memory_usage().unwrap().total as f64
    );
    assert!(limit >= rss, "{limit} {rss}");
    for name in [
        "moai_flow_memory_limit_bytes",
        "moai_flow_db_volume_size_bytes",
        "moai_flow_db_volume_avail_bytes",
    ] {
        assert!(body.contains(&format!("# HELP {name} ")), "HELP for {name}");
        assert!(
            body.contains(&format!("# TYPE {name} gauge")),
            "TYPE for {name}"
        );
    }

    // Dropping the guard stops the schedule (its thread is joined) and the exporter.
    let started = Instant::now();
    drop(guard);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is closed"
    );
}
