//! `moai-health`: the guide's health check scripts and Kubernetes probes as one binary.
//!
//! ```text
//! moai-health [--db PATH] [--json]            basic check: "✅ Healthy - N active agents"
//! moai-health --live | --startup [--db PATH]  liveness/startup probe: SwarmDB opens
//! moai-health --ready [--db PATH] [--json]    comprehensive check, each line with details
//! ```
//! The database is `--db`, else `MOAI_DB_PATH`, else `.moai/memory/swarm.db`. Exit status: 0
//! healthy, 1 unhealthy, 2 usage error. It answers within 5 s even when the database is locked
//! (the guide's readiness timeout): every check has its own time limit.

use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use moai_instrument::{
    CheckResult, Detail, HealthChecker, HealthReport, HealthStatus, SwarmDb, Thresholds,
};

const USAGE: &str = "usage: moai-health [--live | --startup | --ready] [--json] [--db PATH]";
/// Below the probes' 5 s timeout, with room to print and exit.
const DEADLINE: Duration = Duration::from_secs(4);
const DEFAULT_DB: &str = ".moai/memory/swarm.db";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Basic,
    Live,
    Ready,
}

struct Args {
    mode: Mode,
    json: bool,
    db: String,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        mode: Mode::Basic,
        json: false,
        db: std::env::var("MOAI_DB_PATH").unwrap_or_else(|_| DEFAULT_DB.into()),
    };
    let mut mode_given = false;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let mode = match arg.as_str() {
            "--live" | "--startup" => Mode::Live,
            "--ready" => Mode::Ready,
            "--json" => {
                parsed.json = true;
                continue;
            }
            "--db" => {
                parsed.db = args
                    .next()
                    .filter(|p| !p.starts_with("--"))
                    .ok_or("--db needs a path")?;
                continue;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        };
        if mode_given {
            return Err("give at most one of --live, --startup, --ready".into());
        }
        (parsed.mode, mode_given) = (mode, true);
    }
    Ok(parsed)
}

/// Runs `f` in a thread and gives up at the deadline: a locked database cannot hang the probe.
fn within_deadline(f: impl FnOnce() -> CheckResult + Send + 'static) -> CheckResult {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result.recv_timeout(DEADLINE).unwrap_or_else(|_| {
        CheckResult::new(
            HealthStatus::Unhealthy,
            format!("no answer within {} s", DEADLINE.as_secs()),
        )
    })
}

fn open(db: &str) -> Result<SwarmDb, String> {
    SwarmDb::open_with(db, Duration::from_secs(3)).map_err(|e| chain(&e))
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The guide's basic script: open, read the size, count active agents.
fn basic(db: String) -> CheckResult {
    within_deadline(move || {
        let run = || -> Result<usize, String> {
            let db = open(&db)?;
            db.get_database_size().map_err(|e| chain(&e))?;
            Ok(db.get_active_agents().map_err(|e| chain(&e))?.len())
        };
        match run() {
            Ok(n) => CheckResult::new(HealthStatus::Healthy, format!("{n} active agents"))
                .with_detail("active", Detail::Integer(n as i64)),
            Err(e) => CheckResult::new(HealthStatus::Unhealthy, e),
        }
    })
}

/// The liveness and startup probes: SwarmDB opens.
fn live(db: String) -> CheckResult {
    within_deadline(move || match open(&db) {
        Ok(opened) => CheckResult::new(
            HealthStatus::Healthy,
            format!("SwarmDB opens at {}", opened.path().display()),
        ),
        Err(e) => CheckResult::new(HealthStatus::Unhealthy, e),
    })
}

fn mark(healthy: bool) -> &'static str {
    if healthy { "✅" } else { "❌" }
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("moai-health: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if problem.is_empty() { 0 } else { 2 });
        }
    };
    let report = match args.mode {
        Mode::Basic => HealthReport {
            results: vec![("swarmdb".into(), basic(args.db.clone()))],
        },
        Mode::Live => HealthReport {
            results: vec![("database_open".into(), live(args.db.clone()))],
        },
        Mode::Ready => {
            let checker = HealthChecker::for_path(&args.db).with_thresholds(Thresholds::default());
            let results = checker
                .check_all()
                .into_iter()
                .map(|(n, r)| (n.to_owned(), r))
                .collect();
            HealthReport { results }
        }
    };
    let healthy = report.failing().is_empty();
    if args.json {
        println!("{}", report.to_json());
    } else {
        match args.mode {
            Mode::Basic | Mode::Live => {
                let (_, result) = &report.results[0];
                let word = match (args.mode, healthy) {
                    (Mode::Live, true) => "Live",
                    (Mode::Live, false) => "Not live",
                    (_, true) => "Healthy",
                    (_, false) => "Unhealthy",
                };
                println!("{} {word} - {}", mark(healthy), result.message);
            }
            Mode::Ready => {
                for (name, result) in &report.results {
                    println!("{} {name}: {}", mark(result.healthy), result.message);
                    if !result.healthy {
                        println!("   Details: {}", result.details_text());
                    }
                }
                if healthy {
                    println!("\n✅ All health checks passed");
                } else {
                    println!("\n❌ Some health checks failed");
                }
            }
        }
    }
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
