//! The HealthChecker on real databases: each check's states from real conditions, the recorded
//! query p95, and a locked or corrupted database answered within the time limit, never a panic.

use moai_test_support as common;

use std::time::{Duration, Instant};

use common::{metrics, temp_dir};
use moai_instrument::health::{HealthStatus, Thresholds, disk_usage, judge_usage, memory_usage};
use moai_instrument::timed_query;
use moai_swarmdb::{AgentStatus, SwarmDb};
use moai_swarmdb::{CheckKind, HealthChecker};
use serde_json::json;

fn open(name: &str) -> SwarmDb {
    SwarmDb::open(temp_dir(name).join("swarm.db")).unwrap()
}

#[test]
fn a_fresh_database_is_healthy_and_readings_match_the_judges() {
    let db = open("hc-fresh");
    db.register_agent("agent-1", "expert", AgentStatus::Spawned, &json!({}))
        .unwrap();
    let checker = HealthChecker::new(&db);
    let report = checker.check_all();
    let names: Vec<&str> = report.results.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "database",
            "disk_space",
            "memory",
            "query_performance",
            "agents"
        ]
    );
    let get = |name: &str| report.get(name).unwrap().clone();
    assert_eq!(
        get("database").status,
        HealthStatus::Healthy,
        "{:?}",
        get("database")
    );
    assert!(get("database").message.starts_with("Database OK ("));
    assert_eq!(get("agents").message, "1 active agents");
    let t = Thresholds::default();
    let disk = judge_usage(
        "Disk",
        &disk_usage(db.path().unwrap()).unwrap(),
        t.disk_warn,
        t.disk_fail,
    );
    assert_eq!(get("disk_space").status, disk.status);
    let memory = judge_usage(
        "Memory",
        &memory_usage().unwrap(),
        t.memory_warn,
        t.memory_fail,
    );
    assert_eq!(get("memory").status, memory.status);
    // The report's status is its worst check's, and it passes when each check does.
    let worst = report.results.iter().map(|(_, r)| r.status).max().unwrap();
    assert_eq!(report.status(), worst);
    assert_eq!(
        report.is_healthy(),
        report.results.iter().all(|(_, r)| r.is_healthy())
    );
    assert!(checker.check_opens().is_healthy());
}

#[test]
fn thresholds_turn_checks_degraded_and_unhealthy() {
    let db = open("hc-thresholds");
    db.register_agent("agent-1", "expert", AgentStatus::Spawned, &json!({}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let strict = Thresholds {
        database_warn_bytes: 1,
        stale_agent_after: Duration::ZERO,
        disk_warn: 0.0,
        disk_fail: 2.0,
        memory_warn: 0.0,
        memory_fail: 0.0,
        ..Thresholds::default()
    };
    let checker = HealthChecker::new(&db).with_thresholds(strict);
    let database = checker.check(CheckKind::Database);
    assert_eq!(
        (database.status, database.is_healthy()),
        (HealthStatus::Degraded, true),
        "{database:?}"
    );
    let agents = checker.check(CheckKind::Agents);
    assert_eq!(agents.status, HealthStatus::Degraded);
    assert!(agents.message.contains("1 stale"), "{}", agents.message);
    assert_eq!(
        checker.check(CheckKind::DiskSpace).status,
        HealthStatus::Degraded
    );
    let memory = checker.check(CheckKind::Memory);
    assert_eq!(
        (memory.status, memory.is_healthy()),
        (HealthStatus::Unhealthy, false)
    );
}

#[timed_query(query_type = "hc_slow_query")]
fn slow_query() -> Result<(), String> {
    std::thread::sleep(Duration::from_millis(150));
    Ok(())
}

#[test]
fn query_performance_reads_the_recorded_p95() {
    metrics();
    let checker = HealthChecker::new(&open("hc-query"));
    for _ in 0..3 {
        slow_query().unwrap();
    }
    let result = checker.check(CheckKind::QueryPerformance);
    assert_eq!(result.status, HealthStatus::Degraded, "{result:?}");
    assert!(
        result.message.starts_with("Query p95 1"),
        "{}",
        result.message
    );
    let detail = |name: &str| {
        result
            .details
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        detail("slowest_query_type"),
        Some(moai_instrument::health::Detail::Text(
            "hc_slow_query".into()
        ))
    );
}

#[test]
fn a_locked_database_fails_within_the_time_limit() {
    let dir = temp_dir("hc-locked");
    let path = dir.join("swarm.db");
    drop(SwarmDb::open(&path).unwrap());
    let lock = common::LockedDatabase::hold(&path, true);
    let checker = HealthChecker::for_path(&path);
    let started = Instant::now();
    let result = checker.check(CheckKind::Database);
    let took = started.elapsed();
    assert_eq!(result.status, HealthStatus::Unhealthy, "{result:?}");
    assert!(result.message.contains("locked"), "{}", result.message);
    assert!(took < Duration::from_secs(3), "answered in {took:?}");
    let started = Instant::now();
    let all = checker.check_all();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "all five in {:?}",
        started.elapsed()
    );
    assert!(!all.get("agents").unwrap().is_healthy());
    assert!(!all.is_healthy());
    drop(lock);
    assert!(
        checker.check(CheckKind::Database).is_healthy(),
        "healthy again once the lock is gone"
    );
}

#[test]
fn a_corrupted_database_is_unhealthy_not_a_panic() {
    let dir = temp_dir("hc-corrupt");
    let path = dir.join("swarm.db");
    std::fs::write(&path, vec![0x5A; 4096]).unwrap();
    let result = HealthChecker::for_path(&path).check(CheckKind::Database);
    assert!(!result.is_healthy());
    assert!(
        result
            .message
            .contains("not a SQLite database or is corrupted"),
        "{}",
        result.message
    );
}
