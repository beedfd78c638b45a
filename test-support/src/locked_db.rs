//! A SwarmDB file seen from another connection: a lock held on it, as a stuck writer holds one,
//! and the rows that are really stored.

use std::path::Path;

/// A connection that holds the write lock of the SQLite database at `path` (an open
/// `BEGIN EXCLUSIVE` transaction with a row written) until it is dropped. With `exclusive_mode`
/// it also takes `PRAGMA locking_mode = EXCLUSIVE`, so that readers are shut out too.
pub struct LockedDatabase(rusqlite::Connection);

impl LockedDatabase {
    /// Takes the lock; panics (fails the test) when it cannot.
    pub fn hold(path: &Path, exclusive_mode: bool) -> LockedDatabase {
        let connection = rusqlite::Connection::open(path).expect("open the database to lock it");
        let mode = if exclusive_mode {
            "PRAGMA locking_mode = EXCLUSIVE; "
        } else {
            ""
        };
        connection
            .execute_batch(&format!(
                "{mode}BEGIN EXCLUSIVE; \
                 INSERT INTO swarm_metrics (swarm_id, metric_type, value) VALUES ('lock', 'health', 1);"
            ))
            .expect("take the write lock");
        LockedDatabase(connection)
    }
}

impl LockedDatabase {
    /// Commits the held transaction (its row stays) and lets the lock go.
    pub fn commit(self) {
        self.0
            .execute_batch("COMMIT")
            .expect("commit the held transaction");
    }

    /// Rolls the held transaction back and lets the lock go (dropping does the same).
    pub fn rollback(self) {
        self.0
            .execute_batch("ROLLBACK")
            .expect("roll back the held transaction");
    }
}

/// The `event_id`s stored in the SwarmDB file at `path`, in rowid order, read by a connection of
/// its own after `PRAGMA integrity_check` says `ok` (what survived, as another process sees it).
pub fn stored_event_ids(path: &Path) -> Vec<String> {
    let raw = rusqlite::Connection::open(path).expect("open the database to read it");
    let check: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check runs");
    assert_eq!(check, "ok", "{}", path.display());
    let mut stmt = raw
        .prepare("SELECT event_id FROM agent_events ORDER BY id")
        .expect("agent_events");
    stmt.query_map([], |r| r.get(0))
        .expect("read agent_events")
        .map(|id| id.expect("an event_id"))
        .collect()
}
