//! The guide's Flask metrics exporter, in Rust: the four metrics, `update_metrics()` run on every
//! scrape of `/metrics`, served on port 9090 (or `MOAI_METRICS_ADDR`).
//!
//! `cargo run --example metrics_exporter` then `curl http://localhost:9090/metrics`. Stops after
//! `--seconds N` (default: runs until interrupted).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moai_instrument::metrics::gauge;
use moai_instrument::{AGENTS_ACTIVE, Config, DB_SIZE_BYTES, counted_event, timed_query};

/// Stands in for SwarmDB: a count of active agents and a growing size.
#[derive(Default)]
struct Db {
    active_agents: AtomicU64,
    size_bytes: AtomicU64,
}

impl Db {
    #[timed_query(query_type = "get_active_agents")]
    fn get_active_agents(&self) -> u64 {
        self.active_agents.load(Ordering::Relaxed)
    }

    #[timed_query(query_type = "get_database_size")]
    fn get_database_size(&self) -> u64 {
        self.size_bytes.load(Ordering::Relaxed)
    }

    #[counted_event(event_type = event_type)]
    #[timed_query(query_type = "insert_event")]
    fn insert_event(&self, event_type: &str) {
        self.size_bytes.fetch_add(512, Ordering::Relaxed);
        match event_type {
            "spawn" => self.active_agents.fetch_add(1, Ordering::Relaxed),
            _ => self.active_agents.fetch_sub(1, Ordering::Relaxed),
        };
    }
}

/// The guide's `update_metrics()`: refresh the gauges from the database.
fn update_metrics(db: &Db) {
    gauge!(AGENTS_ACTIVE.name).set(db.get_active_agents() as f64);
    gauge!(DB_SIZE_BYTES.name).set(db.get_database_size() as f64);
}

fn main() -> ExitCode {
    let seconds: Option<u64> = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok());
    let db = Arc::new(Db::default());
    let scraped = Arc::clone(&db);
    let started = Config::from_env()
        .and_then(|config| config.on_scrape(move || update_metrics(&scraped)).init());
    let guard = match started {
        Ok(guard) => guard,
        Err(e) => {
            // `Display`, not `Debug`: e.g. "cannot listen on 0.0.0.0:9090 (MOAI_METRICS_ADDR):
            // address already in use: ...".
            eprintln!("metrics_exporter: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("serving http://{}/metrics", guard.metrics_addr());
    let started = Instant::now();
    let mut n = 0u64;
    while seconds.is_none_or(|s| started.elapsed() < Duration::from_secs(s)) {
        db.insert_event(if n.is_multiple_of(2) {
            "spawn"
        } else {
            "complete"
        });
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    ExitCode::SUCCESS
}
