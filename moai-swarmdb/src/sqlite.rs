//! The embedded backend: one SQLite file in WAL mode. Writes go through one connection with group
//! commit (see `group_commit`): concurrent writes share a transaction and one sync of the WAL,
//! which runs while the next transaction collects rows. Reads use
//! read-only connections of their own, which WAL lets see the last commit while a write is under
//! way. Each method is one statement or transaction; validation, encodings and instrumentation
//! happen in the public [`SwarmDb`](super::SwarmDb) methods that call these.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::backend::Backend;
use super::encoding::iso_timestamp;
use super::encoding::unix_seconds;
use super::error::{Location, SwarmDbError};
use super::group_commit::{self, GroupCommit};
use super::migrate;
use super::rows::FromRow;
use super::schema::{self, Layout, refused};
use super::types::{Agent, AgentEvent, AgentStatus, EventFilter, EventType, NewEvent};

type Result<T> = std::result::Result<T, SwarmDbError>;

/// Read-only connections per handle: the scrape's gauges and a health check at once, without
/// either waiting for the other.
const READERS: usize = 2;

const INSERT_EVENT: &str =
    "INSERT INTO agent_events (event_id, event_type, agent_id, agent_type, timestamp, metadata)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

pub(crate) struct SqliteBackend {
    path: PathBuf,
    location: Location,
    /// Reads (the scrape-time gauges, the health checks' counts, queries): read-only connections
    /// of their own, so that they never queue behind a batch being committed or a write waiting
    /// out another process's lock. WAL lets them read the last committed state meanwhile. Empty
    /// when none could be opened: reads then run on the writer's connection. Declared before
    /// `writer` so that they close first: the last connection to close checkpoints the WAL into
    /// the database file and removes it, which a read-only connection cannot do.
    readers: Vec<Mutex<Connection>>,
    /// Every write, batched.
    writer: GroupCommit,
}

impl SqliteBackend {
    pub(crate) fn open(path: PathBuf, busy_timeout: Duration, existing_only: bool) -> Result<Self> {
        let location = Location::File(path.clone());
        let open_error = |source: rusqlite::Error| SwarmDbError::Open {
            db: location.clone(),
            source: source.into(),
        };
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if existing_only {
            // SQLite would create the file when asked to open it read-write with CREATE; without
            // CREATE it reports CANTOPEN for a missing file, which says less than the path does.
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    return Err(open_error(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                        Some("the path is a directory, not a database file".into()),
                    )));
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
        conn.busy_timeout(busy_timeout).map_err(open_error)?;
        conn.execute_batch("PRAGMA synchronous = FULL;")
            .map_err(open_error)?;
        // Switching to WAL and creating the schema need locks that SQLite does not always wait
        // for (it fails at once where waiting could deadlock), for example when several
        // connections open a new file together: retry those steps until the busy timeout.
        let deadline = Instant::now() + busy_timeout;
        let layout = retry_busy(deadline, || schema::detect(&conn)).map_err(open_error)?;
        match layout {
            Layout::Current => {}
            Layout::Newer(_) | Layout::Unknown(_) => return Err(refused(&location, layout, None)),
            _ if existing_only => {
                return Err(SwarmDbError::NeedsMigration {
                    db: location,
                    found: layout.describe(),
                });
            }
            _ => match retry_busy(deadline, || migrate::upgrade(&mut conn)).map_err(open_error)? {
                migrate::Outcome::Ready => {}
                migrate::Outcome::Refused(layout, reason) => {
                    return Err(refused(&location, layout, reason));
                }
            },
        }
        if !existing_only {
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
        let readers = (0..READERS)
            .map_while(|_| {
                Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .and_then(|reader| reader.busy_timeout(busy_timeout).map(|()| reader))
                .ok()
                .map(Mutex::new)
            })
            .collect();
        let flush = group_commit::wal_flush(&conn);
        let writer = GroupCommit::new(conn, busy_timeout, flush).map_err(open_error)?;
        Ok(SqliteBackend {
            path,
            location,
            writer,
            readers,
        })
    }
}

impl Backend for SqliteBackend {
    fn location(&self) -> &Location {
        &self.location
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn insert_event(&self, event_id: &str, event: &NewEvent, metadata: &str) -> Result<()> {
        self.writer
            .write_statement(|conn| insert_event(conn, event_id, event, metadata))
            .map_err(self.query_error("insert_event"))
    }

    /// Every event in one transaction: all stored, or none.
    fn insert_events(&self, rows: &[(String, &NewEvent, String)]) -> Result<()> {
        self.writer
            .write(|conn| {
                rows.iter().try_for_each(|(event_id, event, metadata)| {
                    insert_event(conn, event_id, event, metadata)
                })
            })
            .map_err(self.query_error("insert_events"))
    }

    fn get_events(&self, filter: &EventFilter) -> Result<Vec<AgentEvent>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "{} WHERE (?1 IS NULL OR agent_id = ?1) AND (?2 IS NULL OR event_type = ?2)
                 ORDER BY timestamp DESC, id DESC LIMIT ?3",
                AgentEvent::SELECT
            ))?
            .query_map(
                params![
                    filter.agent_id,
                    filter.event_type.as_ref().map(EventType::as_str),
                    filter.limit.unwrap_or(100)
                ],
                AgentEvent::from_row,
            )?
            .collect()
        })
        .map_err(self.query_error("get_events"))
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
        self.execute(
            "register_agent",
            "INSERT OR REPLACE INTO agent_registry
                 (agent_id, agent_type, status, spawn_time, metadata, last_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                agent_id,
                agent_type,
                status.as_str(),
                unix_seconds(now),
                metadata,
                now_iso
            ],
        )?;
        Ok(())
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
            "UPDATE agent_registry SET status = ?2, last_updated = ?3,
                     complete_time = CASE WHEN ?4 THEN ?5 ELSE complete_time END,
                     duration_ms = COALESCE(?6, duration_ms)
                 WHERE agent_id = ?1",
            params![
                agent_id,
                status.as_str(),
                now_iso,
                status.is_final(),
                unix_seconds(now),
                duration_ms
            ],
        )
    }

    fn get_agent(&self, agent_id: &str) -> Result<Option<Agent>> {
        self.read(|conn| {
            conn.prepare_cached(&format!("{} WHERE agent_id = ?1", Agent::SELECT))?
                .query_row([agent_id], Agent::from_row)
                .optional()
        })
        .map_err(self.query_error("get_agent"))
    }

    fn get_active_agents(&self) -> Result<Vec<Agent>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "{} WHERE status IN ('spawned', 'running') ORDER BY spawn_time DESC",
                Agent::SELECT
            ))?
            .query_map([], Agent::from_row)?
            .collect()
        })
        .map_err(self.query_error("get_active_agents"))
    }

    fn count_active_agents(&self) -> Result<u64> {
        self.count(
            "count_active_agents",
            "SELECT COUNT(*) FROM agent_registry WHERE status IN ('spawned', 'running')",
            params![],
        )
    }

    fn count_stale_agents(&self, cutoff: SystemTime) -> Result<u64> {
        self.count(
            "count_stale_agents",
            "SELECT COUNT(*) FROM agent_registry WHERE status IN ('spawned', 'running')
             AND last_updated < ?1",
            params![iso_timestamp(cutoff)],
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
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![session_id, memory_type, key, value, timestamp, ttl_hours],
        )?;
        Ok(())
    }

    fn get_memory(&self, session_id: &str, memory_type: &str, key: &str) -> Result<Option<String>> {
        let text: Option<Option<String>> = self
            .read(|conn| {
                conn.prepare_cached(
                    "SELECT value FROM session_memory
                     WHERE session_id = ?1 AND memory_type = ?2 AND key = ?3
                     ORDER BY timestamp DESC, id DESC LIMIT 1",
                )?
                .query_row(params![session_id, memory_type, key], |row| row.get(0))
                .optional()
            })
            .map_err(self.query_error("get_memory"))?;
        Ok(text.flatten())
    }

    fn cleanup_old_events(&self, cutoff_iso: &str) -> Result<usize> {
        self.execute(
            "cleanup_old_events",
            "DELETE FROM agent_events WHERE timestamp < ?1",
            params![cutoff_iso],
        )
    }

    fn mark_stale_agents(&self, now_iso: &str, cutoff: SystemTime) -> Result<usize> {
        self.execute(
            "cleanup",
            "UPDATE agent_registry SET status = 'error', last_updated = ?1
                 WHERE status IN ('spawned', 'running')
                 AND last_updated < ?2",
            params![now_iso, iso_timestamp(cutoff)],
        )
    }

    /// `page_count * page_size` of the main file plus the write-ahead log.
    fn get_database_size(&self) -> Result<u64> {
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
        let pages: i64 = self
            .read(|conn| {
                conn.prepare_cached(
                    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                )?
                .query_row([], |r| r.get(0))
            })
            .map_err(self.query_error("get_database_size"))?;
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

    /// `VACUUM INTO dest`: a consistent copy in one read transaction.
    fn backup(&self, dest: &Path) -> Result<()> {
        let dest = dest.to_string_lossy().into_owned();
        self.writer
            .exclusive_read(|conn| conn.execute("VACUUM INTO ?1", [dest]))
            .map(drop)
            .map_err(self.query_error("backup"))
    }

    fn vacuum(&self) -> Result<()> {
        self.writer
            .exclusive(|conn| conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);"))
            .map_err(self.query_error("vacuum"))
    }

    /// Both statements in the caller's savepoint of the shared transaction: atomic together.
    fn write_probe(&self) -> Result<()> {
        self.writer
            .write(|conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO schema_info (key, value)
                     VALUES ('moai_instrument_write_probe', hex(zeroblob(8192)))",
                    [],
                )?;
                conn.execute(
                    "DELETE FROM schema_info WHERE key = 'moai_instrument_write_probe'",
                    [],
                )
            })
            .map(drop)
            .map_err(self.query_error("write_probe"))
    }

    fn must_reopen(&self) -> Option<String> {
        self.writer.broken()
    }

    fn quick_check(&self) -> Result<Option<String>> {
        let verdict: String = self
            .writer
            .exclusive_read(|conn| conn.query_row("PRAGMA quick_check", [], |r| r.get(0)))
            .map_err(self.query_error("quick_check"))?;
        Ok((verdict != "ok").then_some(verdict))
    }
}

impl SqliteBackend {
    /// One statement in the shared write transaction; the rows it changed.
    fn execute(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<usize> {
        self.writer
            .write_statement(|conn| conn.prepare_cached(sql)?.execute(params))
            .map_err(self.query_error(operation))
    }

    fn count(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<u64> {
        self.read(|conn| {
            conn.prepare_cached(sql)?
                .query_row(params, |row| row.get::<_, i64>(0))
        })
        .map(|n| n.max(0) as u64)
        .map_err(self.query_error(operation))
    }

    fn query_error(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> SwarmDbError {
        move |source| SwarmDbError::Query {
            operation,
            db: self.location.clone(),
            source: source.into(),
        }
    }

    /// Runs `op` on a free reading connection (waiting for one when all are busy), or on the
    /// writer's when none could be opened.
    fn read<T>(&self, op: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let Some(first) = self.readers.first() else {
            return self.writer.exclusive_read(op);
        };
        let free = self
            .readers
            .iter()
            .find_map(|reader| match reader.try_lock() {
                Ok(conn) => Some(conn),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            });
        let conn: MutexGuard<'_, Connection> =
            free.unwrap_or_else(|| first.lock().unwrap_or_else(PoisonError::into_inner));
        op(&conn)
    }
}

fn insert_event(
    conn: &Connection,
    event_id: &str,
    event: &NewEvent,
    metadata: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(INSERT_EVENT)?
        .execute(params![
            event_id,
            event.event_type.as_str(),
            event.agent_id,
            event.agent_type,
            event.timestamp,
            metadata
        ])
        .map(drop)
}

/// Runs `step` again while SQLite answers "busy" or "locked", until `deadline`.
fn retry_busy<T>(
    deadline: Instant,
    mut step: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    loop {
        match step() {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}
