//! moai-flow: the reference host application of moai-instrument.
//!
//! For now it runs a small simulated swarm through instrumented functions and prints the
//! resulting Prometheus exposition; the embedded exporter and SwarmDB come with their issues.

use std::collections::BTreeMap;
use std::process::ExitCode;

use moai_instrument::{Config, counted_event, timed_query};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Running,
    Completed,
    Failed,
}

#[derive(Default)]
struct Swarm {
    agents: BTreeMap<u32, Status>,
}

#[derive(Debug)]
struct UnknownAgent(u32);

impl std::fmt::Display for UnknownAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "agent {} is not registered", self.0)
    }
}

impl std::error::Error for UnknownAgent {}

impl Swarm {
    #[counted_event(event_type = "spawn")]
    #[timed_query(query_type = "register_agent")]
    fn spawn(&mut self, id: u32) {
        self.agents.insert(id, Status::Running);
    }

    #[counted_event(event_type = outcome_name(status))]
    #[timed_query(query_type = "update_agent_status")]
    fn finish(&mut self, id: u32, status: Status) -> Result<(), UnknownAgent> {
        let slot = self.agents.get_mut(&id).ok_or(UnknownAgent(id))?;
        *slot = status;
        Ok(())
    }

    #[timed_query(query_type = "get_active_agents")]
    fn active(&self) -> usize {
        self.agents
            .values()
            .filter(|s| **s == Status::Running)
            .count()
    }
}

fn outcome_name(status: Status) -> &'static str {
    match status {
        Status::Completed => "complete",
        Status::Failed => "error",
        Status::Running => "running",
    }
}

fn main() -> ExitCode {
    let metrics = match Config::from_env().and_then(Config::install_recorder) {
        Ok(metrics) => metrics,
        Err(err) => {
            eprintln!("moai-flow: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut swarm = Swarm::default();
    for id in 0..100 {
        swarm.spawn(id);
    }
    for id in 0..100 {
        let status = if id % 10 == 0 {
            Status::Failed
        } else {
            Status::Completed
        };
        if id % 2 == 0 {
            let _ = swarm.finish(id, status);
        }
    }
    // An agent that was never registered: counted in moai_flow_errors_total.
    let _ = swarm.finish(1000, Status::Completed);
    moai_instrument::metrics::gauge!(moai_instrument::AGENTS_ACTIVE.name)
        .set(swarm.active() as f64);
    print!("{}", metrics.render());
    ExitCode::SUCCESS
}
