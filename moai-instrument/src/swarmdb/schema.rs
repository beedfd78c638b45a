//! Schema v2 of SwarmDB: the tables and indexes of the original store, created if missing, and
//! the version recorded in `schema_info`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// The schema version this SDK writes and reads.
pub const SCHEMA_VERSION: i64 = 2;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS schema_info (
    version     INTEGER NOT NULL,
    applied_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_events (
    event_id    TEXT PRIMARY KEY,
    event_type  TEXT NOT NULL CHECK (event_type IN ('spawn', 'complete', 'error')),
    agent_id    TEXT NOT NULL,
    agent_type  TEXT NOT NULL,
    timestamp   TEXT NOT NULL,
    metadata    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS idx_agent_events_agent_id ON agent_events (agent_id);
CREATE INDEX IF NOT EXISTS idx_agent_events_event_type ON agent_events (event_type);
CREATE INDEX IF NOT EXISTS idx_agent_events_timestamp ON agent_events (timestamp);
CREATE TABLE IF NOT EXISTS agent_registry (
    agent_id      TEXT PRIMARY KEY,
    agent_type    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('spawned', 'running', 'complete', 'error')),
    spawn_time    TEXT NOT NULL,
    complete_time TEXT,
    duration_ms   INTEGER,
    metadata      TEXT NOT NULL DEFAULT '{}',
    last_updated  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_agent_registry_status ON agent_registry (status);
CREATE INDEX IF NOT EXISTS idx_agent_registry_agent_type ON agent_registry (agent_type);
CREATE TABLE IF NOT EXISTS session_memory (
    session_id  TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (session_id, key)
);
CREATE TABLE IF NOT EXISTS task_metrics (
    task_id       TEXT PRIMARY KEY,
    agent_id      TEXT NOT NULL,
    task_type     TEXT NOT NULL,
    status        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    completed_at  TEXT,
    duration_ms   INTEGER,
    metadata      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS idx_task_metrics_agent_id ON task_metrics (agent_id);
CREATE TABLE IF NOT EXISTS agent_metrics (
    agent_id      TEXT NOT NULL,
    metric_name   TEXT NOT NULL,
    metric_value  REAL NOT NULL,
    recorded_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_agent_metrics_agent_metric ON agent_metrics (agent_id, metric_name);
CREATE TABLE IF NOT EXISTS swarm_metrics (
    metric_name   TEXT NOT NULL,
    metric_value  REAL NOT NULL,
    recorded_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_swarm_metrics_name_time ON swarm_metrics (metric_name, recorded_at);
";

/// Every table of schema v2.
pub const TABLE_NAMES: [&str; 7] = [
    "agent_events",
    "agent_registry",
    "session_memory",
    "task_metrics",
    "agent_metrics",
    "swarm_metrics",
    "schema_info",
];

/// What [`migrate`] found.
pub(crate) enum Migration {
    Current,
    Newer(i64),
}

/// Creates what is missing and records the version, in one transaction; reports a file written
/// by a newer schema without touching it.
///
/// The transaction takes the write lock up front (`BEGIN IMMEDIATE`): with a deferred one, two
/// connections opening a new file at once would both read, then both try to write, and SQLite
/// fails one at once rather than making it wait (it would deadlock otherwise).
pub(crate) fn migrate(conn: &mut Connection, now: &str) -> rusqlite::Result<Migration> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let has_info: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_info')",
        [],
        |row| row.get(0),
    )?;
    let found: Option<i64> = if has_info {
        tx.query_row("SELECT MAX(version) FROM schema_info", [], |row| row.get(0))
            .optional()?
            .flatten()
    } else {
        None
    };
    if let Some(found) = found.filter(|&v| v > SCHEMA_VERSION) {
        return Ok(Migration::Newer(found));
    }
    tx.execute_batch(TABLES)?;
    if found != Some(SCHEMA_VERSION) {
        tx.execute(
            "INSERT INTO schema_info (version, applied_at) VALUES (?1, ?2)",
            (SCHEMA_VERSION, now),
        )?;
    }
    tx.commit()?;
    Ok(Migration::Current)
}
