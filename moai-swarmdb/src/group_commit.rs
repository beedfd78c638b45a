//! Group commit for the SQLite writer connection: concurrent writes share one transaction and one
//! fsync, while each call still returns only once its own row is durable and still fails alone.
//!
//! Two stages, so that rows are written while the disk syncs:
//!
//! 1. **Rows.** The first writer to find no transaction open begins one (`BEGIN IMMEDIATE`: a
//!    transaction that starts as a reader and upgrades later is refused at once with
//!    `SQLITE_BUSY_SNAPSHOT` when another process committed in between, whatever the busy
//!    timeout). Every writer adds its row to the open transaction, in a savepoint of its own when
//!    it runs several statements (one statement SQLite rolls back alone), so that a failing row
//!    is undone alone and its error returned at once, and waits.
//! 2. **Flush.** When no flush is under way, a waiting writer commits the open transaction and
//!    makes the write-ahead log durable with one `fdatasync`, outside the lock: meanwhile the next
//!    transaction collects the rows that arrive, and it is committed and flushed as soon as the
//!    flush ends. A call returns once a flush that began after its row's commit has ended. The
//!    commit itself runs with `synchronous = NORMAL` (frames written to the WAL, no fsync), which
//!    SQLite documents as keeping the file consistent through a crash; the flush adds durability.
//!
//! Rows committed and not yet flushed are visible to readers (in this process and others) for the
//! length of one fsync. A power loss can lose them and only them: their writers were not
//! answered, and a later write that read them comes after them in the WAL, so it cannot survive
//! without them (the early lock release of Johnson et al., "Aether", VLDB 2010). A process killed
//! at any point loses nothing committed: the WAL is in the operating system's page cache.
//!
//! A failed flush can leave a hole in the WAL that makes every later frame unrecoverable (and
//! Linux may report a lost write only once), so after one the writer acknowledges nothing more,
//! as PostgreSQL panics on a failed fsync: the calls in flight get the error, later writes are
//! refused naming it, and the database has to be reopened.
//!
//! Durability also assumes that the other connections writing the file sync their checkpoints
//! (any `synchronous` but `OFF`, SQLite's default is `FULL`): a checkpoint that copies frames into
//! the database file without syncing it, then restarts the WAL, takes them out of the file that
//! the flush syncs.
//!
//! When the file is not in WAL mode, or its WAL file cannot be opened to sync, there is no flush
//! stage: commits use `synchronous = FULL` and are durable when `COMMIT` returns, and each writer
//! commits its own row (WAL mode is the one this SDK sets; the other is a fallback).
//!
//! Writers of a batch sleep on the condition variable of their batch's parity, so that the end of
//! a flush wakes the writers it answered and one writer of the next batch (to flush it), not
//! every writer: on a 2-vCPU machine the wake-ups cost more than the rows.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::ffi;

/// Makes every commit made before the call durable.
pub(crate) trait Flush: Send + Sync {
    /// # Errors
    /// The operating system's, when the data may not be on disk.
    fn flush(&self) -> std::io::Result<()>;

    /// What is flushed, for error messages.
    fn describe(&self) -> String;
}

/// The database's WAL file, synced with `fdatasync`. SQLite writes it through its own descriptor;
/// syncing this one flushes the same file's pages, whoever wrote them. SQLite removes or replaces
/// the file only when the last connection closes or the journal mode changes, neither of which
/// happens while the writer connection that opened it is open.
pub(crate) struct WalFile {
    path: PathBuf,
    file: std::fs::File,
    /// The database file and its identity when opened: a flush first checks that the path still
    /// names it, so no write is acknowledged to a file deleted or replaced under the app.
    db: PathBuf,
    identity: (u64, u64),
    /// The WAL file's own identity: a WAL deleted under the app would take synced writes away.
    wal_identity: (u64, u64),
}

impl WalFile {
    /// The WAL of `conn`'s main database: the database's full path as SQLite resolved it (links
    /// followed), with `-wal` appended, as SQLite names it. A read makes SQLite open (and if need
    /// be create) the file first; its directory is synced once, as SQLite does for a WAL file it
    /// creates, since the flush syncs only the file.
    ///
    /// # Errors
    /// A database without a file, or the operating system's.
    fn of(conn: &Connection) -> std::io::Result<WalFile> {
        let db = conn
            .path()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| std::io::Error::other("the database has no file"))?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(std::io::Error::other)?;
        let path = PathBuf::from(format!("{db}-wal"));
        let file = std::fs::OpenOptions::new().write(true).open(&path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        let db = PathBuf::from(db);
        let identity = identity(&std::fs::metadata(&db)?);
        let wal_identity = identity_of(&file)?;
        Ok(WalFile {
            path,
            file,
            db,
            identity,
            wal_identity,
        })
    }
}

fn identity_of(file: &std::fs::File) -> std::io::Result<(u64, u64)> {
    Ok(identity(&file.metadata()?))
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

impl Flush for WalFile {
    fn flush(&self) -> std::io::Result<()> {
        // The path must still name the file SQLite writes: a file deleted or replaced (`mv`)
        // under the app would take every later write where no one reads it.
        match std::fs::metadata(&self.db) {
            Ok(meta) if identity(&meta) == self.identity => {}
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "the database file {} was replaced by another file while open",
                    self.db.display()
                )));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(std::io::Error::other(format!(
                    "the database file {} was deleted while open",
                    self.db.display()
                )));
            }
            Err(error) => return Err(error),
        }
        match std::fs::metadata(&self.path) {
            Ok(meta) if identity(&meta) == self.wal_identity => {}
            _ => {
                return Err(std::io::Error::other(format!(
                    "the write-ahead log {} was deleted or replaced while open",
                    self.path.display()
                )));
            }
        }
        self.file.sync_data()
    }

    fn describe(&self) -> String {
        format!("the write-ahead log {}", self.path.display())
    }
}

/// The writer connection's flush stage: in WAL mode, commits skip the fsync and one `fdatasync`
/// of the WAL covers every batch committed before it; `None` (every COMMIT syncs itself, as
/// `synchronous = FULL` does) when the file is not in WAL mode or its WAL cannot be opened.
pub(crate) fn wal_flush(conn: &Connection) -> Option<Box<dyn Flush>> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .ok()?;
    if !mode.eq_ignore_ascii_case("wal") {
        return None;
    }
    let wal = WalFile::of(conn)
        .inspect_err(|error| {
            tracing::warn!(%error, "SwarmDB syncs at every commit: its WAL file cannot be opened to sync");
        })
        .ok()?;
    conn.execute_batch("PRAGMA synchronous = NORMAL").ok()?;
    Some(Box::new(wal))
}

pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// Writers of batch `b` wait on `settled[b % 2]` for it to be durable or failed, or for a
    /// flush to end so that they can flush it.
    settled: [Condvar; 2],
    busy_timeout: Duration,
    /// `None`: every COMMIT is durable by itself.
    flush: Option<Box<dyn Flush>>,
    /// The failed flush's message, readable without the state lock (which a commit may hold
    /// while it waits for another process's lock): the liveness check reads it.
    broken_note: std::sync::OnceLock<String>,
}

struct State {
    conn: Connection,
    /// The batch whose transaction is open, if one is.
    open: Option<u64>,
    /// Rows of the open batch whose writers wait for the outcome (their own statements
    /// succeeded).
    waiting: usize,
    /// Batches are numbered from 1 in the order they begin (and so commit).
    next: u64,
    /// The last batch committed.
    committed: u64,
    /// Every committed batch up to this one is durable.
    durable: u64,
    /// A flush is under way, outside the lock.
    flushing: bool,
    /// Failed commits, kept until each of their waiting writers has read the error.
    failures: Vec<Failure>,
    /// Set by a failed flush: every batch from `from` on fails, and so does every later write.
    broken: Option<Broken>,
}

struct Failure {
    batch: u64,
    unread: usize,
    code: ffi::Error,
    message: Option<String>,
}

struct Broken {
    from: u64,
    message: String,
}

impl Broken {
    fn error(&self) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_IOERR_FSYNC),
            Some(self.message.clone()),
        )
    }
}

thread_local! {
    /// When the current call on this thread stops waiting for another process's write lock.
    static LOCK_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The writer connection's busy handler: polls for the lock every 0.1 to 1 ms until the calling
/// thread's deadline. SQLite's own busy timeout sleeps up to 100 ms between attempts, so a process
/// whose writers leave the lock free only between two batches could wait out the whole timeout.
fn wait_for_lock(attempt: i32) -> bool {
    let Some(deadline) = LOCK_DEADLINE.with(Cell::get) else {
        return false;
    };
    if Instant::now() >= deadline {
        return false;
    }
    let pause = u64::try_from(attempt.clamp(0, 9) + 1).unwrap_or(1) * 100;
    std::thread::sleep(Duration::from_micros(pause));
    true
}

type Guard<'a> = MutexGuard<'a, State>;

/// How a write is isolated from the others in its batch.
#[derive(Clone, Copy)]
enum Isolation {
    /// Several statements: a savepoint of their own.
    Savepoint,
    /// One statement: SQLite already undoes a failed statement alone.
    Statement,
}

impl GroupCommit {
    /// Takes over `conn` (opened, migrated) as the writer connection; `flush`, when given, is
    /// the flush stage (see [`wal_flush`], which also sets the connection's `synchronous`).
    pub(crate) fn new(
        mut conn: Connection,
        busy_timeout: Duration,
        flush: Option<Box<dyn Flush>>,
    ) -> rusqlite::Result<Self> {
        conn.busy_handler(Some(wait_for_lock))?;
        Ok(GroupCommit {
            state: Mutex::new(State {
                conn,
                open: None,
                waiting: 0,
                next: 0,
                committed: 0,
                durable: 0,
                flushing: false,
                failures: Vec::new(),
                broken: None,
            }),
            settled: [Condvar::new(), Condvar::new()],
            busy_timeout,
            flush,
            broken_note: std::sync::OnceLock::new(),
        })
    }

    /// The failed flush that refuses every write until the database is reopened, if any.
    pub(crate) fn broken(&self) -> Option<String> {
        self.broken_note.get().cloned()
    }

    /// Runs `op` in the shared write transaction, in a savepoint of its own, and returns its
    /// value once the transaction holding it is durable: `op`'s own error if it failed (its
    /// writes rolled back, the others' kept), the commit's or the flush's error if that failed.
    pub(crate) fn write<T>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.write_isolated(Isolation::Savepoint, op)
    }

    /// [`GroupCommit::write`] for an `op` that runs exactly one statement and fails only when
    /// that statement fails, which SQLite then rolls back alone: no savepoint needed.
    pub(crate) fn write_statement<T>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.write_isolated(Isolation::Statement, op)
    }

    fn write_isolated<T>(
        &self,
        isolation: Isolation,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut state = self.lock();
        if let Some(broken) = &state.broken {
            return Err(broken.error());
        }
        let batch = match state.open {
            Some(batch) => batch,
            None => {
                state.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
                state.next += 1;
                state.open = Some(state.next);
                state.waiting = 0;
                state.next
            }
        };
        let result = match isolation {
            Isolation::Savepoint => in_savepoint(&state.conn, op),
            Isolation::Statement => op(&state.conn),
        };
        match &result {
            Ok(_) => state.waiting += 1,
            // Some failures (a full disk, an I/O error) make SQLite roll back the whole
            // transaction, not just the statement: the rows written before are gone too.
            Err(error) if state.conn.is_autocommit() => {
                let error = rusqlite::Error::SqliteFailure(
                    ffi::Error::new(ffi::SQLITE_ABORT),
                    Some(format!(
                        "the shared transaction was rolled back by another write's failure: {error}"
                    )),
                );
                state.open = None;
                self.fail(&mut state, batch, error);
            }
            // Rolled back alone; if no row of the batch is left waiting, nobody would end the
            // transaction, which would keep the write lock from other processes.
            Err(_) if state.waiting == 0 => self.commit(&mut state),
            Err(_) => {}
        }
        let value = result?;
        let mut state = self.until_settled(state, batch);
        state.outcome(batch).map(|()| value)
    }

    /// Runs `op`, which may write (`VACUUM`), on the writer connection outside any transaction
    /// (some statements cannot run inside one): the open batch is committed first, and everything
    /// is flushed after.
    pub(crate) fn exclusive<T>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.outside_transaction(true, op)
    }

    /// [`GroupCommit::exclusive`] for an `op` that only reads this database (`PRAGMA
    /// quick_check`, `VACUUM INTO` another file, a read when no read-only connection could be
    /// opened): it sees the open batch committed, and adds no flush of its own; it runs after a
    /// failed flush too.
    pub(crate) fn exclusive_read<T>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.outside_transaction(false, op)
    }

    fn outside_transaction<T>(
        &self,
        writes: bool,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut state = self.lock();
        if let Some(broken) = state.broken.as_ref().filter(|_| writes) {
            return Err(broken.error());
        }
        if state.open.is_some() {
            self.commit(&mut state);
        }
        let result = op(&state.conn);
        // The batch committed above is flushed here, since its writers may all be waiting for a
        // flush under way that began before its commit.
        if let Some(flush) = &self.flush
            && state.broken.is_none()
            && (writes || state.committed > state.durable)
        {
            // Under the lock: rare operations, and an fsync beside a flush under way is safe.
            let target = state.committed;
            let flushed = flush.flush();
            self.flushed(&mut state, target, flushed);
            if let Some(broken) = state.broken.as_ref().filter(|_| writes) {
                return Err(broken.error());
            }
        }
        result
    }

    fn lock(&self) -> Guard<'_> {
        LOCK_DEADLINE.with(|d| d.set(Some(Instant::now() + self.busy_timeout)));
        // Poisoning is ignored: a statement is atomic in SQLite itself, so the connection is
        // usable. (An `op` of several statements that panics between them leaves the first in
        // the batch, as a panic inside any caller's transaction would.)
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn parity(&self, batch: u64) -> &Condvar {
        &self.settled[usize::from(batch % 2 == 1)]
    }

    /// Waits until `batch` is durable or failed, flushing whenever no flush is under way.
    fn until_settled<'a>(&'a self, mut state: Guard<'a>, batch: u64) -> Guard<'a> {
        while !state.is_settled(batch) {
            if state.flushing {
                state = self
                    .parity(batch)
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            } else {
                state = self.flush(state);
            }
        }
        state
    }

    /// Commits the open batch, if any, then syncs every committed batch with the lock released.
    fn flush<'a>(&'a self, mut state: Guard<'a>) -> Guard<'a> {
        if state.open.is_some() {
            self.commit(&mut state);
        }
        let Some(flush) = &self.flush else {
            return state;
        };
        if state.durable >= state.committed {
            return state;
        }
        let target = state.committed;
        state.flushing = true;
        drop(state);
        let flushed = flush.flush();
        let mut state = self.lock();
        state.flushing = false;
        self.flushed(&mut state, target, flushed);
        state
    }

    /// Records a flush of every batch up to `target`; wakes the writers it answered, and one
    /// writer of the open batch to flush that next.
    fn flushed(&self, state: &mut State, target: u64, result: std::io::Result<()>) {
        let before = state.durable;
        match result {
            Ok(()) => state.durable = state.durable.max(target),
            Err(error) if state.broken.is_none() => {
                let what = self
                    .flush
                    .as_ref()
                    .map_or_else(String::new, |f| f.describe());
                let message = format!(
                    "could not flush {what} to disk ({error}): writes since the last flush may \
                     be lost, and no write is accepted until the database is reopened"
                );
                let _ = self.broken_note.set(message.clone());
                state.broken = Some(Broken {
                    from: state.durable + 1,
                    message,
                });
                if state.open.take().is_some() {
                    let _ = state.conn.execute_batch("ROLLBACK");
                }
                self.settled.iter().for_each(Condvar::notify_all);
                return;
            }
            Err(_) => {}
        }
        match state.durable - before {
            0 => {}
            1 => self.parity(state.durable).notify_all(),
            _ => self.settled.iter().for_each(Condvar::notify_all),
        }
        if let Some(open) = state.open {
            self.parity(open).notify_one();
        }
    }

    /// Commits the open batch (or rolls back a batch in which every row failed); without a flush
    /// stage the commit makes it durable and its writers are woken.
    fn commit(&self, state: &mut State) {
        let Some(batch) = state.open.take() else {
            return;
        };
        let verb = if state.waiting == 0 {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        let failed = state
            .conn
            .prepare_cached(verb)
            .and_then(|mut s| s.execute([]))
            .err();
        if failed.is_some() && !state.conn.is_autocommit() {
            let _ = state.conn.execute_batch("ROLLBACK");
        }
        match failed {
            Some(error) => self.fail(state, batch, error),
            None if state.waiting > 0 => {
                state.committed = batch;
                if self.flush.is_none() {
                    state.durable = batch;
                    self.parity(batch).notify_all();
                }
            }
            None => {}
        }
    }

    /// Fails `batch` with `error` for its waiting writers, and wakes them.
    fn fail(&self, state: &mut State, batch: u64, error: rusqlite::Error) {
        if state.waiting == 0 {
            return;
        }
        let (code, message) = match error {
            rusqlite::Error::SqliteFailure(code, message) => (code, message),
            other => (ffi::Error::new(ffi::SQLITE_ERROR), Some(other.to_string())),
        };
        state.failures.push(Failure {
            batch,
            unread: state.waiting,
            code,
            message,
        });
        self.parity(batch).notify_all();
    }
}

impl State {
    /// Whether `batch`'s writers may return: durable (the open batch is numbered after every
    /// committed one, so it is never below `durable`), or failed.
    fn is_settled(&self, batch: u64) -> bool {
        batch <= self.durable
            || self.failures.iter().any(|f| f.batch == batch)
            || self.broken.as_ref().is_some_and(|b| batch >= b.from)
    }

    /// The outcome for one waiting row of the settled `batch`.
    fn outcome(&mut self, batch: u64) -> rusqlite::Result<()> {
        if let Some(at) = self.failures.iter().position(|f| f.batch == batch) {
            let failure = &mut self.failures[at];
            failure.unread -= 1;
            let error = rusqlite::Error::SqliteFailure(failure.code, failure.message.clone());
            if failure.unread == 0 {
                self.failures.swap_remove(at);
            }
            return Err(error);
        }
        match &self.broken {
            Some(broken) if batch >= broken.from => Err(broken.error()),
            _ => Ok(()),
        }
    }
}

/// `op` in a savepoint: kept when it succeeds, undone alone when it fails.
fn in_savepoint<T>(
    conn: &Connection,
    op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached("SAVEPOINT row")?.execute([])?;
    let result = op(conn).and_then(|value| {
        conn.prepare_cached("RELEASE row")?.execute([])?;
        Ok(value)
    });
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK TO row; RELEASE row");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};

    /// A flush stage the test drives: each flush says it began, then waits for the outcome the
    /// test sends.
    struct GatedFlush {
        began: Mutex<Sender<()>>,
        outcome: Mutex<Receiver<std::io::Result<()>>>,
    }

    impl Flush for GatedFlush {
        fn flush(&self) -> std::io::Result<()> {
            self.began.lock().unwrap().send(()).unwrap();
            self.outcome.lock().unwrap().recv().unwrap()
        }

        fn describe(&self) -> String {
            "the test's log".into()
        }
    }

    struct Fixture {
        writer: Arc<GroupCommit>,
        path: std::path::PathBuf,
        began: Receiver<()>,
        outcome: Sender<std::io::Result<()>>,
    }

    fn fixture(name: &str) -> Fixture {
        let path = moai_test_support::temp_dir(&format!("group-commit-{name}")).join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE t (x INTEGER UNIQUE NOT NULL);",
        )
        .unwrap();
        let (began_tx, began) = channel();
        let (outcome, outcome_rx) = channel();
        let flush = GatedFlush {
            began: Mutex::new(began_tx),
            outcome: Mutex::new(outcome_rx),
        };
        let writer = GroupCommit::new(conn, Duration::from_secs(5), Some(Box::new(flush))).unwrap();
        Fixture {
            writer: Arc::new(writer),
            path,
            began,
            outcome,
        }
    }

    impl Fixture {
        /// Inserts `x` on a thread of its own; its result arrives on the returned channel.
        fn insert(&self, x: i64) -> Receiver<rusqlite::Result<usize>> {
            let (done, result) = channel();
            let writer = Arc::clone(&self.writer);
            std::thread::spawn(move || {
                let inserted = writer
                    .write_statement(|conn| conn.execute("INSERT INTO t (x) VALUES (?1)", [x]));
                done.send(inserted).unwrap();
            });
            result
        }

        /// Counts the rows on the writer connection (`exclusive_read`) on a thread of its own.
        fn read_count(&self) -> Receiver<rusqlite::Result<i64>> {
            let (done, result) = channel();
            let writer = Arc::clone(&self.writer);
            std::thread::spawn(move || {
                let count = writer.exclusive_read(|conn| {
                    conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                });
                done.send(count).unwrap();
            });
            result
        }

        fn began_flush(&self) {
            self.began
                .recv_timeout(Duration::from_secs(10))
                .expect("a flush began");
        }

        /// The rows another connection sees: committed, flushed or not.
        fn visible(&self) -> Vec<i64> {
            let conn = Connection::open(&self.path).unwrap();
            let mut stmt = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        }
    }

    fn still_waiting<T: std::fmt::Debug>(result: &Receiver<T>) {
        match result.recv_timeout(Duration::from_millis(200)) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("answered before its flush ended: {other:?}"),
        }
    }

    fn answered<T>(result: &Receiver<T>) -> T {
        result
            .recv_timeout(Duration::from_secs(10))
            .expect("answered")
    }

    #[test]
    fn a_write_is_answered_only_after_a_flush_that_began_after_its_commit() {
        let f = fixture("pipeline");
        let first = f.insert(1);
        f.began_flush();
        // Committed (others can read it) but not answered while its flush runs.
        assert_eq!(f.visible(), [1]);
        still_waiting(&first);
        // A row arriving meanwhile waits in the next transaction, not yet committed.
        let second = f.insert(2);
        still_waiting(&second);
        assert_eq!(f.visible(), [1]);
        f.outcome.send(Ok(())).unwrap();
        assert_eq!(answered(&first).unwrap(), 1);
        // The first flush began before the second row's commit: it takes a second flush.
        f.began_flush();
        assert_eq!(f.visible(), [1, 2]);
        still_waiting(&second);
        f.outcome.send(Ok(())).unwrap();
        assert_eq!(answered(&second).unwrap(), 1);
    }

    #[test]
    fn a_failed_flush_fails_the_writes_in_flight_and_every_later_one() {
        let f = fixture("broken");
        let first = f.insert(1);
        f.began_flush();
        f.outcome.send(Ok(())).unwrap();
        answered(&first).unwrap();

        let second = f.insert(2);
        f.began_flush();
        let third = f.insert(3);
        still_waiting(&third);
        f.outcome
            .send(Err(std::io::Error::other("injected EIO")))
            .unwrap();
        for result in [second, third] {
            let error = answered(&result).unwrap_err().to_string();
            assert!(
                error.contains("could not flush the test's log to disk (injected EIO)"),
                "{error}"
            );
        }
        let later = answered(&f.insert(4)).unwrap_err().to_string();
        assert!(later.contains("until the database is reopened"), "{later}");
        assert!(f.writer.exclusive(|_| Ok(())).is_err());
        assert!(f.writer.exclusive_read(|_| Ok(())).is_ok(), "reads go on");
        // No flush was attempted for them, and the acknowledged row is there; the row of the
        // open transaction was rolled back.
        assert!(f.began.try_recv().is_err());
        let visible = f.visible();
        assert!(visible.contains(&1) && !visible.contains(&3) && !visible.contains(&4));
    }

    #[test]
    fn a_read_on_the_writer_adds_no_flush_but_flushes_the_batch_it_committed() {
        let f = fixture("exclusive-read");
        // Answered without a flush (the test sends no flush outcome yet).
        assert_eq!(answered(&f.read_count()).unwrap(), 0);
        assert!(f.began.try_recv().is_err(), "a read alone flushes nothing");

        let first = f.insert(1);
        f.began_flush();
        let second = f.insert(2);
        still_waiting(&second);
        // The read commits the second row's batch, whose writer waits behind the first flush,
        // and flushes it: otherwise nobody would.
        let read = f.read_count();
        f.began_flush();
        f.outcome.send(Ok(())).unwrap();
        f.outcome.send(Ok(())).unwrap();
        answered(&first).unwrap();
        answered(&second).unwrap();
        assert_eq!(answered(&read).unwrap(), 2);
    }

    #[test]
    fn a_failing_statement_fails_alone_without_a_savepoint() {
        let f = fixture("statement");
        let first = f.insert(1);
        f.began_flush();
        let duplicate = f.insert(1);
        let other = f.insert(2);
        // The duplicate is refused at once, while the flush still runs.
        let error = answered(&duplicate).unwrap_err();
        assert_eq!(
            error.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        f.outcome.send(Ok(())).unwrap();
        answered(&first).unwrap();
        f.began_flush();
        f.outcome.send(Ok(())).unwrap();
        answered(&other).unwrap();
        assert_eq!(f.visible(), [1, 2]);
        // A write failing alone, with no other row in its transaction, ends that transaction:
        // another process can take the write lock at once.
        assert!(answered(&f.insert(2)).is_err());
        let other_process = Connection::open(&f.path).unwrap();
        other_process
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .expect("the write lock is free");
    }
}
