//! SwarmDB: `insert_event` per second, each call durable on its own (WAL, `synchronous = FULL`,
//! one commit per call, as in the original), and `get_active_agents` / `count_active_agents`
//! latency with 100,000 agents registered.
//!
//! `cargo bench -p moai-instrument --bench swarmdb`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moai_instrument::swarmdb::{EventType, NewEvent, SwarmDb};
use serde_json::json;

fn fresh(name: &str) -> SwarmDb {
    let dir = std::env::temp_dir().join(format!("moai-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    SwarmDb::open(dir.join("swarm.db")).expect("open")
}

fn insert_event(c: &mut Criterion) {
    let db = fresh("insert");
    // A new UUID event id for each call, as the original.
    let event = NewEvent::now(
        EventType::Spawn,
        "agent-1",
        "expert-backend",
        json!({"task": "t-1"}),
    );
    let mut group = c.benchmark_group("swarmdb");
    group
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    group.bench_function("insert_event_durable", |b| {
        b.iter(|| black_box(db.insert_event(&event).unwrap()))
    });
    group.finish();
}

/// 100,000 agents in one transaction (setup only), `active` of them spawned or running.
fn registry(name: &str, active: usize) -> SwarmDb {
    let db = fresh(name);
    let mut conn = rusqlite::Connection::open(db.path().unwrap()).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO agent_registry (agent_id, agent_type, status, spawn_time, complete_time, duration_ms, metadata, last_updated)
                 VALUES (?1, 'expert', ?2, 1795954042.5, NULL, NULL, '{}', '2026-11-25T00:00:00.000000')",
            )
            .unwrap();
        for i in 0..100_000 {
            let status = if i < active { "running" } else { "complete" };
            insert
                .execute(rusqlite::params![format!("agent-{i}"), status])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    db
}

fn active_agents(c: &mut Criterion) {
    let mut group = c.benchmark_group("swarmdb_100k_agents");
    group.measurement_time(Duration::from_secs(5));
    for active in [1_000usize, 100_000] {
        let db = registry(&format!("active-{active}"), active);
        assert_eq!(db.count_active_agents().unwrap(), active as u64);
        group.bench_function(format!("get_active_agents/{active}_active"), |b| {
            b.iter(|| black_box(db.get_active_agents().unwrap().len()))
        });
        group.bench_function(format!("count_active_agents/{active}_active"), |b| {
            b.iter(|| black_box(db.count_active_agents().unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, insert_event, active_agents);
criterion_main!(benches);
