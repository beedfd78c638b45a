//! Logging: `tracing` events as JSON lines on stdout (or a human format) and in the rotating
//! file, filtered by `RUST_LOG`, through one layer, [`JsonLayer`], that [`init`](crate::init)
//! installs in its own subscriber and [`Config::build`](crate::Config::build) hands to a host's.
//!
//! # The line
//!
//! One JSON object per line: `timestamp` (RFC 3339, UTC), `level` (`ERROR`, `WARNING`, `INFO`,
//! `DEBUG`, `TRACE`), `logger` (the target), `message`, `module`, `function` (the innermost
//! span's name), `line`, `exception` (an `error` field with its source chain), `agent_id` and
//! `user_id` (from the event or the innermost enclosing span that has them), then the event's
//! other fields, then the fields of the enclosing spans (`request_id`, `session_id`, ...),
//! innermost first; all at the top level, no key twice.
//!
//! # Sinks
//!
//! stdout and the file each have a bounded queue and a writer thread of their own: a stalled
//! sink delays a line by at most 20 ms once; what a sink cannot take is counted in
//! `moai_instrument_log_lines_dropped_total{sink}` and fails the `log_file` check.

mod fields;
mod file_check;
mod json;
mod pretty;
mod queue;
mod rotating_file;
mod sinks;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

pub use file_check::LOG_FILE_CHECK;
use file_check::LogFileCheck;
pub use json::JsonLayer;
pub(crate) use rotating_file::RotatingFile;
pub(crate) use sinks::Sinks;

use crate::error::InitError;
use crate::health::HealthCheck;

/// The format of log lines on stdout; the file is always JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line (the default, for log shippers).
    #[default]
    Json,
    /// Human-readable lines, for people at a terminal.
    Pretty,
    /// Nothing on stdout (the file still gets every JSON line): for a host whose own layer writes
    /// stdout.
    Off,
}

impl FromStr for LogFormat {
    type Err = InitError;

    fn from_str(value: &str) -> Result<Self, InitError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" | "text" => Ok(LogFormat::Pretty),
            "off" | "none" => Ok(LogFormat::Off),
            _ => Err(InitError::invalid(
                "MOAI_LOG_FORMAT",
                value,
                "expected `json`, `pretty` or `off`",
            )),
        }
    }
}

/// Who rotates the log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogRotation {
    /// The SDK, daily, keeping [`Config::log_files_kept`](crate::Config::log_files_kept) old files.
    #[default]
    Daily,
    /// An outside tool such as logrotate (`deploy/logrotate/moai-flow`): it renames the file, and
    /// the SDK notices the rename and reopens the path, losing no line (no `copytruncate`, which
    /// loses the lines written between its copy and its truncation).
    External,
}

impl FromStr for LogRotation {
    type Err = InitError;

    fn from_str(value: &str) -> Result<Self, InitError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "daily" => Ok(LogRotation::Daily),
            "external" => Ok(LogRotation::External),
            _ => Err(InitError::invalid(
                "MOAI_LOG_ROTATION",
                value,
                "expected `daily` or `external`",
            )),
        }
    }
}

/// The log settings of a [`Config`](crate::Config), resolved.
pub(crate) struct LogSettings {
    /// `RUST_LOG`-style: `info`, or `warn,moai_flow=debug`.
    pub(crate) filter: String,
    /// The format on stdout (the file is always JSON).
    pub(crate) format: LogFormat,
    /// The log file, if one is written.
    pub(crate) file: Option<PathBuf>,
    /// Rotated files kept; `None` when an outside tool rotates.
    pub(crate) files_kept: Option<usize>,
}

/// Logging checked and its file open, no thread started: what `build()` can still undo.
pub(crate) struct PreparedLogging {
    filter: Targets,
    format: LogFormat,
    file: Option<Arc<RotatingFile>>,
}

impl LogSettings {
    /// Parses the filter and opens the log file (creating its directory).
    pub(crate) fn prepare(&self) -> Result<PreparedLogging, InitError> {
        let filter = Targets::from_str(&without_span_filters(&self.filter)).map_err(|e| {
            InitError::invalid(
                "RUST_LOG",
                &self.filter,
                format!("expected `level` or `target=level,...` ({e})"),
            )
        })?;
        let file = match &self.file {
            Some(path) => Some(
                RotatingFile::open(
                    path,
                    self.files_kept,
                    Arc::new(rotating_file::SystemClock::new()),
                )
                .map(Arc::new)
                .map_err(|source| InitError::LogFile {
                    path: path.clone(),
                    source,
                })?,
            ),
            None => None,
        };
        Ok(PreparedLogging {
            filter,
            format: self.format,
            file,
        })
    }
}

/// `RUST_LOG` as the JSON layer reads it: `EnvFilter`'s span and field filters
/// (`target[span{field=1}]=debug`), which a host's own `EnvFilter` may use, are read as their
/// target's level (`target=debug`), so a filter that is valid for the host never stops the SDK.
fn without_span_filters(filter: &str) -> String {
    let mut out = String::with_capacity(filter.len());
    let mut depth = 0usize;
    for c in filter.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Logging started: the layer for the host's (or `init()`'s) subscriber, the sinks and the file
/// the guard flushes, and the global filter `init()` installs with the layer.
pub(crate) struct Logging {
    pub(crate) layer: JsonLayer,
    pub(crate) filter: Targets,
    pub(crate) sinks: Sinks,
    pub(crate) file: Option<Arc<RotatingFile>>,
}

impl PreparedLogging {
    /// Starts the sinks' writer threads and makes the layer.
    pub(crate) fn start(self) -> Result<Logging, InitError> {
        let PreparedLogging {
            filter,
            format,
            file,
        } = self;
        let stdout = (format != LogFormat::Off).then_some(format);
        let sinks = Sinks::new(stdout, file.clone()).map_err(|source| InitError::Thread {
            name: "log writer",
            source,
        })?;
        if let Some(file) = &file {
            rotating_file::watch(file).map_err(|source| InitError::Thread {
                name: "moai-log-watch",
                source,
            })?;
        }
        Ok(Logging {
            layer: JsonLayer::new(sinks.clone(), Some(filter.clone())),
            filter,
            sinks,
            file,
        })
    }
}

impl Logging {
    pub(crate) fn file_path(&self) -> Option<PathBuf> {
        self.file.as_ref().map(|f| f.path().to_owned())
    }

    /// The `log_file` check when a file is written: failing while lines are dropped and for
    /// `hold` after the last drop (at least a minute).
    pub(crate) fn health_check(&self, hold: std::time::Duration) -> Option<Arc<dyn HealthCheck>> {
        self.file.as_ref()?;
        Some(Arc::new(LogFileCheck {
            sinks: self.sinks.clone(),
            hold: file_check::LOG_FILE_FAILING_WINDOW.max(hold),
        }))
    }
}

/// A subscriber that formats every event as the JSON line and hands it to `write` (for
/// benchmarks and tests; `init()` installs the real one).
pub(crate) fn json_subscriber(
    write: impl Fn(&[u8]) + Send + Sync + 'static,
) -> impl tracing::Subscriber + Send + Sync {
    let sinks = Sinks::custom(Arc::new(write));
    tracing_subscriber::registry().with(JsonLayer::new(sinks, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_filter_span_directives_read_as_their_targets() {
        assert_eq!(
            without_span_filters(
                "info,my_crate[span{field=1}]=debug,tower_http::trace[request{uri=/x}]=trace"
            ),
            "info,my_crate=debug,tower_http::trace=trace"
        );
        assert_eq!(without_span_filters("info,a[s]=debug"), "info,a=debug");
        let settings = LogSettings {
            filter: "warn,my_crate[span{field=1}]=debug".into(),
            format: LogFormat::Json,
            file: None,
            files_kept: None,
        };
        let prepared = settings
            .prepare()
            .expect("a filter valid for EnvFilter is accepted");
        assert!(
            prepared
                .filter
                .would_enable("my_crate", &tracing::Level::DEBUG)
        );
        assert!(!prepared.filter.would_enable("other", &tracing::Level::INFO));
    }
}
