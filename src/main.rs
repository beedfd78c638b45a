//! moai-flow: the reference host application of moai-instrument. A simulated swarm registers
//! agents, records spawn/complete/error events through instrumented functions, logs inside spans
//! carrying `agent_id` and `user_id`, and serves `/metrics` with gauges refreshed at scrape time.
//!
//! `cargo run --release -- [--agents N] [--rate EVENTS_PER_SEC] [--duration-secs S]`; settings
//! come from the environment (`MOAI_METRICS_ADDR`, `MOAI_LOG_DIR`, ...; see the README).

mod swarm;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moai_instrument::{AGENTS_ACTIVE, Config};

use swarm::Swarm;

struct Args {
    agents: u32,
    rate: u32,
    duration: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        agents: 20,
        rate: 50,
        duration: None,
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
            "-h" | "--help" => {
                return Err(
                    "usage: moai-flow [--agents N] [--rate EVENTS_PER_SEC] [--duration-secs S]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let swarm = Arc::new(Swarm::new(args.agents));
    let refreshed = Arc::clone(&swarm);
    let config = Config::from_env().map(|c| {
        c.on_scrape(move || {
            moai_instrument::metrics::gauge!(AGENTS_ACTIVE.name)
                .set(refreshed.active_agents() as f64);
        })
    });
    let guard = match config.and_then(Config::init) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("moai-flow: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        metrics_url = %format!("http://{}/metrics", guard.metrics_addr()),
        agents = args.agents,
        rate = args.rate,
        "moai-flow swarm running; scrape the metrics URL"
    );
    let started = Instant::now();
    let pause = Duration::from_secs(1) / args.rate;
    let mut step = 0u64;
    while args.duration.is_none_or(|d| started.elapsed() < d) {
        swarm.step(step);
        step += 1;
        std::thread::sleep(pause);
    }
    tracing::info!(steps = step, "moai-flow finished");
    drop(guard);
    ExitCode::SUCCESS
}
