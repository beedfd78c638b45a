//! `init()`: the recorder, the logs and the exporter in one call, and the [`Guard`] that keeps
//! them running.
//!
//! Steps that can fail and be undone come first (validating every setting, opening the log
//! file, binding the port); the process-wide installations come last. An error therefore leaves
//! no thread running and no port bound, and `init()` may be retried with other settings.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use crate::check_set::{CheckSet, Registered};
use crate::config::Config;
use crate::error::InitError;
use crate::exporter::{Exporter, Routes};
use crate::health::HealthCheck;
use crate::health_schedule::HealthSchedule;
use crate::logging::{self, RotatingFile};
use crate::progress::ProgressCheck;
use crate::recorder::MetricsHandle;

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
    /// log file) and starts the exporter and the periodic health checks. Once per process: a
    /// second call is [`InitError::AlreadyInitialized`].
    ///
    /// The checks are the host's ([`Config::health_check`]), then the SDK's own: `log_file`
    /// (when a file is written), `progress` (liveness, see
    /// [`heartbeat`](crate::health::heartbeat)), and with the feature `swarmdb` the guide's checks
    /// on the SwarmDB the application opens (see [`swarmdb`](crate::swarmdb#monitoring)).
    ///
    /// # Errors
    /// [`InitError::InvalidSetting`] for a value that cannot be used (naming the setting), a host
    /// check named like another check or one of the SDK's; [`InitError::LogFile`],
    /// [`InitError::Bind`], [`InitError::AlreadyInitialized`], [`InitError::ForeignRecorder`],
    /// [`InitError::Subscriber`], [`InitError::Thread`].
    pub fn init(self) -> Result<Guard, InitError> {
        if MetricsHandle::global().is_some() {
            return Err(InitError::AlreadyInitialized);
        }
        // Everything that can fail and be undone first: no thread started, no port kept.
        self.registry_settings()?;
        let addr = self.resolved_metrics_addr()?;
        let authorization = self.authorization()?;
        let health_interval = self.checked_health_interval()?;
        check_names(&self.checks)?;
        let logs = self.log_settings().prepare()?;
        let listener = TcpListener::bind(addr).map_err(|source| InitError::bind(addr, source))?;

        let metrics = self.install_metrics()?;
        let logging = logging::install(logs)?;
        let mut checks: Vec<Registered> = self
            .checks
            .iter()
            .map(|check| Registered::always(Arc::clone(check)))
            .collect();
        checks.extend(
            logging
                .health_check(health_interval * 2)
                .map(Registered::always),
        );
        checks.push(Registered::always(Arc::new(ProgressCheck {
            timeout: self.configured_progress_timeout(),
        })));
        #[cfg(feature = "swarmdb")]
        checks.extend(crate::health::HealthChecker::sdk_checks().into_iter().map(
            |(check, needs_db)| {
                if needs_db {
                    Registered::when(check, crate::swarmdb::monitoring::is_open)
                } else {
                    Registered::always(check)
                }
            },
        ));
        let checks = Arc::new(CheckSet::new(checks));
        let routes = Routes {
            metrics: metrics.clone(),
            authorization,
            checks: Arc::clone(&checks),
        };
        let exporter = Exporter::start(listener, routes)?;
        let health = HealthSchedule::start(checks, health_interval)?;
        tracing::info!(
            target: "moai_instrument",
            metrics_addr = %exporter.addr(),
            health_interval_secs = health_interval.as_secs_f64(),
            log_file = logging.file_path().map(|path| path.display().to_string()),
            "moai-instrument started"
        );
        Ok(Guard {
            metrics,
            health: Some(health),
            exporter: Some(exporter),
            log_file_path: logging.file_path(),
            file: logging.file,
            sinks: logging.sinks,
        })
    }
}

/// Refuses host checks that share a name with another or with one of the SDK's: one name is one
/// `check` label, one key in `/healthz`.
fn check_names(checks: &[Arc<dyn HealthCheck>]) -> Result<(), InitError> {
    let mut taken: Vec<String> = vec![
        crate::progress::CHECK_NAME.into(),
        logging::LOG_FILE_CHECK.into(),
    ];
    #[cfg(feature = "swarmdb")]
    taken.extend(crate::health::HealthChecker::sdk_check_names().map(String::from));
    let sdk = taken.len();
    for check in checks {
        let name = check.name();
        if name.trim().is_empty() {
            // An empty `check` label reads as no label at all in Prometheus.
            return Err(InitError::invalid(
                "health_check",
                name,
                "a check needs a name (its `check` label and its key in /healthz)",
            ));
        }
        if let Some(at) = taken.iter().position(|t| *t == name) {
            let reason = if at < sdk {
                "the SDK runs a check of this name itself; name the host's check differently"
            } else {
                "two host checks have this name; each needs its own"
            };
            return Err(InitError::invalid("health_check", name, reason));
        }
        taken.push(name.to_owned());
    }
    Ok(())
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
    sinks: logging::Sinks,
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

    /// Waits until every line logged so far has been handed to stdout and the log file, and the
    /// file is on disk; at most 2 s, so a stalled sink cannot hold the caller (lines it cannot
    /// take are counted as dropped). Dropping the guard does the same.
    pub fn flush_logs(&self) {
        self.sinks.drain(std::time::Duration::from_secs(2));
        if let Some(file) = &self.file {
            let _ = file.flush();
        }
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
        self.flush_logs();
    }
}
