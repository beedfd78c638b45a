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
//! use moai_swarmdb::{AgentStatus, EventType, NewEvent, SwarmDb};
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
//! # Ok::<(), moai_swarmdb::SwarmDbError>(())
//! ```
//!
//! # Features
//!
//! - **Durable**: WAL; every write is on disk when it returns (the WAL synced with `fdatasync`
//!   after its commit), so a crash loses nothing acknowledged. Concurrent writes share one
//!   transaction and one sync (group commit), and the next transaction collects rows while a
//!   sync runs; a failing write is undone and reported alone.
//!   Write transactions take the lock up front (`BEGIN IMMEDIATE`), and a busy timeout makes a
//!   call wait for another process's lock instead of failing at once.
//! - **Reads never wait for writes**: on SQLite they run on read-only connections of their own
//!   (WAL lets them read the last commit meanwhile); on PostgreSQL on a pool of their own.
//! - **Opening never guesses**: a new file gets the original's schema; an older MoAI-Flow file is
//!   upgraded as MoAI-Flow upgrades it (missing tables created, version recorded); the SDK's own
//!   pre-compatibility layout is converted row for row in one transaction; anything else, and a
//!   newer version, is refused with an error naming the file and what was found.
//! - **Probes never create**: [`OpenOptions::existing_only`] opens an existing, current file
//!   without writing to its schema, and reports a missing one by its path.
//! - **Instrumented**: every operation is a `#[timed_query]` under its own name (the `query_type`
//!   label), and `insert_event` counts `moai_flow_events_total{event_type}`.
//!
//! # Monitoring
//!
//! A program that calls [`init`](moai_instrument::init) (or `Config::build`) and opens SwarmDB
//! ([`SwarmDb::open`], or `SwarmDb::connect` on PostgreSQL, feature `postgres`) gets, with no
//! other call:
//!
//! - `moai_flow_agents_active` and `moai_flow_db_size_bytes`, read at every scrape (and every
//!   [`MetricsHandle::render`](moai_instrument::MetricsHandle::render));
//! - the guide's database checks on `/readyz`, `/healthz` and in `moai_flow_health_check_status`
//!   (`database`, `disk_space`, `agents`; the SDK runs `memory` and `query_performance` itself),
//!   the liveness check `swarmdb` on `/livez`, and, in SQLite mode, `moai_flow_db_volume_*` from
//!   the `disk_space` check; all within a second of the database opening.
//!
//! It plugs in like any library would, through the SDK's public extension points
//! ([`moai_instrument::recorder::add_collector`], [`moai_instrument::health::add_check`]): the
//! first database the process opens (before or after `init()` alike) adds the collector and the
//! checks; when the last one still open closes (its last clone drops), they are removed, and the
//! database's series leave the exposition. Databases opened with
//! [`OpenOptions::existing_only`] (probes) are never monitored. While several are open, the
//! first one opened that is still open is the one measured.

mod backend;
mod clock;
mod encoding;
mod error;
mod group_commit;
pub mod health;
mod migrate;
mod monitoring;
#[cfg(feature = "postgres")]
mod pg_client;
#[cfg(feature = "postgres")]
mod pg_schema;
#[cfg(feature = "postgres")]
mod pgpass;
#[cfg(feature = "postgres")]
mod postgres;
mod redact;
mod rows;
mod schema;
mod sqlite;
mod types;

#[cfg(feature = "postgres")]
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

pub use encoding::{iso_timestamp, iso_timestamp_now};
pub use error::{DbError, ErrorKind, Location, Rejection, SqliteError, SwarmDbError};
pub use health::{CheckKind, HealthChecker, LIVENESS_CHECK};
/// The guide's Key Metrics thresholds, the SDK's (set for a process with
/// `moai_instrument::Config::thresholds`).
pub use moai_instrument::health::Thresholds;
#[cfg(feature = "postgres")]
pub use postgres::{DEFAULT_POOL_SIZE, DEFAULT_READ_POOL_SIZE};
pub use schema::{SCHEMA_VERSION, TABLE_NAMES};
/// The `serde_json` of this module's signatures (metadata and memory values are
/// [`serde_json::Value`]s), in the one version the SDK uses.
pub use serde_json;
pub use types::{
    Agent, AgentEvent, AgentStatus, CleanupReport, EventFilter, EventType, MemoryType, NewEvent,
};

use backend::Backend;
use encoding::python_json;
use moai_instrument::{counted_event, timed_query};
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
    #[cfg(feature = "postgres")]
    pool_sizes: postgres::PoolSizes,
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
            #[cfg(feature = "postgres")]
            pool_sizes: postgres::PoolSizes::default(),
        }
    }

    /// On PostgreSQL, how many connections this process opens at most for writes (default
    /// [`DEFAULT_POOL_SIZE`], `MOAI_DB_POOL_SIZE`) and, apart from those, for reads (default
    /// [`DEFAULT_READ_POOL_SIZE`], `MOAI_DB_READ_POOL_SIZE`). A deployment of N replicas needs
    /// `N * (writes + reads)` of the server's `max_connections`, plus one per `moai-health
    /// --db-url` probe running at once (see the README's connection budget). A probe
    /// ([`OpenOptions::existing_only`]) uses one connection whatever these say.
    #[cfg(feature = "postgres")]
    pub fn pool_sizes(mut self, writes: NonZeroU32, reads: NonZeroU32) -> Self {
        self.pool_sizes = postgres::PoolSizes { writes, reads };
        self
    }

    /// [`OpenOptions::pool_sizes`] from `MOAI_DB_POOL_SIZE` and `MOAI_DB_READ_POOL_SIZE` where
    /// set (each a whole number from 1).
    ///
    /// # Errors
    /// [`SwarmDbError::InvalidSetting`] naming the variable and its value.
    #[cfg(feature = "postgres")]
    pub fn pool_sizes_from_env(self) -> Result<Self> {
        let read = |name: &'static str, default: NonZeroU32| match std::env::var(name) {
            Err(_) => Ok(default),
            Ok(value) => {
                value
                    .trim()
                    .parse::<NonZeroU32>()
                    .map_err(|_| SwarmDbError::InvalidSetting {
                        variable: name,
                        value,
                        expected: "a whole number of connections from 1",
                    })
            }
        };
        let writes = read("MOAI_DB_POOL_SIZE", self.pool_sizes.writes)?;
        let reads = read("MOAI_DB_READ_POOL_SIZE", self.pool_sizes.reads)?;
        Ok(self.pool_sizes(writes, reads))
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
        if path.as_ref().as_os_str().is_empty() {
            return Err(SwarmDbError::EmptyPath);
        }
        let backend = SqliteBackend::open(
            path.as_ref().to_owned(),
            self.busy_timeout,
            self.existing_only,
        )?;
        Ok(SwarmDb::new(Box::new(backend), !self.existing_only))
    }

    /// Connects to SwarmDB on the PostgreSQL server at `url`
    /// (`postgres://user[:password]@host[:port]/dbname[?params]`, or the key/value form),
    /// creating the schema when missing under a transaction-scoped advisory lock, so that
    /// replicas starting together create it once. The busy timeout is how long a call waits for
    /// a pooled connection. Failures count in `moai_flow_errors_total{operation="open"}`.
    ///
    /// Every call has a deadline, from the URL's parameters or these defaults:
    /// `connect_timeout` 5 s (TCP connect and start-up); `options=-c statement_timeout=...` 10 s
    /// and `options=-c lock_timeout=...` 5 s (the server's); the client waits for any call at
    /// most `statement_timeout` + 1 s, then drops the connection; TCP keepalive after 10 s idle,
    /// every 5 s, 3 probes (`keepalives_idle`, `keepalives_interval`, `keepalives_retries`);
    /// `tcp_user_timeout` 30 s.
    ///
    /// An application (not [`OpenOptions::existing_only`]) starts while the server is
    /// unavailable ([`ErrorKind::is_unavailable`]: refused, unreachable, out of connection
    /// slots): its calls fail at once with that cause, the `database` readiness check fails,
    /// and the first connection that succeeds creates (or checks) the schema, with no restart.
    ///
    /// # Errors
    /// [`SwarmDbError::InvalidUrl`] (a malformed URL, or a `statement_timeout`/`lock_timeout`
    /// in `options` that is not a duration); [`SwarmDbError::Open`] with
    /// [`ErrorKind::AuthFailed`], [`ErrorKind::NoSuchDatabase`], ... naming the server (never
    /// the password), and for a probe also the unavailable kinds; [`SwarmDbError::NewerSchema`],
    /// [`SwarmDbError::UnsupportedLayout`]; [`SwarmDbError::NeedsMigration`] for a probe on a
    /// database without the schema.
    #[cfg(feature = "postgres")]
    #[timed_query(query_type = "open")]
    pub fn open_url(self, url: &str) -> Result<SwarmDb> {
        // Readiness says "connecting" until the database's own checks take over below.
        let connecting = match (self.existing_only, Location::of_url(url)) {
            (false, Ok(location)) => monitoring::connecting(location.to_string()),
            _ => None,
        };
        let backend = postgres::PostgresBackend::connect(
            url,
            self.busy_timeout,
            self.existing_only,
            self.pool_sizes,
        )?;
        drop(connecting);
        Ok(SwarmDb::new(Box::new(backend), !self.existing_only))
    }
}

/// A SwarmDB database: a handle that threads share by cloning it (clones are one database, with
/// its connections; it closes when the last clone drops), or through an `Arc`.
///
/// The first one the application opens is also the one the SDK monitors (see
/// [Monitoring](self#monitoring)).
#[derive(Clone)]
pub struct SwarmDb {
    shared: Arc<Shared>,
}

/// What the clones of one [`SwarmDb`] share.
struct Shared {
    /// Where the operations run: each public method calls the same-named method of the backend,
    /// so both backends are instrumented by the same `#[timed_query]`.
    backend: Box<dyn Backend>,
    /// The last failure that says the storage itself is in trouble (full, read-only, I/O,
    /// corrupt), for the health check: a probe that happens to succeed must not hide it.
    storage_failure: Mutex<Option<(Instant, String)>>,
    /// Unplugs monitoring when an application's database closes: declared last, so it drops
    /// after the connections have closed (a caller that waits for monitoring to go finds the
    /// file closed).
    _unplug: Unplug,
}

/// See [`Shared::_unplug`].
struct Unplug {
    monitored: bool,
}

impl Drop for Unplug {
    fn drop(&mut self) {
        if self.monitored {
            monitoring::closed();
        }
    }
}

impl std::fmt::Debug for SwarmDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmDb")
            .field("db", self.location())
            .finish_non_exhaustive()
    }
}

impl SwarmDb {
    /// A handle on `backend`; an application's database (not a probe's) becomes a candidate for
    /// monitoring.
    fn new(backend: Box<dyn Backend>, monitored: bool) -> Self {
        let db = SwarmDb {
            shared: Arc::new(Shared {
                backend,
                storage_failure: Mutex::new(None),
                _unplug: Unplug { monitored },
            }),
        };
        if monitored {
            monitoring::opened(&db);
        }
        // Anchors retention's "now" to the monotonic clock while the wall clock is right.
        let _ = clock::trusted_now();
        db
    }

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

    /// The database a [`Config`](moai_instrument::Config) names: on PostgreSQL when it has a URL
    /// ([`Config::db_url`](moai_instrument::Config::db_url), `MOAI_DB_URL`), else the file
    /// ([`Config::db_path`](moai_instrument::Config::db_path), `MOAI_DB_PATH`, default
    /// `.moai/memory/swarm.db`), opened for the application as [`SwarmDb::open`] and
    /// `SwarmDb::connect` (feature `postgres`) do.
    ///
    /// # Errors
    /// As [`SwarmDb::open`] and `SwarmDb::connect`; [`SwarmDbError::InvalidUrl`] for a URL in a
    /// build without the feature `postgres`.
    pub fn from_config(config: &moai_instrument::Config) -> Result<Self> {
        match config.configured_db_url() {
            #[cfg(feature = "postgres")]
            Some(url) => OpenOptions::new().pool_sizes_from_env()?.open_url(url),
            #[cfg(not(feature = "postgres"))]
            Some(url) => Err(SwarmDbError::InvalidUrl {
                url: redact::redact_url(url),
                reason: "this build has no PostgreSQL backend (cargo feature `postgres`)".into(),
            }),
            None => SwarmDb::open(config.configured_db_path()),
        }
    }

    /// The database file; `None` on PostgreSQL.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.shared.backend.path()
    }

    /// The file or server, as errors and logs name it (never with a password).
    #[must_use]
    pub fn location(&self) -> &Location {
        self.shared.backend.location()
    }

    /// Records an event and returns its `event_id`: the given one, or a new UUID v7 (RFC 9562;
    /// the original uses v4, which is no different to its readers, but v7 ids are ordered by
    /// time, so the `UNIQUE` index on `event_id` takes them at its end instead of one random page
    /// per row: a batch of concurrent inserts writes and syncs about half the pages). Pass your
    /// own `event_id` to keep v4. The timestamp and metadata are stored as given (metadata as
    /// Python's `json.dumps` text).
    /// Counts `moai_flow_events_total{event_type}`.
    ///
    /// # Errors
    /// [`SwarmDbError::Rejected`] (a timestamp that is not ISO 8601, metadata that is not an
    /// object), or [`SwarmDbError::Query`] (a duplicate `event_id` among them,
    /// [`ErrorKind::Constraint`]; or [`ErrorKind::MustReopen`] when syncing the WAL failed: the row may
    /// or may not be stored, and every later write fails with that error until the database is
    /// reopened, since the disk may have lost what it had acknowledged).
    #[timed_query(query_type = "insert_event")]
    #[counted_event(event_type = event.event_type.as_str())]
    pub fn insert_event(&self, event: &NewEvent) -> Result<String> {
        let (event_id, metadata) = self.event_row("insert_event", event)?;
        self.noted(
            self.shared
                .backend
                .insert_event(&event_id, event, &metadata),
        )?;
        Ok(event_id)
    }

    /// Records several events in one transaction (one fsync): all of them, or none when one is
    /// refused. Returns their `event_id`s in order (each the given one, or a new UUID v7). Stored
    /// as [`SwarmDb::insert_event`] stores each; counts each in
    /// `moai_flow_events_total{event_type}`, like that call.
    ///
    /// # Errors
    /// As [`SwarmDb::insert_event`], for the first event refused: then nothing is stored.
    #[timed_query(query_type = "insert_events")]
    pub fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<String>> {
        for event in events {
            count_event(event.event_type.as_str());
        }
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            let (event_id, metadata) = self.event_row("insert_events", event)?;
            rows.push((event_id, event, metadata));
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.noted(self.shared.backend.insert_events(&rows))?;
        Ok(rows.into_iter().map(|(event_id, _, _)| event_id).collect())
    }

    /// Events matching `filter`, newest first by timestamp (ties: the later insert first).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`]. A stored type outside the vocabulary reads as
    /// [`EventType::Other`].
    #[timed_query(query_type = "get_events")]
    pub fn get_events(&self, filter: &EventFilter) -> Result<Vec<AgentEvent>> {
        self.noted(self.shared.backend.get_events(filter))
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
        let now_iso = iso_timestamp(now);
        self.noted(
            self.shared
                .backend
                .register_agent(agent_id, agent_type, status, &metadata, now, &now_iso),
        )
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
        let now_iso = iso_timestamp(now);
        let duration_ms = duration.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let changed = self.noted(self.shared.backend.update_agent_status(
            agent_id,
            status,
            now,
            &now_iso,
            duration_ms,
        ))?;
        if changed == 0 {
            return Err(self.rejected("update_agent_status")(
                Rejection::AgentNotFound(agent_id.to_owned()),
            ));
        }
        Ok(())
    }

    /// The agent with this id, if registered.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`]; [`SwarmDbError::BadTime`] for a stored instant that is not a
    /// number of seconds. A status outside the vocabulary reads as [`AgentStatus::Other`].
    #[timed_query(query_type = "get_agent")]
    pub fn get_agent(&self, agent_id: &str) -> Result<Option<Agent>> {
        self.noted(self.shared.backend.get_agent(agent_id))
    }

    /// Agents in status spawned or running, the most recently spawned first.
    ///
    /// # Errors
    /// As [`SwarmDb::get_agent`].
    #[timed_query(query_type = "get_active_agents")]
    pub fn get_active_agents(&self) -> Result<Vec<Agent>> {
        self.noted(self.shared.backend.get_active_agents())
    }

    /// How many agents are spawned or running (the `moai_flow_agents_active` gauge), without
    /// loading them.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "count_active_agents")]
    pub fn count_active_agents(&self) -> Result<u64> {
        self.noted(self.shared.backend.count_active_agents())
    }

    /// Spawned or running agents whose row has not changed for `older_than`: stuck or
    /// abandoned (the `agents` health check).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "count_stale_agents")]
    pub fn count_stale_agents(&self, older_than: Duration) -> Result<u64> {
        self.noted(self.shared.backend.count_stale_agents(ago(older_than)))
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
        self.noted(self.shared.backend.store_memory(
            session_id,
            memory_type.as_str(),
            key,
            &value,
            &now,
            ttl_hours,
        ))
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
        let text = self.noted(self.shared.backend.get_memory(
            session_id,
            memory_type.as_str(),
            key,
        ))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Deletes events whose timestamp is more than `days` days old; returns how many. "Now" is
    /// the wall clock unless it runs ahead of the time elapsed in this process (a clock stepped
    /// forward): then the elapsed time counts, so a step never deletes events younger than
    /// `days` (the step is logged once).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "cleanup_old_events")]
    pub fn cleanup_old_events(&self, days: u32) -> Result<usize> {
        let cutoff = iso_timestamp(ago(Duration::from_secs(u64::from(days) * 86_400)));
        self.noted(self.shared.backend.cleanup_old_events(&cutoff))
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
        let cleaned_stale_agents = self.noted(
            self.shared
                .backend
                .mark_stale_agents(&now_iso, ago(STALE_AGENT_AGE)),
        )?;
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
        self.noted(self.shared.backend.get_database_size())
    }

    /// Reclaims free space (SQLite rebuilds the file; PostgreSQL runs `VACUUM`).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "vacuum")]
    pub fn vacuum(&self) -> Result<()> {
        self.noted(self.shared.backend.vacuum())
    }

    /// Writes a consistent copy of the live SQLite database to `dest` (`VACUUM INTO`): one read
    /// transaction, so it finishes while other connections and processes keep writing (SQLite's
    /// online `.backup` restarts at every write from another process and may never finish under
    /// load). `dest` must not exist yet. On PostgreSQL the server's own tools back it up
    /// (`pg_dump`, or base backups with WAL archiving), so this is refused.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`] (for example when `dest` exists or its directory is missing);
    /// [`SwarmDbError::Unsupported`] on PostgreSQL.
    #[timed_query(query_type = "backup")]
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<()> {
        self.noted(self.shared.backend.backup(dest.as_ref()))
    }

    /// Writes and removes a 16 KB row in one transaction: proves the database takes writes now
    /// (not read-only, not out of space, with room for more than a small row), for the health
    /// check. The row goes into `schema_info` under a key of the SDK's own and is deleted in the
    /// same transaction: no row, sequence or version of MoAI-Flow's changes.
    ///
    /// Not timed into `moai_flow_query_duration_seconds` like the operations: it is the health
    /// check's own probe, not the application's work, and its durable write must not drive the
    /// `query_performance` check or the latency alerts (its failure is the `database` check's).
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    pub fn write_probe(&self) -> Result<()> {
        self.noted(self.shared.backend.write_probe())
    }

    /// `Ok(None)` when the database is sound, else the first complaint: SQLite's
    /// `PRAGMA quick_check`; on PostgreSQL (which checks its own pages) the schema version read
    /// back.
    ///
    /// # Errors
    /// [`SwarmDbError::Query`].
    #[timed_query(query_type = "quick_check")]
    pub fn quick_check(&self) -> Result<Option<String>> {
        self.noted(self.shared.backend.quick_check())
    }

    /// On PostgreSQL, the last failed attempt to open a connection while none has succeeded
    /// since: how long ago, its kind ([`ErrorKind::ConnectionRefused`],
    /// [`ErrorKind::TooManyConnections`], ...) and its cause. The `database` readiness check fails
    /// while it is recent: the process cannot open the connections it needs. `None` on SQLite.
    #[must_use]
    pub fn connection_trouble(&self) -> Option<(Duration, ErrorKind, String)> {
        self.shared.backend.connection_trouble()
    }

    /// Why this database must be reopened before it takes writes again, if it must: a sync of
    /// its write-ahead log failed, so the disk may have lost what it acknowledged, and every
    /// write is refused ([`ErrorKind::MustReopen`]). The liveness check `swarmdb` fails while
    /// this is set, so the orchestrator restarts the app, which reopens it.
    #[must_use]
    pub fn must_reopen(&self) -> Option<String> {
        self.shared.backend.must_reopen()
    }

    /// The last failure of this handle that said the storage itself is in trouble (disk full,
    /// read-only, I/O error, corruption), on either backend: how long ago, and the error with its
    /// cause. The `database` health check fails while it is recent, whatever its own probe finds.
    #[must_use]
    pub fn last_storage_failure(&self) -> Option<(Duration, String)> {
        self.shared
            .storage_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(at, text)| (at.elapsed(), text.clone()))
    }

    /// `result`, its failure remembered for [`SwarmDb::last_storage_failure`] when it is one of
    /// the storage's.
    fn noted<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(error) = &result
            && matches!(
                error.kind(),
                Some(
                    ErrorKind::DiskFull
                        | ErrorKind::Io
                        | ErrorKind::MustReopen
                        | ErrorKind::ReadOnly
                        | ErrorKind::Corrupt
                )
            )
        {
            *self
                .shared
                .storage_failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner) =
                Some((Instant::now(), moai_instrument::error_chain(error)));
        }
        result
    }

    /// An event as it is stored: its id (the given one, or a new UUID v7) and its metadata as
    /// `json.dumps` text, after checking the timestamp and the metadata as the original reads them.
    fn event_row(&self, operation: &'static str, event: &NewEvent) -> Result<(String, String)> {
        let reject = self.rejected(operation);
        check_timestamp(&event.timestamp).map_err(&reject)?;
        let metadata = metadata_text(&event.metadata).map_err(&reject)?;
        let event_id = event
            .event_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        Ok((event_id, metadata))
    }

    fn rejected(&self, operation: &'static str) -> impl Fn(Rejection) -> SwarmDbError + '_ {
        move |reason| SwarmDbError::Rejected {
            operation,
            db: self.location().clone(),
            reason,
        }
    }
}

/// Where the original keeps its memory files, relative to the project.
const DEFAULT_MEMORY_DIR: &str = ".moai/memory";

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

use clock::ago;

/// Counts one event of `event_type` in `moai_flow_events_total{event_type}`, as
/// `#[counted_event]` on [`SwarmDb::insert_event`] does for a single event.
#[counted_event(event_type = event_type)]
fn count_event(event_type: &str) {}

/// Hooks for the crate's own tests. Not public API.
#[doc(hidden)]
pub mod __test_support {
    /// Steps the wall clock SwarmDB reads by `secs` (negative: back), as an NTP mistake or a VM
    /// restored from a snapshot would, without touching the machine's clock.
    pub fn step_wall_clock(secs: i64) {
        super::clock::step_wall_clock(secs);
    }
}
