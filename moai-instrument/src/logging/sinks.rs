//! Where JSON lines go: stdout and the rotating file. Writes are synchronous, so a slow sink
//! slows the logging thread (back-pressure) instead of losing lines; a sink that fails is counted
//! in `moai_instrument_log_lines_dropped_total{sink}` and reported on stderr.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::json::push_json_string;
use super::rotating_file::RotatingFile;
use crate::catalog::LOG_LINES_DROPPED_TOTAL;

#[derive(Clone)]
pub(crate) struct Sinks {
    inner: Arc<Inner>,
}

/// A caller-supplied destination for lines (benchmarks and embedding tests).
pub(crate) type LineWriter = Arc<dyn Fn(&[u8]) + Send + Sync>;

struct Inner {
    stdout: bool,
    custom: Option<LineWriter>,
    file: Option<Arc<RotatingFile>>,
    dropped_stdout: AtomicU64,
    dropped_file: AtomicU64,
}

impl Sinks {
    pub(crate) fn new(stdout: bool, file: Option<Arc<RotatingFile>>) -> Self {
        Sinks::with_custom(stdout, file, None)
    }

    pub(crate) fn with_custom(
        stdout: bool,
        file: Option<Arc<RotatingFile>>,
        custom: Option<LineWriter>,
    ) -> Self {
        Sinks {
            inner: Arc::new(Inner {
                stdout,
                custom,
                file,
                dropped_stdout: AtomicU64::new(0),
                dropped_file: AtomicU64::new(0),
            }),
        }
    }

    /// Lines the file sink has failed to write since start.
    pub(crate) fn file_lines_dropped(&self) -> u64 {
        self.inner.dropped_file.load(Ordering::Relaxed)
    }

    pub(crate) fn write_line(&self, line: &[u8]) {
        let inner = &self.inner;
        if inner.stdout
            && let Err(error) = std::io::stdout().lock().write_all(line)
        {
            dropped("stdout", &inner.dropped_stdout, &error);
        }
        if let Some(custom) = &inner.custom {
            custom(line);
        }
        if let Some(file) = &inner.file
            && let Err(error) = file.write_line(line)
        {
            dropped("file", &inner.dropped_file, &error);
        }
    }
}

/// Counts a lost line and says so on stderr: at the first loss and every 10,000th after it.
#[cold]
fn dropped(sink: &'static str, count: &AtomicU64, error: &std::io::Error) {
    let n = count.fetch_add(1, Ordering::Relaxed) + 1;
    metrics::counter!(LOG_LINES_DROPPED_TOTAL.name, "sink" => sink).increment(1);
    if n == 1 || n.is_multiple_of(10_000) {
        let mut line = String::from(
            "{\"level\":\"WARNING\",\"logger\":\"moai_instrument::logging\",\"message\":",
        );
        let message = format!("log sink {sink} failed ({error}); {n} line(s) dropped so far");
        push_json_string(&mut line, &message);
        line.push_str("}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}
