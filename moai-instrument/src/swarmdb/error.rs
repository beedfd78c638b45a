//! Why a SwarmDB operation failed: each names the operation or input at fault and keeps its
//! cause.

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
    /// The file could not be opened or is not a usable SQLite database.
    #[error("cannot open SwarmDB at {path}: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong, in words (corrupt, read-only, locked, ...).
        reason: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer version of the schema than this SDK knows.
    #[error(
        "SwarmDB at {path} has schema version {found}, newer than the supported {supported}: upgrade moai-instrument"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest this SDK supports.
        supported: i64,
    },
    /// An operation failed in SQLite.
    #[error("SwarmDB {operation} failed: {reason}")]
    Query {
        /// The operation, e.g. `insert_event`.
        operation: &'static str,
        /// What went wrong, in words.
        reason: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// An event type outside `spawn`, `complete`, `error`.
    #[error("unknown event type {0:?}: expected spawn, complete or error")]
    UnknownEventType(String),
    /// A status outside `spawned`, `running`, `complete`, `error`.
    #[error("unknown agent status {0:?}: expected spawned, running, complete or error")]
    UnknownStatus(String),
    /// No agent with this id is registered.
    #[error("agent {0:?} is not registered")]
    AgentNotFound(String),
    /// Metadata that is not a JSON object (or null).
    #[error("metadata must be a JSON object, got {0}")]
    MetadataNotObject(String),
    /// Stored JSON that does not parse, or a value that does not serialize.
    #[error("invalid metadata JSON: {0}")]
    Metadata(#[source] serde_json::Error),
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
}

/// A short description of an SQLite failure for people: the part operators act on.
pub(crate) fn describe(error: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as Code;
    match error.sqlite_error_code() {
        Some(Code::NotADatabase) => "the file is not a SQLite database or is corrupted".into(),
        Some(Code::DatabaseCorrupt) => "the database file is corrupted".into(),
        Some(Code::ReadOnly) => "the database is read-only".into(),
        Some(Code::CannotOpen) => {
            "the file cannot be opened (missing directory or permissions)".into()
        }
        Some(Code::DatabaseBusy) | Some(Code::DatabaseLocked) => {
            "the database is locked by another connection past the busy timeout".into()
        }
        Some(Code::DiskFull) => "the disk is full".into(),
        Some(Code::SystemIoFailure) => {
            "disk I/O error (the disk or a file size limit may be full, or the device failing)"
                .into()
        }
        Some(Code::PermissionDenied) => "permission denied".into(),
        _ => error.to_string(),
    }
}
