//! Rows to records, in one place: each record type says which columns it selects and how one
//! row becomes it ([`FromRow`]), with the original's reading rules (metadata that is empty or
//! not JSON reads as `{}`) and the vocabularies checked.

use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlResult, Type, ValueRef};
use serde_json::{Value, json};

use super::encoding::{from_unix_seconds, iso_timestamp_now, unix_seconds};
use super::error::{Location, SwarmDbError};
use super::types::{Agent, AgentEvent, AgentStatus, EventType};

/// A record read from one row of its table.
pub(crate) trait FromRow: Sized {
    /// `SELECT <the record's columns> FROM <its table>`; callers append `WHERE ...`.
    const SELECT: &'static str;

    /// The record of a row selected with [`FromRow::SELECT`].
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}

impl FromRow for AgentEvent {
    const SELECT: &'static str = "SELECT id, event_id, event_type, agent_id, agent_type, timestamp, \
         metadata, created_at FROM agent_events";

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(AgentEvent {
            id: row.get(0)?,
            event_id: row.get(1)?,
            event_type: row.get(2)?,
            agent_id: row.get(3)?,
            agent_type: row.get(4)?,
            timestamp: row.get(5)?,
            metadata: metadata(row.get(6)?),
            created_at: row.get(7)?,
        })
    }
}

impl FromRow for Agent {
    const SELECT: &'static str = "SELECT agent_id, agent_type, status, spawn_time, complete_time, \
         duration_ms, metadata, last_updated FROM agent_registry";

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let agent_id: String = row.get(0)?;
        let time = |index: usize, column: &'static str, seconds: f64| {
            instant(&agent_id, column, seconds).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(index, Type::Real, Box::new(e))
            })
        };
        let spawn_time = time(3, "spawn_time", number(row.get_ref(3)?).unwrap_or(f64::NAN))?;
        let complete_time = number(row.get_ref(4)?)
            .map(|s| time(4, "complete_time", s))
            .transpose()?;
        let duration_ms = number(row.get_ref(5)?);
        Ok(Agent {
            agent_type: row.get(1)?,
            status: row.get(2)?,
            spawn_time,
            complete_time,
            duration: duration_ms
                .and_then(|ms| std::time::Duration::try_from_secs_f64(ms / 1000.0).ok()),
            metadata: metadata(row.get(6)?),
            last_updated: row.get(7)?,
            agent_id,
        })
    }
}

/// A number as Python's `sqlite3` may have stored it: INTEGER, REAL, or numeric TEXT (a caller
/// passing a float or a string); `None` for NULL or anything else.
fn number(value: ValueRef<'_>) -> Option<f64> {
    match value {
        ValueRef::Integer(n) => Some(n as f64),
        ValueRef::Real(x) => Some(x),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        ValueRef::Null | ValueRef::Blob(_) => None,
    }
}

impl FromSql for EventType {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(EventType::from_stored)
    }
}

impl FromSql for AgentStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(AgentStatus::from_stored)
    }
}

/// The instant of an agent's REAL Unix-seconds `column`, or the error naming the agent.
pub(crate) fn instant(
    agent_id: &str,
    column: &'static str,
    seconds: f64,
) -> Result<std::time::SystemTime, SwarmDbError> {
    from_unix_seconds(seconds).ok_or_else(|| SwarmDbError::BadTime {
        agent_id: agent_id.to_owned(),
        column,
        value: seconds,
    })
}

/// The original's reading: JSON text, or `{}` when the column is empty or not JSON.
pub(crate) fn metadata(text: Option<String>) -> Value {
    text.filter(|t| !t.is_empty())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}))
}

/// The original's `persist_session_state` document, indented by two spaces.
pub(crate) fn session_state(
    session_id: Option<&str>,
    agents: &[Agent],
    events: &[AgentEvent],
    db: &Location,
) -> String {
    let active_agents: Vec<Value> = agents
        .iter()
        .map(|a| {
            json!({
                "agent_id": a.agent_id,
                "agent_type": a.agent_type,
                "status": a.status.as_str(),
                "spawn_time": unix_seconds(a.spawn_time),
                "metadata": a.metadata,
            })
        })
        .collect();
    let recent_events: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "event_id": e.event_id,
                "event_type": e.event_type.as_str(),
                "agent_id": e.agent_id,
                "timestamp": e.timestamp,
                "metadata": e.metadata,
            })
        })
        .collect();
    let state = json!({
        "session_id": session_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
        "timestamp": iso_timestamp_now(),
        "active_agents": active_agents,
        "recent_events": recent_events,
        "database_path": db.to_string(),
    });
    serde_json::to_string_pretty(&state).unwrap_or_else(|_| state.to_string())
}
