//! SwarmDB on both backends, same run, same machine: durable `insert_event` per second with 1 and
//! 8 concurrent writers (threads sharing one `SwarmDb`, as an application's threads do), and
//! `get_active_agents` with 100,000 agents registered, 50,000 of them active. PostgreSQL is a
//! real PostgreSQL 15 started by the bench (`initdb` + `pg_ctl`, loopback, default durability:
//! `fsync = on`, `synchronous_commit = on`); SQLite is the WAL file with `synchronous = FULL`.
//!
//! `cargo bench -p moai-swarmdb --features postgres --bench swarmdb_backends`

use moai_test_support::postgres;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moai_swarmdb::{EventType, NewEvent, SwarmDb};
use serde_json::json;

const WRITERS: u64 = 8;
const REGISTERED: usize = 100_000;
const ACTIVE: usize = 50_000;

/// A fresh database on each backend, with `fill` giving it the registry of the read bench.
struct Backends {
    _server: postgres::Postgres,
    sqlite: Arc<SwarmDb>,
    postgres: Arc<SwarmDb>,
    /// After `sqlite`, so that the database closes before its directory goes.
    _dir: moai_test_support::ScratchDir,
}

fn backends(name: &str) -> Backends {
    let server = postgres::Postgres::start(name).expect("PostgreSQL 15 for the bench");
    let url = server.create_database(name);
    let dir = moai_test_support::ScratchDir::new(&format!("bench-{name}"));
    Backends {
        sqlite: Arc::new(SwarmDb::open(dir.path().join("swarm.db")).expect("open")),
        postgres: Arc::new(SwarmDb::connect(&url).expect("connect")),
        _server: server,
        _dir: dir,
    }
}

fn insert_event(c: &mut Criterion) {
    let b = backends("insert");
    let event = NewEvent::now(
        EventType::Spawn,
        "agent-1",
        "expert-backend",
        json!({"task": "t-1"}),
    );
    let mut group = c.benchmark_group("swarmdb_backends");
    group
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    for (backend, db) in [("sqlite", &b.sqlite), ("postgres", &b.postgres)] {
        group.bench_function(
            format!("insert_event_durable/{backend}/1_writer"),
            |bench| bench.iter(|| black_box(db.insert_event(&event).unwrap())),
        );
        group.bench_function(
            format!("insert_event_durable/{backend}/{WRITERS}_writers"),
            |bench| {
                bench.iter_custom(|iters| {
                    let per_writer = iters.div_ceil(WRITERS);
                    let started = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..WRITERS {
                            let (db, event) = (Arc::clone(db), event.clone());
                            s.spawn(move || {
                                for _ in 0..per_writer {
                                    black_box(db.insert_event(&event).unwrap());
                                }
                            });
                        }
                    });
                    // Time per insert, all writers together: throughput is its inverse.
                    started
                        .elapsed()
                        .mul_f64(iters as f64 / (per_writer * WRITERS) as f64)
                })
            },
        );
    }
    group.finish();
}

fn active_agents(c: &mut Criterion) {
    let b = backends("active");
    // The registry, in one transaction per backend (setup only).
    {
        let path = b.sqlite.path().unwrap();
        let mut conn = rusqlite::Connection::open(path).unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO agent_registry (agent_id, agent_type, status, spawn_time, metadata, last_updated)
                     VALUES (?1, 'expert', ?2, 1795954042.5 + ?3, '{}', '2026-11-25T00:00:00.000000')",
                )
                .unwrap();
            for i in 0..REGISTERED {
                let status = if i % 2 == 0 { "running" } else { "complete" };
                insert
                    .execute(rusqlite::params![format!("agent-{i}"), status, i as f64])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    b._server.psql(
        "active",
        &format!(
            "INSERT INTO agent_registry (agent_id, agent_type, status, spawn_time, metadata, last_updated)
             SELECT 'agent-' || i, 'expert', CASE WHEN i % 2 = 0 THEN 'running' ELSE 'complete' END,
                    1795954042.5 + i, '{{}}', '2026-11-25T00:00:00.000000'
             FROM generate_series(0, {}) AS i; ANALYZE agent_registry;",
            REGISTERED - 1
        ),
    );
    let mut group = c.benchmark_group("swarmdb_backends");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    for (backend, db) in [("sqlite", &b.sqlite), ("postgres", &b.postgres)] {
        assert_eq!(db.count_active_agents().unwrap(), ACTIVE as u64);
        group.bench_function(
            format!("get_active_agents/{backend}/100k_registered_50k_active"),
            |bench| bench.iter(|| black_box(db.get_active_agents().unwrap().len())),
        );
    }
    group.finish();
}

criterion_group!(benches, insert_event, active_agents);
criterion_main!(benches);
