//! `moai-health`: the guide's health check scripts and Kubernetes probes as one binary, a client
//! of a running app's health endpoints, and the guide's Troubleshooting section as a command.
//!
//! ```text
//! moai-health [--db PATH] [--json]            basic check: "✅ Healthy - N active agents"
//! moai-health --live | --startup [--db PATH]  liveness/startup probe: SwarmDB opens
//! moai-health --ready [--db PATH] [--json]    comprehensive check, each line with details
//! moai-health --db-url postgres://...         any of these modes, on SwarmDB on PostgreSQL
//! moai-health --url http://host:9090 [--live | --ready] [--json]
//!                                             the running app's own report (/healthz, /livez)
//! moai-health --diagnose [--metrics-url URL] [--prometheus URL] [--alertmanager URL]
//!                        [--grafana URL]      exporter, Prometheus, rules, Alertmanager, Grafana
//! ```
//! The database is `--db` or `--db-url`, else `MOAI_DB_URL` when set, else `MOAI_DB_PATH`, else
//! `.moai/memory/swarm.db`. Exit status: 0
//! healthy (or: every diagnosis passed), 1 unhealthy (or: a problem found, or the app could not be
//! asked), 2 usage error. It answers within 5 s even when the database is locked (the guide's
//! readiness timeout): every check and every request has its own time limit.

mod diagnose;
mod http;
mod remote;

use std::process::ExitCode;

use moai_instrument::health::{
    CheckResult, HealthChecker, HealthReport, HealthStatus, LIVENESS_CHECK,
};

const USAGE: &str = "usage: moai-health [--live | --startup | --ready] [--json] \
                     [--db PATH | --db-url URL]\n       \
                     moai-health --url http://HOST:PORT [--live | --startup | --ready] [--json]\n       \
                     moai-health --diagnose [--metrics-url URL] [--prometheus URL] \
                     [--alertmanager URL] [--grafana URL]";
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
    /// Ask the running app at this base URL instead of opening the database.
    url: Option<String>,
    /// Run the Troubleshooting checks against these parts.
    diagnose: Option<diagnose::Targets>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        mode: Mode::Basic,
        json: false,
        db: std::env::var("MOAI_DB_PATH").unwrap_or_else(|_| DEFAULT_DB.into()),
        db_url: std::env::var("MOAI_DB_URL")
            .ok()
            .filter(|u| !u.trim().is_empty()),
        url: None,
        diagnose: None,
    };
    let mut targets = diagnose::Targets::default();
    let mut diagnose_flags = Vec::new();
    let mut mode_given = false;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .filter(|v| !v.starts_with("--"))
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let mode = match arg.as_str() {
            "--live" | "--startup" => Mode::Live,
            "--ready" => Mode::Ready,
            "--json" => {
                parsed.json = true;
                continue;
            }
            "--db" => {
                parsed.db = value("--db")?;
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
            "--url" => {
                parsed.url = Some(http_url("--url", value("--url")?)?);
                continue;
            }
            "--diagnose" => {
                parsed.diagnose = Some(diagnose::Targets::default());
                continue;
            }
            flag @ ("--metrics-url" | "--prometheus" | "--alertmanager" | "--grafana") => {
                let url = http_url(flag, value(flag)?)?;
                match flag {
                    "--metrics-url" => targets.metrics_url = url,
                    "--prometheus" => targets.prometheus = url,
                    "--alertmanager" => targets.alertmanager = url,
                    _ => targets.grafana = Some(url),
                }
                diagnose_flags.push(flag.to_owned());
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
    if parsed.diagnose.is_some() {
        if mode_given || parsed.url.is_some() || parsed.json {
            return Err(
                "--diagnose takes only --metrics-url, --prometheus, --alertmanager, --grafana"
                    .into(),
            );
        }
        parsed.diagnose = Some(targets);
    } else if let Some(flag) = diagnose_flags.first() {
        return Err(format!("{flag} goes with --diagnose"));
    }
    Ok(parsed)
}

/// `value` when it is an `http://` or `https://` URL.
fn http_url(flag: &str, value: String) -> Result<String, String> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value)
    } else {
        Err(format!("{flag} needs an http:// URL, not {value:?}"))
    }
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
    if let Some(targets) = &args.diagnose {
        return if diagnose::run(targets) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let report = match &args.url {
        // As JSON, the basic mode gives the whole report too.
        Some(url) => match ask_app(url, if args.json { Mode::Ready } else { args.mode }) {
            Ok(report) => report,
            Err(problem) => {
                println!("❌ Unhealthy - {problem}");
                return ExitCode::FAILURE;
            }
        },
        None => match check_here(&args) {
            Ok(report) => report,
            Err(problem) => {
                eprintln!("moai-health: {problem}");
                return ExitCode::from(2);
            }
        },
    };
    print(&args, &report);
    if report.failing().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The running app's own answer: `/livez` for the liveness modes, else its full report.
fn ask_app(url: &str, mode: Mode) -> Result<HealthReport, String> {
    match mode {
        Mode::Live => Ok(HealthReport {
            results: vec![("live".into(), remote::live(url)?)],
        }),
        Mode::Basic => {
            let report = remote::report(url)?;
            let failing = report.failing().join(", ");
            let summary = if failing.is_empty() {
                CheckResult::new(
                    HealthStatus::Healthy,
                    format!("{url}: {} checks pass", report.results.len()),
                )
            } else {
                CheckResult::new(
                    HealthStatus::Unhealthy,
                    format!("{url}: failing: {failing}"),
                )
            };
            Ok(HealthReport {
                results: vec![("app".into(), summary)],
            })
        }
        Mode::Ready => remote::report(url),
    }
}

/// The checks run by this process against the database (the file, or SwarmDB on PostgreSQL);
/// `Err` for a `--db-url` this binary cannot use.
fn check_here(args: &Args) -> Result<HealthReport, String> {
    // Each check runs under the checker's time limit (2 s): well within the probes' 5 s.
    let (checker, shown) = checker(args)?;
    Ok(match args.mode {
        Mode::Basic => HealthReport {
            results: vec![("basic".into(), checker.check_basic())],
        },
        Mode::Live => {
            let mut opens = checker.check_opens();
            if opens.is_healthy() {
                opens.message = format!("SwarmDB opens at {shown}");
            }
            HealthReport {
                results: vec![(LIVENESS_CHECK.into(), opens)],
            }
        }
        Mode::Ready => checker.check_all(),
    })
}

fn print(args: &Args, report: &HealthReport) {
    let healthy = report.failing().is_empty();
    if args.json {
        println!("{}", report.to_json());
        return;
    }
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
                println!("{} {name}: {}", mark(result.is_healthy()), result.message);
                if !result.is_healthy() {
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
