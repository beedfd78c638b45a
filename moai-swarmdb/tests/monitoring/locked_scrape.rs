//! The scrape never waits on the database: with a table of SwarmDB locked on a real PostgreSQL
//! (`LOCK TABLE agent_registry IN ACCESS EXCLUSIVE MODE` held by another session), `/metrics`
//! still answers at once with the last values read and `moai_flow_db_collect_age_seconds` saying
//! how old they are, and `/livez` stays 200 (a lock on a server is no reason to restart); the
//! same with the server stopped, the age growing while every read fails. Before, every scrape
//! waited on the locked read.

#![cfg(feature = "postgres")]

use moai_test_support as common;

use std::time::{Duration, Instant};

use common::{http, sample};
use moai_instrument::Config;
use moai_swarmdb::{AgentStatus, SwarmDb};
use serde_json::json;

#[test]
fn a_locked_table_never_holds_a_scrape() {
    if !common::own_process() {
        return;
    }
    let pg = common::postgres::Postgres::start("locked-scrape").expect("PostgreSQL");
    let url = pg.create_database("swarm");
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<&str>)
        .log_filter("off")
        .health_interval(Duration::from_secs(3600))
        .init()
        .unwrap();
    let addr = guard.metrics_addr().unwrap();
    let db = SwarmDb::connect(&url).unwrap();
    for n in 0..3 {
        db.register_agent(
            &format!("agent-{n}"),
            "expert",
            AgentStatus::Running,
            &json!({}),
        )
        .unwrap();
    }
    common::wait_for("the first read", Duration::from_secs(5), || {
        (sample(
            &http(addr, "GET", "/metrics", &[]).2,
            "moai_flow_agents_active",
        ) == Some(3.0))
        .then_some(())
    });

    // Another session holds the table for 4 s.
    let lock = std::thread::scope(|scope| {
        let locking = scope.spawn(|| {
            pg.psql(
                "swarm",
                "BEGIN; LOCK TABLE agent_registry IN ACCESS EXCLUSIVE MODE; \
                 SELECT pg_sleep(4); COMMIT;",
            )
        });
        std::thread::sleep(Duration::from_millis(500));
        let mut ages = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let (status, _, body) = http(addr, "GET", "/metrics", &[]);
            let took = started.elapsed();
            assert_eq!(status, 200);
            assert!(
                took < Duration::from_secs(1),
                "a scrape took {took:?} with the table locked"
            );
            assert_eq!(
                sample(&body, "moai_flow_agents_active"),
                Some(3.0),
                "the last value"
            );
            ages.push(sample(&body, "moai_flow_db_collect_age_seconds").unwrap());
            std::thread::sleep(Duration::from_millis(500));
        }
        let (live, _, body) = http(addr, "GET", "/livez", &[]);
        assert_eq!(live, 200, "a lock is no reason to restart: {body}");
        (ages, locking.join().unwrap())
    });
    let (ages, _) = lock;
    assert!(
        ages.last().unwrap() - ages.first().unwrap() > 1.5,
        "the age says the values grow old: {ages:?}"
    );
    common::wait_for("fresh values again", Duration::from_secs(10), || {
        let body = http(addr, "GET", "/metrics", &[]).2;
        (sample(&body, "moai_flow_db_collect_age_seconds")? < 1.0).then_some(())
    });

    // The server stopped: reads fail at once, the last values stay, and their age keeps growing
    // (a failed read is no fresh value); liveness stays 200, a restart of the app cures nothing.
    pg.stop();
    let mut ages = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        let (status, _, body) = http(addr, "GET", "/metrics", &[]);
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            sample(&body, "moai_flow_agents_active"),
            Some(3.0),
            "the last value"
        );
        ages.push(sample(&body, "moai_flow_db_collect_age_seconds").unwrap());
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(
        ages.windows(2).all(|w| w[1] > w[0]) && ages.last().unwrap() > &1.0,
        "the age grows while every read fails: {ages:?}"
    );
    assert_eq!(http(addr, "GET", "/livez", &[]).0, 200);
    pg.restart();
    common::wait_for(
        "fresh values after the server is back",
        Duration::from_secs(20),
        || {
            let body = http(addr, "GET", "/metrics", &[]).2;
            (sample(&body, "moai_flow_db_collect_age_seconds")? < 1.0).then_some(())
        },
    );
    drop(db);
}
