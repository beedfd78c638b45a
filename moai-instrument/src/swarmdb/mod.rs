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
mod rows;
mod schema;
mod types;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;

pub use encoding::{iso_timestamp, iso_timestamp_now};
pub use error::{Rejection, SqliteError, SwarmDbError};
pub use schema::{SCHEMA_VERSION, TABLE_NAMES};
pub use types::{
    Agent, AgentEvent, AgentStatus, CleanupReport, EventFilter, EventType, MemoryType, NewEvent,
};

use crate::{counted_event, timed_query};
use encoding::{python_json, unix_seconds};
use rows::FromRow;
use schema::Layout;

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
        let path = path.as_ref().to_owned();
        let open_error = |source: rusqlite::Error| SwarmDbError::Open {
            path: path.clone(),
            source: source.into(),
        };
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if self.existing_only {
            // SQLite would create the file when asked to open it read-write with CREATE; without
            // CREATE it reports CANTOPEN for a missing file, which says less than the path does.
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    return Err(SwarmDbError::Open {
                        path,
                        source: rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                            Some("the path is a directory, not a database file".into()),
                        )
                        .into(),
                    });
                }
                Ok(_) => {}
                Err(_) => return Err(SwarmDbError::Missing { path }),
            }
        } else {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| SwarmDbError::CreateDir {
                    path: dir.to_owned(),
                    source,
                })?;
            }
        }
        let mut conn = Connection::open_with_flags(&path, flags).map_err(open_error)?;
        conn.busy_timeout(self.busy_timeout).map_err(open_error)?;
        conn.execute_batch("PRAGMA synchronous = FULL;")
            .map_err(open_error)?;
        // Switching to WAL and creating the schema need locks that SQLite does not always wait
        // for (it fails at once where waiting could deadlock), for example when several
        // connections open a new file together: retry those steps until the busy timeout.
        let deadline = std::time::Instant::now() + self.busy_timeout;
        let layout = retry_busy(deadline, || schema::detect(&conn)).map_err(open_error)?;
        let refused = |layout: Layout, reason: Option<String>| match layout {
            Layout::Newer(found) => SwarmDbError::NewerSchema {
                path: path.clone(),
                found,
                supported: SCHEMA_VERSION,
            },
            other => SwarmDbError::UnsupportedLayout {
                path: path.clone(),
                found: other.describe(),
                supported: SCHEMA_VERSION,
                reason,
            },
        };
        match layout {
            Layout::Current => {}
            Layout::Newer(_) | Layout::Unknown(_) => return Err(refused(layout, None)),
            _ if self.existing_only => {
                return Err(SwarmDbError::NeedsMigration {
                    path,
                    found: layout.describe(),
                });
            }
            _ => match retry_busy(deadline, || migrate::upgrade(&mut conn)).map_err(open_error)? {
                migrate::Outcome::Ready => {}
                migrate::Outcome::Refused(layout, reason) => return Err(refused(layout, reason)),
            },
        }
        if !self.existing_only {
            // WAL lets readers go on while one connection writes; the mode is stored in the file,
            // and MoAI-Flow's own SQLite reads such a file as it is.
            let mode: String = retry_busy(deadline, || {
                conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            })
            .map_err(open_error)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %path.display(), mode, "SwarmDB could not switch to WAL mode");
            }
        }
        Ok(SwarmDb {
            path,
            conn: Mutex::new(conn),
            storage_failure: Mutex::new(None),
        })
    }
}

/// A SwarmDB database. Share it between threads with an `Arc`.
pub struct SwarmDb {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// The last failure that says the storage itself is in trouble (full, read-only, I/O,
    /// corrupt), for the health check: a probe that happens to succeed must not hide it.
    storage_failure: Mutex<Option<(Instant, String)>>,
}

impl std::fmt::Debug for SwarmDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmDb")
            .field("path", &self.path)
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

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records an event and returns its `event_id` (the given one, or a new UUID v4). The
    /// timestamp and metadata are stored as given (metadata as Python's `json.dumps` text).
    /// Counts `moai_flow_events_total{event_type}`.
    ///
    /// # Errors
    /// [`SwarmDbError::Rejected`] (a timestamp that is not ISO 8601, metadata that is not an
    /// object), or [`SwarmDbError::Query`] (a duplicate `event_id` among them).
    #[timed_query(query_type = "insert_event")]
    #[counted_event(event_type = event.event_type.as_str())]
    pub fn insert_event(&self, event: &NewEvent) -> Result<String> {
        let reject = self.rejected("insert_event");
        check_timestamp(&event.timestamp).map_err(&reject)?;
        let metadata = metadata_text(&event.metadata).map_err(&reject)?;
        let event_id = event
            .event_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.conn()
            .prepare_cached(
                "INSERT INTO agent_events (event_id, event_type, agent_id, agent_type, timestamp, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    event_id,
                    event.event_type.as_str(),
                    event.agent_id,
                    event.agent_type,
                    event.timestamp,
                    metadata
                ])
            })
            .map_err(self.query_error("insert_event"))?;
        Ok(event_id)
    }

    /// Events matching `filter`, newest first by timestamp (ties: the later insert first).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`]; [`SwarmDbError::UnknownEventType`] for a stored type outside the
    /// vocabulary.
    #[timed_query(query_type = "get_events")]
    pub fn get_events(&self, filter: &EventFilter) -> Result<Vec<AgentEvent>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} WHERE (?1 IS NULL OR agent_id = ?1) AND (?2 IS NULL OR event_type = ?2)
                 ORDER BY timestamp DESC, id DESC LIMIT ?3",
                AgentEvent::SELECT
            ))
            .map_err(self.query_error("get_events"))?;
        let found = stmt
            .query_map(
                params![
                    filter.agent_id,
                    filter.event_type.as_ref().map(EventType::as_str),
                    filter.limit.unwrap_or(100)
                ],
                AgentEvent::from_row,
            )
            .map_err(self.query_error("get_events"))?;
        found
            .collect::<rusqlite::Result<_>>()
            .map_err(self.query_error("get_events"))
    }

    /// Registers an agent (replacing a row with the same id, as the original's `INSERT OR
    /// REPLACE`): `spawn_time` now, `last_updated` now.
    ///
    /// # Errors
    /// [`SwarmDbError::Rejected`] for metadata that is not an object, [`SwarmDbError::Query`].
    #[timed_query(query_type = "register_agent")]
    pub fn register_agent(
        &self,
        agent_id: &str,
        agent_type: &str,
        status: AgentStatus,
        metadata: &Value,
    ) -> Result<()> {
        let metadata = metadata_text(metadata).map_err(self.rejected("register_agent"))?;
        let now = SystemTime::now();
        self.conn()
            .prepare_cached(
                "INSERT OR REPLACE INTO agent_registry
                 (agent_id, agent_type, status, spawn_time, metadata, last_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    agent_id,
                    agent_type,
                    status.as_str(),
                    unix_seconds(now),
                    metadata,
                    iso_timestamp(now)
                ])
            })
            .map_err(self.query_error("register_agent"))?;
        Ok(())
    }

    /// Moves an agent to `status`. `complete` and `error` set `complete_time` to now; `duration`
    /// (the task's, as the caller measured it) is stored in milliseconds when given.
    ///
    /// # Errors
    /// [`SwarmDbError::Rejected`] ([`Rejection::AgentNotFound`]) when no agent has this id;
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "update_agent_status")]
    pub fn update_agent_status(
        &self,
        agent_id: &str,
        status: AgentStatus,
        duration: Option<Duration>,
    ) -> Result<()> {
        let now = SystemTime::now();
        let duration_ms = duration.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE agent_registry SET status = ?2, last_updated = ?3,
                     complete_time = CASE WHEN ?4 THEN ?5 ELSE complete_time END,
                     duration_ms = COALESCE(?6, duration_ms)
                 WHERE agent_id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    agent_id,
                    status.as_str(),
                    iso_timestamp(now),
                    status.is_final(),
                    unix_seconds(now),
                    duration_ms
                ])
            })
            .map_err(self.query_error("update_agent_status"))?;
        if changed == 0 {
            return Err(self.rejected("update_agent_status")(
                Rejection::AgentNotFound(agent_id.to_owned()),
            ));
        }
        Ok(())
    }

    /// The agent, if registered.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`], or a stored value outside the vocabulary or not a time.
    #[timed_query(query_type = "get_agent")]
    pub fn get_agent(&self, agent_id: &str) -> Result<Option<Agent>> {
        self.conn()
            .prepare_cached(&format!("{} WHERE agent_id = ?1", Agent::SELECT))
            .and_then(|mut stmt| stmt.query_row([agent_id], Agent::from_row).optional())
            .map_err(self.query_error("get_agent"))
    }

    /// Agents in status spawned or running, the most recently spawned first.
    ///
    /// # Errors
    /// As [`SwarmDb::get_agent`].
    #[timed_query(query_type = "get_active_agents")]
    pub fn get_active_agents(&self) -> Result<Vec<Agent>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{} WHERE status IN ('spawned', 'running') ORDER BY spawn_time DESC",
                Agent::SELECT
            ))
            .map_err(self.query_error("get_active_agents"))?;
        let found = stmt
            .query_map([], Agent::from_row)
            .map_err(self.query_error("get_active_agents"))?;
        found
            .collect::<rusqlite::Result<_>>()
            .map_err(self.query_error("get_active_agents"))
    }

    /// How many agents are spawned or running (the `moai_flow_agents_active` gauge), without
    /// loading them.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "count_active_agents")]
    pub fn count_active_agents(&self) -> Result<u64> {
        self.count(
            "count_active_agents",
            "SELECT COUNT(*) FROM agent_registry WHERE status IN ('spawned', 'running')",
            params![],
        )
    }

    /// Spawned or running agents whose row has not changed for `older_than`: stuck or
    /// abandoned (the `agents` health check).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "count_stale_agents")]
    pub fn count_stale_agents(&self, older_than: Duration) -> Result<u64> {
        self.count(
            "count_stale_agents",
            "SELECT COUNT(*) FROM agent_registry WHERE status IN ('spawned', 'running')
             AND last_updated < ?1",
            params![iso_timestamp(ago(older_than))],
        )
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
        self.conn()
            .prepare_cached(
                "INSERT INTO session_memory (session_id, memory_type, key, value, timestamp, ttl_hours)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    session_id,
                    memory_type.as_str(),
                    key,
                    python_json(value),
                    iso_timestamp_now(),
                    ttl_hours
                ])
            })
            .map_err(self.query_error("store_memory"))?;
        Ok(())
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
        let text: Option<Option<String>> = self
            .conn()
            .prepare_cached(
                "SELECT value FROM session_memory
                 WHERE session_id = ?1 AND memory_type = ?2 AND key = ?3
                 ORDER BY timestamp DESC, id DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![session_id, memory_type.as_str(), key], |row| {
                    row.get(0)
                })
                .optional()
            })
            .map_err(self.query_error("get_memory"))?;
        Ok(text.flatten().and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Deletes events whose timestamp is more than `days` days old; returns how many.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "cleanup_old_events")]
    pub fn cleanup_old_events(&self, days: u32) -> Result<usize> {
        let cutoff = iso_timestamp(ago(Duration::from_secs(u64::from(days) * 86_400)));
        self.conn()
            .prepare_cached("DELETE FROM agent_events WHERE timestamp < ?1")
            .and_then(|mut stmt| stmt.execute([cutoff]))
            .map_err(self.query_error("cleanup_old_events"))
    }

    /// The original's end-of-session housekeeping: [`SwarmDb::cleanup_old_events`], then spawned
    /// or running agents unchanged for [`STALE_AGENT_AGE`] are marked `error`.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "cleanup")]
    pub fn cleanup(&self, days: u32) -> Result<CleanupReport> {
        let deleted_events = self.cleanup_old_events(days)?;
        let now = SystemTime::now();
        let cleaned_stale_agents = self
            .conn()
            .prepare_cached(
                "UPDATE agent_registry SET status = 'error', last_updated = ?1
                 WHERE status IN ('spawned', 'running')
                 AND last_updated < ?2",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    iso_timestamp(now),
                    iso_timestamp(ago(STALE_AGENT_AGE))
                ])
            })
            .map_err(self.query_error("cleanup"))?;
        Ok(CleanupReport {
            deleted_events,
            cleaned_stale_agents,
        })
    }

    /// Writes the session's state (its id, now, the active agents and the 100 newest events)
    /// as JSON to `moai-flow/session-state.json` beside the database (the original's
    /// `.moai/memory/moai-flow/` for the default path), replacing the file atomically; returns
    /// its path. `session_id` `None` gives a new UUID.
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
        let state = rows::session_state(session_id, &agents, &events, &self.path);
        let dir = self
            .path
            .parent()
            .unwrap_or(Path::new("."))
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

    /// Bytes on disk: `page_count * page_size` of the main file plus the write-ahead log.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`], [`SwarmDbError::FileMissing`] when the file was deleted or
    /// moved while open, [`SwarmDbError::Size`].
    #[timed_query(query_type = "get_database_size")]
    pub fn get_database_size(&self) -> Result<u64> {
        let pages: i64 = self
            .conn()
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )
            .map_err(self.query_error("get_database_size"))?;
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

    /// Writes a consistent copy of the live database to `dest` (`VACUUM INTO`): one read
    /// transaction, so it finishes while other connections and processes keep writing (SQLite's
    /// online `.backup` restarts at every write from another process and may never finish under
    /// load). `dest` must not exist yet.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`] (for example when `dest` exists or its directory is missing).
    #[timed_query(query_type = "backup")]
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<()> {
        let dest = dest.as_ref().to_string_lossy().into_owned();
        self.conn()
            .execute("VACUUM INTO ?1", [dest])
            .map(drop)
            .map_err(self.query_error("backup"))
    }

    /// Rebuilds the file to reclaim free pages.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "vacuum")]
    pub fn vacuum(&self) -> Result<()> {
        self.conn()
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(self.query_error("vacuum"))
    }

    /// Writes and removes a 16 KB `swarm_metrics` row in one transaction: proves the database
    /// takes writes now (not read-only, not out of space, with room for more than a small row),
    /// for the health check. The row goes into `schema_info` under a key of the SDK's own and is
    /// deleted in the same transaction: no row, sequence or version of MoAI-Flow's changes (the
    /// freed pages stay in the file for later writes, as after any delete).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "write_probe")]
    pub fn write_probe(&self) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(self.query_error("write_probe"))?;
        tx.execute(
            "INSERT OR REPLACE INTO schema_info (key, value)
             VALUES ('moai_instrument_write_probe', hex(zeroblob(8192)))",
            [],
        )
        .and_then(|_| {
            tx.execute(
                "DELETE FROM schema_info WHERE key = 'moai_instrument_write_probe'",
                [],
            )
        })
        .map_err(self.query_error("write_probe"))?;
        tx.commit().map_err(self.query_error("write_probe"))
    }

    /// `PRAGMA quick_check`: `Ok(None)` when the file is sound, else SQLite's first complaint.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "quick_check")]
    pub fn quick_check(&self) -> Result<Option<String>> {
        let verdict: String = self
            .conn()
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(self.query_error("quick_check"))?;
        Ok((verdict != "ok").then_some(verdict))
    }

    fn count(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<u64> {
        self.conn()
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_row(params, |row| row.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
            .map_err(self.query_error(operation))
    }

    fn rejected(&self, operation: &'static str) -> impl Fn(Rejection) -> SwarmDbError {
        move |reason| SwarmDbError::Rejected {
            operation,
            path: self.path.clone(),
            reason,
        }
    }

    fn query_error(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> SwarmDbError {
        move |source| {
            let error = SwarmDbError::Query {
                operation,
                path: self.path.clone(),
                source: source.into(),
            };
            use rusqlite::ErrorCode as Code;
            if matches!(
                error.sqlite_code(),
                Some(
                    Code::DiskFull
                        | Code::SystemIoFailure
                        | Code::ReadOnly
                        | Code::DatabaseCorrupt
                        | Code::NotADatabase
                )
            ) {
                *self
                    .storage_failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now(), crate::error_chain(&error)));
            }
            error
        }
    }

    /// The last failure of this handle that said the storage itself is in trouble (disk full,
    /// read-only, I/O error, corruption): how long ago, and the error with its cause. The
    /// `database` health check fails while it is recent, whatever its own probe finds.
    #[must_use]
    pub fn last_storage_failure(&self) -> Option<(Duration, String)> {
        self.storage_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(at, text)| (at.elapsed(), text.clone()))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written: each call is one
        // statement or transaction, which SQLite itself makes atomic.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
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

/// Metadata as the original stores it: a JSON object as `json.dumps` text; `null` is `{}`.
fn metadata_text(metadata: &Value) -> std::result::Result<String, Rejection> {
    match metadata {
        Value::Null => Ok("{}".to_owned()),
        Value::Object(_) => Ok(python_json(metadata)),
        other => Err(Rejection::MetadataNotObject(other.to_string())),
    }
}

/// ISO 8601 text as MoAI-Flow writes it, so that comparing texts compares times:
/// `YYYY-MM-DD`, optionally followed by `THH:MM`, `:SS` and up to six fraction digits, each field
/// in range. No offset: the original's timestamps are local time without one.
fn check_timestamp(text: &str) -> std::result::Result<(), Rejection> {
    let b = text.as_bytes();
    let field = |at: usize, len: usize, max: u32| -> bool {
        b.get(at..at + len).is_some_and(|d| {
            d.iter().all(u8::is_ascii_digit)
                && d.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= max
        })
    };
    let nonzero = |at: usize| b.get(at..at + 2) != Some(b"00".as_slice());
    let date = field(0, 4, 9999)
        && b.get(4) == Some(&b'-')
        && field(5, 2, 12)
        && nonzero(5)
        && b.get(7) == Some(&b'-')
        && field(8, 2, 31)
        && nonzero(8);
    let time = match b.len() {
        10 => true,
        16 | 19 => {
            b[10] == b'T'
                && field(11, 2, 23)
                && b[13] == b':'
                && field(14, 2, 59)
                && (b.len() == 16 || (b[16] == b':' && field(17, 2, 59)))
        }
        21..=26 => {
            b[10] == b'T'
                && field(11, 2, 23)
                && b[13] == b':'
                && field(14, 2, 59)
                && b[16] == b':'
                && field(17, 2, 59)
                && b[19] == b'.'
                && b[20..].iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    if date && time {
        Ok(())
    } else {
        Err(Rejection::BadTimestamp(text.to_owned()))
    }
}

fn ago(age: Duration) -> SystemTime {
    SystemTime::now()
        .checked_sub(age)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
