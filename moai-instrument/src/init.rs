//! [`Config::build`]: the recorder, the log layer, the checks and the exporter as building blocks
//! for a host's own subscriber and router, and [`init`], which is `build()` plus the global
//! `tracing` subscriber. The [`Guard`] keeps them running.
//!
//! Steps that can fail and be undone come first (validating every setting, opening the log
//! file, binding the port, starting threads); the process-wide installations come last (the
//! recorder, then for `init()` the subscriber, whose slot is checked before anything starts).
//! An error therefore leaves nothing installed, no thread running and no port bound, and the
//! call may be retried with other settings.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt;

use crate::config::Config;
use crate::error::InitError;
use crate::exporter::web_config::WebConfigWatch;
use crate::exporter::{Exporter, Routes};
use crate::health::check_set::CHECKS;
use crate::health::progress::ProgressCheck;
use crate::health::schedule::HealthSchedule;
use crate::health::{CheckError, CheckHandle, HealthCheck, MemoryCheck, QueryPerformanceCheck};
use crate::logging::{self, JsonLayer, RotatingFile};
use crate::recorder::MetricsHandle;

/// Initializes everything from the defaults and the environment: `Config::from_env()?.init()`.
///
/// ```no_run
/// fn main() -> Result<(), moai_instrument::InitError> {
///     let guard = moai_instrument::init()?;
///     tracing::info!(agent_id = "agent-7", "Agent spawned successfully");
///     if let Some(addr) = guard.metrics_addr() {
///         println!("metrics on http://{addr}/metrics");
///     }
///     Ok(())
/// }
/// ```
///
/// # Errors
/// As [`Config::init`].
pub fn init() -> Result<Guard, InitError> {
    Config::from_env()?.init()
}

impl Config {
    /// [`Config::build`], then installs the layer in a global `tracing` subscriber of its own
    /// (with `RUST_LOG` as its global filter). Once per process.
    ///
    /// # Errors
    /// As [`Config::build`], and [`InitError::Subscriber`] when the host installed a global
    /// subscriber first (use `build()` and add the layer to it), checked before anything starts.
    pub fn init(self) -> Result<Guard, InitError> {
        if MetricsHandle::global().is_some() {
            return Err(InitError::AlreadyInitialized);
        }
        if tracing::dispatcher::has_been_set() {
            return Err(InitError::Subscriber { source: None });
        }
        let (layer, mut guard) = self.build()?;
        let filter = guard.log_filter.take();
        let subscriber = tracing_subscriber::registry().with(layer).with(filter);
        tracing::subscriber::set_global_default(subscriber).map_err(|source| {
            InitError::Subscriber {
                source: Some(source),
            }
        })?;
        guard.announce();
        Ok(guard)
    }

    /// Everything [`Config::init`] does except installing a `tracing` subscriber: installs the
    /// recorder, starts the log sinks (stdout and the rotating file), adds the checks (the
    /// host's, then `log_file`, `progress`, `memory`, `query_performance`), starts the periodic
    /// check round and, unless the address is `none`, the exporter. Returns the [`JsonLayer`]
    /// for the host's subscriber and the [`Guard`]. Once per process.
    ///
    /// ```
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let (json, guard) = moai_instrument::Config::new()
    ///     .metrics_addr("none")
    ///     .log_dir(None::<&str>)
    ///     .build()?;
    /// // The host's own subscriber, with the SDK's layer beside its own.
    /// let subscriber = tracing_subscriber::registry().with(json);
    /// tracing::subscriber::with_default(subscriber, || tracing::info!("served"));
    /// let routes = guard.routes(); // serve from the host's router
    /// # let _ = routes;
    /// # Ok::<(), moai_instrument::InitError>(())
    /// ```
    ///
    /// # Errors
    /// [`InitError::InvalidSetting`] for a value that cannot be used (naming the setting), a host
    /// check named like another check or one of the SDK's; [`InitError::LogFile`],
    /// [`InitError::Bind`], [`InitError::AlreadyInitialized`], [`InitError::ForeignRecorder`],
    /// [`InitError::Thread`]. After an error nothing is installed, running or bound.
    pub fn build(self) -> Result<(JsonLayer, Guard), InitError> {
        if MetricsHandle::global().is_some() {
            return Err(InitError::AlreadyInitialized);
        }
        // Everything that can fail and be undone first: no thread started, no port kept.
        let prepared = self.prepare_metrics()?;
        let addr = self.resolved_metrics_addr()?;
        let token = self.bearer_token()?;
        let web_config = self.opened_web_config()?;
        let health_interval = self.checked_health_interval()?;
        let thresholds = self.checked_thresholds()?;
        let logs = self.log_settings().prepare()?;
        let listener = match addr {
            Some(addr) => {
                Some(TcpListener::bind(addr).map_err(|source| InitError::bind(addr, source))?)
            }
            None => None,
        };

        let logging = logs.start()?;
        let mut checks: Vec<Arc<dyn HealthCheck>> = self.checks.clone();
        checks.extend(logging.health_check(health_interval * 2));
        checks.push(Arc::new(ProgressCheck {
            timeout: self.configured_progress_timeout(),
        }));
        checks.push(Arc::new(MemoryCheck));
        checks.push(Arc::new(QueryPerformanceCheck {
            query_types: self.configured_query_types(),
        }));
        let check_handles = add_checks(checks)?;
        let routes = Routes::new(prepared.handle(), token, web_config.clone());
        let exporter = listener
            .map(|listener| Exporter::start(listener, routes.clone(), web_config.clone()))
            .transpose()?;
        let health =
            HealthSchedule::start(health_interval).map_err(|source| InitError::Thread {
                name: "moai-health-checks",
                source,
            })?;
        // The one step that cannot be undone, last.
        let metrics = self.install_metrics(prepared)?;
        logging.sinks.export_counters();
        if let Some(web) = &web_config {
            web.report_loaded();
        }
        crate::health::set_thresholds(thresholds);
        health.release();
        let guard = Guard {
            metrics,
            routes,
            health: Some(health),
            exporter,
            _checks: check_handles,
            log_file_path: logging.file_path(),
            log_filter: Some(logging.filter),
            file: logging.file,
            sinks: logging.sinks,
            web_config,
        };
        // To the host's subscriber, when it already has one (`init()` says it again once its
        // subscriber is in place).
        guard.warn_about_web_config();
        Ok((logging.layer, guard))
    }
}

/// Adds the checks in order; on a refusal, removes those already added (their handles drop).
fn add_checks(checks: Vec<Arc<dyn HealthCheck>>) -> Result<Vec<CheckHandle>, InitError> {
    let mut handles = Vec::with_capacity(checks.len());
    for check in checks {
        let name = check.name().to_owned();
        let handle = CHECKS.add(check).map_err(|error| {
            let reason = match error {
                CheckError::EmptyName => {
                    "a check needs a name (its `check` label and its key in /healthz)"
                }
                _ => {
                    "a check of this name is already registered (the SDK's own `progress`, \
                      `log_file`, `memory` and `query_performance` included); name the host's \
                      check differently"
                }
            };
            InitError::invalid("health_check", &name, reason)
        })?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Keeps the SDK running. Dropping it stops the exporter (the port is free again) and the
/// periodic checks, removes the SDK's and the host's checks, and flushes the log file to disk;
/// the recorder and a subscriber `init()` installed stay for the rest of the process.
#[must_use = "dropping the guard stops the exporter"]
pub struct Guard {
    metrics: MetricsHandle,
    routes: Routes,
    health: Option<HealthSchedule>,
    exporter: Option<Exporter>,
    _checks: Vec<CheckHandle>,
    file: Option<Arc<RotatingFile>>,
    log_file_path: Option<PathBuf>,
    /// `RUST_LOG` as a global filter, for the subscriber `init()` installs.
    log_filter: Option<tracing_subscriber::filter::Targets>,
    sinks: logging::Sinks,
    web_config: Option<Arc<WebConfigWatch>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("metrics_addr", &self.metrics_addr())
            .field("log_file", &self.log_file_path)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// The address the exporter is bound to (the actual port when 0 was configured); `None`
    /// when the address is `none` (the host serves [`Guard::routes`] itself).
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.exporter.as_ref().map(Exporter::addr)
    }

    /// The URL of the exporter's `/metrics`: `https://` while the web config serves TLS,
    /// `http://` otherwise; `None` when the address is `none`.
    #[must_use]
    pub fn metrics_url(&self) -> Option<String> {
        let tls = self
            .web_config
            .as_ref()
            .is_some_and(|web| web.current().tls.is_some());
        let scheme = if tls { "https" } else { "http" };
        self.metrics_addr()
            .map(|addr| format!("{scheme}://{addr}/metrics"))
    }

    /// The exporter's endpoints, for the host's own router: exactly what the embedded exporter
    /// serves (the same [`Routes`]).
    #[must_use]
    pub fn routes(&self) -> Routes {
        self.routes.clone()
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

    /// The start-up line, once the subscriber that carries it is in place.
    fn announce(&self) {
        let protection = self
            .web_config
            .as_ref()
            .map(|web| web.protection_at_start());
        tracing::info!(
            target: "moai_instrument",
            metrics_addr = self.metrics_addr().map(|addr| addr.to_string()),
            metrics_url = self.metrics_url(),
            tls = protection.is_some_and(|p| p.tls),
            basic_auth = protection.is_some_and(|p| p.basic_auth),
            log_file = self.log_file_path.as_ref().map(|path| path.display().to_string()),
            "moai-instrument started"
        );
        self.warn_about_web_config();
    }

    /// What a web config leaves open that its author likely did not mean to.
    fn warn_about_web_config(&self) {
        let Some(web) = &self.web_config else { return };
        let protection = web.protection_at_start();
        let warning = if self.exporter.is_none() && protection.tls {
            "MOAI_METRICS_ADDR is none: the web config's TLS is not used; the host's own server \
             must serve TLS (its users, headers and rate limit apply through Guard::routes)"
        } else if protection.basic_auth && !protection.tls {
            "basic_auth_users without tls_server_config: passwords cross the network in clear text"
        } else if !protection.basic_auth && !protection.tls && self.routes_token_free() {
            "the web config sets neither TLS nor basic_auth_users: the metrics are open to anyone \
             who reaches the port"
        } else {
            return;
        };
        tracing::warn!(target: "moai_instrument::exporter", "{warning}");
    }

    fn routes_token_free(&self) -> bool {
        !self.routes.requires_token()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        drop(self.health.take());
        drop(self.exporter.take());
        self.flush_logs();
    }
}
