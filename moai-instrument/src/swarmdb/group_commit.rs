//! Group commit for the SQLite writer connection: concurrent writes share one transaction and one
//! fsync, while each call still returns only once its own row is durable and still fails alone.
//!
//! The first writer to find no transaction open leads the batch: it takes the write lock up front
//! (`BEGIN IMMEDIATE`: a transaction that starts as a reader and upgrades later is refused at once
//! with `SQLITE_BUSY_SNAPSHOT` when another process committed in between, whatever the busy
//! timeout), writes its row in a savepoint, then waits briefly for the writers arriving meanwhile.
//! Each of them writes its row in a savepoint of its own on the same connection (a failing row is
//! rolled back alone and its error returned at once) and sleeps until the batch is settled. The
//! leader commits once (one fsync for all) and wakes them with the outcome: a failed commit fails
//! every row of the batch, since none of them is durable.
//!
//! The leader waits only when the previous batch showed concurrency (it waits for as many rows as
//! that batch had, at most half the last commit's duration), so a lone writer commits at once and
//! pays no more than before.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Longest a leader waits for more rows, however slow the last commit was.
const MAX_GATHER: Duration = Duration::from_millis(2);

pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// The leader waits here for more rows.
    joined: Condvar,
    /// Writers that added a row wait here for their batch to be settled.
    settled: Condvar,
    /// Writers between entering [`GroupCommit::write`] and taking the lock: a leader waits for
    /// them.
    arriving: AtomicUsize,
    busy_timeout: Duration,
}

struct State {
    conn: Connection,
    /// The batch whose transaction is open, if one is.
    open: Option<u64>,
    /// Rows written in the open batch, and how many of them succeeded (their writers wait for
    /// the outcome).
    rows: usize,
    waiting: usize,
    /// Rows of the last committed batch: how many writers the next leader waits for.
    last_rows: usize,
    last_commit: Duration,
    /// Batches are numbered from 1; every batch up to `settled` is committed or failed.
    settled: u64,
    next: u64,
    /// Failed commits, kept until each of their waiting writers has read the error.
    failures: Vec<Failure>,
}

struct Failure {
    batch: u64,
    unread: usize,
    code: rusqlite::ffi::Error,
    message: Option<String>,
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

impl GroupCommit {
    /// Takes over `conn` (opened, migrated, in WAL mode) as the writer connection.
    pub(crate) fn new(mut conn: Connection, busy_timeout: Duration) -> rusqlite::Result<Self> {
        conn.busy_handler(Some(wait_for_lock))?;
        Ok(GroupCommit {
            state: Mutex::new(State {
                conn,
                open: None,
                rows: 0,
                waiting: 0,
                last_rows: 1,
                last_commit: Duration::ZERO,
                settled: 0,
                next: 0,
                failures: Vec::new(),
            }),
            joined: Condvar::new(),
            settled: Condvar::new(),
            arriving: AtomicUsize::new(0),
            busy_timeout,
        })
    }

    /// Runs `op` in the shared write transaction, in a savepoint of its own, and returns its
    /// value once the transaction holding it is committed: `op`'s own error if it failed (its
    /// writes rolled back, the others' kept), the commit's error if the commit failed.
    pub(crate) fn write<T>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.arriving.fetch_add(1, Ordering::SeqCst);
        let mut state = self.lock();
        self.arriving.fetch_sub(1, Ordering::SeqCst);
        let (batch, leader) = match state.open {
            Some(batch) => (batch, false),
            None => {
                state.conn.execute_batch("BEGIN IMMEDIATE")?;
                state.next += 1;
                state.open = Some(state.next);
                state.rows = 0;
                state.waiting = 0;
                (state.next, true)
            }
        };
        let result = in_savepoint(&state.conn, op);
        state.rows += 1;
        match &result {
            Ok(_) => state.waiting += 1,
            // Some failures (a full disk, an I/O error) make SQLite roll back the whole
            // transaction, not just the savepoint: the rows written before are gone too.
            Err(error) if state.conn.is_autocommit() => {
                let error = rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some(format!(
                        "the shared transaction was rolled back by another write's failure: {error}"
                    )),
                );
                state.open = None;
                self.settle(&mut state, batch, Some(error));
            }
            Err(_) => {}
        }
        if leader {
            state = self.gather(state, batch);
            if state.open == Some(batch) {
                self.commit(&mut state);
            }
        } else {
            self.joined.notify_one();
        }
        let value = result?;
        while state.settled < batch {
            state = self
                .settled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.outcome(batch).map(|()| value)
    }

    /// Runs `op` on the writer connection outside any transaction (`VACUUM`, `VACUUM INTO` and
    /// checks cannot run inside one): the open batch is committed first.
    pub(crate) fn exclusive<T>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut state = self.lock();
        if state.open.is_some() {
            self.commit(&mut state);
        }
        op(&state.conn)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        LOCK_DEADLINE.with(|d| d.set(Some(Instant::now() + self.busy_timeout)));
        // A panic while holding the lock cannot leave a row half-written: statements and
        // savepoints are atomic in SQLite itself.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The leader's wait for more rows: while fewer than the last batch had, or writers are
    /// still on their way to the lock, for at most half the last commit's duration.
    fn gather<'a>(&self, mut state: MutexGuard<'a, State>, batch: u64) -> MutexGuard<'a, State> {
        let deadline = Instant::now() + (state.last_commit / 2).min(MAX_GATHER);
        while state.open == Some(batch)
            && (state.rows < state.last_rows || self.arriving.load(Ordering::SeqCst) > 0)
        {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .joined
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state
    }

    /// Commits the open batch (or rolls back a batch in which every row failed) and wakes its
    /// writers.
    fn commit(&self, state: &mut State) {
        let Some(batch) = state.open.take() else {
            return;
        };
        let started = Instant::now();
        let verb = if state.waiting == 0 {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        let failed = state.conn.execute_batch(verb).err();
        if failed.is_some() && !state.conn.is_autocommit() {
            let _ = state.conn.execute_batch("ROLLBACK");
        }
        if state.waiting > 0 {
            state.last_commit = started.elapsed();
        }
        state.last_rows = state.rows.max(1);
        self.settle(state, batch, failed);
    }

    /// Marks `batch` settled, failed with `error` for its waiting writers if given, and wakes
    /// them.
    fn settle(&self, state: &mut State, batch: u64, error: Option<rusqlite::Error>) {
        if let Some(error) = error
            && state.waiting > 0
        {
            let (code, message) = match error {
                rusqlite::Error::SqliteFailure(code, message) => (code, message),
                other => (
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some(other.to_string()),
                ),
            };
            state.failures.push(Failure {
                batch,
                unread: state.waiting,
                code,
                message,
            });
        }
        state.settled = batch;
        self.settled.notify_all();
    }
}

impl State {
    /// The commit's outcome for one waiting row of `batch`.
    fn outcome(&mut self, batch: u64) -> rusqlite::Result<()> {
        let Some(at) = self.failures.iter().position(|f| f.batch == batch) else {
            return Ok(());
        };
        let failure = &mut self.failures[at];
        failure.unread -= 1;
        let error = rusqlite::Error::SqliteFailure(failure.code, failure.message.clone());
        if failure.unread == 0 {
            self.failures.swap_remove(at);
        }
        Err(error)
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
