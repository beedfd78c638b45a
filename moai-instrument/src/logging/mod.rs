//! Logging: `tracing` events as JSON lines on stdout (or a human format) and in the rotating
//! file, filtered by `RUST_LOG`.

mod json;
mod queue;
mod rotating_file;
mod sinks;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

use json::JsonLayer;
pub use json::error_chain;
#[cfg_attr(not(feature = "swarmdb"), allow(unused_imports))]
pub(crate) use json::push_json_string;
pub(crate) use rotating_file::RotatingFile;
pub(crate) use sinks::Sinks;

use crate::error::InitError;

/// The format of log lines on stdout; the file is always JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line (the default, for log shippers).
    #[default]
    Json,
    /// Human-readable lines, for people at a terminal.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = InitError;

    fn from_str(value: &str) -> Result<Self, InitError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" | "text" => Ok(LogFormat::Pretty),
            _ => Err(InitError::invalid(
                "MOAI_LOG_FORMAT",
                value,
                "expected `json` or `pretty`",
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
    /// An outside tool such as logrotate with `copytruncate` (`deploy/logrotate/moai-flow`): the
    /// SDK only appends.
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

/// Parses a `RUST_LOG`-style filter: `info`, or `warn,moai_flow=debug`.
pub(crate) fn parse_filter(filter: &str) -> Result<Targets, InitError> {
    Targets::from_str(filter).map_err(|e| {
        InitError::invalid(
            "RUST_LOG",
            filter,
            format!("expected `level` or `target=level,...` ({e})"),
        )
    })
}

/// Opens the log file, creating its directory, with `keep` rotated files (`None`: rotated by an
/// outside tool).
pub(crate) fn open_file(path: &Path, keep: Option<usize>) -> Result<Arc<RotatingFile>, InitError> {
    RotatingFile::open(path, keep, SystemTime::now)
        .map(Arc::new)
        .map_err(|source| InitError::LogFile {
            path: path.to_owned(),
            source,
        })
}

/// What logging needs from the rest of `init()`: the sinks (for the health check) and the file
/// (flushed when the guard drops).
pub(crate) struct Logging {
    pub(crate) sinks: Sinks,
    pub(crate) file: Option<Arc<RotatingFile>>,
}

impl Logging {
    pub(crate) fn file_path(&self) -> Option<PathBuf> {
        self.file.as_ref().map(|f| f.path().to_owned())
    }
}

/// A subscriber that formats every event as the JSON line and hands it to `write` (for
/// benchmarks and tests; `init()` installs the real one).
pub(crate) fn json_subscriber(
    write: impl Fn(&[u8]) + Send + Sync + 'static,
) -> impl tracing::Subscriber + Send + Sync {
    let sinks = Sinks::custom(Arc::new(write));
    tracing_subscriber::registry().with(JsonLayer::new(sinks))
}

/// Installs the global `tracing` subscriber.
pub(crate) fn install(
    filter: Targets,
    format: LogFormat,
    file: Option<Arc<RotatingFile>>,
) -> Result<Logging, InitError> {
    let json_to_stdout = format == LogFormat::Json;
    let sinks = Sinks::new(json_to_stdout, file.clone()).map_err(|source| InitError::Thread {
        name: "log writer",
        source,
    })?;
    let pretty = (format == LogFormat::Pretty).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stdout)
            .with_ansi(std::io::stdout().is_terminal())
    });
    let subscriber = tracing_subscriber::registry()
        .with((json_to_stdout || file.is_some()).then(|| JsonLayer::new(sinks.clone())))
        .with(pretty)
        .with(filter);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|source| InitError::Subscriber { source })?;
    Ok(Logging { sinks, file })
}
