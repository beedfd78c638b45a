//! The shared backend: MoAI-Flow's tables on a PostgreSQL server, through two pools of
//! connections (writes, and reads apart from them; `pg_client.rs`: every call under a deadline),
//! so that several replicas share one swarm. Same operations, same encodings and the same strings
//! back as the SQLite file (see `pg_schema.rs`).
//!
//! While the server is down, a call does not wait out the pool's timeout again and again: when no
//! idle connection is left and connecting failed recently (or fails while the call waits), it
//! fails at once with that attempt's cause ("the server refused the connection"). The pool keeps
//! trying in the background and the first connection that succeeds ends the outage, with no
//! restart. An application starts on an unavailable server the same way, and creates (or checks)
//! the schema on its first connection.

use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::backend::Backend;
use super::encoding::{iso_timestamp, unix_seconds};
use super::error::{DbError, ErrorKind, Location, SwarmDbError};
use super::pg_client::{Deadlines, Manager, Outage, PgConn, settle};
use super::pg_schema;
use super::rows::{instant, metadata};
use super::schema::Layout;
use super::schema::refused;
use super::types::{Agent, AgentEvent, AgentStatus, EventFilter, EventType, NewEvent};

type Result<T> = std::result::Result<T, SwarmDbError>;
type Pool = r2d2::Pool<Manager>;
type Conn = r2d2::PooledConnection<Manager>;

/// Connections per process for writes, by default: enough for the application's writing
/// threads at once (the server's own group commit shares WAL flushes among them).
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// Connections per process for reads, apart from the writes', by default: the scrape's gauges
/// and the health checks never queue behind writers that hold every write connection.
pub const DEFAULT_READ_POOL_SIZE: u32 = 3;

/// How many connections a process opens at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolSizes {
    pub(crate) writes: NonZeroU32,
    pub(crate) reads: NonZeroU32,
}

impl Default for PoolSizes {
    fn default() -> Self {
        PoolSizes {
            writes: NonZeroU32::new(DEFAULT_POOL_SIZE).unwrap_or(NonZeroU32::MIN),
            reads: NonZeroU32::new(DEFAULT_READ_POOL_SIZE).unwrap_or(NonZeroU32::MIN),
        }
    }
}

pub(crate) struct PostgresBackend {
    location: Location,
    /// Writes, and reads inside a write's transaction.
    pool: Pool,
    /// Reads (the same pool as `pool` for a probe, which uses one connection).
    readers: Pool,
    outage: Arc<Outage>,
    deadlines: Deadlines,
    checkout_timeout: Duration,
    /// Whether the schema was created (or checked) on this server: an application that started
    /// while the server was unavailable does it on its first connection.
    schema_ready: AtomicBool,
    schema_check: Mutex<()>,
}

/// `postgres://user@host:port/dbname` of a parsed URL: what errors and logs show, never the
/// password.
fn location_of(config: &tokio_postgres::Config) -> Location {
    let user = config.get_user().unwrap_or("postgres");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(dir)) => dir.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let dbname = config.get_dbname().unwrap_or(user);
    Location::Server(format!("postgres://{user}@{host}:{port}/{dbname}"))
}

/// The password file's entry for the URL's first host, port, database and user.
fn password_file_entry(config: &tokio_postgres::Config) -> Option<String> {
    let host = match config.get_hosts().first()? {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => "localhost".to_owned(),
    };
    let user = config.get_user()?;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    super::pgpass::lookup(&host, port, config.get_dbname().unwrap_or(user), user)
}

/// The client's configuration of a URL, and the server it names.
pub(crate) fn parse_url(url: &str) -> Result<(tokio_postgres::Config, Location)> {
    let config = tokio_postgres::Config::from_str(url).map_err(|e| SwarmDbError::InvalidUrl {
        url: crate::redact::redact_url(url),
        reason: match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    })?;
    let location = location_of(&config);
    Ok((config, location))
}

impl PostgresBackend {
    /// Connects: a probe (`existing_only`) with one connection, that must answer now; an
    /// application with its pools, starting even while the server is unavailable (refused,
    /// unreachable, out of connection slots), and creating the schema on its first connection.
    pub(crate) fn connect(
        url: &str,
        checkout_timeout: Duration,
        existing_only: bool,
        sizes: PoolSizes,
    ) -> Result<Self> {
        let (mut config, location) = parse_url(url)?;
        if config.get_password().is_none()
            && let Some(password) = password_file_entry(&config)
        {
            config.password(password);
        }
        if config.get_application_name().is_none() {
            config.application_name("moai-instrument");
        }
        let deadlines = settle(&mut config).map_err(|reason| SwarmDbError::InvalidUrl {
            url: crate::redact::redact_url(url),
            reason,
        })?;
        tracing::debug!(
            db = %location,
            connect_timeout_s = deadlines.connect.as_secs_f64(),
            statement_timeout_s = deadlines.statement.as_secs_f64(),
            lock_timeout_s = deadlines.lock.as_secs_f64(),
            call_deadline_s = deadlines.call.as_secs_f64(),
            "SwarmDB's deadlines on PostgreSQL"
        );
        let outage = Arc::new(Outage::default());
        let manager = || Manager {
            config: config.clone(),
            location: location.clone(),
            deadlines,
            outage: Arc::clone(&outage),
        };
        let pool = |size: NonZeroU32, min_idle: u32| {
            r2d2::Pool::builder()
                .max_size(size.get())
                .min_idle(Some(min_idle))
                .connection_timeout(checkout_timeout)
                // A broken connection is noticed by its closed client, not one round trip per
                // checkout.
                .test_on_check_out(false)
                .error_handler(Box::new(r2d2::NopErrorHandler))
                .build_unchecked(manager())
        };
        if existing_only {
            // A probe: one connection, the pool's own, which must answer now.
            let one = pool(NonZeroU32::MIN, 0);
            let backend = PostgresBackend {
                location,
                pool: one.clone(),
                readers: one,
                outage,
                deadlines,
                checkout_timeout,
                schema_ready: AtomicBool::new(true),
                schema_check: Mutex::new(()),
            };
            let mut conn = backend
                .checkout(&backend.pool, "open")
                .map_err(|e| backend.open_error(e))?;
            let layout = conn
                .call(deadlines.call, async |c| {
                    pg_schema::detect(c.client()).await
                })
                .map_err(|source| SwarmDbError::Open {
                    db: backend.location.clone(),
                    source,
                })?;
            accept_layout(&backend.location, layout, true)?;
            drop(conn);
            return Ok(backend);
        }
        // An application: one connection first, so that a wrong password or database is a
        // clear error now, and the schema is created before the pools hand out connections.
        let first = PgConn::open(&config, &deadlines).and_then(|mut conn| {
            conn.call(deadlines.call, async |c| {
                pg_schema::create(c.client()).await
            })
        });
        let schema_ready = match first {
            Ok(layout) => {
                accept_layout(&location, layout, false)?;
                true
            }
            // Refused, silent, unresolved, locked by a migration, slow: the app starts, and its
            // first connection that works creates (or checks) the schema.
            Err(source) if source.kind().is_unavailable() => {
                tracing::error!(
                    db = %location,
                    error = &source as &dyn std::error::Error,
                    "SwarmDB's server is unavailable: starting anyway (readiness fails until it answers; the schema is checked on the first connection)"
                );
                outage.set(Some((Instant::now(), source.kind(), source.to_string())));
                false
            }
            Err(source) => {
                return Err(SwarmDbError::Open {
                    db: location,
                    source,
                });
            }
        };
        let (pool, readers) = (pool(sizes.writes, 1), pool(sizes.reads, 1));
        Ok(PostgresBackend {
            location,
            pool,
            readers,
            outage,
            deadlines,
            checkout_timeout,
            schema_ready: AtomicBool::new(schema_ready),
            schema_check: Mutex::new(()),
        })
    }

    /// A checkout's failure as the failure to open.
    fn open_error(&self, error: SwarmDbError) -> SwarmDbError {
        match error {
            SwarmDbError::Query { source, .. } => SwarmDbError::Open {
                db: self.location.clone(),
                source,
            },
            other => other,
        }
    }
}

/// Opens only the current schema (a probe, which never writes, also accepts nothing it would
/// have to create).
fn accept_layout(location: &Location, layout: Layout, existing_only: bool) -> Result<()> {
    match layout {
        Layout::Current => Ok(()),
        Layout::Empty | Layout::Older(_) | Layout::SdkLegacy if existing_only => {
            Err(SwarmDbError::NeedsMigration {
                db: location.clone(),
                found: layout.describe(),
            })
        }
        other => Err(refused(location, other, None)),
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
        conn.call(self.deadlines.call, async |c| {
            let tx = c.client().transaction().await?;
            let insert = tx.prepare(INSERT_EVENT).await?;
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
                .await?;
            }
            tx.commit().await
        })
        .map_err(self.query_error("insert_events"))
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

    /// `VACUUM` without the statement timeout (it may take long on a big database), under a
    /// client deadline of [`VACUUM_DEADLINE`].
    fn vacuum(&self) -> Result<()> {
        let mut conn = self.conn("vacuum")?;
        conn.call(VACUUM_DEADLINE, async |c| {
            // `VACUUM` runs outside a transaction block: three statements, not one batch.
            c.client()
                .batch_execute("SET statement_timeout = 0")
                .await?;
            c.client().batch_execute("VACUUM").await?;
            c.client().batch_execute("RESET statement_timeout").await
        })
        .map_err(self.query_error("vacuum"))
    }

    /// A 16 KB `schema_info` row under the SDK's own key, written and removed in one
    /// transaction: no row or sequence value of MoAI-Flow's tables is used.
    fn write_probe(&self) -> Result<()> {
        let mut conn = self.conn("write_probe")?;
        conn.call(self.deadlines.call, async |c| {
            let tx = c.client().transaction().await?;
            tx.batch_execute(
                "INSERT INTO schema_info (key, value)
                 VALUES ('moai_instrument_write_probe', repeat('00', 8192))
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
                 DELETE FROM schema_info WHERE key = 'moai_instrument_write_probe';",
            )
            .await?;
            tx.commit().await
        })
        .map_err(self.query_error("write_probe"))
    }

    /// PostgreSQL checks its own pages (checksums, WAL); what a client can check is that the
    /// server answers a read of the schema.
    fn connection_trouble(&self) -> Option<(Duration, ErrorKind, String)> {
        self.outage
            .get()
            .map(|(at, kind, text)| (at.elapsed(), kind, text))
    }

    fn quick_check(&self) -> Result<Option<String>> {
        let version = self.query(
            "quick_check",
            "SELECT value FROM schema_info WHERE key = 'version'",
            &[],
        )?;
        Ok(match version.first().map(|r| r.get::<_, String>(0)) {
            Some(v) if v == super::schema::SCHEMA_VERSION => None,
            Some(v) => Some(format!("schema_info version is {v}")),
            None => Some("schema_info has no version row".to_owned()),
        })
    }
}

/// How long the client waits for `VACUUM`, which runs without the statement timeout.
const VACUUM_DEADLINE: Duration = Duration::from_secs(600);

/// How often a call waiting for a pooled connection looks whether connecting failed meanwhile.
const CHECKOUT_SLICE: Duration = Duration::from_millis(50);

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
        conn.call(self.deadlines.call, async |c| c.query(sql, params).await)
            .map_err(self.query_error(operation))
    }

    fn execute(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<usize> {
        let mut conn = self.conn(operation)?;
        conn.call(self.deadlines.call, async |c| c.execute(sql, params).await)
            .map(|n| n as usize)
            .map_err(self.query_error(operation))
    }

    /// A connection of the writes' pool, or at once the cause of an ongoing outage.
    fn conn(&self, operation: &'static str) -> Result<Conn> {
        self.conn_from(&self.pool, operation)
    }

    /// A connection of `pool` on a server whose schema is checked. Fails at once with the cause
    /// when connecting failed recently (or fails while this call waits) and no idle connection
    /// is left: a server that is down costs a call nothing, and one that comes back ends the
    /// outage with the pool's next connection. Fails after the checkout timeout when every
    /// connection stays in use.
    fn conn_from(&self, pool: &Pool, operation: &'static str) -> Result<Conn> {
        let mut conn = self.checkout(pool, operation)?;
        if !self.schema_ready.load(Ordering::Acquire) {
            self.check_schema(&mut conn)?;
        }
        Ok(conn)
    }

    /// A connection of `pool` (see [`PostgresBackend::conn_from`]).
    fn checkout(&self, pool: &Pool, operation: &'static str) -> Result<Conn> {
        let fail = |kind: ErrorKind, text: String| SwarmDbError::Query {
            operation,
            db: self.location.clone(),
            source: DbError::text(kind, text),
        };
        let asked = Instant::now();
        let deadline = asked + self.checkout_timeout;
        loop {
            if let Some(conn) = pool.try_get() {
                return Ok(conn);
            }
            if let Some((at, kind, text)) = self.outage.get()
                && (at >= asked || at.elapsed() < self.checkout_timeout)
            {
                return Err(fail(kind, text));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let state = pool.state();
                if state.connections == 0 {
                    return Err(fail(
                        ErrorKind::Unreachable,
                        format!(
                            "no connection to the server within {:.1} s (connecting is still under way)",
                            self.checkout_timeout.as_secs_f64()
                        ),
                    ));
                }
                return Err(fail(
                    ErrorKind::PoolExhausted,
                    format!(
                        "all {} pooled connections stayed in use for {:.1} s (MOAI_DB_POOL_SIZE and MOAI_DB_READ_POOL_SIZE size the pools)",
                        state.connections,
                        self.checkout_timeout.as_secs_f64()
                    ),
                ));
            }
            if let Ok(conn) = pool.get_timeout(left.min(CHECKOUT_SLICE)) {
                return Ok(conn);
            }
        }
    }

    /// Creates (or checks) the schema on the first connection of an application that started
    /// while the server was unavailable.
    fn check_schema(&self, conn: &mut Conn) -> Result<()> {
        let _one_at_a_time = self
            .schema_check
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let layout = conn
            .call(self.deadlines.call, async |c| {
                pg_schema::create(c.client()).await
            })
            .map_err(|source| SwarmDbError::Open {
                db: self.location.clone(),
                source,
            })?;
        accept_layout(&self.location, layout, false)?;
        self.schema_ready.store(true, Ordering::Release);
        tracing::info!(db = %self.location, "SwarmDB's server answers: schema checked");
        Ok(())
    }

    fn query_error(&self, operation: &'static str) -> impl Fn(DbError) -> SwarmDbError + '_ {
        move |source| SwarmDbError::Query {
            operation,
            db: self.location.clone(),
            source,
        }
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
