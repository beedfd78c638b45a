//! Why a SwarmDB operation failed: each names the operation, the database (a file, or a
//! PostgreSQL server without its password) and the cause, once.
//!
//! Printed as a chain (`Display`, then each `source()`), an error reads
//! `SwarmDB insert_event failed on /data/swarm.db: the disk is full`, or
//! `SwarmDB insert_event failed on postgres://moai@db:5432/moai: the server refused the
//! connection ...`: the backend's cause is a [`DbError`] of an [`ErrorKind`] shared by both
//! backends, whose text is the one sentence an operator acts on and which does not repeat itself
//! through a further source.

use std::fmt;
use std::path::PathBuf;

/// A SwarmDB failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwarmDbError {
    /// The path is empty: SQLite would open a private temporary database that vanishes with the
    /// handle, never the file the app and its probes share.
    #[error(
        "SwarmDB needs a file path, and the path is empty (is MOAI_DB_PATH set to an empty value?)"
    )]
    EmptyPath,
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
    /// The database could not be opened: not a usable SQLite file, or a PostgreSQL server that
    /// cannot be reached or refuses the credentials.
    #[error("cannot open SwarmDB at {db}")]
    Open {
        /// The file or server.
        db: Location,
        /// The backend's error.
        #[source]
        source: DbError,
    },
    /// A `MOAI_DB_URL` that is not a PostgreSQL connection string.
    #[error("{url} is not a PostgreSQL connection URL: {reason}")]
    InvalidUrl {
        /// The URL, its password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An environment variable of SwarmDB's with a value it cannot use.
    #[error("{variable}={value:?} is not valid: expected {expected}")]
    InvalidSetting {
        /// The variable, e.g. `MOAI_DB_POOL_SIZE`.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// The file holds a layout this SDK neither reads nor migrates.
    #[error("SwarmDB at {db} holds {found}, not MoAI-Flow's schema {supported}{}",
        reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    UnsupportedLayout {
        /// The file or server.
        db: Location,
        /// What was found, in words (tables, `schema_info` shape or version).
        found: String,
        /// The version this SDK reads and writes.
        supported: &'static str,
        /// Why a migration was refused, when one was tried.
        reason: Option<String>,
    },
    /// The file was written by a newer MoAI-Flow schema than this SDK knows.
    #[error(
        "SwarmDB at {db} has schema version {found}, newer than the supported {supported}: upgrade moai-instrument"
    )]
    NewerSchema {
        /// The file or server.
        db: Location,
        /// The version in the file's `schema_info`.
        found: String,
        /// The newest this SDK supports.
        supported: &'static str,
    },
    /// The file is at an older schema or needs a migration, and the caller opened it without
    /// writing (a probe): the application migrates it when it opens it.
    #[error(
        "SwarmDB at {db} holds {found} and needs a migration, which the application makes when it opens it"
    )]
    NeedsMigration {
        /// The file or server.
        db: Location,
        /// What was found.
        found: String,
    },
    /// An operation failed in the backend (SQLite, or the PostgreSQL server).
    #[error("SwarmDB {operation} failed on {db}")]
    Query {
        /// The operation, e.g. `insert_event`.
        operation: &'static str,
        /// The file or server.
        db: Location,
        /// The backend's error.
        #[source]
        source: DbError,
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
    #[error("SwarmDB {operation} on {db} refused")]
    Rejected {
        /// The operation, e.g. `update_agent_status`.
        operation: &'static str,
        /// The file or server.
        db: Location,
        /// What was wrong.
        #[source]
        reason: Rejection,
    },
    /// An operation this backend does not offer (a file backup on PostgreSQL), with what to do
    /// instead.
    #[error("SwarmDB {operation} is not available on {db}: {instead}")]
    Unsupported {
        /// The operation, e.g. `backup`.
        operation: &'static str,
        /// The file or server.
        db: Location,
        /// What to use instead.
        instead: &'static str,
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
        self.db_error().and_then(DbError::code)
    }

    /// What kind of backend failure this is, for errors that come from the backend.
    #[must_use]
    pub fn kind(&self) -> Option<ErrorKind> {
        self.db_error().map(DbError::kind)
    }

    fn db_error(&self) -> Option<&DbError> {
        match self {
            SwarmDbError::Open { source, .. } | SwarmDbError::Query { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where a SwarmDB lives, as errors and logs name it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// An SQLite file, shown as its path.
    File(PathBuf),
    /// A PostgreSQL server, shown as `postgres://user@host:port/dbname`: never the password.
    Server(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => fmt::Display::fmt(&path.display(), f),
            Location::Server(server) => f.write_str(server),
        }
    }
}

/// The kinds of backend failure, the same on SQLite and PostgreSQL, so that callers and
/// operators meet one vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Locked by another connection (SQLite's busy/locked, a PostgreSQL lock or deadlock), or no
    /// pooled connection came free, past the timeout.
    Busy,
    /// The database takes no writes (a read-only file or a read-only server).
    ReadOnly,
    /// No space left for the database.
    DiskFull,
    /// The file is not an SQLite database, or is damaged.
    Corrupt,
    /// The file cannot be opened (missing directory, permissions).
    CannotOpen,
    /// The operating system refused access.
    PermissionDenied,
    /// Disk I/O failed.
    Io,
    /// Syncing the database to disk failed: what was written since the last sync may be lost,
    /// and no write is accepted until the database is reopened (a restart does it).
    MustReopen,
    /// The server refused the TCP connection: nothing listens at the host and port.
    ConnectionRefused,
    /// The server could not be reached: its name does not resolve, no route leads to it, or it
    /// did not answer within `connect_timeout`.
    Unreachable,
    /// The connection to the server was lost (a server that shuts down or restarts, a reset).
    ConnectionLost,
    /// No answer in time: the server cancelled the statement at `statement_timeout` (SQLSTATE
    /// `57014`), or it did not answer within the call's deadline (a partition, a server that
    /// hangs), and the connection was dropped.
    Timeout,
    /// A lock another session holds was not granted within `lock_timeout` (SQLSTATE `55P03`).
    Locked,
    /// The server has no connection slot left (`max_connections` reached, SQLSTATE `53300`).
    TooManyConnections,
    /// Every connection of this process's pool stayed in use past the checkout timeout.
    PoolExhausted,
    /// The server refused the user or password.
    AuthFailed,
    /// The server has no database of that name.
    NoSuchDatabase,
    /// A uniqueness or other constraint refused the write (a duplicate `event_id`).
    Constraint,
    /// Anything else: the backend's own message says what.
    Other,
}

impl ErrorKind {
    /// Whether the server is unavailable now and waiting may cure it (refused, unreachable,
    /// lost, timed out, a lock held by another session, out of connection slots), as opposed to what only a configuration change
    /// cures (credentials, an unknown database, a malformed URL). An application starts on an
    /// unavailable server and connects when it answers; a probe reports it.
    #[must_use]
    pub fn is_unavailable(self) -> bool {
        matches!(
            self,
            ErrorKind::ConnectionRefused
                | ErrorKind::Unreachable
                | ErrorKind::ConnectionLost
                | ErrorKind::Timeout
                | ErrorKind::Locked
                | ErrorKind::TooManyConnections
        )
    }

    /// The sentence an operator acts on; `None` where the backend's own message says more.
    fn plain(self) -> Option<&'static str> {
        Some(match self {
            ErrorKind::Busy => "the database is locked by another connection past the busy timeout",
            ErrorKind::ReadOnly => "the database is read-only",
            ErrorKind::DiskFull => "the disk is full",
            ErrorKind::CannotOpen => "the file cannot be opened (missing directory or permissions)",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Io => {
                "disk I/O error (the disk or a file size limit may be full, or the device failing)"
            }
            ErrorKind::ConnectionRefused => {
                "the server refused the connection (is PostgreSQL running and listening there?)"
            }
            ErrorKind::TooManyConnections => {
                "the server has no connection slot left (max_connections reached: see the README's connection budget)"
            }
            ErrorKind::AuthFailed => {
                "the server refused the credentials (wrong user or password in the URL or PGPASSFILE)"
            }
            // The flush's own message names the file, the cause and that a reopen is needed.
            ErrorKind::MustReopen
            | ErrorKind::Corrupt
            | ErrorKind::ConnectionLost
            | ErrorKind::Unreachable
            | ErrorKind::Timeout
            | ErrorKind::Locked
            | ErrorKind::PoolExhausted
            | ErrorKind::NoSuchDatabase
            | ErrorKind::Constraint
            | ErrorKind::Other => return None,
        })
    }
}

/// A backend failure, told in the words an operator acts on ("the disk is full", "the server
/// refused the connection"), else in the backend's own message.
#[derive(Debug)]
pub struct DbError {
    kind: ErrorKind,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Sqlite(rusqlite::Error),
    /// The server's or the connection's message, which never holds the password.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Text(String),
}

/// The former name of [`DbError`], from when SQLite was the only backend.
pub type SqliteError = DbError;

impl DbError {
    /// A failure of another backend (PostgreSQL), of `kind`, with its message (which must not
    /// hold a password).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn text(kind: ErrorKind, message: impl Into<String>) -> Self {
        DbError {
            kind,
            cause: Cause::Text(message.into()),
        }
    }

    /// What kind of failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// SQLite's result code, if SQLite reported one.
    #[must_use]
    pub fn code(&self) -> Option<rusqlite::ErrorCode> {
        match &self.cause {
            Cause::Sqlite(e) => e.sqlite_error_code(),
            Cause::Text(_) => None,
        }
    }

    /// The `rusqlite` error, for failures that come from SQLite.
    #[must_use]
    pub fn sqlite(&self) -> Option<&rusqlite::Error> {
        match &self.cause {
            Cause::Sqlite(e) => Some(e),
            Cause::Text(_) => None,
        }
    }
}

fn error_extended_code(error: &rusqlite::Error) -> Option<i32> {
    match error {
        rusqlite::Error::SqliteFailure(e, _) => Some(e.extended_code),
        _ => None,
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as Code;
        let kind = match error.sqlite_error_code() {
            Some(Code::NotADatabase | Code::DatabaseCorrupt) => ErrorKind::Corrupt,
            Some(Code::ReadOnly) => ErrorKind::ReadOnly,
            Some(Code::CannotOpen) => ErrorKind::CannotOpen,
            Some(Code::DatabaseBusy | Code::DatabaseLocked) => ErrorKind::Busy,
            Some(Code::DiskFull) => ErrorKind::DiskFull,
            // A failed fsync: the disk may have dropped what it acknowledged (see group_commit).
            Some(Code::SystemIoFailure)
                if error_extended_code(&error) == Some(rusqlite::ffi::SQLITE_IOERR_FSYNC) =>
            {
                ErrorKind::MustReopen
            }
            Some(Code::SystemIoFailure) => ErrorKind::Io,
            Some(Code::PermissionDenied) => ErrorKind::PermissionDenied,
            Some(Code::ConstraintViolation) => ErrorKind::Constraint,
            _ => ErrorKind::Other,
        };
        DbError {
            kind,
            cause: Cause::Sqlite(error),
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(plain) = self.kind.plain() {
            return f.write_str(plain);
        }
        match &self.cause {
            Cause::Sqlite(e) => match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => {
                    f.write_str("the file is not a SQLite database or is corrupted")
                }
                Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
                    f.write_str("the database file is corrupted")
                }
                // SQLite's message about a statement, with the start of the statement
                // (rusqlite's own text quotes all of it, which for the schema is sixty lines).
                _ => {
                    if let rusqlite::Error::SqlInputError { msg, sql, .. } = e {
                        let statement = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                        let mut start: String = statement.chars().take(60).collect();
                        if start.len() < statement.len() {
                            start.push_str("...");
                        }
                        return write!(f, "{msg} (in `{start}`)");
                    }
                    // SQLite's own message ("no such table: ..."), without rusqlite's source,
                    // which would say the code again ("Error code 1: SQL logic error").
                    fmt::Display::fmt(e, f)
                }
            },
            Cause::Text(text) => f.write_str(text),
        }
    }
}

// No `source()`: the text above is the whole cause, said once.
impl std::error::Error for DbError {}
