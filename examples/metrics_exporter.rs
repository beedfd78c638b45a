//! The guide's Flask metrics exporter, in Rust: the four metrics, with the gauges of its
//! `update_metrics()` read by the SDK from SwarmDB (`MOAI_DB_PATH`, default
//! `.moai/memory/swarm.db`, or `MOAI_DB_URL`) on every scrape of `/metrics`,
//! served on port 9090 (or `MOAI_METRICS_ADDR`). Meanwhile it records an agent's life every
//! 100 ms through SwarmDB's instrumented operations, so the event and latency series move.
//!
//! `cargo run --example metrics_exporter` then `curl http://localhost:9090/metrics`. Stops after
//! `--seconds N` (default: runs until interrupted).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use moai_instrument::{Config, error_chain};
use moai_swarmdb::{AgentStatus, EventType, NewEvent, SwarmDb};
use serde_json::json;

/// `--seconds N`, if given: how long to run.
fn parse_args() -> Result<Option<u64>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut seconds = None;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("seconds") => seconds = Some(parser.value()?.parse()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(seconds)
}

fn main() -> ExitCode {
    let seconds = match parse_args() {
        Ok(seconds) => seconds,
        Err(e) => {
            eprintln!("metrics_exporter: {e}; usage: metrics_exporter [--seconds N]");
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("metrics_exporter: {}", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    // The guide's `update_metrics()` needs no code here: the SDK reads the gauges from the
    // SwarmDB this program opens, at every scrape.
    let guard = match config.clone().init() {
        Ok(guard) => guard,
        Err(e) => {
            // e.g. "cannot listen on 0.0.0.0:9090 (MOAI_METRICS_ADDR): address already in use".
            eprintln!("metrics_exporter: {}", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let db = match SwarmDb::from_config(&config) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("metrics_exporter: {}", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    if let Some(addr) = guard.metrics_addr() {
        println!("serving http://{addr}/metrics");
    }
    let started = Instant::now();
    let mut n = 0u64;
    while seconds.is_none_or(|s| started.elapsed() < Duration::from_secs(s)) {
        let id = format!("exporter-agent-{}", n / 2);
        let step = if n.is_multiple_of(2) {
            db.register_agent(&id, "expert-backend", AgentStatus::Running, &json!({}))
                .and_then(|()| {
                    db.insert_event(&NewEvent::now(
                        EventType::Spawn,
                        &id,
                        "expert-backend",
                        json!({}),
                    ))
                })
        } else {
            db.update_agent_status(&id, AgentStatus::Complete, None)
                .and_then(|()| {
                    db.insert_event(&NewEvent::now(
                        EventType::Complete,
                        &id,
                        "expert-backend",
                        json!({}),
                    ))
                })
        };
        if let Err(e) = step {
            eprintln!("metrics_exporter: {}", error_chain(&e));
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    ExitCode::SUCCESS
}
