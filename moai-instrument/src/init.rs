//! `init()`: the recorder, the logs and the exporter in one call, and the [`Guard`] that keeps
//! them running.
//!
//! Steps that can fail and be undone come first (validating every setting, opening the log
//! file, binding the port); the process-wide installations come last. An error therefore leaves
//! no thread running and no port bound, and `init()` may be retried with other settings.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::error::InitError;
use crate::exporter::{Exporter, Routes};
use crate::health::{HealthCheck, LogFileCheck};
use crate::health_schedule::HealthSchedule;
use crate::logging::{self, RotatingFile};
use crate::recorder::{self, MetricsHandle};

/// Initializes everything from the defaults and the environment: `Config::from_env()?.init()`.
///
/// ```no_run
/// fn main() -> Result<(), moai_instrument::InitError> {
///     let guard = moai_instrument::init()?;
///     tracing::info!(agent_id = "agent-7", "Agent spawned successfully");
///     println!("metrics on http://{}/metrics", guard.metrics_addr());
///     Ok(())
/// }
/// ```
pub fn init() -> Result<Guard, InitError> {
    Config::from_env()?.init()
}

impl Config {
    /// Installs the recorder, the `tracing` subscriber (JSON lines on stdout and in the rotating
    /// log file) and starts the exporter. Once per process: a second call is
    /// [`InitError::AlreadyInitialized`].
    pub fn init(self) -> Result<Guard, InitError> {
        if MetricsHandle::global().is_some() {
            return Err(InitError::AlreadyInitialized);
        }
        let settings = self.registry_settings()?;
        let addr = self.resolved_metrics_addr()?;
        let authorization = self.authorization()?;
        let health_interval = self.checked_health_interval()?;
        let (filter, format, file_path, files_kept) = self.log_settings();
        let filter = logging::parse_filter(&filter)?;
        let file = file_path
            .map(|path| logging::open_file(&path, files_kept))
            .transpose()?;
        let listener = TcpListener::bind(addr).map_err(|source| InitError::Bind {
            addr: addr.to_string(),
            source,
        })?;

        let metrics = recorder::install(settings)?;
        crate::__private::set_default_slow_query(self.slow_query());
        let logging = logging::install(filter, format, file.clone())?;
        let mut checks: Vec<Arc<dyn HealthCheck>> = self.checks.clone();
        if file.is_some() {
            checks.push(Arc::new(LogFileCheck::new(
                logging.sinks.clone(),
                health_interval * 2,
            )));
        }
        let routes = Routes {
            metrics: metrics.clone(),
            authorization,
            collectors: self.collectors.clone(),
            checks: checks.clone(),
        };
        let exporter = Exporter::start(listener, routes)?;
        let health = HealthSchedule::start(checks, health_interval)?;
        tracing::info!(
            target: "moai_instrument",
            metrics_addr = %exporter.addr(),
            health_interval_secs = health_interval.as_secs_f64(),
            log_file = file.as_ref().map(|f| f.path().display().to_string()),
            "moai-instrument started"
        );
        Ok(Guard {
            metrics,
            health: Some(health),
            exporter: Some(exporter),
            file,
            log_file_path: logging.file_path(),
        })
    }
}

/// Keeps the exporter running. Dropping it stops the exporter (the port is free again) and
/// flushes the log file to disk; the recorder and the subscriber stay installed for the rest of
/// the process.
#[must_use = "dropping the guard stops the exporter"]
pub struct Guard {
    metrics: MetricsHandle,
    health: Option<HealthSchedule>,
    exporter: Option<Exporter>,
    file: Option<Arc<RotatingFile>>,
    log_file_path: Option<PathBuf>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("metrics_addr", &self.exporter.as_ref().map(Exporter::addr))
            .field("log_file", &self.log_file_path)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// The address the exporter is bound to (the actual port when 0 was configured).
    #[must_use]
    pub fn metrics_addr(&self) -> SocketAddr {
        self.exporter
            .as_ref()
            .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), Exporter::addr)
    }

    /// The recorder, to render without HTTP.
    #[must_use]
    pub fn metrics(&self) -> &MetricsHandle {
        &self.metrics
    }

    /// The current log file, if one is written.
    #[must_use]
    pub fn log_file(&self) -> Option<&std::path::Path> {
        self.log_file_path.as_deref()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        drop(self.health.take());
        drop(self.exporter.take());
        if let Some(file) = &self.file {
            let _ = file.flush();
        }
    }
}
