//! The operations every SwarmDB backend implements, each signature stated once. Validation,
//! encodings and instrumentation happen in the public [`SwarmDb`](super::SwarmDb) methods that
//! call these; each of these is one statement or transaction on its backend.

use std::path::Path;
use std::time::SystemTime;

use super::error::{ErrorKind, Location, SwarmDbError};
use super::types::{Agent, AgentEvent, AgentStatus, EventFilter, NewEvent};

type Result<T> = std::result::Result<T, SwarmDbError>;

pub(crate) trait Backend: Send + Sync {
    /// The file or server, as errors and logs name it.
    fn location(&self) -> &Location;
    /// The database file; `None` for a server.
    fn path(&self) -> Option<&Path>;
    /// One event; `metadata` is already JSON text.
    fn insert_event(&self, event_id: &str, event: &NewEvent, metadata: &str) -> Result<()>;
    /// `(event_id, event, metadata)` rows in one transaction: all stored, or none.
    fn insert_events(&self, rows: &[(String, &NewEvent, String)]) -> Result<()>;
    fn get_events(&self, filter: &EventFilter) -> Result<Vec<AgentEvent>>;
    fn register_agent(
        &self,
        agent_id: &str,
        agent_type: &str,
        status: AgentStatus,
        metadata: &str,
        now: SystemTime,
        now_iso: &str,
    ) -> Result<()>;
    /// The rows changed: 0 when no agent has this id.
    fn update_agent_status(
        &self,
        agent_id: &str,
        status: AgentStatus,
        now: SystemTime,
        now_iso: &str,
        duration_ms: Option<i64>,
    ) -> Result<usize>;
    fn get_agent(&self, agent_id: &str) -> Result<Option<Agent>>;
    fn get_active_agents(&self) -> Result<Vec<Agent>>;
    fn count_active_agents(&self) -> Result<u64>;
    fn count_stale_agents(&self, cutoff: SystemTime) -> Result<u64>;
    fn store_memory(
        &self,
        session_id: &str,
        memory_type: &str,
        key: &str,
        value: &str,
        timestamp: &str,
        ttl_hours: Option<u32>,
    ) -> Result<()>;
    /// The newest stored text, if any.
    fn get_memory(&self, session_id: &str, memory_type: &str, key: &str) -> Result<Option<String>>;
    fn cleanup_old_events(&self, cutoff_iso: &str) -> Result<usize>;
    fn mark_stale_agents(&self, now_iso: &str, cutoff: SystemTime) -> Result<usize>;
    fn get_database_size(&self) -> Result<u64>;
    /// A consistent copy of the live database at `dest`, where the backend can make one.
    fn backup(&self, dest: &Path) -> Result<()>;
    fn vacuum(&self) -> Result<()>;
    fn write_probe(&self) -> Result<()>;
    fn quick_check(&self) -> Result<Option<String>>;
    /// Why the database must be reopened before it takes writes again (a failed sync), if so.
    fn must_reopen(&self) -> Option<String> {
        None
    }
    /// How long ago the last connection attempt failed, its kind and cause, while none has
    /// succeeded since (a server): the process cannot open the connections it needs.
    fn connection_trouble(&self) -> Option<(std::time::Duration, ErrorKind, String)> {
        None
    }
}
