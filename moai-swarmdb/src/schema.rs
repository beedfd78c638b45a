//! MoAI-Flow's SwarmDB schema, version `2.0.0`: the original's tables, columns, types, defaults
//! and indexes, statement for statement (SQLite stores the text of each `CREATE`, comments
//! included, so a database the SDK creates is indistinguishable from one MoAI-Flow created), and
//! what an existing file's layout is.

use rusqlite::{Connection, OptionalExtension};

use super::error::{Location, SwarmDbError};

/// The schema version this SDK writes and reads, as `schema_info` stores it
/// (`key = 'version'`).
pub const SCHEMA_VERSION: &str = "2.0.0";

/// The original's `SCHEMA_SQL`, without its final version insert.
pub(crate) const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS agent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE NOT NULL,
    event_type TEXT NOT NULL,  -- 'spawn' | 'complete' | 'error'
    agent_id TEXT NOT NULL,
    agent_type TEXT NOT NULL,
    timestamp TEXT NOT NULL,  -- ISO8601 format
    metadata TEXT,  -- JSON blob
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_agent_events_agent_id ON agent_events(agent_id);
CREATE INDEX IF NOT EXISTS idx_agent_events_event_type ON agent_events(event_type);
CREATE INDEX IF NOT EXISTS idx_agent_events_timestamp ON agent_events(timestamp);

CREATE TABLE IF NOT EXISTS agent_registry (
    agent_id TEXT PRIMARY KEY,
    agent_type TEXT NOT NULL,
    status TEXT NOT NULL,  -- 'spawned' | 'running' | 'complete' | 'error'
    spawn_time REAL NOT NULL,
    complete_time REAL,
    duration_ms INTEGER,
    metadata TEXT,  -- JSON blob
    last_updated TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_agent_registry_status ON agent_registry(status);
CREATE INDEX IF NOT EXISTS idx_agent_registry_agent_type ON agent_registry(agent_type);

CREATE TABLE IF NOT EXISTS session_memory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    memory_type TEXT NOT NULL,  -- 'semantic' | 'episodic' | 'context_hint'
    key TEXT NOT NULL,
    value TEXT,  -- JSON blob
    timestamp TEXT NOT NULL,
    ttl_hours INTEGER,  -- Time-to-live in hours (NULL = permanent)
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_session_memory_session_id ON session_memory(session_id);
CREATE INDEX IF NOT EXISTS idx_session_memory_memory_type ON session_memory(memory_type);
CREATE INDEX IF NOT EXISTS idx_session_memory_key ON session_memory(key);

CREATE TABLE IF NOT EXISTS task_metrics (
    task_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    duration_ms INTEGER,
    result TEXT NOT NULL,  -- 'success' | 'failure' | 'timeout' | 'cancelled'
    tokens_used INTEGER DEFAULT 0,
    files_changed INTEGER DEFAULT 0,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (task_id, timestamp)
);

CREATE INDEX IF NOT EXISTS idx_task_metrics_agent ON task_metrics(agent_id, timestamp);
CREATE INDEX IF NOT EXISTS idx_task_metrics_time ON task_metrics(timestamp);
CREATE INDEX IF NOT EXISTS idx_task_metrics_result ON task_metrics(result, timestamp);

CREATE TABLE IF NOT EXISTS agent_metrics (
    metric_id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    metric_type TEXT NOT NULL,  -- 'duration' | 'success_rate' | 'error_count' | 'throughput'
    value REAL NOT NULL,
    metadata TEXT,  -- JSON blob for additional data
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_agent_metrics_agent ON agent_metrics(agent_id, metric_type, timestamp);
CREATE INDEX IF NOT EXISTS idx_agent_metrics_type ON agent_metrics(metric_type, timestamp);

CREATE TABLE IF NOT EXISTS swarm_metrics (
    metric_id INTEGER PRIMARY KEY AUTOINCREMENT,
    swarm_id TEXT NOT NULL,
    metric_type TEXT NOT NULL,  -- 'health' | 'throughput' | 'latency' | 'resource'
    value REAL NOT NULL,
    metadata TEXT,  -- JSON blob for additional data
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_swarm_metrics_swarm ON swarm_metrics(swarm_id, metric_type, timestamp);
CREATE INDEX IF NOT EXISTS idx_swarm_metrics_type ON swarm_metrics(metric_type, timestamp);

CREATE TABLE IF NOT EXISTS schema_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP
);
";

/// Records the version, as the original does on every open.
pub(crate) const SET_VERSION: &str =
    "INSERT OR REPLACE INTO schema_info (key, value) VALUES ('version', ?1)";

/// Every table of schema `2.0.0`.
pub const TABLE_NAMES: [&str; 7] = [
    "agent_events",
    "agent_registry",
    "session_memory",
    "task_metrics",
    "agent_metrics",
    "swarm_metrics",
    "schema_info",
];

/// What an existing file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// No tables: a new file.
    Empty,
    /// MoAI-Flow's key/value `schema_info` at [`SCHEMA_VERSION`], every table present.
    Current,
    /// MoAI-Flow's layout at an older version, or at this one with tables missing: the original
    /// upgrades it by creating what is missing and recording the version, and so does the SDK.
    Older(String),
    /// MoAI-Flow's layout at a newer version than this SDK knows.
    Newer(String),
    /// The SDK's own layout from before it adopted MoAI-Flow's (`schema_info(version INTEGER,
    /// applied_at)` at version 2).
    SdkLegacy,
    /// Anything else, described for the error message.
    Unknown(String),
}

impl Layout {
    /// How an error names the layout found.
    pub(crate) fn describe(&self) -> String {
        match self {
            Layout::Empty => "an empty database".into(),
            Layout::Current => format!("MoAI-Flow schema {SCHEMA_VERSION}"),
            Layout::Older(v) | Layout::Newer(v) => format!("MoAI-Flow schema {v}"),
            Layout::SdkLegacy => {
                "the pre-compatibility moai-instrument layout (schema_info.version = 2)".into()
            }
            Layout::Unknown(what) => what.clone(),
        }
    }
}

/// Reads the layout of the open file; writes nothing.
pub(crate) fn detect(conn: &Connection) -> rusqlite::Result<Layout> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let tables: Vec<String> = stmt
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    classify(
        &tables,
        |table| column_names(conn, table),
        || {
            conn.query_row(
                "SELECT value FROM schema_info WHERE key = 'version'",
                [],
                |row| row.get(0),
            )
            .optional()
        },
        || conn.query_row("SELECT MAX(version) FROM schema_info", [], |row| row.get(0)),
    )
}

/// The layout of a database with `tables`, reading a table's columns, `schema_info`'s key/value
/// `version` row, or the SDK's legacy `MAX(version)` only as far as deciding needs: the same
/// rules for every backend.
pub(crate) fn classify<E>(
    tables: &[String],
    mut columns_of: impl FnMut(&str) -> Result<Vec<String>, E>,
    version: impl FnOnce() -> Result<Option<String>, E>,
    legacy_version: impl FnOnce() -> Result<Option<i64>, E>,
) -> Result<Layout, E> {
    if tables.is_empty() {
        return Ok(Layout::Empty);
    }
    if !tables.iter().any(|t| t == "schema_info") {
        return Ok(Layout::Unknown(format!(
            "tables {} and no schema_info",
            tables.join(", ")
        )));
    }
    let columns = columns_of("schema_info")?;
    let has = |name: &str| columns.iter().any(|c| c == name);
    if has("key") && has("value") {
        let Some(version) = version()? else {
            return Ok(Layout::Unknown(
                "a schema_info table without a version row".into(),
            ));
        };
        let Some(found) = parse_version(&version) else {
            return Ok(Layout::Unknown(format!(
                "schema_info version {version:?}, which is not a version number"
            )));
        };
        let supported = parse_version(SCHEMA_VERSION).unwrap_or_default();
        if found <= supported
            && let Some(problem) = missing_columns(tables, &mut columns_of)?
        {
            return Ok(Layout::Unknown(format!(
                "schema_info version {version} but {problem}"
            )));
        }
        let complete = TABLE_NAMES.iter().all(|t| tables.iter().any(|x| x == t));
        return Ok(match found.cmp(&supported) {
            std::cmp::Ordering::Greater => Layout::Newer(version),
            std::cmp::Ordering::Equal if complete => Layout::Current,
            _ => Layout::Older(version),
        });
    }
    if has("version") && has("applied_at") {
        return Ok(match legacy_version()? {
            Some(2) => Layout::SdkLegacy,
            other => Layout::Unknown(format!(
                "the pre-compatibility moai-instrument layout at version {}",
                other.map_or_else(|| "none".to_owned(), |v| v.to_string())
            )),
        });
    }
    Ok(Layout::Unknown(format!(
        "a schema_info table with columns {}",
        columns.join(", ")
    )))
}

/// The first of the original's tables present in the database that lacks one of its columns:
/// a database that claims the version but was changed by hand, which every query would then
/// fail on.
fn missing_columns<E>(
    tables: &[String],
    columns_of: &mut impl FnMut(&str) -> Result<Vec<String>, E>,
) -> Result<Option<String>, E> {
    for (table, columns) in expected_columns() {
        if !tables.contains(table) {
            continue;
        }
        let found = columns_of(table)?;
        if let Some(missing) = columns.iter().find(|c| !found.contains(c)) {
            return Ok(Some(format!("table {table} has no column {missing}")));
        }
    }
    Ok(None)
}

/// Each of the original's tables with its columns, read once from the schema created in memory.
/// Empty if SQLite could not do that (it always can: the schema is a constant the tests run), in
/// which case the column check finds nothing rather than refusing every file.
fn expected_columns() -> &'static [(String, Vec<String>)] {
    static EXPECTED: std::sync::OnceLock<Vec<(String, Vec<String>)>> = std::sync::OnceLock::new();
    EXPECTED.get_or_init(|| {
        let read = || -> rusqlite::Result<Vec<(String, Vec<String>)>> {
            let reference = Connection::open_in_memory()?;
            reference.execute_batch(SCHEMA_SQL)?;
            TABLE_NAMES
                .iter()
                .map(|table| Ok(((*table).to_owned(), column_names(&reference, table)?)))
                .collect()
        };
        read().unwrap_or_default()
    })
}

pub(crate) fn column_names(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    stmt.query_map([table], |row| row.get(0))?.collect()
}

/// `major.minor.patch` as numbers; `None` for anything else.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.trim().split('.').map(|p| p.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

/// The error for a layout the SDK will not open.
pub(crate) fn refused(db: &Location, layout: Layout, reason: Option<String>) -> SwarmDbError {
    match layout {
        Layout::Newer(found) => SwarmDbError::NewerSchema {
            db: db.clone(),
            found,
            supported: SCHEMA_VERSION,
        },
        other => SwarmDbError::UnsupportedLayout {
            db: db.clone(),
            found: other.describe(),
            supported: SCHEMA_VERSION,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(parse_version("2.0.0"), Some((2, 0, 0)));
        assert!(parse_version("10.0.0") > parse_version("2.0.0"));
        assert_eq!(parse_version("2.x"), None);
        assert_eq!(parse_version("2.0.0.1"), None);
    }
}
