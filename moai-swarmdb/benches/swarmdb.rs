//! SwarmDB: durable `insert_event` per second from 1 and 8 writer threads (WAL; each call on
//! disk when it returns, the WAL synced after its commit), against the pre-group-commit path
//! (one connection behind a mutex, one commit and fsync per call) in the same run; durable rows
//! per second through `insert_events` batches of 16 from 1 and 8 threads; read latency
//! (mean, and p99 printed) during an 8-writer storm; and `get_active_agents` /
//! `count_active_agents` latency with 100,000 agents registered.
//!
//! `cargo bench -p moai-swarmdb --bench swarmdb`, or one group: `-- swarmdb_writers` (with
//! the batched case; `swarmdb_writers/` without it),
//! `-- swarmdb_reads_during_writes`, `-- swarmdb_100k_agents`.

use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use moai_swarmdb::{EventType, NewEvent, SwarmDb};
use moai_test_support::ScratchDir;
use serde_json::json;

/// A new database in a scratch directory, removed (after the database closes) when dropped.
struct Fresh {
    db: SwarmDb,
    _dir: ScratchDir,
}

impl std::ops::Deref for Fresh {
    type Target = SwarmDb;

    fn deref(&self) -> &SwarmDb {
        &self.db
    }
}

fn fresh(name: &str) -> Fresh {
    let dir = ScratchDir::new(&format!("bench-{name}"));
    Fresh {
        db: SwarmDb::open(dir.path().join("swarm.db")).expect("open"),
        _dir: dir,
    }
}

/// Writer threads in the concurrent cases.
const WRITERS: u64 = 8;

/// `iters` calls of `f` spread over `threads` threads started together; the wall time, so the
/// figure per iteration is the time per call of all threads together (throughput's inverse).
fn spread(threads: u64, iters: u64, f: &(dyn Fn() + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let share = iters / threads + u64::from(t < iters % threads);
            s.spawn(move || {
                for _ in 0..share {
                    f();
                }
            });
        }
    });
    start.elapsed()
}

/// The write path before group commit, for comparison in the same run: one connection behind a
/// mutex, each insert its own transaction and fsync (WAL, `synchronous = FULL`), same statement.
struct OneCommitPerCall {
    conn: Mutex<rusqlite::Connection>,
    _db: Fresh,
}

impl OneCommitPerCall {
    fn open(name: &str) -> Self {
        let db = fresh(name);
        let conn = rusqlite::Connection::open(db.path().unwrap()).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        OneCommitPerCall {
            conn: Mutex::new(conn),
            _db: db,
        }
    }

    fn insert(&self) {
        let id = uuid_like();
        self.conn
            .lock()
            .unwrap()
            .prepare_cached(
                "INSERT INTO agent_events (event_id, event_type, agent_id, agent_type, timestamp, metadata)
                 VALUES (?1, 'spawn', 'agent-1', 'expert-backend', '2026-11-29T12:00:00.000000', '{\"task\": \"t-1\"}')",
            )
            .unwrap()
            .execute([id])
            .unwrap();
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{:036}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn writers(c: &mut Criterion) {
    let event = NewEvent::now(
        EventType::Spawn,
        "agent-1",
        "expert-backend",
        json!({"task": "t-1"}),
    );
    let before = OneCommitPerCall::open("writers-before");
    let db = fresh("writers");
    let mut group = c.benchmark_group("swarmdb_writers");
    group.throughput(Throughput::Elements(1));
    for threads in [1, WRITERS] {
        bench_spread(&mut group, "one_commit_per_call", threads, &|| {
            before.insert()
        });
        bench_spread(&mut group, "insert_event_group_commit", threads, &|| {
            black_box(db.insert_event(&event).unwrap());
        });
    }
    group.finish();

    // A host that has many events at once: one `insert_events` call per batch, all or nothing
    // (a savepoint in the shared transaction: batches of several threads share a commit and a
    // sync as single rows do); the throughput counts rows. A database of its own, so that the
    // rows above do not weigh on it.
    let batch = vec![event; EVENTS_PER_BATCH];
    let db = fresh("writers-batched");
    let mut group = c.benchmark_group("swarmdb_writers_batched");
    group.throughput(Throughput::Elements(EVENTS_PER_BATCH as u64));
    let name = format!("insert_events_{EVENTS_PER_BATCH}");
    for threads in [1, WRITERS] {
        bench_spread(&mut group, &name, threads, &|| {
            black_box(db.insert_events(&batch).unwrap());
        });
    }
    group.finish();
}

/// Times `f` called from `threads` threads at once (see [`spread`]), as
/// `{name}/{threads}_writers` in `group`.
fn bench_spread(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    threads: u64,
    f: &(dyn Fn() + Sync),
) {
    group.bench_function(format!("{name}/{threads}_writers"), |b| {
        b.iter_custom(|iters| spread(threads, iters, f))
    });
}

/// Events per `insert_events` call in the batched case.
const EVENTS_PER_BATCH: usize = 16;

/// `WRITERS` threads inserting durably without pause into a database of 100,000 agents, started
/// on first use only, so that filtering this group out costs nothing.
struct Storm {
    db: &'static SwarmDb,
    stop: &'static AtomicBool,
    writers: Vec<std::thread::JoinHandle<()>>,
}

impl Storm {
    fn start() -> Storm {
        let db: &'static SwarmDb = Box::leak(Box::new(registry("reads-during-writes", 1_000)));
        let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let event = NewEvent::now(EventType::Spawn, "agent-1", "expert-backend", json!({}));
        let writers = (0..WRITERS)
            .map(|_| {
                let event = event.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        db.insert_event(&event).unwrap();
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        Storm { db, stop, writers }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.writers.into_iter().for_each(|w| w.join().unwrap());
        // The database stays open (leaked for the writers' 'static borrow); Linux removes its
        // files once it closes at exit.
        if let Some(dir) = self.db.path().and_then(std::path::Path::parent) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A read timed during a `Storm`.
type Read = fn(&SwarmDb);

/// Reads during a `Storm`: criterion's mean per call, and the p50 and p99 of every call criterion
/// timed, printed.
fn reads_during_writes(c: &mut Criterion) {
    let storm: std::cell::OnceCell<Storm> = std::cell::OnceCell::new();
    let mut group = c.benchmark_group("swarmdb_reads_during_writes");
    let reads: [(&str, Read); 2] = [
        ("count_active_agents", |db| {
            black_box(db.count_active_agents().unwrap());
        }),
        ("get_database_size", |db| {
            black_box(db.get_database_size().unwrap());
        }),
    ];
    for (name, read) in reads {
        let mut times: Vec<Duration> = Vec::new();
        group.bench_function(format!("{name}/{WRITERS}_writers"), |b| {
            let db = storm.get_or_init(Storm::start).db;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    read(db);
                    let took = start.elapsed();
                    times.push(took);
                    total += took;
                }
                total
            })
        });
        if !times.is_empty() {
            times.sort();
            println!(
                "{name} during {WRITERS}-writer storm: p50 {:?}, p99 {:?}, max {:?} ({} calls)",
                times[times.len() / 2],
                times[times.len() * 99 / 100],
                times[times.len() - 1],
                times.len()
            );
        }
    }
    group.finish();
    if let Some(storm) = storm.into_inner() {
        storm.stop();
    }
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
fn registry(name: &str, active: usize) -> Fresh {
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

criterion_group!(
    benches,
    insert_event,
    writers,
    reads_during_writes,
    active_agents
);
criterion_main!(benches);
