//! Where JSON lines go: stdout and the rotating file, each behind its own queue and writer
//! thread ([`QueuedSink`]), so a stalled or failing sink never blocks the application or the
//! other sink. A line one sink cannot take is counted in
//! `moai_instrument_log_lines_dropped_total{sink}` (exported at 0 from the start) and reported on
//! stderr at the first loss and every 10,000th after it; the time of the last loss feeds the
//! `log_file` health check.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::fields::push_json_string;
use super::queue::{OnDrop, QueuedSink, SINK_DEADLINE};
use super::rotating_file::RotatingFile;
use crate::catalog::LOG_LINES_DROPPED_TOTAL;

#[derive(Clone)]
pub(crate) struct Sinks {
    inner: Arc<Inner>,
}

/// A caller-supplied destination for lines (benchmarks and embedding tests), written on the
/// calling thread.
pub(crate) type LineWriter = Arc<dyn Fn(&[u8]) + Send + Sync>;

struct Inner {
    stdout: Option<Sink>,
    /// Whether stdout takes human lines ([`Sinks::write_stdout`]) instead of the JSON ones.
    stdout_pretty: bool,
    file: Option<Sink>,
    custom: Option<LineWriter>,
}

/// One queued sink and what it lost.
struct Sink {
    queue: QueuedSink,
    losses: Arc<Losses>,
}

struct Losses {
    name: &'static str,
    count: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl Losses {
    /// Counts a lost line and says so on stderr: at the first loss and every 10,000th after it.
    #[cold]
    fn record(&self, why: &dyn std::fmt::Display) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        metrics::counter!(LOG_LINES_DROPPED_TOTAL.name, "sink" => self.name).increment(1);
        if n == 1 || n.is_multiple_of(10_000) {
            let mut line = String::from(
                "{\"level\":\"WARNING\",\"logger\":\"moai_instrument::logging\",\"message\":",
            );
            let message = format!(
                "log sink {} failed ({why}); {n} line(s) dropped so far",
                self.name
            );
            push_json_string(&mut line, &message);
            line.push_str("}\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

impl Sink {
    fn start(name: &'static str, write: super::queue::WriteLine) -> std::io::Result<Sink> {
        let losses = Arc::new(Losses {
            name,
            count: AtomicU64::new(0),
            last: Mutex::new(None),
        });
        let on_drop: OnDrop = {
            let losses = Arc::clone(&losses);
            Arc::new(move |error: &std::io::Error| losses.record(error))
        };
        Ok(Sink {
            queue: QueuedSink::start(name, write, on_drop)?,
            losses,
        })
    }

    fn push(&self, line: &[u8], deadline: Instant) {
        if !self.queue.push(line, deadline) {
            self.losses
                .record(&"the sink is stalled and its queue is full");
        }
    }
}

/// What one sink has lost, for the health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SinkLosses {
    /// Lines dropped since start.
    pub(crate) total: u64,
    /// When the last one was dropped.
    pub(crate) last: Option<Instant>,
}

impl Sinks {
    /// Starts a writer thread for each sink asked for: stdout in `format` (none for `None`), and
    /// the file.
    pub(crate) fn new(
        stdout: Option<super::LogFormat>,
        file: Option<Arc<RotatingFile>>,
    ) -> std::io::Result<Self> {
        let stdout_pretty = stdout == Some(super::LogFormat::Pretty);
        let stdout = stdout
            .is_some()
            .then(|| {
                Sink::start(
                    "stdout",
                    Box::new(|line| std::io::stdout().lock().write_all(line)),
                )
            })
            .transpose()?;
        let file = file
            .map(|file| {
                let sink = Sink::start("file", {
                    let file = Arc::clone(&file);
                    Box::new(move |line| file.write_line(line))
                })?;
                // Lines that went to a file deleted under the writer and could not be written
                // again count as lost, like any other.
                let losses = Arc::clone(&sink.losses);
                file.on_lost(move |n| {
                    for _ in 0..n {
                        losses.record(&"the log file vanished before they could be written again");
                    }
                });
                Ok::<Sink, std::io::Error>(sink)
            })
            .transpose()?;
        Ok(Sinks {
            inner: Arc::new(Inner {
                stdout,
                stdout_pretty,
                file,
                custom: None,
            }),
        })
    }

    /// Lines go to `custom` only, on the calling thread.
    pub(crate) fn custom(custom: LineWriter) -> Self {
        Sinks {
            inner: Arc::new(Inner {
                stdout: None,
                stdout_pretty: false,
                file: None,
                custom: Some(custom),
            }),
        }
    }

    /// Registers `moai_instrument_log_lines_dropped_total{sink}` at 0 for each sink, so
    /// `increase()` and the alert see the first loss: called once the recorder is installed.
    pub(crate) fn export_counters(&self) {
        for sink in [&self.inner.stdout, &self.inner.file].into_iter().flatten() {
            metrics::counter!(LOG_LINES_DROPPED_TOTAL.name, "sink" => sink.losses.name)
                .increment(0);
        }
    }

    /// What the file sink has lost, `None` without a file.
    pub(crate) fn file_losses(&self) -> Option<SinkLosses> {
        self.inner.file.as_ref().map(|sink| SinkLosses {
            total: sink.losses.count.load(Ordering::Relaxed),
            last: *sink
                .losses
                .last
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        })
    }

    /// Whether stdout wants human lines ([`Sinks::write_stdout`]).
    pub(crate) fn stdout_pretty(&self) -> bool {
        self.inner.stdout_pretty
    }

    /// Hands a human line to stdout (only when it takes human lines).
    pub(crate) fn write_stdout(&self, line: &[u8]) {
        if let (Some(stdout), true) = (&self.inner.stdout, self.inner.stdout_pretty) {
            stdout.push(line, Instant::now() + SINK_DEADLINE);
        }
    }

    /// Hands the JSON line to each sink that takes JSON; waits at most [`SINK_DEADLINE`] in all
    /// for sinks whose queue is full.
    pub(crate) fn write_line(&self, line: &[u8]) {
        let inner = &self.inner;
        let deadline = Instant::now() + SINK_DEADLINE;
        if let (Some(stdout), false) = (&inner.stdout, inner.stdout_pretty) {
            stdout.push(line, deadline);
        }
        if let Some(custom) = &inner.custom {
            custom(line);
        }
        if let Some(file) = &inner.file {
            file.push(line, deadline);
        }
    }

    /// Waits (at most `timeout`) until every queued line has been handed to its sink.
    pub(crate) fn drain(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for sink in [&self.inner.stdout, &self.inner.file].into_iter().flatten() {
            sink.queue
                .drain(deadline.saturating_duration_since(Instant::now()));
        }
    }
}
