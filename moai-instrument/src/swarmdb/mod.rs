//! SwarmDB: the SQLite store of agent lifecycle events that the guide's metrics describe.
//!
//! One connection behind a mutex, in WAL mode with `synchronous = FULL`: every call commits on
//! its own and is on disk when it returns, so a crash loses nothing that was acknowledged. A busy
//! timeout makes a call wait for another process's lock instead of failing at once. Every
//! operation is instrumented with the SDK's own macros, so its latency, errors and events show
//! in the exposition like any host function's.

mod error;
mod schema;
mod types;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use serde_json::Value;

pub use error::SwarmDbError;
pub use schema::{SCHEMA_VERSION, TABLE_NAMES};
pub use types::{Agent, AgentEvent, AgentStatus, EventFilter, EventType, NewEvent};

use crate::{counted_event, timed_query};
use error::describe;
use schema::Migration;

/// How long a call waits for another connection's lock before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Result<T> = std::result::Result<T, SwarmDbError>;

/// A SwarmDB database. Share it between threads with an `Arc`.
pub struct SwarmDb {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SwarmDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmDb")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SwarmDb {
    /// Opens the database at `path`, creating missing parent directories, the file and the
    /// schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`SwarmDb::open`] with another busy timeout (health probes use a short one). Failures
    /// count in `moai_flow_errors_total{operation="open"}` like any other operation's.
    #[timed_query(query_type = "open")]
    pub fn open_with(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<Self> {
        let path = path.as_ref().to_owned();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| SwarmDbError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let open_error = |source: rusqlite::Error| SwarmDbError::Open {
            path: path.clone(),
            reason: describe(&source),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(open_error)?;
        conn.busy_timeout(busy_timeout).map_err(open_error)?;
        // Switching to WAL and creating the schema need locks that SQLite does not always wait
        // for (it fails at once where waiting could deadlock), for example when several
        // connections open a new file together: retry those steps until the busy timeout.
        let deadline = std::time::Instant::now() + busy_timeout;
        let mode: String = retry_busy(deadline, || {
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        })
        .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "SwarmDB could not switch to WAL mode");
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(open_error)?;
        match retry_busy(deadline, || schema::migrate(&mut conn, &now())).map_err(open_error)? {
            Migration::Current => {}
            Migration::Newer(found) => {
                return Err(SwarmDbError::NewerSchema {
                    path,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
        }
        Ok(SwarmDb {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records an event; returns its new id. Counts `moai_flow_events_total{event_type}`.
    #[timed_query(query_type = "insert_event")]
    #[counted_event(event_type = event.event_type.as_str())]
    pub fn insert_event(&self, event: &NewEvent) -> Result<String> {
        let metadata = metadata_text(&event.metadata)?;
        let id = new_event_id();
        self.conn()
            .prepare_cached(
                "INSERT INTO agent_events (event_id, event_type, agent_id, agent_type, timestamp, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![id, event.event_type.as_str(), event.agent_id, event.agent_type, now(), metadata])
            })
            .map_err(query_error("insert_event"))?;
        Ok(id)
    }

    /// Events matching `filter`, newest first.
    #[timed_query(query_type = "get_events")]
    pub fn get_events(&self, filter: &EventFilter) -> Result<Vec<AgentEvent>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT event_id, event_type, agent_id, agent_type, timestamp, metadata FROM agent_events
                 WHERE (?1 IS NULL OR agent_id = ?1) AND (?2 IS NULL OR event_type = ?2)
                 ORDER BY timestamp DESC, rowid DESC LIMIT ?3",
            )
            .map_err(query_error("get_events"))?;
        let rows = stmt
            .query_map(
                params![
                    filter.agent_id,
                    filter.event_type.map(EventType::as_str),
                    filter.limit.unwrap_or(100)
                ],
                event_columns,
            )
            .map_err(query_error("get_events"))?;
        rows.map(|row| event_from(row.map_err(query_error("get_events"))?))
            .collect()
    }

    /// Registers an agent in status `spawned`.
    #[timed_query(query_type = "register_agent")]
    pub fn register_agent(
        &self,
        agent_id: &str,
        agent_type: &str,
        metadata: &Value,
    ) -> Result<Agent> {
        let metadata = metadata_text(metadata)?;
        let now = now();
        self.conn()
            .prepare_cached(
                "INSERT INTO agent_registry (agent_id, agent_type, status, spawn_time, metadata, last_updated)
                 VALUES (?1, ?2, 'spawned', ?3, ?4, ?3)
                 ON CONFLICT (agent_id) DO UPDATE SET agent_type = ?2, status = 'spawned', spawn_time = ?3,
                     complete_time = NULL, duration_ms = NULL, metadata = ?4, last_updated = ?3",
            )
            .and_then(|mut stmt| stmt.execute(params![agent_id, agent_type, now, metadata]))
            .map_err(query_error("register_agent"))?;
        self.fetch_agent(agent_id, "register_agent")?
            .ok_or_else(|| SwarmDbError::AgentNotFound(agent_id.to_owned()))
    }

    /// Moves an agent to `status`; a final status sets `complete_time` and `duration_ms`.
    #[timed_query(query_type = "update_agent_status")]
    pub fn update_agent_status(&self, agent_id: &str, status: AgentStatus) -> Result<Agent> {
        let now = now();
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE agent_registry SET status = ?2, last_updated = ?3,
                     complete_time = CASE WHEN ?4 THEN ?3 ELSE NULL END,
                     duration_ms = CASE WHEN ?4
                         THEN CAST(ROUND((julianday(?3) - julianday(spawn_time)) * 86400000) AS INTEGER)
                         ELSE NULL END
                 WHERE agent_id = ?1",
            )
            .and_then(|mut stmt| stmt.execute(params![agent_id, status.as_str(), now, status.is_final()]))
            .map_err(query_error("update_agent_status"))?;
        if changed == 0 {
            return Err(SwarmDbError::AgentNotFound(agent_id.to_owned()));
        }
        self.fetch_agent(agent_id, "update_agent_status")?
            .ok_or_else(|| SwarmDbError::AgentNotFound(agent_id.to_owned()))
    }

    /// The agent, if registered.
    #[timed_query(query_type = "get_agent")]
    pub fn get_agent(&self, agent_id: &str) -> Result<Option<Agent>> {
        self.fetch_agent(agent_id, "get_agent")
    }

    /// Agents in status spawned or running.
    #[timed_query(query_type = "get_active_agents")]
    pub fn get_active_agents(&self) -> Result<Vec<Agent>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{AGENT_COLUMNS} WHERE status IN ('spawned', 'running') ORDER BY spawn_time"
            ))
            .map_err(query_error("get_active_agents"))?;
        let rows = stmt
            .query_map([], agent_columns)
            .map_err(query_error("get_active_agents"))?;
        rows.map(|row| agent_from(row.map_err(query_error("get_active_agents"))?))
            .collect()
    }

    /// How many agents are spawned or running (the `moai_flow_agents_active` gauge), without
    /// loading them.
    #[timed_query(query_type = "count_active_agents")]
    pub fn count_active_agents(&self) -> Result<u64> {
        self.conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM agent_registry WHERE status IN ('spawned', 'running')",
            )
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
            .map_err(query_error("count_active_agents"))
    }

    /// Active agents whose row has not changed for `older_than`: stuck or abandoned.
    #[timed_query(query_type = "count_stale_agents")]
    pub fn count_stale_agents(&self, older_than: Duration) -> Result<u64> {
        let cutoff = timestamp_before(older_than);
        self.conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM agent_registry WHERE status IN ('spawned', 'running') AND last_updated < ?1",
            )
            .and_then(|mut stmt| stmt.query_row([cutoff], |row| row.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
            .map_err(query_error("count_stale_agents"))
    }

    /// Stores `value` under `(session_id, key)`, replacing what was there.
    #[timed_query(query_type = "store_memory")]
    pub fn store_memory(&self, session_id: &str, key: &str, value: &Value) -> Result<()> {
        let value = serde_json::to_string(value).map_err(SwarmDbError::Metadata)?;
        let now = now();
        self.conn()
            .prepare_cached(
                "INSERT INTO session_memory (session_id, key, value, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (session_id, key) DO UPDATE SET value = ?3, updated_at = ?4",
            )
            .and_then(|mut stmt| stmt.execute(params![session_id, key, value, now]))
            .map_err(query_error("store_memory"))?;
        Ok(())
    }

    /// The value stored under `(session_id, key)`, if any.
    #[timed_query(query_type = "get_memory")]
    pub fn get_memory(&self, session_id: &str, key: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .conn()
            .prepare_cached("SELECT value FROM session_memory WHERE session_id = ?1 AND key = ?2")
            .and_then(|mut stmt| {
                stmt.query_row([session_id, key], |row| row.get(0))
                    .optional()
            })
            .map_err(query_error("get_memory"))?;
        text.map(|t| serde_json::from_str(&t).map_err(SwarmDbError::Metadata))
            .transpose()
    }

    /// Deletes events older than `older_than`; returns how many.
    #[timed_query(query_type = "cleanup_old_events")]
    pub fn cleanup_old_events(&self, older_than: Duration) -> Result<usize> {
        let cutoff = timestamp_before(older_than);
        self.conn()
            .execute("DELETE FROM agent_events WHERE timestamp < ?1", [cutoff])
            .map_err(query_error("cleanup_old_events"))
    }

    /// Bytes on disk: `page_count * page_size` of the main file plus the write-ahead log.
    #[timed_query(query_type = "get_database_size")]
    pub fn get_database_size(&self) -> Result<u64> {
        let pages: i64 = self
            .conn()
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )
            .map_err(query_error("get_database_size"))?;
        // SQLite keeps writing to a file deleted under it; the size check is where that shows.
        match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SwarmDbError::FileMissing {
                    path: self.path.clone(),
                });
            }
            Err(source) => {
                return Err(SwarmDbError::Size {
                    path: self.path.clone(),
                    source,
                });
            }
            Ok(_) => {}
        }
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal_bytes = match std::fs::metadata(&wal) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => {
                return Err(SwarmDbError::Size {
                    path: wal.into(),
                    source,
                });
            }
        };
        Ok(pages.max(0) as u64 + wal_bytes)
    }

    /// Rebuilds the file to reclaim free pages.
    #[timed_query(query_type = "vacuum")]
    pub fn vacuum(&self) -> Result<()> {
        self.conn()
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(query_error("vacuum"))
    }

    /// Writes and removes a 16 KB row in one transaction: proves the database takes writes now
    /// (not read-only, not out of space, with room for more than a small row), for the health
    /// check.
    #[timed_query(query_type = "write_probe")]
    pub fn write_probe(&self) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query_error("write_probe"))?;
        tx.execute(
            "INSERT INTO swarm_metrics (metric_name, metric_value, recorded_at)
             VALUES ('health_probe', 1, ?1 || hex(zeroblob(8192)))",
            [now()],
        )
        .and_then(|_| {
            tx.execute(
                "DELETE FROM swarm_metrics WHERE metric_name = 'health_probe'",
                [],
            )
        })
        .map_err(query_error("write_probe"))?;
        tx.commit().map_err(query_error("write_probe"))
    }

    /// `PRAGMA quick_check`: `Ok(None)` when the file is sound, else SQLite's first complaint.
    #[timed_query(query_type = "quick_check")]
    pub fn quick_check(&self) -> Result<Option<String>> {
        let verdict: String = self
            .conn()
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(query_error("quick_check"))?;
        Ok((verdict != "ok").then_some(verdict))
    }

    fn fetch_agent(&self, agent_id: &str, operation: &'static str) -> Result<Option<Agent>> {
        let columns = self
            .conn()
            .prepare_cached(&format!("{AGENT_COLUMNS} WHERE agent_id = ?1"))
            .and_then(|mut stmt| stmt.query_row([agent_id], agent_columns).optional())
            .map_err(query_error(operation))?;
        columns.map(agent_from).transpose()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written: each call is one
        // statement or transaction, which SQLite itself makes atomic.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

const AGENT_COLUMNS: &str = "SELECT agent_id, agent_type, status, spawn_time, complete_time, duration_ms, metadata, \
     last_updated FROM agent_registry";

type EventColumns = (String, String, String, String, String, String);
type AgentColumns = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    String,
);

fn event_columns(row: &Row<'_>) -> rusqlite::Result<EventColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn agent_columns(row: &Row<'_>) -> rusqlite::Result<AgentColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
    ))
}

/// A stored event, its closed vocabulary and JSON checked.
fn event_from(
    (event_id, event_type, agent_id, agent_type, timestamp, metadata): EventColumns,
) -> Result<AgentEvent> {
    Ok(AgentEvent {
        event_id,
        event_type: event_type.parse()?,
        agent_id,
        agent_type,
        timestamp,
        metadata: serde_json::from_str(&metadata).map_err(SwarmDbError::Metadata)?,
    })
}

/// A stored agent, its closed vocabulary and JSON checked.
fn agent_from(columns: AgentColumns) -> Result<Agent> {
    let (
        agent_id,
        agent_type,
        status,
        spawn_time,
        complete_time,
        duration_ms,
        metadata,
        last_updated,
    ) = columns;
    Ok(Agent {
        agent_id,
        agent_type,
        status: status.parse()?,
        spawn_time,
        complete_time,
        duration_ms,
        metadata: serde_json::from_str(&metadata).map_err(SwarmDbError::Metadata)?,
        last_updated,
    })
}

/// Runs `step` again while SQLite answers "busy" or "locked", until `deadline`.
fn retry_busy<T>(
    deadline: std::time::Instant,
    mut step: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    loop {
        match step() {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn query_error(operation: &'static str) -> impl Fn(rusqlite::Error) -> SwarmDbError {
    move |source| SwarmDbError::Query {
        operation,
        reason: describe(&source),
        source,
    }
}

fn metadata_text(metadata: &Value) -> Result<String> {
    match metadata {
        Value::Null => Ok("{}".to_owned()),
        Value::Object(_) => serde_json::to_string(metadata).map_err(SwarmDbError::Metadata),
        other => Err(SwarmDbError::MetadataNotObject(other.to_string())),
    }
}

fn now() -> String {
    let mut out = String::with_capacity(27);
    crate::timestamp::write_rfc3339(&mut out, SystemTime::now());
    out
}

fn timestamp_before(age: Duration) -> String {
    let mut out = String::with_capacity(27);
    let then = SystemTime::now()
        .checked_sub(age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    crate::timestamp::write_rfc3339(&mut out, then);
    out
}

/// Unique across threads and processes: time, process id and a per-process counter.
fn new_event_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("evt-{nanos:x}-{:x}-{n:x}", std::process::id())
}
