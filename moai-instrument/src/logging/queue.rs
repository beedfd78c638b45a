//! A log sink behind a bounded queue and a writer thread of its own, so that a stalled sink (a
//! pipe nobody reads, a full or hung disk) never stalls the application or the other sink.
//!
//! The application thread copies the line into the queue and goes on. When the queue is full it
//! waits for room until [`SINK_DEADLINE`]; if none comes, the line is dropped and counted, and
//! the sink is marked stalled: until its writer makes progress again, further lines are dropped
//! at once instead of each waiting out the deadline. So a stalled sink delays the application by
//! at most `SINK_DEADLINE` once, and then by nothing, while the other sink keeps every line.
//!
//! Hand-written rather than a channel crate: the standard library's bounded channel has no send
//! with a deadline, and what is needed (a deadline, a stalled flag, a drain for shutdown) is a
//! mutex, a queue and two condition variables.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Lines waiting for a slow sink before the application has to wait.
pub(crate) const QUEUE_LINES: usize = 1024;

/// The longest one line makes the application wait for a sink with a full queue; while the sink
/// stays stalled after that, lines are dropped without waiting.
pub(crate) const SINK_DEADLINE: Duration = Duration::from_millis(20);

/// Writes one whole line to the sink, or fails having written none of it.
pub(crate) type WriteLine = Box<dyn FnMut(&[u8]) -> io::Result<()> + Send>;

/// Called with each error that cost a line.
pub(crate) type OnDrop = Arc<dyn Fn(&io::Error) + Send + Sync>;

pub(crate) struct QueuedSink {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when the writer takes lines (room in the queue) or finishes a batch.
    room: Condvar,
    /// Signalled when lines arrive or the sink closes.
    work: Condvar,
    /// The queue was full past a deadline and the writer has not written since.
    stalled: AtomicBool,
    /// Lines lost because the queue stayed full (write errors are counted by `on_drop`).
    overflowed: AtomicU64,
}

struct State {
    lines: VecDeque<Box<[u8]>>,
    /// A batch taken from the queue is being written.
    writing: bool,
    closing: bool,
}

impl QueuedSink {
    /// Starts the writer thread `moai-log-<name>`.
    pub(crate) fn start(
        name: &str,
        mut write: WriteLine,
        on_drop: OnDrop,
    ) -> io::Result<QueuedSink> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                lines: VecDeque::new(),
                writing: false,
                closing: false,
            }),
            room: Condvar::new(),
            work: Condvar::new(),
            stalled: AtomicBool::new(false),
            overflowed: AtomicU64::new(0),
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("moai-log-{name}"))
            .spawn(move || worker.run(&mut write, &on_drop))?;
        Ok(QueuedSink { shared })
    }

    /// Queues a copy of `line`; `false` when it was dropped because the sink stayed stalled
    /// until `deadline`.
    pub(crate) fn push(&self, line: &[u8], deadline: Instant) -> bool {
        let shared = &*self.shared;
        let mut state = shared.lock();
        while state.lines.len() >= QUEUE_LINES && !state.closing {
            let now = Instant::now();
            if shared.stalled.load(Ordering::Relaxed) || now >= deadline {
                shared.stalled.store(true, Ordering::Relaxed);
                shared.overflowed.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            state = shared
                .room
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.lines.push_back(line.into());
        drop(state);
        shared.work.notify_one();
        true
    }

    /// Waits until every queued line has been handed to the sink, or `timeout` passes; `true`
    /// when drained.
    pub(crate) fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while !state.lines.is_empty() || state.writing {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .room
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Lines dropped because the queue stayed full.
    #[cfg(test)]
    pub(crate) fn overflowed(&self) -> u64 {
        self.shared.overflowed.load(Ordering::Relaxed)
    }
}

impl Drop for QueuedSink {
    /// Writes what is queued (for at most a second: a stalled sink cannot hold up exit), then
    /// tells the writer to end once the queue is empty. It is not joined: a writer stuck in a
    /// blocked write ends with the process.
    fn drop(&mut self) {
        self.drain(Duration::from_secs(1));
        self.shared.lock().closing = true;
        self.shared.work.notify_all();
        self.shared.room.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self, write: &mut WriteLine, on_drop: &OnDrop) {
        let mut batch: Vec<Box<[u8]>> = Vec::new();
        loop {
            {
                let mut state = self.lock();
                state.writing = false;
                self.room.notify_all();
                while state.lines.is_empty() && !state.closing {
                    state = self
                        .work
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if state.lines.is_empty() {
                    return;
                }
                batch.extend(state.lines.drain(..));
                state.writing = true;
            }
            self.room.notify_all();
            for line in batch.drain(..) {
                match write(&line) {
                    Ok(()) => self.stalled.store(false, Ordering::Relaxed),
                    Err(error) => on_drop(&error),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_stalled_sink_costs_one_deadline_then_nothing_and_counts_every_line() {
        let (release, gate) = mpsc::channel::<()>();
        let written = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&written);
        // The first write blocks until released: a pipe nobody reads.
        let sink = QueuedSink::start(
            "test",
            Box::new(move |_line| {
                if count.fetch_add(1, Ordering::SeqCst) == 0 {
                    let _ = gate.recv();
                }
                Ok(())
            }),
            Arc::new(|_| {}),
        )
        .unwrap();
        // The writer takes the first line and blocks on it.
        assert!(sink.push(b"first\n", Instant::now() + SINK_DEADLINE));
        while written.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = Instant::now();
        let total = QUEUE_LINES + 1000;
        let mut kept = 1;
        for _ in 0..total {
            if sink.push(b"line\n", Instant::now() + SINK_DEADLINE) {
                kept += 1;
            }
        }
        let took = started.elapsed();
        assert!(
            took < SINK_DEADLINE * 10,
            "one deadline, not one per line: {took:?}"
        );
        assert_eq!(
            kept,
            QUEUE_LINES + 1,
            "the line being written and a full queue"
        );
        assert_eq!(sink.overflowed(), (total + 1 - kept) as u64);
        release.send(()).unwrap();
        assert!(sink.drain(Duration::from_secs(5)));
        assert_eq!(written.load(Ordering::SeqCst), kept as u64);
        // Progress clears the stall: lines wait for room again.
        assert!(sink.push(b"again\n", Instant::now() + SINK_DEADLINE));
    }
}
