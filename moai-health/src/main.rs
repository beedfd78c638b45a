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

mod cli;
mod diagnose;
mod http;
mod remote;

use std::process::ExitCode;

use moai_instrument::health::{CheckResult, Detail, HealthReport, HealthStatus};
use moai_swarmdb::{HealthChecker, LIVENESS_CHECK};

use cli::{Args, Mode};

/// The checker for the database the arguments name, and how to name it in the output (a URL
/// without its password).
fn checker(args: &Args) -> Result<(HealthChecker, String), String> {
    // The app's thresholds (`MOAI_DISK_WARN_PERCENT`, `MOAI_QUERY_P95_FAIL_MS`, ...), so the
    // probe judges as the app does.
    // Only the threshold variables: another setting of the app's (MOAI_HISTOGRAM, say) is none of
    // the probe's business and must not stop it.
    let thresholds = moai_instrument::Config::new()
        .with_env(|name| {
            moai_instrument::health::THRESHOLD_VARIABLES
                .contains(&name)
                .then(|| std::env::var(name).ok())
                .flatten()
        })
        .and_then(|config| config.checked_thresholds())
        .map_err(|e| moai_instrument::error_chain(&e))?;
    let (checker, shown) = located_checker(args)?;
    Ok((checker.with_thresholds(thresholds), shown))
}

fn located_checker(args: &Args) -> Result<(HealthChecker, String), String> {
    match &args.db_url {
        None => Ok((HealthChecker::for_path(&args.db), args.db.clone())),
        #[cfg(feature = "postgres")]
        Some(url) => {
            let shown = moai_swarmdb::Location::of_url(url)
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
    let args = match cli::parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Err(problem) = http::configure(&args.access) {
        eprintln!("moai-health: {problem}");
        return ExitCode::from(2);
    }
    if let Some(targets) = &args.diagnose {
        return if diagnose::run(targets) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let report = match &args.url {
        // As JSON, the basic mode gives the whole report too; the liveness modes stay liveness.
        Some(url) => match ask_app(
            url,
            match args.mode {
                Mode::Basic if args.json => Mode::Ready,
                mode => mode,
            },
        ) {
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
            // The app's whole liveness answer (`progress` and `swarmdb`), named for its endpoint.
            results: vec![("livez".into(), remote::live(url)?)],
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
            // Live on a server that is unavailable keeps its own message saying so.
            let unavailable = opens
                .details
                .iter()
                .any(|(key, value)| key == "server_unavailable" && *value == Detail::Flag(true));
            if opens.is_healthy() && !unavailable {
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
