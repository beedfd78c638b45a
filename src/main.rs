//! moai-flow: the reference host application of moai-instrument. A simulated swarm registers
//! agents, records spawn/complete/error events through instrumented functions, logs inside spans
//! carrying `agent_id` and `user_id`, and serves `/metrics` with gauges refreshed at scrape time.
//!
//! `cargo run --release -- [--agents N] [--rate EVENTS_PER_SEC] [--duration-secs S]`; settings
//! come from the environment (`MOAI_METRICS_ADDR`, `MOAI_LOG_DIR`, ...; see the README).

mod signals;
mod swarm;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use moai_instrument::Config;
use moai_instrument::swarmdb::SwarmDb;

use swarm::Swarm;

struct Args {
    agents: u32,
    rate: u32,
    duration: Option<Duration>,
    /// Stop stepping after this many steps, but keep serving (stable counters for checks).
    steps: Option<u64>,
    /// Failing operations per second, to see the error alerts fire.
    error_rate: u32,
}

const USAGE: &str = "usage: moai-flow [--agents N] [--rate STEPS_PER_SEC] [--duration-secs S] \
                     [--steps N] [--error-rate FAILURES_PER_SEC]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        agents: 20,
        rate: 50,
        duration: None,
        steps: None,
        error_rate: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{name} needs a whole number"))
        };
        match flag.as_str() {
            "--agents" => args.agents = value("--agents")?.clamp(1, 100_000) as u32,
            "--rate" => args.rate = value("--rate")?.clamp(1, 1_000_000) as u32,
            "--duration-secs" => {
                args.duration = Some(Duration::from_secs(value("--duration-secs")?))
            }
            "--steps" => args.steps = Some(value("--steps")?),
            "--error-rate" => args.error_rate = value("--error-rate")?.min(10_000) as u32,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(args)
}

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
        metrics_url = %format!("http://{}/metrics", guard.metrics_addr()),
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
