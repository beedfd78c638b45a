//! moai-flow: the reference host application of moai-instrument. A simulated swarm registers
//! agents, records spawn/complete/error events through instrumented functions, logs inside spans
//! carrying `agent_id` and `user_id`, and serves `/metrics` with gauges refreshed at scrape time.
//!
//! `cargo run --release -- [--agents N] [--rate EVENTS_PER_SEC] [--duration-secs S]`; settings
//! come from the environment (`MOAI_METRICS_ADDR`, `MOAI_LOG_DIR`, ...; see the README).

mod cli;
mod signals;
mod swarm;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moai_instrument::metrics::gauge;
use moai_instrument::swarmdb::{SwarmDb, SwarmDbError};
use moai_instrument::{AGENTS_ACTIVE, Config, DB_SIZE_BYTES, HealthChecker};

use cli::parse_args;
use swarm::Swarm;

fn main() -> ExitCode {
    // First: a SIGTERM from here on ends the process through the clean shutdown below.
    let signals = signals::install();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("moai-flow: {}", moai_instrument::error_chain(&err));
            return ExitCode::FAILURE;
        }
    };
    let db = match open_db(&config) {
        Ok(db) => Arc::new(db),
        Err(err) => {
            eprintln!("moai-flow: {}", moai_instrument::error_chain(&err));
            return ExitCode::FAILURE;
        }
    };
    let scraped = Arc::clone(&db);
    let config = HealthChecker::new(Arc::clone(&db))
        .health_checks()
        .into_iter()
        .fold(config, Config::health_check)
        .on_scrape(move || refresh_gauges(&scraped));
    let guard = match config.init() {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("moai-flow: {}", moai_instrument::error_chain(&err));
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = signals {
        tracing::warn!(error = %err, "Cannot handle SIGTERM/SIGINT/SIGQUIT/SIGHUP; stop with SIGKILL");
    }
    tracing::info!(
        metrics_url = %format!("http://{}/metrics", guard.metrics_addr()),
        db = %db.location(),
        agents = args.agents,
        rate = args.rate,
        "moai-flow swarm running; scrape the metrics URL"
    );
    let swarm = Swarm::new(Arc::clone(&db), args.agents);
    let started = Instant::now();
    let pause = Duration::from_secs(1) / args.rate;
    let failure_every = (args.error_rate > 0).then(|| Duration::from_secs(1) / args.error_rate);
    let mut last_failure = Instant::now();
    let mut step = 0u64;
    while args.duration.is_none_or(|d| started.elapsed() < d) && !signals::stop_requested() {
        // The loop moves on: `/livez` fails if it ever stops doing so.
        moai_instrument::heartbeat();
        if args.steps.is_none_or(|n| step < n) {
            swarm.step(step);
            step += 1;
        }
        if failure_every.is_some_and(|every| last_failure.elapsed() >= every) {
            swarm.fail_once();
            last_failure = Instant::now();
        }
        std::thread::sleep(pause);
    }
    let reason = if signals::stop_requested() {
        "signal"
    } else {
        "duration elapsed"
    };
    tracing::info!(steps = step, reason, "moai-flow shutting down");
    // The exporter stops and the log file is flushed; then the last handle closes SwarmDB.
    drop(guard);
    drop(swarm);
    drop(db);
    ExitCode::SUCCESS
}

/// SwarmDB on PostgreSQL when `MOAI_DB_URL` is set (replicas share one swarm), else the file at
/// `MOAI_DB_PATH`.
fn open_db(config: &Config) -> Result<SwarmDb, SwarmDbError> {
    match config.configured_db_url() {
        Some(url) => SwarmDb::connect(url),
        None => SwarmDb::open(config.configured_db_path()),
    }
}

/// The guide's `update_metrics()`: gauges from SwarmDB, on every scrape.
fn refresh_gauges(db: &SwarmDb) {
    match db.count_active_agents() {
        Ok(active) => gauge!(AGENTS_ACTIVE.name).set(active as f64),
        Err(err) => tracing::error!(
            error = &err as &dyn std::error::Error,
            "Cannot count active agents"
        ),
    }
    match db.get_database_size() {
        Ok(bytes) => gauge!(DB_SIZE_BYTES.name).set(bytes as f64),
        Err(err) => tracing::error!(
            error = &err as &dyn std::error::Error,
            "Cannot read the database size"
        ),
    }
}
