//! Bringing a file to schema `2.0.0` when the application opens it: create the original's
//! tables in a new or older MoAI-Flow file (as MoAI-Flow itself does on open), and convert the
//! SDK's own pre-compatibility layout row for row. Each runs in one `BEGIN IMMEDIATE`
//! transaction: a failure leaves the file as it was, and two processes opening a new file at
//! once do not both create it.

use rusqlite::{Connection, TransactionBehavior};

use super::schema::{self, Layout, SCHEMA_SQL, SCHEMA_VERSION, SET_VERSION};

/// What [`upgrade`] did, or why it would not.
pub(crate) enum Outcome {
    /// The file is at [`SCHEMA_VERSION`] now.
    Ready,
    /// It holds something this SDK must not write to.
    Refused(Layout, Option<String>),
}

/// Brings the open file to the current schema, deciding under the write lock (another process
/// may have created or migrated it since the caller looked).
pub(crate) fn upgrade(conn: &mut Connection) -> rusqlite::Result<Outcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let layout = schema::detect(&tx)?;
    match layout {
        Layout::Current => return Ok(Outcome::Ready),
        Layout::Empty | Layout::Older(_) => {}
        Layout::SdkLegacy => {
            if let Some(reason) = convert_legacy(&tx)? {
                return Ok(Outcome::Refused(layout, Some(reason)));
            }
        }
        Layout::Newer(_) | Layout::Unknown(_) => return Ok(Outcome::Refused(layout, None)),
    }
    tx.execute_batch(SCHEMA_SQL)?;
    tx.execute(SET_VERSION, [SCHEMA_VERSION])?;
    tx.commit()?;
    Ok(Outcome::Ready)
}

/// The legacy tables, renamed out of the way before the original's are created.
const LEGACY: [&str; 7] = schema::TABLE_NAMES;

/// Converts the SDK's pre-compatibility layout inside `tx`: each table is renamed, its indexes
/// dropped (their names are the original's too), the original's table created, the rows copied
/// with the original's encodings, the counts compared, and the old table dropped.
/// `Ok(Some(reason))` when a table holds rows the original's schema cannot keep.
fn convert_legacy(tx: &Connection) -> rusqlite::Result<Option<String>> {
    // `task_metrics` of the old layout kept a task type and metadata that the original's has no
    // column for; the SDK never wrote that table, so a file with rows in it came from elsewhere.
    let tasks: i64 = tx.query_row("SELECT COUNT(*) FROM task_metrics", [], |r| r.get(0))?;
    if tasks > 0 {
        return Ok(Some(format!(
            "its task_metrics table holds {tasks} rows with task_type and metadata columns that \
             MoAI-Flow's task_metrics has no place for"
        )));
    }
    for table in LEGACY {
        let indexes: Vec<String> = tx
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL",
            )?
            .query_map([table], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for index in indexes {
            tx.execute_batch(&format!("DROP INDEX \"{index}\""))?;
        }
        tx.execute_batch(&format!("ALTER TABLE {table} RENAME TO legacy_{table}"))?;
    }
    tx.execute_batch(SCHEMA_SQL)?;
    // Old timestamps are RFC 3339 UTC (`...123456Z`): the original's naive ISO form drops the
    // `Z`; instants become REAL Unix seconds.
    let copies: [(&str, &str); 5] = [
        (
            "agent_events",
            "INSERT INTO agent_events (event_id, event_type, agent_id, agent_type, timestamp, metadata)
             SELECT event_id, event_type, agent_id, agent_type, rtrim(timestamp, 'Z'), metadata
             FROM legacy_agent_events ORDER BY timestamp, rowid",
        ),
        (
            "agent_registry",
            "INSERT INTO agent_registry (agent_id, agent_type, status, spawn_time, complete_time,
                 duration_ms, metadata, last_updated)
             SELECT agent_id, agent_type, status, (julianday(spawn_time) - 2440587.5) * 86400.0,
                 (julianday(complete_time) - 2440587.5) * 86400.0, duration_ms, metadata,
                 rtrim(last_updated, 'Z')
             FROM legacy_agent_registry",
        ),
        (
            // The old layout kept one value per (session, key) and no memory type: it becomes
            // `semantic` memory (long-lived), its last write the version's timestamp.
            "session_memory",
            "INSERT INTO session_memory (session_id, memory_type, key, value, timestamp, ttl_hours, created_at)
             SELECT session_id, 'semantic', key, value, rtrim(updated_at, 'Z'), NULL, rtrim(created_at, 'Z')
             FROM legacy_session_memory ORDER BY updated_at, rowid",
        ),
        (
            "agent_metrics",
            "INSERT INTO agent_metrics (agent_id, metric_type, value, timestamp)
             SELECT agent_id, metric_name, metric_value, rtrim(recorded_at, 'Z') FROM legacy_agent_metrics",
        ),
        (
            "swarm_metrics",
            "INSERT INTO swarm_metrics (swarm_id, metric_type, value, timestamp)
             SELECT 'default', metric_name, metric_value, rtrim(recorded_at, 'Z') FROM legacy_swarm_metrics",
        ),
    ];
    for (table, copy) in copies {
        tx.execute_batch(copy)?;
        let (old, new): (i64, i64) = tx.query_row(
            &format!(
                "SELECT (SELECT COUNT(*) FROM legacy_{table}), (SELECT COUNT(*) FROM {table})"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if old != new {
            return Ok(Some(format!(
                "{table}: {old} rows before and {new} after the conversion"
            )));
        }
    }
    for table in LEGACY {
        tx.execute_batch(&format!("DROP TABLE legacy_{table}"))?;
    }
    Ok(None)
}
