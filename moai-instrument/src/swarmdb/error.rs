//! Why a SwarmDB operation failed: each names the operation, the file and the cause, once.
//!
//! Printed as a chain (`Display`, then each `source()`), an error reads
//! `SwarmDB insert_event failed on /data/swarm.db: the disk is full`: the SQLite cause is a
//! [`SqliteError`], whose text is the one sentence an operator acts on and which does not repeat
//! itself through a further source.

use std::fmt;
use std::path::PathBuf;

/// A SwarmDB failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwarmDbError {
    /// The database's directory could not be created.
    #[error("cannot create the SwarmDB directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file (or its directory) does not exist, and the caller opens existing databases only
    /// (probes never create one).
    #[error("SwarmDB {path} does not exist (the application creates it when it starts)")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be opened, or is not a usable SQLite database.
    #[error("cannot open SwarmDB at {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: SqliteError,
    },
    /// The file holds a layout this SDK neither reads nor migrates.
    #[error("SwarmDB at {path} holds {found}, not MoAI-Flow's schema {supported}{}",
        reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    UnsupportedLayout {
        /// The file.
        path: PathBuf,
        /// What was found, in words (tables, `schema_info` shape or version).
        found: String,
        /// The version this SDK reads and writes.
        supported: &'static str,
        /// Why a migration was refused, when one was tried.
        reason: Option<String>,
    },
    /// The file was written by a newer MoAI-Flow schema than this SDK knows.
    #[error(
        "SwarmDB at {path} has schema version {found}, newer than the supported {supported}: upgrade moai-instrument"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The version in the file's `schema_info`.
        found: String,
        /// The newest this SDK supports.
        supported: &'static str,
    },
    /// The file is at an older schema or needs a migration, and the caller opened it without
    /// writing (a probe): the application migrates it when it opens it.
    #[error(
        "SwarmDB at {path} holds {found} and needs a migration, which the application makes when it opens it"
    )]
    NeedsMigration {
        /// The file.
        path: PathBuf,
        /// What was found.
        found: String,
    },
    /// An operation failed in SQLite.
    #[error("SwarmDB {operation} failed on {path}")]
    Query {
        /// The operation, e.g. `insert_event`.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: SqliteError,
    },
    /// An event type outside `spawn`, `complete`, `error`.
    #[error("unknown event type {0:?}: expected spawn, complete or error")]
    UnknownEventType(String),
    /// A status outside `spawned`, `running`, `complete`, `error`.
    #[error("unknown agent status {0:?}: expected spawned, running, complete or error")]
    UnknownStatus(String),
    /// A memory type outside `semantic`, `episodic`, `context_hint`.
    #[error("unknown memory type {0:?}: expected semantic, episodic or context_hint")]
    UnknownMemoryType(String),
    /// A stored instant that is not a number of Unix seconds.
    #[error("agent {agent_id:?} has a {column} of {value:?}, which is not a time")]
    BadTime {
        /// The agent.
        agent_id: String,
        /// `spawn_time` or `complete_time`.
        column: &'static str,
        /// The stored value.
        value: f64,
    },
    /// An operation refused its input, or found nothing to act on.
    #[error("SwarmDB {operation} on {path} refused")]
    Rejected {
        /// The operation, e.g. `update_agent_status`.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        reason: Rejection,
    },
    /// The database file is gone from its path while open (deleted or moved): what is written
    /// now would be lost when the process exits.
    #[error("the SwarmDB file {path} was deleted or moved while open")]
    FileMissing {
        /// Where the file was.
        path: PathBuf,
    },
    /// The database file's size could not be read.
    #[error("cannot read the size of {path}")]
    Size {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The session state file could not be written.
    #[error("cannot write the session state to {path}")]
    SessionState {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Why an operation refused its input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// An event timestamp that is not ISO 8601 text as MoAI-Flow writes it: MoAI-Flow orders
    /// and expires events by comparing this text, so another form would sort wrongly.
    #[error(
        "event timestamp {0:?} is not ISO 8601 local time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.ffffff]])"
    )]
    BadTimestamp(String),
    /// No agent with this id is registered.
    #[error("agent {0:?} is not registered")]
    AgentNotFound(String),
    /// Metadata that is not a JSON object (or null).
    #[error("metadata must be a JSON object, got {0}")]
    MetadataNotObject(String),
}

impl SwarmDbError {
    /// SQLite's result code, for errors that come from SQLite.
    #[must_use]
    pub fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            SwarmDbError::Open { source, .. } | SwarmDbError::Query { source, .. } => source.code(),
            _ => None,
        }
    }
}

/// An SQLite failure, told in the words an operator acts on ("the disk is full", "the database
/// is locked by another connection past the busy timeout"), else in SQLite's own message.
#[derive(Debug)]
pub struct SqliteError(rusqlite::Error);

impl SqliteError {
    /// SQLite's result code, if SQLite reported one.
    #[must_use]
    pub fn code(&self) -> Option<rusqlite::ErrorCode> {
        self.0.sqlite_error_code()
    }

    /// The `rusqlite` error.
    #[must_use]
    pub fn inner(&self) -> &rusqlite::Error {
        &self.0
    }
}

impl From<rusqlite::Error> for SqliteError {
    fn from(error: rusqlite::Error) -> Self {
        SqliteError(error)
    }
}

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use rusqlite::ErrorCode as Code;
        let plain = match self.code() {
            Some(Code::NotADatabase) => "the file is not a SQLite database or is corrupted",
            Some(Code::DatabaseCorrupt) => "the database file is corrupted",
            Some(Code::ReadOnly) => "the database is read-only",
            Some(Code::CannotOpen) => {
                "the file cannot be opened (missing directory or permissions)"
            }
            Some(Code::DatabaseBusy | Code::DatabaseLocked) => {
                "the database is locked by another connection past the busy timeout"
            }
            Some(Code::DiskFull) => "the disk is full",
            Some(Code::SystemIoFailure) => {
                "disk I/O error (the disk or a file size limit may be full, or the device failing)"
            }
            Some(Code::PermissionDenied) => "permission denied",
            // SQLite's message about a statement, with the start of the statement (rusqlite's
            // own text quotes all of it, which for the schema is sixty lines).
            _ => {
                if let rusqlite::Error::SqlInputError { msg, sql, .. } = &self.0 {
                    let statement = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                    let mut start: String = statement.chars().take(60).collect();
                    if start.len() < statement.len() {
                        start.push_str("...");
                    }
                    return write!(f, "{msg} (in `{start}`)");
                }
                // SQLite's own message ("no such table: ..."), without rusqlite's source, which
                // would say the code again ("Error code 1: SQL logic error").
                return fmt::Display::fmt(&self.0, f);
            }
        };
        f.write_str(plain)
    }
}

// No `source()`: the text above is the whole cause, said once.
impl std::error::Error for SqliteError {}
