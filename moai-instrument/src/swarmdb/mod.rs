//! SwarmDB: MoAI-Flow's own store of agent lifecycle events, registry and session memory.
//!
//! # Basics
//!
//! The SDK reads and writes the `swarm.db` files that MoAI-Flow's Python `SwarmDB` writes
//! (schema [`SCHEMA_VERSION`] `2.0.0`), and creates new ones that MoAI-Flow opens: the same
//! tables, columns, types, defaults and indexes, the same encodings (event timestamps stored as
//! given, `spawn_time`/`complete_time` as REAL Unix seconds, `last_updated` as ISO 8601 text,
//! JSON as Python's `json.dumps` writes it), and the original's operations under their own names.
//!
//! # Usage
//!
//! ```
//! use moai_instrument::swarmdb::{AgentStatus, EventType, NewEvent, SwarmDb};
//! use serde_json::json;
//! # let dir = std::env::temp_dir().join(format!("swarmdb-doc-{}", std::process::id()));
//!
//! let db = SwarmDb::open(dir.join("swarm.db"))?;
//! db.register_agent("agent-7", "expert-backend", AgentStatus::Spawned, &json!({"prompt": "Design API"}))?;
//! db.insert_event(&NewEvent::now(EventType::Spawn, "agent-7", "expert-backend", json!({})))?;
//! assert_eq!(db.get_active_agents()?.len(), 1);
//! db.update_agent_status("agent-7", AgentStatus::Complete, Some(std::time::Duration::from_millis(1250)))?;
//! assert!(db.get_active_agents()?.is_empty());
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), moai_instrument::swarmdb::SwarmDbError>(())
//! ```
//!
//! # Features
//!
//! - **Durable**: WAL with `synchronous = FULL`; every write commits on its own and is on disk
//!   when it returns, so a crash loses nothing acknowledged. A busy timeout makes a call wait for
//!   another process's lock instead of failing at once.
//! - **Opening never guesses**: a new file gets the original's schema; an older MoAI-Flow file is
//!   upgraded as MoAI-Flow upgrades it (missing tables created, version recorded); the SDK's own
//!   pre-compatibility layout is converted row for row in one transaction; anything else, and a
//!   newer version, is refused with an error naming the file and what was found.
//! - **Probes never create**: [`OpenOptions::existing_only`] opens an existing, current file
//!   without writing to its schema, and reports a missing one by its path.
//! - **Instrumented**: every operation is a `#[timed_query]` under its own name (the `query_type`
//!   label), and `insert_event` counts `moai_flow_events_total{event_type}`.

mod encoding;
mod error;
mod migrate;
#[cfg(feature = "postgres")]
mod pg_schema;
#[cfg(feature = "postgres")]
mod pgpass;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod schema;
mod sqlite;
mod types;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

pub use encoding::{iso_timestamp, iso_timestamp_now};
pub use error::{DbError, ErrorKind, Location, SqliteError, SwarmDbError};
pub use schema::{SCHEMA_VERSION, TABLE_NAMES};
pub use types::{
    Agent, AgentEvent, AgentStatus, CleanupReport, EventFilter, EventType, MemoryType, NewEvent,
};

use crate::{counted_event, timed_query};
use encoding::python_json;
use sqlite::SqliteBackend;

/// How long a call waits for another connection's lock before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Spawned or running agents unchanged for this long are stale: [`SwarmDb::cleanup`] marks them
/// `error`, as the original does.
pub const STALE_AGENT_AGE: Duration = Duration::from_secs(3600);

type Result<T> = std::result::Result<T, SwarmDbError>;

/// How to open a SwarmDB: [`SwarmDb::open`] for the application, or
/// `OpenOptions::new().existing_only()` for a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct OpenOptions {
    busy_timeout: Duration,
    existing_only: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// Create the file, its directories and the schema when missing; wait
    /// [`DEFAULT_BUSY_TIMEOUT`] for locks.
    pub fn new() -> Self {
        OpenOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            existing_only: false,
        }
    }

    /// How long a call waits for another connection's lock before failing (probes use a short
    /// one).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Open an existing database at the current schema only, writing nothing at open: a missing
    /// file or directory is [`SwarmDbError::Missing`], a file needing a migration
    /// [`SwarmDbError::NeedsMigration`]. For probes and health checks, which must never create
    /// a database.
    pub fn existing_only(mut self) -> Self {
        self.existing_only = true;
        self
    }

    /// Opens the database at `path`. Failures count in
    /// `moai_flow_errors_total{operation="open"}` like any other operation's.
    ///
    /// # Errors
    /// [`SwarmDbError::CreateDir`], [`SwarmDbError::Missing`], [`SwarmDbError::Open`] (not a
    /// database, locked past the busy timeout, read-only where a migration must write, ...),
    /// [`SwarmDbError::NewerSchema`], [`SwarmDbError::UnsupportedLayout`],
    /// [`SwarmDbError::NeedsMigration`].
    #[timed_query(query_type = "open")]
    pub fn open(self, path: impl AsRef<Path>) -> Result<SwarmDb> {
        let backend = SqliteBackend::open(
            path.as_ref().to_owned(),
            self.busy_timeout,
            self.existing_only,
        )?;
        Ok(SwarmDb {
            backend: Backend::Sqlite(backend),
        })
    }

    /// Connects to SwarmDB on the PostgreSQL server at `url`
    /// (`postgres://user[:password]@host[:port]/dbname[?options]`, or the key/value form),
    /// creating the schema when missing under a transaction-scoped advisory lock, so that
    /// replicas starting together create it once. The busy timeout is how long a call waits for
    /// a pooled connection, and a connection attempt for the server. Failures count in
    /// `moai_flow_errors_total{operation="open"}`.
    ///
    /// # Errors
    /// [`SwarmDbError::InvalidUrl`]; [`SwarmDbError::Open`] with [`ErrorKind::ConnectionRefused`],
    /// [`ErrorKind::AuthFailed`], [`ErrorKind::NoSuchDatabase`], ... naming the server (never the
    /// password); [`SwarmDbError::NewerSchema`], [`SwarmDbError::UnsupportedLayout`];
    /// [`SwarmDbError::NeedsMigration`] for a probe on a database without the schema.
    #[cfg(feature = "postgres")]
    #[timed_query(query_type = "open")]
    pub fn open_url(self, url: &str) -> Result<SwarmDb> {
        let backend =
            postgres::PostgresBackend::connect(url, self.busy_timeout, self.existing_only)?;
        Ok(SwarmDb {
            backend: Backend::Postgres(backend),
        })
    }
}

/// Where the operations run; each public method dispatches to the same-named method of the
/// backend, so both are instrumented by the same `#[timed_query]`.
enum Backend {
    Sqlite(SqliteBackend),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PostgresBackend),
}

/// `dispatch!(self, b => b.method(args))`: the call on whichever backend is open.
macro_rules! dispatch {
    ($db:expr, $b:ident => $call:expr) => {
        match &$db.backend {
            Backend::Sqlite($b) => $call,
            #[cfg(feature = "postgres")]
            Backend::Postgres($b) => $call,
        }
    };
}

/// A SwarmDB database. Share it between threads with an `Arc`.
pub struct SwarmDb {
    backend: Backend,
}

impl std::fmt::Debug for SwarmDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmDb")
            .field("db", self.location())
            .finish_non_exhaustive()
    }
}

impl SwarmDb {
    /// Opens the database at `path` for the application: creates missing parent directories, the
    /// file and the schema, and migrates an older layout ([`OpenOptions`] for more control).
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        OpenOptions::new().open(path)
    }

    /// Connects to SwarmDB on the PostgreSQL server at `url` for the application: creates the
    /// schema when missing ([`OpenOptions::open_url`] for more control).
    ///
    /// # Errors
    /// As [`OpenOptions::open_url`].
    #[cfg(feature = "postgres")]
    pub fn connect(url: &str) -> Result<Self> {
        OpenOptions::new().open_url(url)
    }

    /// The database file; `None` on PostgreSQL.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(b) => Some(b.path()),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => None,
        }
    }

    /// The file or server, as errors and logs name it (never with a password).
    #[must_use]
    pub fn location(&self) -> &Location {
        dispatch!(self, b => b.location())
    }

    /// Records an event and returns its `event_id` (the given one, or a new UUID v4). The
    /// timestamp and metadata are stored as given (metadata as Python's `json.dumps` text).
    /// Counts `moai_flow_events_total{event_type}`.
    ///
    /// # Errors
    /// [`SwarmDbError::BadTimestamp`], [`SwarmDbError::MetadataNotObject`], or
    /// [`SwarmDbError::Query`] (a duplicate `event_id` among them, [`ErrorKind::Constraint`]).
    #[timed_query(query_type = "insert_event")]
    #[counted_event(event_type = event.event_type.as_str())]
    pub fn insert_event(&self, event: &NewEvent) -> Result<String> {
        check_timestamp(&event.timestamp)?;
        let metadata = metadata_text(&event.metadata)?;
        let event_id = event
            .event_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        dispatch!(self, b => b.insert_event(&event_id, event, &metadata))?;
        Ok(event_id)
    }

    /// Events matching `filter`, newest first by timestamp (ties: the later insert first).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`]; [`SwarmDbError::UnknownEventType`] for a stored type outside the
    /// vocabulary.
    #[timed_query(query_type = "get_events")]
    pub fn get_events(&self, filter: &EventFilter) -> Result<Vec<AgentEvent>> {
        dispatch!(self, b => b.get_events(filter))
    }

    /// Registers an agent (replacing a row with the same id, as the original's `INSERT OR
    /// REPLACE`): `spawn_time` now, `last_updated` now.
    ///
    /// # Errors
    /// [`SwarmDbError::MetadataNotObject`], [`SwarmDbError::Query`].
    #[timed_query(query_type = "register_agent")]
    pub fn register_agent(
        &self,
        agent_id: &str,
        agent_type: &str,
        status: AgentStatus,
        metadata: &Value,
    ) -> Result<()> {
        let metadata = metadata_text(metadata)?;
        let now = SystemTime::now();
        let now_iso = iso_timestamp(now);
        dispatch!(self, b => b.register_agent(agent_id, agent_type, status, &metadata, now, &now_iso))
    }

    /// Moves an agent to `status`. `complete` and `error` set `complete_time` to now; `duration`
    /// (the task's, as the caller measured it) is stored in milliseconds when given.
    ///
    /// # Errors
    /// [`SwarmDbError::AgentNotFound`] when no agent has this id; [`SwarmDbError::Query`].
    #[timed_query(query_type = "update_agent_status")]
    pub fn update_agent_status(
        &self,
        agent_id: &str,
        status: AgentStatus,
        duration: Option<Duration>,
    ) -> Result<()> {
        let now = SystemTime::now();
        let now_iso = iso_timestamp(now);
        let duration_ms = duration.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let changed = dispatch!(self, b => b.update_agent_status(agent_id, status, now, &now_iso, duration_ms))?;
        if changed == 0 {
            return Err(SwarmDbError::AgentNotFound(agent_id.to_owned()));
        }
        Ok(())
    }

    /// The agent with this id, if registered.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`]; [`SwarmDbError::UnknownStatus`] or [`SwarmDbError::BadTime`] for
    /// a stored value outside what MoAI-Flow writes.
    #[timed_query(query_type = "get_agent")]
    pub fn get_agent(&self, agent_id: &str) -> Result<Option<Agent>> {
        dispatch!(self, b => b.get_agent(agent_id))
    }

    /// Agents in status spawned or running, the most recently spawned first.
    ///
    /// # Errors
    /// As [`SwarmDb::get_agent`].
    #[timed_query(query_type = "get_active_agents")]
    pub fn get_active_agents(&self) -> Result<Vec<Agent>> {
        dispatch!(self, b => b.get_active_agents())
    }

    /// How many agents are spawned or running (the `moai_flow_agents_active` gauge), without
    /// loading them.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "count_active_agents")]
    pub fn count_active_agents(&self) -> Result<u64> {
        dispatch!(self, b => b.count_active_agents())
    }

    /// Spawned or running agents whose row has not changed for `older_than`: stuck or
    /// abandoned (the `agents` health check).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "count_stale_agents")]
    pub fn count_stale_agents(&self, older_than: Duration) -> Result<u64> {
        dispatch!(self, b => b.count_stale_agents(ago(older_than)))
    }

    /// Stores a new version of `(session_id, memory_type, key)`: the original keeps every
    /// version, and [`SwarmDb::get_memory`] reads the newest. `ttl_hours` is stored as given
    /// (`None`: permanent).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "store_memory")]
    pub fn store_memory(
        &self,
        session_id: &str,
        memory_type: MemoryType,
        key: &str,
        value: &Value,
        ttl_hours: Option<u32>,
    ) -> Result<()> {
        let value = python_json(value);
        let now = iso_timestamp_now();
        dispatch!(self, b => b.store_memory(session_id, memory_type.as_str(), key, &value, &now, ttl_hours))
    }

    /// The newest value stored under `(session_id, memory_type, key)`, if any (`None` also for a
    /// stored value that is not JSON, as the original reads it).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "get_memory")]
    pub fn get_memory(
        &self,
        session_id: &str,
        memory_type: MemoryType,
        key: &str,
    ) -> Result<Option<Value>> {
        let text = dispatch!(self, b => b.get_memory(session_id, memory_type.as_str(), key))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Deletes events whose timestamp is more than `days` days old; returns how many.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "cleanup_old_events")]
    pub fn cleanup_old_events(&self, days: u32) -> Result<usize> {
        let cutoff = iso_timestamp(ago(Duration::from_secs(u64::from(days) * 86_400)));
        dispatch!(self, b => b.cleanup_old_events(&cutoff))
    }

    /// The original's end-of-session housekeeping: [`SwarmDb::cleanup_old_events`], then spawned
    /// or running agents unchanged for [`STALE_AGENT_AGE`] are marked `error`.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "cleanup")]
    pub fn cleanup(&self, days: u32) -> Result<CleanupReport> {
        let deleted_events = self.cleanup_old_events(days)?;
        let now_iso = iso_timestamp_now();
        let cleaned_stale_agents =
            dispatch!(self, b => b.mark_stale_agents(&now_iso, ago(STALE_AGENT_AGE)))?;
        Ok(CleanupReport {
            deleted_events,
            cleaned_stale_agents,
        })
    }

    /// Writes the session's state (its id, now, the active agents and the 100 newest events)
    /// as JSON to `moai-flow/session-state.json` beside the database file (the original's
    /// `.moai/memory/moai-flow/` for the default path; on PostgreSQL, that default directory
    /// under the working directory), replacing the file atomically; returns its path.
    /// `session_id` `None` gives a new UUID.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`], [`SwarmDbError::SessionState`].
    #[timed_query(query_type = "persist_session_state")]
    pub fn persist_session_state(&self, session_id: Option<&str>) -> Result<PathBuf> {
        let agents = self.get_active_agents()?;
        let events = self.get_events(&EventFilter {
            limit: Some(100),
            ..EventFilter::default()
        })?;
        let state = rows::session_state(session_id, &agents, &events, self.location());
        let dir = self
            .path()
            .map_or(Path::new(DEFAULT_MEMORY_DIR), |p| {
                p.parent().unwrap_or(Path::new("."))
            })
            .join("moai-flow");
        let file = dir.join("session-state.json");
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            let partial = dir.join(".session-state.json.tmp");
            std::fs::write(&partial, state)?;
            std::fs::rename(&partial, &file)
        });
        written.map_err(|source| SwarmDbError::SessionState {
            path: file.clone(),
            source,
        })?;
        Ok(file)
    }

    /// Bytes the database takes: on SQLite `page_count * page_size` of the main file plus the
    /// write-ahead log; on PostgreSQL `pg_database_size(current_database())`.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`], [`SwarmDbError::FileMissing`] when the file was deleted or
    /// moved while open, [`SwarmDbError::Size`].
    #[timed_query(query_type = "get_database_size")]
    pub fn get_database_size(&self) -> Result<u64> {
        dispatch!(self, b => b.get_database_size())
    }

    /// Reclaims free space (SQLite rebuilds the file; PostgreSQL runs `VACUUM`).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "vacuum")]
    pub fn vacuum(&self) -> Result<()> {
        dispatch!(self, b => b.vacuum())
    }

    /// Writes and removes a 16 KB `swarm_metrics` row in one transaction: proves the database
    /// takes writes now (not read-only, not out of space, with room for more than a small row),
    /// for the health check. Nothing of it stays in the database.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "write_probe")]
    pub fn write_probe(&self) -> Result<()> {
        dispatch!(self, b => b.write_probe())
    }

    /// `Ok(None)` when the database is sound, else the first complaint: SQLite's
    /// `PRAGMA quick_check`; on PostgreSQL (which checks its own pages) the schema version read
    /// back.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "quick_check")]
    pub fn quick_check(&self) -> Result<Option<String>> {
        dispatch!(self, b => b.quick_check())
    }
}

/// Where the original keeps its memory files, relative to the project.
const DEFAULT_MEMORY_DIR: &str = ".moai/memory";

/// Metadata as the original stores it: a JSON object as `json.dumps` text; `null` is `{}`.
fn metadata_text(metadata: &Value) -> Result<String> {
    match metadata {
        Value::Null => Ok("{}".to_owned()),
        Value::Object(_) => Ok(python_json(metadata)),
        other => Err(SwarmDbError::MetadataNotObject(other.to_string())),
    }
}

/// ISO 8601 text that sorts as time: `YYYY-MM-DD`, then optionally `T` or a space and a time.
fn check_timestamp(text: &str) -> Result<()> {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10);
    let time = b.len() == 10 || (matches!(b.get(10), Some(b'T' | b' ')) && digits(11..13));
    if date && time {
        Ok(())
    } else {
        Err(SwarmDbError::BadTimestamp(text.to_owned()))
    }
}

fn ago(age: Duration) -> SystemTime {
    SystemTime::now()
        .checked_sub(age)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
