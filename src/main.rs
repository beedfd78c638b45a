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
use std::time::{Duration, Instant};

use moai_instrument::Config;
use moai_swarmdb::SwarmDb;

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
    // The SDK's whole set-up: from here on, the SwarmDB opened below has its gauges on every
    // scrape and its checks on the probes, with no more code.
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("moai-flow: {}", moai_instrument::error_chain(&err));
            return ExitCode::FAILURE;
        }
    };
    let guard = match config.clone().init() {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("moai-flow: {}", moai_instrument::error_chain(&err));
            return ExitCode::FAILURE;
        }
    };
    let db = match SwarmDb::from_config(&config) {
        Ok(db) => db,
        Err(err) => {
            tracing::error!(
                error = &err as &dyn std::error::Error,
                "Cannot open SwarmDB"
            );
            drop(guard);
            eprintln!("moai-flow: {}", moai_instrument::error_chain(&err));
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = signals {
        tracing::warn!(error = %err, "Cannot handle SIGTERM/SIGINT/SIGQUIT/SIGHUP; stop with SIGKILL");
    }
    tracing::info!(
        metrics_url = guard.metrics_url(),
        db = %db.location(),
        agents = args.agents,
        rate = args.rate,
        "moai-flow swarm running; scrape the metrics URL"
    );
    let swarm = Swarm::new(db.clone(), args.agents);
    let started = Instant::now();
    let pause = Duration::from_secs(1) / args.rate;
    let failure_every = (args.error_rate > 0).then(|| Duration::from_secs(1) / args.error_rate);
    let mut last_failure = Instant::now();
    let mut step = 0u64;
    while args.duration.is_none_or(|d| started.elapsed() < d) && !signals::stop_requested() {
        // The loop moves on: `/livez` fails if it ever stops doing so.
        moai_instrument::health::heartbeat();
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
