//! The records SwarmDB stores, with their closed vocabularies: an unknown event type or status is
//! an error at the boundary, never a silent write.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::error::SwarmDbError;

/// The lifecycle events of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The agent was spawned.
    Spawn,
    /// The agent finished its task.
    Complete,
    /// The agent failed.
    Error,
}

impl EventType {
    /// The stored (and `event_type` label) spelling: `spawn`, `complete`, `error`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Spawn => "spawn",
            EventType::Complete => "complete",
            EventType::Error => "error",
        }
    }
}

impl FromStr for EventType {
    type Err = SwarmDbError;
    fn from_str(s: &str) -> Result<Self, SwarmDbError> {
        match s {
            "spawn" => Ok(EventType::Spawn),
            "complete" => Ok(EventType::Complete),
            "error" => Ok(EventType::Error),
            other => Err(SwarmDbError::UnknownEventType(other.to_owned())),
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentStatus {
    /// Registered, not yet working.
    Spawned,
    /// Working.
    Running,
    /// Finished successfully.
    Complete,
    /// Finished with an error.
    Error,
}

impl AgentStatus {
    /// The stored spelling: `spawned`, `running`, `complete`, `error`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Spawned => "spawned",
            AgentStatus::Running => "running",
            AgentStatus::Complete => "complete",
            AgentStatus::Error => "error",
        }
    }

    /// Spawned or running: counted in `moai_flow_agents_active`.
    #[must_use]
    pub fn is_active(self) -> bool {
        matches!(self, AgentStatus::Spawned | AgentStatus::Running)
    }

    /// Complete or error: the agent's `complete_time` and `duration_ms` are set.
    #[must_use]
    pub fn is_final(self) -> bool {
        !self.is_active()
    }
}

impl FromStr for AgentStatus {
    type Err = SwarmDbError;
    fn from_str(s: &str) -> Result<Self, SwarmDbError> {
        match s {
            "spawned" => Ok(AgentStatus::Spawned),
            "running" => Ok(AgentStatus::Running),
            "complete" => Ok(AgentStatus::Complete),
            "error" => Ok(AgentStatus::Error),
            other => Err(SwarmDbError::UnknownStatus(other.to_owned())),
        }
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// What happened.
    pub event_type: EventType,
    /// To which agent.
    pub agent_id: String,
    /// The agent's kind, e.g. `expert-backend`.
    pub agent_type: String,
    /// Anything else, as a JSON object.
    pub metadata: Value,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEvent {
    /// Unique id, assigned on insert.
    pub event_id: String,
    /// What happened.
    pub event_type: EventType,
    /// To which agent.
    pub agent_id: String,
    /// The agent's kind.
    pub agent_type: String,
    /// When, RFC 3339 UTC.
    pub timestamp: String,
    /// Anything else.
    pub metadata: Value,
}

/// A registered agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Unique id.
    pub agent_id: String,
    /// The agent's kind.
    pub agent_type: String,
    /// Where it is in its life.
    pub status: AgentStatus,
    /// When it was registered, RFC 3339 UTC.
    pub spawn_time: String,
    /// When it finished, if it has.
    pub complete_time: Option<String>,
    /// From spawn to finish, if it has finished.
    pub duration_ms: Option<i64>,
    /// Anything else.
    pub metadata: Value,
    /// When the row last changed.
    pub last_updated: String,
}

/// Which events [`SwarmDb::get_events`](super::SwarmDb::get_events) returns, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only this agent's events.
    pub agent_id: Option<String>,
    /// Only events of this type.
    pub event_type: Option<EventType>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}
