//! The records SwarmDB stores, with MoAI-Flow's vocabularies (parsing a host's text refuses an
//! unknown event type, status or memory type; reading keeps what another writer stored) and Rust
//! types that say the units of what the original keeps as bare numbers.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::error::SwarmDbError;

/// The lifecycle events of an agent: MoAI-Flow's three, and whatever else a writer stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The agent was spawned.
    Spawn,
    /// The agent finished its task.
    Complete,
    /// The agent failed.
    Error,
    /// Another type, as stored by another writer (read back as it is; [`FromStr`] refuses it,
    /// so a typo in a host's own value is an error rather than a new type).
    Other(String),
}

impl EventType {
    /// The stored (and `event_type` label) spelling: `spawn`, `complete`, `error`, or the other
    /// type's own text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            EventType::Spawn => "spawn",
            EventType::Complete => "complete",
            EventType::Error => "error",
            EventType::Other(other) => other,
        }
    }

    /// A stored value, any text: the three known ones, else [`EventType::Other`].
    #[must_use]
    pub fn from_stored(text: &str) -> Self {
        text.parse()
            .unwrap_or_else(|_| EventType::Other(text.to_owned()))
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

/// Where an agent is in its life: MoAI-Flow's four statuses, and whatever else a writer stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AgentStatus {
    /// Registered, not yet working.
    Spawned,
    /// Working.
    Running,
    /// Finished successfully.
    Complete,
    /// Finished with an error.
    Error,
    /// Another status, as stored by another writer (neither active nor final).
    Other(String),
}

impl AgentStatus {
    /// The stored spelling: `spawned`, `running`, `complete`, `error`, or the other status's
    /// own text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            AgentStatus::Spawned => "spawned",
            AgentStatus::Running => "running",
            AgentStatus::Complete => "complete",
            AgentStatus::Error => "error",
            AgentStatus::Other(other) => other,
        }
    }

    /// A stored value, any text: the four known ones, else [`AgentStatus::Other`].
    #[must_use]
    pub fn from_stored(text: &str) -> Self {
        text.parse()
            .unwrap_or_else(|_| AgentStatus::Other(text.to_owned()))
    }

    /// Spawned or running: counted in `moai_flow_agents_active`.
    #[must_use]
    pub fn is_active(&self) -> bool {
        matches!(self, AgentStatus::Spawned | AgentStatus::Running)
    }

    /// Complete or error: moving to it sets the agent's `complete_time`.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(self, AgentStatus::Complete | AgentStatus::Error)
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

/// The kinds of session memory MoAI-Flow keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryType {
    /// Long-term knowledge patterns.
    Semantic,
    /// Event and decision history.
    Episodic,
    /// Session hints and user preferences.
    ContextHint,
}

impl MemoryType {
    /// The stored spelling: `semantic`, `episodic`, `context_hint`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryType::Semantic => "semantic",
            MemoryType::Episodic => "episodic",
            MemoryType::ContextHint => "context_hint",
        }
    }
}

impl FromStr for MemoryType {
    type Err = SwarmDbError;
    fn from_str(s: &str) -> Result<Self, SwarmDbError> {
        match s {
            "semantic" => Ok(MemoryType::Semantic),
            "episodic" => Ok(MemoryType::Episodic),
            "context_hint" => Ok(MemoryType::ContextHint),
            other => Err(SwarmDbError::UnknownMemoryType(other.to_owned())),
        }
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event to insert: the original's `event_data` dictionary and optional `event_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event's unique id; `None` gives a new UUID v7 (time-ordered; the original uses v4,
    /// see [`SwarmDb::insert_event`](super::SwarmDb::insert_event)).
    pub event_id: Option<String>,
    /// What happened.
    pub event_type: EventType,
    /// To which agent.
    pub agent_id: String,
    /// The agent's kind, e.g. `expert-backend`.
    pub agent_type: String,
    /// When, as ISO 8601 text (`2025-01-01T00:00:00` or with microseconds), stored exactly as
    /// given: MoAI-Flow orders and expires events by comparing this text.
    pub timestamp: String,
    /// Anything else, as a JSON object (`null` stores `{}`).
    pub metadata: Value,
}

impl NewEvent {
    /// An event happening now (`timestamp` = [`iso_timestamp_now`](super::iso_timestamp_now)),
    /// with a new id.
    #[must_use]
    pub fn now(
        event_type: EventType,
        agent_id: impl Into<String>,
        agent_type: impl Into<String>,
        metadata: Value,
    ) -> Self {
        NewEvent {
            event_id: None,
            event_type,
            agent_id: agent_id.into(),
            agent_type: agent_type.into(),
            timestamp: super::iso_timestamp_now(),
            metadata,
        }
    }
}

/// A stored event (a row of `agent_events`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEvent {
    /// The row's integer id, in insertion order.
    pub id: i64,
    /// The event's unique id.
    pub event_id: String,
    /// What happened.
    pub event_type: EventType,
    /// To which agent.
    pub agent_id: String,
    /// The agent's kind.
    pub agent_type: String,
    /// When, exactly as the writer stored it (ISO 8601 text).
    pub timestamp: String,
    /// Anything else (`{}` when the column is empty or not valid JSON, as the original reads it).
    pub metadata: Value,
    /// When the row was written, SQLite's `CURRENT_TIMESTAMP` (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub created_at: Option<String>,
}

/// A registered agent (a row of `agent_registry`).
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Unique id.
    pub agent_id: String,
    /// The agent's kind.
    pub agent_type: String,
    /// Where it is in its life.
    pub status: AgentStatus,
    /// When it was registered (stored as REAL Unix seconds).
    pub spawn_time: SystemTime,
    /// When it reached `complete` or `error` (REAL Unix seconds), if it has.
    pub complete_time: Option<SystemTime>,
    /// How long its task took, as the caller reported it (stored as INTEGER milliseconds).
    pub duration: Option<Duration>,
    /// Anything else (`{}` when the column is empty or not valid JSON).
    pub metadata: Value,
    /// When the row last changed, ISO 8601 text as stored.
    pub last_updated: Option<String>,
}

/// Which events [`SwarmDb::get_events`](super::SwarmDb::get_events) returns, newest first (by
/// their timestamp text, as the original orders them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only this agent's events.
    pub agent_id: Option<String>,
    /// Only events of this type.
    pub event_type: Option<EventType>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// What [`SwarmDb::cleanup`](super::SwarmDb::cleanup) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Events older than the cut-off, deleted.
    pub deleted_events: usize,
    /// Spawned or running agents unchanged for an hour, marked `error`.
    pub cleaned_stale_agents: usize,
}
