//! The simulated swarm: agents move through spawn -> running -> complete or error, each step
//! an instrumented operation.

use std::collections::HashMap;
use std::sync::Mutex;

use moai_instrument::{counted_event, timed_query};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Spawned,
    Running,
    Completed,
    Failed,
}

#[derive(Debug)]
pub struct AgentError(String);

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AgentError {}

pub struct Swarm {
    agents: Mutex<HashMap<u32, Status>>,
    size: u32,
}

impl Swarm {
    pub fn new(size: u32) -> Self {
        Swarm {
            agents: Mutex::new(HashMap::new()),
            size,
        }
    }

    /// One step of the simulation for agent `step % size`.
    pub fn step(&self, step: u64) {
        let id = (step % u64::from(self.size)) as u32;
        let user = format!("user-{}", id % 3);
        let span =
            tracing::info_span!("agent_step", agent_id = %format!("agent-{id}"), user_id = %user);
        let _entered = span.enter();
        let status = self
            .agents
            .lock()
            .map(|a| a.get(&id).copied())
            .unwrap_or(None);
        let result = match status {
            None | Some(Status::Completed) | Some(Status::Failed) => self.spawn(id),
            Some(Status::Spawned) => self.update(id, Status::Running, "running"),
            Some(Status::Running) if step.is_multiple_of(7) => {
                self.update(id, Status::Failed, "error")
            }
            Some(Status::Running) => self.update(id, Status::Completed, "complete"),
        };
        if let Err(err) = result {
            tracing::error!(
                error = &err as &dyn std::error::Error,
                "Failed to advance agent"
            );
        }
    }

    #[counted_event(event_type = "spawn")]
    #[timed_query(query_type = "register_agent")]
    fn spawn(&self, id: u32) -> Result<(), AgentError> {
        let mut agents = self
            .agents
            .lock()
            .map_err(|_| AgentError("registry poisoned".into()))?;
        agents.insert(id, Status::Spawned);
        tracing::info!("Agent spawned successfully");
        Ok(())
    }

    #[counted_event(event_type = event)]
    #[timed_query(query_type = "update_agent_status")]
    fn update(&self, id: u32, status: Status, event: &str) -> Result<(), AgentError> {
        let mut agents = self
            .agents
            .lock()
            .map_err(|_| AgentError("registry poisoned".into()))?;
        let slot = agents
            .get_mut(&id)
            .ok_or_else(|| AgentError(format!("agent-{id} is not registered")))?;
        *slot = status;
        if status == Status::Failed {
            return Err(AgentError(format!("agent-{id} crashed during its task")));
        }
        Ok(())
    }

    #[timed_query(query_type = "get_active_agents")]
    pub fn active_agents(&self) -> usize {
        self.agents
            .lock()
            .map(|a| {
                a.values()
                    .filter(|s| matches!(s, Status::Spawned | Status::Running))
                    .count()
            })
            .unwrap_or(0)
    }
}
