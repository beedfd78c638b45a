//! The shared backend: MoAI-Flow's tables on a PostgreSQL server, through a pool of synchronous
//! connections (`postgres` + `r2d2`), so that several replicas share one swarm. Same operations,
//! same encodings and the same strings back as the SQLite file (see `pg_schema.rs`).
//!
//! While the server is down, a call does not wait out the pool's timeout again and again: when no
//! idle connection is left and the last attempt to connect failed within the timeout, it fails at
//! once with that attempt's cause ("the server refused the connection"). The pool keeps trying in
//! the background and the first connection that succeeds ends the outage, with no restart.

use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use postgres::types::ToSql;
use postgres::{NoTls, Row};
use r2d2_postgres::PostgresConnectionManager;

use super::backend::Backend;
use super::encoding::{iso_timestamp, unix_seconds};
use super::error::{DbError, ErrorKind, Location, SwarmDbError};
use super::pg_schema;
use super::rows::{instant, metadata};
use super::schema::Layout;
use super::schema::refused;
use super::types::{Agent, AgentEvent, AgentStatus, EventFilter, EventType, NewEvent};

type Result<T> = std::result::Result<T, SwarmDbError>;
type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// Connections per process for writes: enough for the application's writing threads at once
/// (the server's own group commit shares WAL flushes among them).
const POOL_SIZE: u32 = 10;

/// Connections per process for reads, apart from the writes': the scrape's gauges and the health
/// checks never queue behind writers that hold every write connection. With the writes' pool,
/// 13 per replica: three replicas stay far below the server's default `max_connections` of 100.
const READ_POOL_SIZE: u32 = 3;

pub(crate) struct PostgresBackend {
    location: Location,
    /// Writes, and reads inside a write's transaction.
    pool: Pool,
    /// Reads.
    readers: Pool,
    outage: Arc<Outage>,
    checkout_timeout: Duration,
}

/// The last failed connection attempt, cleared by the next one that succeeds.
#[derive(Default)]
struct Outage(Mutex<Option<(Instant, ErrorKind, String)>>);

impl Outage {
    fn get(&self) -> Option<(Instant, ErrorKind, String)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    fn set(&self, value: Option<(Instant, ErrorKind, String)>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = value;
    }
}

impl std::fmt::Debug for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outage")
    }
}

#[derive(Debug)]
struct ClearOutage(Arc<Outage>);

impl r2d2::CustomizeConnection<postgres::Client, postgres::Error> for ClearOutage {
    fn on_acquire(&self, _: &mut postgres::Client) -> std::result::Result<(), postgres::Error> {
        self.0.set(None);
        Ok(())
    }
}

/// `postgres://user@host:port/dbname` of a parsed URL: what errors and logs show, never the
/// password.
fn location_of(config: &postgres::Config) -> Location {
    let user = config.get_user().unwrap_or("postgres");
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(dir)) => dir.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let dbname = config.get_dbname().unwrap_or(user);
    Location::Server(format!("postgres://{user}@{host}:{port}/{dbname}"))
}

/// The password file's entry for the URL's first host, port, database and user.
fn password_file_entry(config: &postgres::Config) -> Option<String> {
    let host = match config.get_hosts().first()? {
        postgres::config::Host::Tcp(host) => host.clone(),
        #[cfg(unix)]
        postgres::config::Host::Unix(_) => "localhost".to_owned(),
    };
    let user = config.get_user()?;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    super::pgpass::lookup(&host, port, config.get_dbname().unwrap_or(user), user)
}

/// The client's configuration of a URL, and the server it names.
pub(crate) fn parse_url(url: &str) -> Result<(postgres::Config, Location)> {
    let config = postgres::Config::from_str(url).map_err(|e| SwarmDbError::InvalidUrl {
        url: crate::redact::redact_url(url),
        reason: e.to_string(),
    })?;
    let location = location_of(&config);
    Ok((config, location))
}

impl PostgresBackend {
    pub(crate) fn connect(url: &str, timeout: Duration, existing_only: bool) -> Result<Self> {
        let (mut config, location) = parse_url(url)?;
        if config.get_password().is_none()
            && let Some(password) = password_file_entry(&config)
        {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("moai-instrument");
        }
        // A server that vanishes without a reset (a node lost) is noticed, not waited on forever.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let open_error = |e: postgres::Error| SwarmDbError::Open {
            db: location.clone(),
            source: classify(&e),
        };
        // One direct connection first: a wrong password or host is a clear error now, and the
        // schema is created (or checked) before the pool hands out connections.
        let mut client = config.connect(NoTls).map_err(open_error)?;
        let layout = if existing_only {
            pg_schema::detect(&mut client).map_err(open_error)?
        } else {
            pg_schema::create(&mut client).map_err(open_error)?
        };
        match layout {
            Layout::Current => {}
            Layout::Empty | Layout::Older(_) | Layout::SdkLegacy if existing_only => {
                return Err(SwarmDbError::NeedsMigration {
                    db: location,
                    found: layout.describe(),
                });
            }
            other => return Err(refused(&location, other, None)),
        }
        drop(client);
        let outage = Arc::new(Outage::default());
        let pool = |size: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .connection_timeout(timeout)
                .error_handler(Box::new(SharedOutage(Arc::clone(&outage))))
                .connection_customizer(Box::new(ClearOutage(Arc::clone(&outage))))
                .build_unchecked(PostgresConnectionManager::new(config.clone(), NoTls))
        };
        let (pool, readers) = (pool(POOL_SIZE), pool(READ_POOL_SIZE));
        Ok(PostgresBackend {
            location,
            pool,
            readers,
            outage,
            checkout_timeout: timeout,
        })
    }
}

impl Backend for PostgresBackend {
    fn location(&self) -> &Location {
        &self.location
    }

    fn path(&self) -> Option<&std::path::Path> {
        None
    }

    /// The server's own tools back it up (`pg_dump`, or base backups with WAL archiving).
    fn backup(&self, _dest: &std::path::Path) -> Result<()> {
        Err(SwarmDbError::Unsupported {
            operation: "backup",
            db: self.location.clone(),
            instead: "back up the server with pg_dump (or base backups with WAL archiving)",
        })
    }

    fn insert_event(&self, event_id: &str, event: &NewEvent, metadata: &str) -> Result<()> {
        self.execute(
            "insert_event",
            INSERT_EVENT,
            &[
                &event_id,
                &event.event_type.as_str(),
                &event.agent_id,
                &event.agent_type,
                &event.timestamp,
                &metadata,
            ],
        )
        .map(drop)
    }

    /// Every event in one transaction: all stored, or none.
    fn insert_events(&self, rows: &[(String, &NewEvent, String)]) -> Result<()> {
        let mut conn = self.conn("insert_events")?;
        let error = self.query_error("insert_events");
        let mut tx = conn.transaction().map_err(&error)?;
        let insert = tx.prepare(INSERT_EVENT).map_err(&error)?;
        for (event_id, event, metadata) in rows {
            tx.execute(
                &insert,
                &[
                    event_id,
                    &event.event_type.as_str(),
                    &event.agent_id,
                    &event.agent_type,
                    &event.timestamp,
                    metadata,
                ],
            )
            .map_err(&error)?;
        }
        tx.commit().map_err(&error)
    }

    fn get_events(&self, filter: &EventFilter) -> Result<Vec<AgentEvent>> {
        let rows = self.query(
            "get_events",
            &format!(
                "{EVENT_SELECT} WHERE ($1::text IS NULL OR agent_id = $1)
                 AND ($2::text IS NULL OR event_type = $2)
                 ORDER BY timestamp DESC, id DESC LIMIT $3"
            ),
            &[
                &filter.agent_id,
                &filter.event_type.as_ref().map(EventType::as_str),
                &i64::from(filter.limit.unwrap_or(100)),
            ],
        )?;
        rows.iter().map(event_from_row).collect()
    }

    fn register_agent(
        &self,
        agent_id: &str,
        agent_type: &str,
        status: AgentStatus,
        metadata: &str,
        now: SystemTime,
        now_iso: &str,
    ) -> Result<()> {
        // The original's INSERT OR REPLACE: a new row, so the old one's completion is gone too.
        self.execute(
            "register_agent",
            "INSERT INTO agent_registry
             (agent_id, agent_type, status, spawn_time, metadata, last_updated)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (agent_id) DO UPDATE SET agent_type = EXCLUDED.agent_type,
                 status = EXCLUDED.status, spawn_time = EXCLUDED.spawn_time,
                 complete_time = NULL, duration_ms = NULL, metadata = EXCLUDED.metadata,
                 last_updated = EXCLUDED.last_updated",
            &[
                &agent_id,
                &agent_type,
                &status.as_str(),
                &unix_seconds(now),
                &metadata,
                &now_iso,
            ],
        )
        .map(drop)
    }

    fn update_agent_status(
        &self,
        agent_id: &str,
        status: AgentStatus,
        now: SystemTime,
        now_iso: &str,
        duration_ms: Option<i64>,
    ) -> Result<usize> {
        self.execute(
            "update_agent_status",
            "UPDATE agent_registry SET status = $2, last_updated = $3,
                 complete_time = CASE WHEN $4 THEN $5 ELSE complete_time END,
                 duration_ms = COALESCE($6, duration_ms)
             WHERE agent_id = $1",
            &[
                &agent_id,
                &status.as_str(),
                &now_iso,
                &status.is_final(),
                &unix_seconds(now),
                &duration_ms,
            ],
        )
    }

    fn get_agent(&self, agent_id: &str) -> Result<Option<Agent>> {
        let rows = self.query(
            "get_agent",
            &format!("{AGENT_SELECT} WHERE agent_id = $1"),
            &[&agent_id],
        )?;
        rows.first().map(agent_from_row).transpose()
    }

    fn get_active_agents(&self) -> Result<Vec<Agent>> {
        let rows = self.query(
            "get_active_agents",
            &format!(
                "{AGENT_SELECT} WHERE status IN ('spawned', 'running') ORDER BY spawn_time DESC"
            ),
            &[],
        )?;
        rows.iter().map(agent_from_row).collect()
    }

    fn count_active_agents(&self) -> Result<u64> {
        self.count(
            "count_active_agents",
            "SELECT COUNT(*) FROM agent_registry WHERE status IN ('spawned', 'running')",
            &[],
        )
    }

    fn count_stale_agents(&self, cutoff: SystemTime) -> Result<u64> {
        self.count(
            "count_stale_agents",
            &format!("SELECT COUNT(*) FROM agent_registry WHERE {STALE}"),
            &[&stale_cutoff(cutoff)],
        )
    }

    fn store_memory(
        &self,
        session_id: &str,
        memory_type: &str,
        key: &str,
        value: &str,
        timestamp: &str,
        ttl_hours: Option<u32>,
    ) -> Result<()> {
        self.execute(
            "store_memory",
            "INSERT INTO session_memory (session_id, memory_type, key, value, timestamp, ttl_hours)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &session_id,
                &memory_type,
                &key,
                &value,
                &timestamp,
                &ttl_hours.map(i64::from),
            ],
        )
        .map(drop)
    }

    fn get_memory(&self, session_id: &str, memory_type: &str, key: &str) -> Result<Option<String>> {
        let rows = self.query(
            "get_memory",
            "SELECT value FROM session_memory
             WHERE session_id = $1 AND memory_type = $2 AND key = $3
             ORDER BY timestamp DESC, id DESC LIMIT 1",
            &[&session_id, &memory_type, &key],
        )?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<String>>(0)))
    }

    fn cleanup_old_events(&self, cutoff_iso: &str) -> Result<usize> {
        self.execute(
            "cleanup_old_events",
            "DELETE FROM agent_events WHERE timestamp < $1",
            &[&cutoff_iso],
        )
    }

    fn mark_stale_agents(&self, now_iso: &str, cutoff: SystemTime) -> Result<usize> {
        self.execute(
            "cleanup",
            &format!("UPDATE agent_registry SET status = 'error', last_updated = $2 WHERE {STALE}"),
            &[&stale_cutoff(cutoff), &now_iso],
        )
    }

    /// `pg_database_size(current_database())`: the whole database on the server, in bytes.
    fn get_database_size(&self) -> Result<u64> {
        self.count(
            "get_database_size",
            "SELECT pg_database_size(current_database())",
            &[],
        )
    }

    fn vacuum(&self) -> Result<()> {
        let mut conn = self.conn("vacuum")?;
        conn.batch_execute("VACUUM")
            .map_err(self.query_error("vacuum"))
    }

    /// A 16 KB `schema_info` row under the SDK's own key, written and removed in one
    /// transaction: no row or sequence value of MoAI-Flow's tables is used.
    fn write_probe(&self) -> Result<()> {
        let mut conn = self.conn("write_probe")?;
        let error = self.query_error("write_probe");
        let mut tx = conn.transaction().map_err(&error)?;
        tx.batch_execute(
            "INSERT INTO schema_info (key, value)
             VALUES ('moai_instrument_write_probe', repeat('00', 8192))
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
             DELETE FROM schema_info WHERE key = 'moai_instrument_write_probe';",
        )
        .map_err(&error)?;
        tx.commit().map_err(&error)
    }

    /// PostgreSQL checks its own pages (checksums, WAL); what a client can check is that the
    /// server answers a read of the schema.
    fn quick_check(&self) -> Result<Option<String>> {
        let version = self.query(
            "quick_check",
            "SELECT value FROM schema_info WHERE key = 'version'",
            &[],
        )?;
        Ok(match version.first().map(|r| r.get::<_, String>(0)) {
            Some(v) if v == super::SCHEMA_VERSION => None,
            Some(v) => Some(format!("schema_info version is {v}")),
            None => Some("schema_info has no version row".to_owned()),
        })
    }
}

impl PostgresBackend {
    fn count(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        let rows = self.query(operation, sql, params)?;
        let n: i64 = rows.first().map_or(0, |r| r.get(0));
        Ok(n.max(0) as u64)
    }

    fn query(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let mut conn = self.conn_from(&self.readers, operation)?;
        conn.query(sql, params).map_err(self.query_error(operation))
    }

    fn execute(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<usize> {
        let mut conn = self.conn(operation)?;
        conn.execute(sql, params)
            .map(|n| n as usize)
            .map_err(self.query_error(operation))
    }

    /// A connection of the writes' pool, or at once the cause of an ongoing outage.
    fn conn(&self, operation: &'static str) -> Result<Conn> {
        self.conn_from(&self.pool, operation)
    }

    /// A connection of `pool`, or at once the cause of an ongoing outage.
    fn conn_from(&self, pool: &Pool, operation: &'static str) -> Result<Conn> {
        let fail = |kind: ErrorKind, text: String| SwarmDbError::Query {
            operation,
            db: self.location.clone(),
            source: DbError::text(kind, text),
        };
        let recent_failure = self
            .outage
            .get()
            .filter(|(at, _, _)| at.elapsed() < self.checkout_timeout);
        if let Some((_, kind, text)) = &recent_failure
            && pool.state().idle_connections == 0
        {
            return Err(fail(*kind, text.clone()));
        }
        pool.get().map_err(|e| match self.outage.get() {
            Some((_, kind, text)) => fail(kind, text),
            None => fail(
                ErrorKind::Busy,
                format!(
                    "no pooled connection came free within {:.1} s ({e})",
                    self.checkout_timeout.as_secs_f64()
                ),
            ),
        })
    }

    fn query_error(
        &self,
        operation: &'static str,
    ) -> impl Fn(postgres::Error) -> SwarmDbError + '_ {
        move |e| SwarmDbError::Query {
            operation,
            db: self.location.clone(),
            source: classify(&e),
        }
    }
}

/// The pool's error handler: records the cause of each failed connection attempt.
#[derive(Debug)]
struct SharedOutage(Arc<Outage>);

impl r2d2::HandleError<postgres::Error> for SharedOutage {
    fn handle_error(&self, error: postgres::Error) {
        let cause = classify(&error);
        self.0
            .set(Some((Instant::now(), cause.kind(), cause.to_string())));
    }
}

/// An agent row's `last_updated` before the cut-off, compared as text as on SQLite (and as
/// MoAI-Flow compares it): both are local ISO 8601 text, which sorts as time ("C" collation).
const STALE: &str = "status IN ('spawned', 'running') AND last_updated < $1";

fn stale_cutoff(cutoff: SystemTime) -> String {
    iso_timestamp(cutoff)
}

const INSERT_EVENT: &str = "INSERT INTO agent_events \
     (event_id, event_type, agent_id, agent_type, timestamp, metadata) VALUES ($1, $2, $3, $4, $5, $6)";

const EVENT_SELECT: &str = "SELECT id, event_id, event_type, agent_id, agent_type, timestamp, \
     metadata, created_at FROM agent_events";

const AGENT_SELECT: &str = "SELECT agent_id, agent_type, status, spawn_time, complete_time, \
     duration_ms, metadata, last_updated FROM agent_registry";

fn event_from_row(row: &Row) -> Result<AgentEvent> {
    Ok(AgentEvent {
        id: row.get(0),
        event_id: row.get(1),
        event_type: EventType::from_stored(row.get(2)),
        agent_id: row.get(3),
        agent_type: row.get(4),
        timestamp: row.get(5),
        metadata: metadata(row.get(6)),
        created_at: row.get(7),
    })
}

fn agent_from_row(row: &Row) -> Result<Agent> {
    let agent_id: String = row.get(0);
    let spawn_time = instant(&agent_id, "spawn_time", row.get(3))?;
    let complete_time = row
        .get::<_, Option<f64>>(4)
        .map(|s| instant(&agent_id, "complete_time", s))
        .transpose()?;
    let duration_ms: Option<i64> = row.get(5);
    Ok(Agent {
        agent_type: row.get(1),
        status: AgentStatus::from_stored(row.get(2)),
        spawn_time,
        complete_time,
        duration: duration_ms.map(|ms| Duration::from_millis(ms.max(0) as u64)),
        metadata: metadata(row.get(6)),
        last_updated: row.get(7),
        agent_id,
    })
}

/// The kind and the words of a client or server error; the server's messages and the socket's
/// never hold the password.
pub(crate) fn classify(error: &postgres::Error) -> DbError {
    use postgres::error::SqlState as S;
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        let kind =
            if *code == S::INVALID_PASSWORD || *code == S::INVALID_AUTHORIZATION_SPECIFICATION {
                ErrorKind::AuthFailed
            } else if *code == S::INVALID_CATALOG_NAME {
                ErrorKind::NoSuchDatabase
            } else if *code == S::READ_ONLY_SQL_TRANSACTION {
                ErrorKind::ReadOnly
            } else if *code == S::DISK_FULL {
                ErrorKind::DiskFull
            } else if *code == S::LOCK_NOT_AVAILABLE
                || *code == S::T_R_DEADLOCK_DETECTED
                || *code == S::T_R_SERIALIZATION_FAILURE
            {
                ErrorKind::Busy
            } else if code.code().starts_with("23") {
                ErrorKind::Constraint
            } else if *code == S::ADMIN_SHUTDOWN
                || *code == S::CRASH_SHUTDOWN
                || *code == S::CANNOT_CONNECT_NOW
                || *code == S::TOO_MANY_CONNECTIONS
            {
                ErrorKind::ConnectionLost
            } else {
                ErrorKind::Other
            };
        return DbError::text(kind, format!("the server says: {}", db.message()));
    }
    let io = std::error::Error::source(error).and_then(|s| s.downcast_ref::<std::io::Error>());
    match io {
        Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            DbError::text(ErrorKind::ConnectionRefused, io.to_string())
        }
        Some(io) => DbError::text(
            ErrorKind::ConnectionLost,
            format!("cannot reach the server: {io}"),
        ),
        None if error.is_closed() => DbError::text(
            ErrorKind::ConnectionLost,
            "the connection to the server was closed (the server stopped or restarted)",
        ),
        // "invalid configuration" alone says too little: add its cause ("password missing").
        None => match std::error::Error::source(error) {
            Some(cause) => DbError::text(ErrorKind::Other, format!("{error}: {cause}")),
            None => DbError::text(ErrorKind::Other, error.to_string()),
        },
    }
}

/// Where the errors of SwarmDB on a PostgreSQL server say they happened.
impl Location {
    /// The server a PostgreSQL URL names, as errors show it (`postgres://user@host:port/db`,
    /// never the password).
    ///
    /// # Errors
    /// [`SwarmDbError::InvalidUrl`].
    pub fn of_url(url: &str) -> std::result::Result<Location, SwarmDbError> {
        parse_url(url).map(|(_, location)| location)
    }
}
