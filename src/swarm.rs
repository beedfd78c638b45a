//! The simulated swarm on SwarmDB: agents move spawned -> running -> complete or error; every
//! step is an instrumented SwarmDB operation, logged inside a span carrying `agent_id` and
//! `user_id`.

use std::time::SystemTime;

use moai_swarmdb::{AgentStatus, EventType, NewEvent, SwarmDb, SwarmDbError};
use serde_json::json;

/// Events older than this many days are removed as the swarm runs, as the original's cleanup
/// job did.
const EVENT_RETENTION_DAYS: u32 = 7;

pub(crate) struct Swarm {
    db: SwarmDb,
    size: u32,
}

impl Swarm {
    pub(crate) fn new(db: SwarmDb, size: u32) -> Self {
        Swarm { db, size }
    }

    /// One step for agent `step % size`: spawn it, start it, or finish it (every 7th run fails).
    pub(crate) fn step(&self, step: u64) {
        let id = format!("agent-{}", step % u64::from(self.size));
        let user = format!("user-{}", step % 3);
        let span = tracing::info_span!("agent_step", agent_id = %id, user_id = %user);
        let _entered = span.enter();
        if let Err(err) = self.advance(&id, step) {
            tracing::error!(
                error = &err as &dyn std::error::Error,
                "Failed to advance agent"
            );
        }
        if step % 10_000 == 9_999 {
            match self.db.cleanup_old_events(EVENT_RETENTION_DAYS) {
                Ok(removed) => tracing::info!(removed, "Old events cleaned up"),
                Err(err) => tracing::error!(
                    error = &err as &dyn std::error::Error,
                    "Failed to clean up old events"
                ),
            }
        }
    }

    /// A failing operation on purpose (an update of an agent that was never registered): it is
    /// counted in `moai_flow_errors_total{operation="update_agent_status"}` and logged at ERROR.
    pub(crate) fn fail_once(&self) {
        let _ = self
            .db
            .update_agent_status("agent-never-registered", AgentStatus::Running, None);
    }

    fn advance(&self, id: &str, step: u64) -> Result<(), SwarmDbError> {
        let agent_type = if step.is_multiple_of(2) {
            "expert-backend"
        } else {
            "expert-frontend"
        };
        let agent = self.db.get_agent(id)?;
        let (next, event) = match agent.as_ref().map(|a| &a.status) {
            // A finished agent, or one another writer left in a status of its own, starts again.
            None | Some(AgentStatus::Complete | AgentStatus::Error | AgentStatus::Other(_)) => {
                self.db.register_agent(
                    id,
                    agent_type,
                    AgentStatus::Spawned,
                    &json!({"step": step}),
                )?;
                let event_id = self.record(EventType::Spawn, id, agent_type, step)?;
                tracing::info!(event_id, "Agent spawned successfully");
                return Ok(());
            }
            Some(AgentStatus::Spawned) => (AgentStatus::Running, None),
            Some(AgentStatus::Running) if step.is_multiple_of(7) => {
                (AgentStatus::Error, Some(EventType::Error))
            }
            Some(AgentStatus::Running) => (AgentStatus::Complete, Some(EventType::Complete)),
        };
        // The task's duration, as MoAI-Flow reports it when an agent finishes.
        let (agent_type, duration) = match &agent {
            Some(a) => (
                a.agent_type.as_str(),
                SystemTime::now().duration_since(a.spawn_time).ok(),
            ),
            None => (agent_type, None),
        };
        let duration = duration.filter(|_| next.is_final());
        self.db.update_agent_status(id, next.clone(), duration)?;
        // Logged once stored: the ids in the log are the acknowledged events.
        let event_id = match event {
            Some(event) => Some(self.record(event, id, agent_type, step)?),
            None => None,
        };
        let duration_ms = duration.map(|d| d.as_millis() as u64);
        match next {
            AgentStatus::Error => tracing::warn!(duration_ms, event_id, "Agent task failed"),
            AgentStatus::Complete => {
                tracing::info!(duration_ms, event_id, "Agent completed its task")
            }
            _ => tracing::debug!(status = %next, "Agent status changed"),
        }
        Ok(())
    }

    fn record(
        &self,
        event_type: EventType,
        id: &str,
        agent_type: &str,
        step: u64,
    ) -> Result<String, SwarmDbError> {
        let event = NewEvent::now(event_type, id, agent_type, json!({"step": step}));
        self.db.insert_event(&event)
    }
}
