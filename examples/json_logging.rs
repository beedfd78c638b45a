//! The guide's logging setup, in Rust: JSON lines on stdout and in `.moai/logs/moai-flow.log`
//! (rotated daily, 7 files kept), with `agent_id` and `user_id` from the event or any enclosing
//! span, at the guide's five levels.
//!
//! `cargo run --example json_logging`; `MOAI_LOG_FORMAT=pretty` for a human format,
//! `RUST_LOG=debug` to see the DEBUG line.

use std::process::ExitCode;

use moai_instrument::Config;

#[derive(Debug)]
struct InsertError(std::io::Error);

impl std::fmt::Display for InsertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed to insert event")
    }
}

impl std::error::Error for InsertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[tracing::instrument(fields(agent_id = %agent_id, user_id = %user_id))]
fn spawn_agent(agent_id: &str, user_id: &str) {
    tracing::debug!(event = ?("spawn", agent_id), "Processing event");
    tracing::info!("Agent spawned successfully");
    tracing::warn!(duration_ms = 150, "Query took 150ms (expected <100ms)");
    let error = InsertError(std::io::Error::other("database is locked"));
    tracing::error!(
        error = &error as &dyn std::error::Error,
        "Failed to insert event"
    );
}

fn main() -> ExitCode {
    // Port 0: this example only logs, so any free port will do for the exporter.
    let started = Config::from_env().and_then(|config| config.metrics_addr("127.0.0.1:0").init());
    let guard = match started {
        Ok(guard) => guard,
        Err(e) => {
            // `Display`, not `Debug`: the message names the setting, the value and the cause.
            eprintln!("json_logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    spawn_agent("agent-7", "user-42");
    // The guide's CRITICAL has no tracing level: ERROR with a severity field.
    tracing::error!(
        severity = "critical",
        agent_id = "agent-7",
        "Database connection lost"
    );
    if let Some(file) = guard.log_file() {
        eprintln!("the same lines are in {}", file.display());
    }
    ExitCode::SUCCESS
}
