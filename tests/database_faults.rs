//! A PostgreSQL server that hangs or vanishes under a running `moai-flow`: a held table lock, a
//! slow link, a partition (a loopback proxy that delays, then drops everything without a reset),
//! the server stopped, and its connection slots exhausted. Through all of them a real Prometheus
//! keeps the target up, `/livez` stays 200, readiness says what is wrong, and nothing the app
//! acknowledged is lost. What only a configuration change cures still stops the start. Each test
//! starts its own PostgreSQL 15 (and Prometheus) and ends every process it started.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moai_test_support::postgres::{self, Postgres};
use moai_test_support::proxy::{Link, Proxy};
use moai_test_support::tools;
use support::replica::{
    Replica, acknowledged, start_replica, start_replica_with, stored_event_ids,
};
use support::{Reaped, alert_state, get, query, sample, start_prometheus, temp_dir, wait_for};

/// Short deadlines, so that each phase takes seconds: a call waits at most 3 s.
const FAST: &str = "connect_timeout=2&options=-c%20statement_timeout%3D2s%20-c%20lock_timeout%3D1s";

fn url_via(addr: impl std::fmt::Display, params: &str) -> String {
    format!(
        "postgres://{}:{}@{addr}/swarm?{params}",
        postgres::USER,
        postgres::PASSWORD
    )
}

/// `/metrics` answered 200 within a second: its body.
fn scrape_within_a_second(addr: &str, phase: &str) -> String {
    let started = Instant::now();
    let (status, body) = get(addr, "/metrics").unwrap_or_else(|e| panic!("{phase}: {e}"));
    let took = started.elapsed();
    assert_eq!(status, 200, "{phase}: {body}");
    assert!(
        took < Duration::from_secs(1),
        "{phase}: a scrape took {took:?}"
    );
    body
}

/// Starts a fault; what it returns (a session holding a lock) ends with the phase.
type Fault<'a> = Box<dyn Fn() -> Option<Reaped> + 'a>;

/// The sum of every `moai_flow_errors_total` series in an exposition.
fn errors_total(body: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with("moai_flow_errors_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Every acknowledged event of `replicas` is stored on the server.
fn nothing_acknowledged_lost(pg: &Postgres, replicas: &mut [&mut Replica]) {
    for replica in replicas.iter_mut() {
        replica.stop();
    }
    let stored = stored_event_ids(pg);
    for replica in replicas.iter() {
        let acked = replica.acknowledged.lock().unwrap().clone();
        let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
        assert!(lost.is_empty(), "acknowledged events lost: {lost:?}");
    }
}

#[test]
fn prometheus_keeps_the_target_up_through_a_lock_a_slow_link_a_partition_and_a_stopped_server() {
    let Some(prometheus_bin) = tools::tool("prometheus") else {
        return;
    };
    let Some(pg) = Postgres::start("faults") else {
        return;
    };
    pg.create_database("swarm");
    let proxy = Proxy::start(format!("127.0.0.1:{}", pg.port()).parse().unwrap());
    let mut app = start_replica_with(
        &url_via(proxy.addr(), FAST),
        &["--agents", "5", "--rate", "20"],
        &[("MOAI_HEALTH_INTERVAL", "1s")],
    );
    let addr = app.addr.clone();
    let dir = temp_dir("faults-prometheus");
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/alert_rules.yml"),
    )
    .unwrap()
    .replace("interval: 30s", "interval: 1s");
    std::fs::write(dir.join("alert_rules.yml"), rules).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - alert_rules.yml\n\
             scrape_configs:\n  - job_name: moai-flow\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let (_prometheus, prometheus) = start_prometheus(&prometheus_bin, &dir);
    wait_for("the first scrape", Duration::from_secs(20), || {
        (query(&prometheus, r#"up{job="moai-flow"}"#)? == 1.0).then_some(())
    });
    wait_for("events before the faults", Duration::from_secs(20), || {
        (acknowledged(&app) >= 20).then_some(())
    });
    let faults_began = Instant::now();

    // Each fault for 6 s: every scrape answers within a second, liveness stays 200, and
    // readiness fails for the database (the lock and the slow link may let it pass).
    let held_lock = |seconds: u32| {
        Reaped(
            pg.psql_command(
                "swarm",
                &format!(
                    "BEGIN; LOCK TABLE agent_registry IN ACCESS EXCLUSIVE MODE; \
                     SELECT pg_sleep({seconds}); COMMIT;"
                ),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql holds the lock"),
        )
    };
    let phases: [(&str, Fault<'_>, bool); 4] = [
        ("a held table lock", Box::new(|| Some(held_lock(6))), false),
        (
            "a 200 ms link",
            Box::new(|| {
                proxy.set(Link::Delayed(Duration::from_millis(200)));
                None
            }),
            false,
        ),
        (
            "a partition",
            Box::new(|| {
                proxy.set(Link::Dropped);
                None
            }),
            true,
        ),
        (
            "the server stopped",
            Box::new(|| {
                proxy.set(Link::Up);
                pg.stop();
                None
            }),
            true,
        ),
    ];
    let mut collect_ages = Vec::new();
    for (phase, start, readiness_fails) in &phases {
        let errors_before = errors_total(&scrape_within_a_second(&addr, phase));
        let _held = start();
        let began = Instant::now();
        let acked_before = acknowledged(&app);
        let mut not_ready = None;
        while began.elapsed() < Duration::from_secs(6) {
            let body = scrape_within_a_second(&addr, phase);
            if let Some(age) = sample(&body, "moai_flow_db_collect_age_seconds") {
                collect_ages.push((phase.to_string(), age));
            }
            let (live, why) = get(&addr, "/livez").unwrap();
            assert_eq!(live, 200, "{phase}: liveness failed: {why}");
            let (ready, body) = get(&addr, "/readyz").unwrap();
            if ready == 503 && body.contains("database") {
                not_ready = Some(body);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        if *readiness_fails {
            assert!(not_ready.is_some(), "{phase}: readiness never failed");
        }
        // RELIABILITY.md keeps these figures.
        println!(
            "{phase}: {} events acknowledged in 6 s",
            acknowledged(&app) - acked_before
        );
        if *phase == "a partition" {
            // The gauges are served from the last read, and say how old it is.
            let oldest = collect_ages
                .iter()
                .filter(|(p, _)| p == phase)
                .map(|(_, age)| *age)
                .fold(0.0, f64::max);
            assert!(oldest >= 2.0, "collect age during the partition: {oldest}");
        }
        let errors_after = errors_total(&scrape_within_a_second(&addr, phase));
        if *readiness_fails {
            assert!(
                errors_after > errors_before,
                "{phase}: no failed call counted"
            );
        }
        // The next phase starts from a working link.
        proxy.set(Link::Up);
    }
    pg.restart();
    // Recovered: the database check passes again and events are acknowledged. (Readiness as a
    // whole may still fail on `query_performance` while its window holds the partition's slow
    // calls, which were real: README, "SwarmDB on PostgreSQL".)
    let recovered_from = acknowledged(&app);
    let restarted = Instant::now();
    loop {
        let ready = get(&addr, "/readyz");
        let acked = acknowledged(&app) - recovered_from;
        let database_ready = ready
            .as_ref()
            .is_ok_and(|(status, body)| *status == 200 || !body.contains("database"));
        if database_ready && acked > 10 {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "no recovery 30 s after the restart: /readyz {ready:?}, {acked} events acknowledged \
             since; /healthz {:?}",
            get(&addr, "/healthz")
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // Prometheus saw the target up at every scrape, ServiceDown never went pending, and the
    // error alert did.
    let window = faults_began.elapsed().as_secs() + 2;
    let min_up = query(
        &prometheus,
        &format!(r#"min_over_time(up{{job="moai-flow"}}[{window}s])"#),
    );
    assert_eq!(min_up, Some(1.0), "the target went down during the faults");
    let scrapes = query(
        &prometheus,
        &format!(r#"count_over_time(up{{job="moai-flow"}}[{window}s])"#),
    )
    .unwrap_or(0.0);
    assert!(
        scrapes >= window as f64 * 0.8,
        "{scrapes} scrapes in {window} s"
    );
    assert!(alert_state(&prometheus, "ServiceDown").is_none());
    wait_for(
        "HighErrorRate to be pending",
        Duration::from_secs(20),
        || alert_state(&prometheus, "HighErrorRate").map(drop),
    );
    nothing_acknowledged_lost(&pg, &mut [&mut app]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_replica_starts_while_its_server_is_unavailable_and_connects_when_it_answers() {
    let Some(pg) = Postgres::start("unavailable") else {
        return;
    };
    pg.create_database("swarm");
    pg.stop();
    // Refused (the server stopped), not answering (a partition), a name that does not resolve.
    let proxy = Proxy::start(format!("127.0.0.1:{}", pg.port()).parse().unwrap());
    proxy.set(Link::Dropped);
    let refused = url_via(format!("127.0.0.1:{}", pg.port()), FAST);
    let silent = url_via(proxy.addr(), FAST);
    let unresolved = url_via("no-such-host.invalid:5432", FAST);
    let mut replicas: Vec<Replica> = [&refused, &silent, &unresolved]
        .into_iter()
        .map(|url| {
            start_replica_with(
                url,
                &["--agents", "5", "--rate", "20"],
                &[("MOAI_HEALTH_INTERVAL", "1s")],
            )
        })
        .collect();
    for (replica, says) in replicas.iter().zip([
        "refused the connection",
        "did not answer within connect_timeout",
        "cannot reach the server",
    ]) {
        scrape_within_a_second(&replica.addr, says);
        assert_eq!(get(&replica.addr, "/livez").unwrap().0, 200);
        let (status, body) = wait_for("readiness to fail", Duration::from_secs(10), || {
            let (status, body) = get(&replica.addr, "/readyz").ok()?;
            (status == 503).then_some((status, body))
        });
        assert!(body.contains("database"), "{status} {body}");
        // "connecting" first (up to connect_timeout), then the cause.
        wait_for(says, Duration::from_secs(15), || {
            let report = get(&replica.addr, "/healthz").ok()?.1;
            report.contains(says).then_some(())
        });
    }

    // The server comes back: the replica on it connects, creates the schema and works on.
    pg.restart();
    let on_server = &replicas[0];
    wait_for("the replica to connect", Duration::from_secs(30), || {
        let ready = get(&on_server.addr, "/readyz").ok()?.0 == 200;
        (ready && acknowledged(on_server) >= 20).then_some(())
    });
    assert_eq!(
        pg.psql(
            "swarm",
            "SELECT value FROM schema_info WHERE key = 'version'"
        ),
        "2.0.0"
    );
    // A table locked by another session at start (a migration): the replica starts, its
    // `database` check fails, and it works once the lock goes. (Readiness as a whole may stay 503
    // a little longer: the open that waited out the lock is a slow `open` in the
    // `query_performance` window.)
    let lock = Reaped(
        pg.psql_command(
            "swarm",
            "BEGIN; LOCK TABLE schema_info IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;",
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap(),
    );
    wait_for("the lock to be held", Duration::from_secs(10), || {
        let held = pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE d.datname = 'swarm' AND l.mode = 'AccessExclusiveLock' AND l.granted",
        );
        (held != "0").then_some(())
    });
    let mut locked = start_replica_with(
        &refused,
        &["--agents", "5", "--rate", "20"],
        &[("MOAI_HEALTH_INTERVAL", "1s")],
    );
    let database_ok = |r: &Replica| -> Option<bool> {
        let report: serde_json::Value =
            serde_json::from_str(&get(&r.addr, "/healthz").ok()?.1).ok()?;
        Some(report["checks"]["database"]["healthy"] == true)
    };
    wait_for(
        "the replica started under a lock to work",
        Duration::from_secs(30),
        || (database_ok(&locked)? && acknowledged(&locked) >= 10).then_some(()),
    );
    let said = locked.lines.lock().unwrap().iter().any(|l| {
        l.contains("\"level\":\"ERROR\"")
            && l.contains("starting anyway")
            && l.contains("lock_timeout")
    });
    assert!(
        said,
        "no ERROR line says the replica started on a locked table"
    );
    drop(lock);
    let mut first = replicas.remove(0);
    for mut other in replicas {
        other.stop();
    }
    nothing_acknowledged_lost(&pg, &mut [&mut first, &mut locked]);
}

#[test]
fn what_only_a_configuration_change_cures_stops_the_start() {
    let Some(pg) = Postgres::start("bad-url") else {
        return;
    };
    pg.create_database("swarm");
    let at = format!("127.0.0.1:{}", pg.port());
    let wrong_password = format!("postgres://{}:not-the-password@{at}/swarm", postgres::USER);
    let unknown_database = format!(
        "postgres://{}:{}@{at}/no_such_db",
        postgres::USER,
        postgres::PASSWORD
    );
    let bad_timeout = url_via(&at, "options=-c%20statement_timeout%3Dsoon");
    for (url, expected) in [
        (wrong_password.as_str(), "refused the credentials"),
        (unknown_database.as_str(), "does not exist"),
        (
            "postgres://moai:secret-pw@127.0.0.1:notaport/swarm",
            "not a PostgreSQL connection URL",
        ),
        (bad_timeout.as_str(), "statement_timeout=soon"),
    ] {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
            .env("MOAI_DB_URL", url)
            .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
            .env("MOAI_LOG_DIR", "none")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert!(
            !stderr.contains("not-the-password")
                && !stderr.contains("secret-pw")
                && !stderr.contains(postgres::PASSWORD),
            "{stderr}"
        );
    }
}

#[test]
fn exhausted_connection_slots_are_a_readiness_failure_and_the_budget_fits() {
    let Some(pg) = Postgres::start("slots") else {
        return;
    };
    pg.create_database("swarm");
    pg.restart_with_max_connections(20);
    let url = pg.url("swarm");
    // Three replicas with the default pools (10 + 3 each) want 39 connections of 20.
    let mut greedy: Vec<Replica> = (0..3)
        .map(|_| {
            start_replica_with(
                &url,
                &["--agents", "10", "--rate", "200"],
                &[("MOAI_HEALTH_INTERVAL", "1s")],
            )
        })
        .collect();
    let (who, report) = wait_for(
        "a replica to say it is out of slots",
        Duration::from_secs(30),
        || {
            greedy.iter().find_map(|r| {
                let (status, report) = get(&r.addr, "/healthz").ok()?;
                (status == 503 && report.contains("no connection slot left"))
                    .then(|| (r.addr.clone(), report))
            })
        },
    );
    assert!(report.contains("max_connections"), "{who}: {report}");
    let logged = greedy
        .iter()
        .flat_map(|r| r.lines.lock().unwrap().clone())
        .any(|l| l.contains("\"level\":\"ERROR\"") && l.contains("no connection slot left"));
    assert!(logged, "no ERROR line says the slots ran out");
    for mut replica in greedy.drain(..) {
        replica.stop();
    }

    // The README's budget: 3 replicas x (4 + 1) + 1 probe = 16 <= 20: all ready, the probe too,
    // and no attempt to connect fails.
    let sized: Vec<Replica> = (0..3)
        .map(|_| {
            start_replica_with(
                &url,
                &["--agents", "10", "--rate", "200"],
                &[
                    ("MOAI_HEALTH_INTERVAL", "1s"),
                    ("MOAI_DB_POOL_SIZE", "4"),
                    ("MOAI_DB_READ_POOL_SIZE", "1"),
                ],
            )
        })
        .collect();
    for replica in &sized {
        wait_for(
            "a sized replica to be ready",
            Duration::from_secs(30),
            || {
                (get(&replica.addr, "/readyz").ok()?.0 == 200 && acknowledged(replica) >= 50)
                    .then_some(())
            },
        );
    }
    let connections: u32 = pg
        .psql(
            "swarm",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'moai-instrument'",
        )
        .parse()
        .unwrap();
    assert!(
        connections <= 15,
        "{connections} connections for a budget of 15"
    );
    let out = Command::new(support::moai_health())
        .args(["--ready", "--db-url", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for replica in &sized {
        let report = get(&replica.addr, "/healthz").unwrap().1;
        assert!(!report.contains("cannot open a connection"), "{report}");
    }
    let mut sized = sized;
    let mut refs: Vec<&mut Replica> = sized.iter_mut().collect();
    nothing_acknowledged_lost(&pg, &mut refs);
}

#[test]
fn a_probe_from_outside_needs_one_free_connection_slot() {
    let Some(pg) = Postgres::start("probe-slot") else {
        return;
    };
    let url = pg.create_database("swarm");
    let mut app = start_replica(&url, &["--agents", "2", "--rate", "50", "--steps", "10"]);
    wait_for(
        "the app to create the schema",
        Duration::from_secs(30),
        || (acknowledged(&app) >= 5).then_some(()),
    );
    app.stop();
    // Every slot but one taken by sessions that wait: the probe must do with the last one.
    pg.restart_with_max_connections(8);
    let sleepers: Vec<Reaped> = (0..7)
        .map(|_| {
            Reaped(
                pg.psql_command("swarm", "SELECT pg_sleep(60)")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    wait_for(
        "seven sessions to hold their slots",
        Duration::from_secs(20),
        || {
            let n: u32 = pg
            .psql("swarm", "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")
            .parse()
            .ok()?;
            (n == 7).then_some(())
        },
    );
    for probe in ["--ready", "--live"] {
        let out = Command::new(support::moai_health())
            .args([probe, "--db-url", &url])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{probe} with one free slot: {text}");
    }
    // A server that refuses: not ready, but live (a restart would not cure it).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = url_via(format!("127.0.0.1:{closed}"), FAST);
    let ready = Command::new(support::moai_health())
        .args(["--ready", "--db-url", &refused])
        .output()
        .unwrap();
    assert!(!ready.status.success());
    let out = Command::new(support::moai_health())
        .args(["--live", "--db-url", &refused])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "--live on a refusing server: {text}");
    assert!(text.contains("a restart does not cure"), "{text}");
    drop(sleepers);
}
