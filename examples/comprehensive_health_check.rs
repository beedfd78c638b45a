//! The guide's comprehensive health check script, in Rust: the five checks of the
//! `HealthChecker`, each on its line (with details when it fails), then the summary; exit 0 when
//! all pass, 1 otherwise.
//!
//! `cargo run --example comprehensive_health_check` (the database is `MOAI_DB_PATH`, default
//! `.moai/memory/swarm.db`). `moai-health --ready` does the same.

use std::process::ExitCode;

use moai_instrument::Config;
use moai_swarmdb::HealthChecker;

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            println!("❌ Unhealthy - {e}");
            return ExitCode::FAILURE;
        }
    };
    let checker = HealthChecker::for_path(config.configured_db_path());

    // Run all health checks.
    let report = checker.check_all();

    // Print results.
    for (name, result) in &report.results {
        let status = if result.is_healthy() { "✅" } else { "❌" };
        println!("{status} {name}: {}", result.message);
        if !result.is_healthy() {
            println!("   Details: {}", result.details_text());
        }
    }

    // Overall status.
    if report.is_healthy() {
        println!("\n✅ All health checks passed");
        ExitCode::SUCCESS
    } else {
        println!("\n❌ Some health checks failed");
        ExitCode::FAILURE
    }
}
