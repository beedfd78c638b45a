//! Replicas on one PostgreSQL: three `moai-flow` processes share one swarm, survive one of them
//! killed mid-write with nothing acknowledged lost, agree on `moai_flow_agents_active`, and ride
//! out a stopped server without a restart. Each test starts its own PostgreSQL 15 and ends every
//! process it started, pass or fail.

use moai_test_support::postgres;
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use postgres::Postgres;
use support::get;
use support::replica::{Replica, acknowledged, metric, start_replica, stored_event_ids};

#[test]
fn three_replicas_share_one_swarm_and_survive_a_killed_one() {
    let Some(pg) = Postgres::start("replicas") else {
        return;
    };
    let url = pg.create_database("swarm");
    // Started together: the schema is created once under the advisory lock.
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| {
            start_replica(
                &url,
                &["--agents", "30", "--rate", "200", "--steps", "1500"],
            )
        })
        .collect();
    // Mid-write: the first replica has acknowledged events and is still writing.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged(&replicas[0]) < 50 {
        assert!(
            Instant::now() < deadline,
            "replica 0 acknowledges no events"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = replicas.remove(0);
    let mut process = killed.process;
    process.0.kill().expect("SIGKILL replica 0");
    process.0.wait().unwrap();
    let survivors_before: Vec<usize> = replicas.iter().map(acknowledged).collect();
    // The others go on writing.
    let deadline = Instant::now() + Duration::from_secs(30);
    while replicas
        .iter()
        .zip(&survivors_before)
        .any(|(r, before)| acknowledged(r) < before + 50)
    {
        assert!(Instant::now() < deadline, "the survivors stopped writing");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Until the survivors finish their steps, then the swarm is still: all agree with the server.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let truth: f64 = pg
            .psql(
                "swarm",
                "SELECT COUNT(*) FROM agent_registry WHERE status IN ('spawned', 'running')",
            )
            .parse()
            .unwrap();
        let seen: Vec<Option<f64>> = replicas
            .iter()
            .map(|r| metric(&r.addr, "moai_flow_agents_active"))
            .collect();
        if seen.iter().all(|s| *s == Some(truth)) {
            let events_now: Vec<usize> = replicas.iter().map(acknowledged).collect();
            std::thread::sleep(Duration::from_millis(500));
            let still: Vec<usize> = replicas.iter().map(acknowledged).collect();
            if events_now == still {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "replicas disagree: {seen:?} vs {truth} on the server"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Nothing acknowledged is lost, the killed replica's included. The survivors stop first, so
    // that no event is acknowledged after the server's rows are read.
    for replica in &mut replicas {
        replica.stop();
    }
    let stored = stored_event_ids(&pg);
    let killed_acks = killed.acknowledged.lock().unwrap().clone();
    assert!(killed_acks.len() >= 50);
    for replica_acks in std::iter::once(&killed_acks).chain(
        replicas
            .iter()
            .map(|r| r.acknowledged.lock().unwrap().clone())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        let lost: Vec<&String> = replica_acks
            .iter()
            .filter(|id| !stored.contains(*id))
            .collect();
        assert!(lost.is_empty(), "acknowledged events lost: {lost:?}");
    }
    assert_eq!(
        pg.psql(
            "swarm",
            "SELECT value FROM schema_info WHERE key = 'version'"
        ),
        "2.0.0"
    );
}

#[test]
fn a_stopped_server_fails_calls_fast_and_the_app_recovers_without_restart() {
    let Some(pg) = Postgres::start("outage") else {
        return;
    };
    let url = pg.create_database("swarm");
    let replica = start_replica(&url, &["--agents", "10", "--rate", "50"]);
    let ready = |addr: &str| get(addr, "/readyz").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged(&replica) < 20 {
        assert!(Instant::now() < deadline, "no events before the outage");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ready(&replica.addr).0, 200, "{}", ready(&replica.addr).1);
    let errors = |addr: &str| metric(addr, "moai_flow_errors_total{operation=\"get_agent\"}");
    let errors_before = errors(&replica.addr).unwrap_or(0.0);

    pg.stop();
    let stopped = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = ready(&replica.addr);
    assert_eq!(status, 503, "readiness while the server is down: {body}");
    assert!(body.contains("database"), "{body}");
    std::thread::sleep(Duration::from_secs(10).saturating_sub(stopped.elapsed()));
    let errors_during = errors(&replica.addr).unwrap_or(0.0) - errors_before;
    // At 50 steps a second for 10 s, failing fast means far more than one failure per timeout.
    assert!(
        errors_during >= 50.0,
        "only {errors_during} failed get_agent calls in 10 s: calls wait instead of failing fast"
    );
    let logged = replica.lines.lock().unwrap().clone();
    let why = logged
        .iter()
        .find(|l| l.contains("\"level\":\"ERROR\"") && l.contains("refused the connection"));
    assert!(why.is_some(), "no ERROR line says why");
    assert!(
        !logged.iter().any(|l| l.contains(postgres::PASSWORD)),
        "a log line shows the password"
    );

    pg.restart();
    let acked_at_restart = acknowledged(&replica);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let recovered =
            ready(&replica.addr).0 == 200 && acknowledged(&replica) > acked_at_restart + 20;
        if recovered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the restart: {}",
            ready(&replica.addr).1
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The probe from outside: moai-health --db-url on the recovered server, ready.
    let out = Command::new(support::moai_health())
        .args(["--ready", "--db-url", &pg.url("swarm")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("✅ database: Database OK"), "{text}");
    // A URL without its password takes it from the password file, as libpq does.
    let pgpass = pg.dir().join("client.pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "127.0.0.1:{}:swarm:{}:{}\n",
            pg.port(),
            postgres::USER,
            postgres::PASSWORD
        ),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let without_password = format!(
        "postgres://{}@127.0.0.1:{}/swarm",
        postgres::USER,
        pg.port()
    );
    let out = Command::new(support::moai_health())
        .args(["--live", "--db-url", &without_password])
        .env("PGPASSFILE", &pgpass)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
