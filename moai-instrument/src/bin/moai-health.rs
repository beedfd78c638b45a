//! `moai-health`: the guide's health check scripts and Kubernetes probes as one binary.
//!
//! ```text
//! moai-health [--db PATH] [--json]            basic check: "✅ Healthy - N active agents"
//! moai-health --live | --startup [--db PATH]  liveness/startup probe: SwarmDB opens
//! moai-health --ready [--db PATH] [--json]    comprehensive check, each line with details
//! moai-health --db-url postgres://...         any mode, on SwarmDB on PostgreSQL
//! ```
//! The database is `--db` or `--db-url`, else `MOAI_DB_URL` when set, else `MOAI_DB_PATH`, else
//! `.moai/memory/swarm.db`. Exit status: 0
//! healthy, 1 unhealthy, 2 usage error. It answers within 5 s even when the database is locked
//! (the guide's readiness timeout): every check has its own time limit.

use std::process::ExitCode;

use moai_instrument::{HealthChecker, HealthReport};

const USAGE: &str =
    "usage: moai-health [--live | --startup | --ready] [--json] [--db PATH | --db-url URL]";
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
    /// A PostgreSQL URL: SwarmDB on the server instead of the file.
    db_url: Option<String>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        mode: Mode::Basic,
        json: false,
        db: std::env::var("MOAI_DB_PATH").unwrap_or_else(|_| DEFAULT_DB.into()),
        db_url: std::env::var("MOAI_DB_URL")
            .ok()
            .filter(|u| !u.trim().is_empty()),
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
                parsed.db_url = None;
                continue;
            }
            "--db-url" => {
                parsed.db_url = Some(
                    args.next()
                        .filter(|p| !p.starts_with("--"))
                        .ok_or("--db-url needs a postgres:// URL")?,
                );
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

/// The checker for the database the arguments name, and how to name it in the output (a URL
/// without its password).
fn checker(args: &Args) -> Result<(HealthChecker, String), String> {
    match &args.db_url {
        None => Ok((HealthChecker::for_path(&args.db), args.db.clone())),
        #[cfg(feature = "postgres")]
        Some(url) => {
            let shown = moai_instrument::swarmdb::Location::of_url(url)
                .map_err(|e| e.to_string())?
                .to_string();
            Ok((HealthChecker::for_url(url.clone()), shown))
        }
        #[cfg(not(feature = "postgres"))]
        Some(_) => Err(
            "this moai-health has no PostgreSQL backend: build it with the `postgres` feature"
                .into(),
        ),
    }
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
    // Each check runs under the checker's time limit (2 s): well within the probes' 5 s.
    let (checker, shown) = match checker(&args) {
        Ok(found) => found,
        Err(problem) => {
            eprintln!("moai-health: {problem}");
            return ExitCode::from(2);
        }
    };
    let report = match args.mode {
        Mode::Basic => HealthReport {
            results: vec![("swarmdb".into(), checker.check_basic())],
        },
        Mode::Live => {
            let mut opens = checker.check_opens();
            if opens.healthy {
                opens.message = format!("SwarmDB opens at {shown}");
            }
            HealthReport {
                results: vec![("database_open".into(), opens)],
            }
        }
        Mode::Ready => {
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
