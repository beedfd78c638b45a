//! The guide's basic health check script, in Rust: open SwarmDB, read its size, count the active
//! agents; print `✅ Healthy - N active agents` or `❌ Unhealthy - <why>`; exit 0 or 1.
//!
//! `cargo run --example basic_health_check` (the database is `MOAI_DB_PATH`, default
//! `.moai/memory/swarm.db`). The `moai-health` binary does the same with a time limit.

use std::process::ExitCode;

use moai_instrument::Config;
use moai_swarmdb::OpenOptions;

fn health_check() -> Result<usize, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    // Check database connectivity: an existing database only; a probe never creates one.
    let db = OpenOptions::new()
        .existing_only()
        .open(config.configured_db_path())?;
    db.get_database_size()?;
    // Check active agents.
    Ok(db.get_active_agents()?.len())
}

fn main() -> ExitCode {
    match health_check() {
        Ok(active) => {
            println!("✅ Healthy - {active} active agents");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("❌ Unhealthy - {}", moai_instrument::error_chain(&*e));
            ExitCode::FAILURE
        }
    }
}
