//! The PostgreSQL client under the shared backend: tokio-postgres connections in r2d2 pools,
//! every call under a deadline.
//!
//! Why not the `postgres` crate's blocking client: it has no deadline per call, so a server
//! partitioned away (packets dropped, no reset) held a call until TCP gave up, a minute or more.
//! Here a call is the tokio-postgres future run under `tokio::time::timeout` on the caller's
//! thread (`pollster`), while the connections' I/O runs on one runtime thread of SwarmDB's own
//! (`moai-swarmdb-pg`); a call made from inside a host's async runtime therefore does not start
//! a second runtime there. A call past its deadline drops its connection: the server rolls back
//! its transaction, and nothing it did was acknowledged.
//!
//! # Deadlines (each from the URL, else the default)
//!
//! | What | URL parameter | Default |
//! |---|---|---|
//! | TCP connect and start-up | `connect_timeout` (seconds) | 5 s |
//! | a statement, on the server | `options=-c statement_timeout=...` | 10 s |
//! | waiting for a lock, on the server | `options=-c lock_timeout=...` | 5 s |
//! | a call, on the client | `statement_timeout` + 1 s | 11 s |
//! | TCP keepalive | `keepalives_idle`, `keepalives_interval`, `keepalives_retries` | 10 s, 5 s, 3 |
//! | unacknowledged data | `tcp_user_timeout` | 30 s |

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::error::{DbError, ErrorKind};

/// TCP connect and the start-up exchange, per host.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server cancels a statement running longer (`statement_timeout`).
pub(crate) const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// The server gives up waiting for a lock after this (`lock_timeout`): a held table lock is
/// "locked", told apart from a slow statement.
pub(crate) const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// The client waits this much longer than `statement_timeout` for the server's answer (the
/// server's own cancellation, then the network).
const CALL_MARGIN: Duration = Duration::from_secs(1);
const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(10);
const DEFAULT_KEEPALIVES_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_KEEPALIVES_RETRIES: u32 = 3;
const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
/// tokio-postgres' own `keepalives_idle` when the URL gives none.
const LIBRARY_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// The deadlines of one server's connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    pub(crate) connect: Duration,
    pub(crate) statement: Duration,
    pub(crate) lock: Duration,
    /// How long the client waits for any one call: `statement` + 1 s.
    pub(crate) call: Duration,
}

/// Applies the defaults the URL leaves open and returns the deadlines; `Err` names a server
/// setting in `options` that is not a duration.
pub(crate) fn settle(config: &mut Config) -> Result<Deadlines, String> {
    let connect = match config.get_connect_timeout() {
        Some(t) => *t,
        None => {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
            DEFAULT_CONNECT_TIMEOUT
        }
    };
    let options = config.get_options().unwrap_or_default().to_owned();
    let mut extra = Vec::new();
    let mut setting = |name: &str, default: Duration| -> Result<Duration, String> {
        match server_setting(&options, name) {
            Some(value) => parse_pg_duration(value).ok_or_else(|| {
                format!(
                    "options sets {name}={value}, which is not a PostgreSQL duration (e.g. 5s, 500ms)"
                )
            }),
            None => {
                extra.push(format!("-c {name}={}", default.as_millis()));
                Ok(default)
            }
        }
    };
    let statement = setting("statement_timeout", DEFAULT_STATEMENT_TIMEOUT)?;
    let lock = setting("lock_timeout", DEFAULT_LOCK_TIMEOUT)?;
    if !extra.is_empty() {
        let joined = std::iter::once(options.as_str())
            .filter(|o| !o.trim().is_empty())
            .chain(extra.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        config.options(&joined);
    }
    if config.get_keepalives_idle() == LIBRARY_KEEPALIVES_IDLE {
        config.keepalives_idle(DEFAULT_KEEPALIVES_IDLE);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(DEFAULT_KEEPALIVES_INTERVAL);
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(DEFAULT_KEEPALIVES_RETRIES);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(DEFAULT_TCP_USER_TIMEOUT);
    }
    // `0` turns the server's limit off; the client still waits no longer than the default.
    let waits = [statement, lock]
        .into_iter()
        .map(|t| {
            if t.is_zero() {
                DEFAULT_STATEMENT_TIMEOUT
            } else {
                t
            }
        })
        .max()
        .unwrap_or(DEFAULT_STATEMENT_TIMEOUT);
    Ok(Deadlines {
        connect,
        statement,
        lock,
        call: waits + CALL_MARGIN,
    })
}

/// The value `options` gives the server setting `name` (`-c name=value`, `-cname=value` or
/// `--name=value`), the last one winning as on the server.
fn server_setting<'a>(options: &'a str, name: &str) -> Option<&'a str> {
    let mut found = None;
    let mut words = options.split_whitespace();
    while let Some(word) = words.next() {
        let assignment = match word {
            "-c" => words.next().unwrap_or_default(),
            _ => word
                .strip_prefix("-c")
                .or_else(|| word.strip_prefix("--"))
                .unwrap_or_default(),
        };
        if let Some((key, value)) = assignment.split_once('=')
            && key.replace('-', "_") == name
        {
            found = Some(value);
        }
    }
    found
}

/// A PostgreSQL time setting: a number with `us`, `ms`, `s`, `min`, `h` or `d`, or a bare
/// number of milliseconds.
pub(crate) fn parse_pg_duration(text: &str) -> Option<Duration> {
    let text = text.trim().trim_matches('\'');
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "" | "ms" => number / 1000.0,
        "us" => number / 1_000_000.0,
        "s" => number,
        "min" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// The runtime whose one thread drives every connection's I/O and the deadlines' timers.
fn runtime() -> Result<&'static Runtime, DbError> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let _one_at_a_time = STARTING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("moai-swarmdb-pg")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| {
            DbError::text(
                ErrorKind::Other,
                format!("cannot start the PostgreSQL client's thread: {e}"),
            )
        })?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Runs `future` on this thread for at most `limit`; `None` when the limit passed.
fn within<F: Future>(runtime: &Runtime, limit: Duration, future: F) -> Option<F::Output> {
    let _timers = runtime.enter();
    pollster::block_on(tokio::time::timeout(limit, future)).ok()
}

/// One connection to the server, with its prepared statements.
pub(crate) struct PgConn {
    client: Client,
    runtime: &'static Runtime,
    task: tokio::task::JoinHandle<()>,
    statements: HashMap<String, Statement>,
    broken: bool,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // A connection dropped at its deadline may hang on a dead link: end it now. A healthy
        // one ends by itself once the client is gone (it says goodbye to the server first).
        if self.broken {
            self.task.abort();
        }
    }
}

impl PgConn {
    /// Connects under the connect deadline (TCP, TLS negotiation, authentication).
    pub(crate) fn open(config: &Config, deadlines: &Deadlines) -> Result<PgConn, DbError> {
        let runtime = runtime()?;
        let hosts = config.get_hosts().len().max(1) as u32;
        let limit = deadlines.connect * hosts;
        match within(runtime, limit, config.connect(NoTls)) {
            None => Err(DbError::text(
                ErrorKind::Unreachable,
                format!(
                    "the server did not answer within connect_timeout ({} s)",
                    deadlines.connect.as_secs_f64()
                ),
            )),
            Some(Err(e)) => Err(classify(&e)),
            Some(Ok((client, connection))) => {
                let task = runtime.spawn(async move {
                    let _ = connection.await;
                });
                Ok(PgConn {
                    client,
                    runtime,
                    task,
                    statements: HashMap::new(),
                    broken: false,
                })
            }
        }
    }

    /// Runs `work` on this connection for at most `limit`. Past it, or when the connection
    /// closed, the connection is marked broken (the pool drops it).
    pub(crate) fn call<T>(
        &mut self,
        limit: Duration,
        work: impl AsyncFnOnce(&mut PgConn) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, DbError> {
        let runtime = self.runtime;
        let outcome = within(runtime, limit, work(self));
        match outcome {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => {
                if self.client.is_closed() {
                    self.broken = true;
                }
                Err(classify(&e))
            }
            None => {
                self.broken = true;
                Err(DbError::text(
                    ErrorKind::Timeout,
                    format!(
                        "the server did not answer within {:.1} s (statement_timeout plus 1 s); the connection was dropped",
                        limit.as_secs_f64()
                    ),
                ))
            }
        }
    }

    /// The client, for statements run once (schema, transactions).
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Rows of `sql`, prepared once per connection: one round trip per call after the first.
    pub(crate) async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.prepared(sql).await?;
        self.client.query(&statement, params).await
    }

    /// Rows changed by `sql`, prepared once per connection.
    pub(crate) async fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = self.prepared(sql).await?;
        self.client.execute(&statement, params).await
    }

    async fn prepared(&mut self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).await?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// The last failed connection attempt, cleared by the next one that succeeds: while it is
/// recent, a call that finds no idle connection fails at once with its cause.
#[derive(Default)]
pub(crate) struct Outage(Mutex<Option<(Instant, ErrorKind, String)>>);

impl Outage {
    pub(crate) fn get(&self) -> Option<(Instant, ErrorKind, String)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    pub(crate) fn set(&self, value: Option<(Instant, ErrorKind, String)>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = value;
    }
}

/// Makes the pools' connections, and records in the [`Outage`] how each attempt went.
pub(crate) struct Manager {
    pub(crate) config: Config,
    /// The server, as logs name it.
    pub(crate) location: super::error::Location,
    pub(crate) deadlines: Deadlines,
    pub(crate) outage: Arc<Outage>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = DbError;

    fn connect(&self) -> Result<PgConn, DbError> {
        let before = self.outage.get();
        match PgConn::open(&self.config, &self.deadlines) {
            Ok(conn) => {
                self.outage.set(None);
                if before.is_some() {
                    tracing::info!(db = %self.location, "SwarmDB's server accepts connections again");
                }
                Ok(conn)
            }
            Err(e) => {
                // Said once when connecting starts to fail, or fails for another reason; the
                // `database` readiness check repeats it while it lasts.
                if before.as_ref().is_none_or(|(_, kind, _)| *kind != e.kind()) {
                    tracing::error!(
                        db = %self.location,
                        error = &e as &dyn std::error::Error,
                        "Cannot open a connection to SwarmDB's server"
                    );
                }
                self.outage
                    .set(Some((Instant::now(), e.kind(), e.to_string())));
                Err(e)
            }
        }
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), DbError> {
        conn.call(self.deadlines.call, async |c| {
            c.client().simple_query("").await.map(drop)
        })
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

/// The kind and the words of a client or server error, from the server's SQLSTATE where it
/// sent one; the server's messages and the socket's never hold the password.
pub(crate) fn classify(error: &tokio_postgres::Error) -> DbError {
    use tokio_postgres::error::SqlState as S;
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        let kind = match code {
            c if *c == S::INVALID_PASSWORD || *c == S::INVALID_AUTHORIZATION_SPECIFICATION => {
                ErrorKind::AuthFailed
            }
            c if *c == S::INVALID_CATALOG_NAME => ErrorKind::NoSuchDatabase,
            c if *c == S::READ_ONLY_SQL_TRANSACTION => ErrorKind::ReadOnly,
            c if *c == S::DISK_FULL => ErrorKind::DiskFull,
            c if *c == S::LOCK_NOT_AVAILABLE => ErrorKind::Locked,
            c if *c == S::QUERY_CANCELED => ErrorKind::Timeout,
            c if *c == S::TOO_MANY_CONNECTIONS => ErrorKind::TooManyConnections,
            c if *c == S::T_R_DEADLOCK_DETECTED || *c == S::T_R_SERIALIZATION_FAILURE => {
                ErrorKind::Busy
            }
            c if c.code().starts_with("23") => ErrorKind::Constraint,
            c if *c == S::ADMIN_SHUTDOWN
                || *c == S::CRASH_SHUTDOWN
                || *c == S::CANNOT_CONNECT_NOW =>
            {
                ErrorKind::ConnectionLost
            }
            _ => ErrorKind::Other,
        };
        let says = match kind {
            ErrorKind::Locked => format!(
                "a lock another session holds was not granted within lock_timeout (the server says: {})",
                db.message()
            ),
            ErrorKind::Timeout => format!(
                "the statement ran past statement_timeout (the server says: {})",
                db.message()
            ),
            _ => format!("the server says: {}", db.message()),
        };
        return DbError::text(kind, says);
    }
    let io = std::error::Error::source(error).and_then(|s| s.downcast_ref::<std::io::Error>());
    match io {
        Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            DbError::text(ErrorKind::ConnectionRefused, io.to_string())
        }
        Some(io) if io.kind() == std::io::ErrorKind::TimedOut => DbError::text(
            ErrorKind::Unreachable,
            format!("the server did not answer in time: {io}"),
        ),
        Some(io) if is_unreachable(io) => DbError::text(
            ErrorKind::Unreachable,
            format!("cannot reach the server: {io}"),
        ),
        Some(io) => DbError::text(
            ErrorKind::ConnectionLost,
            format!("the connection to the server failed: {io}"),
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

/// A name that does not resolve, or no route to the host.
fn is_unreachable(io: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        io.kind(),
        K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown | K::AddrNotAvailable
    ) || io.to_string().contains("lookup address")
        || io.to_string().contains("resolve")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn durations_read_as_the_server_reads_them() {
        assert_eq!(parse_pg_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_pg_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_pg_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_pg_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_pg_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_pg_duration("soon"), None);
        assert_eq!(parse_pg_duration("5 parsecs"), None);
    }

    #[test]
    fn defaults_fill_what_the_url_leaves_open() {
        let mut config = Config::from_str("postgres://u@h/db").unwrap();
        let d = settle(&mut config).unwrap();
        assert_eq!(d.connect, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(d.call, DEFAULT_STATEMENT_TIMEOUT + CALL_MARGIN);
        assert_eq!(
            config.get_options(),
            Some("-c statement_timeout=10000 -c lock_timeout=5000")
        );
        assert_eq!(config.get_keepalives_idle(), DEFAULT_KEEPALIVES_IDLE);
        assert_eq!(
            config.get_tcp_user_timeout(),
            Some(&DEFAULT_TCP_USER_TIMEOUT)
        );
    }

    #[test]
    fn the_urls_own_settings_win() {
        let mut config = Config::from_str(
            "postgres://u@h/db?connect_timeout=2&keepalives_idle=60&options=-c%20statement_timeout%3D30s%20-clock_timeout=1s",
        )
        .unwrap();
        let d = settle(&mut config).unwrap();
        assert_eq!(d.connect, Duration::from_secs(2));
        assert_eq!(
            (d.statement, d.lock),
            (Duration::from_secs(30), Duration::from_secs(1))
        );
        assert_eq!(d.call, Duration::from_secs(31));
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(
            config.get_options(),
            Some("-c statement_timeout=30s -clock_timeout=1s")
        );
        let mut bad =
            Config::from_str("postgres://u@h/db?options=-c%20lock_timeout%3Dsoon").unwrap();
        let error = settle(&mut bad).unwrap_err();
        assert!(error.contains("lock_timeout=soon"), "{error}");
    }
}
