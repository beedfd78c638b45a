//! The settings of the SDK, from code (the builder) and from the environment.
//!
//! `Config::new()` holds the defaults; `Config::from_env()` applies the `MOAI_*` variables on top;
//! builder methods called afterwards win over both, so code can pin a setting that an operator's
//! environment must not change.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::InitError;
use crate::exporter::web_config::WebConfigWatch;
use crate::health::{HealthCheck, Thresholds};
use crate::logging::{LogFormat, LogRotation, LogSettings};
use crate::recorder::{self, Collector, HistogramLayout, MetricsHandle, RegistrySettings};

/// The quantiles of the summary: the guide's alerts and dashboard read `quantile="0.95"`.
const DEFAULT_QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];
/// `le` bounds in seconds for bucket mode: 1 ms to 10 s around the 100 ms and 500 ms thresholds.
const DEFAULT_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Series per metric before new label values fold into `other`.
const DEFAULT_SERIES_LIMIT: usize = 1000;
/// Distinct metric names before new ones are refused: the SDK's own are about 25.
const DEFAULT_FAMILY_LIMIT: usize = 10_000;
/// Summary quantiles cover between one and two of these periods (about a minute, like the
/// usual Prometheus client summaries).
const DEFAULT_SUMMARY_PERIOD: Duration = Duration::from_secs(30);
const DEFAULT_SLOW_QUERY: Duration = Duration::from_millis(100);
const DEFAULT_PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9090";
const DEFAULT_LOG_FILTER: &str = "info";
const DEFAULT_LOG_DIR: &str = ".moai/logs";
/// Rotated log files kept, as the guide's logrotate `rotate 7`.
const DEFAULT_LOG_FILES_KEPT: usize = 7;
const DEFAULT_DB_PATH: &str = ".moai/memory/swarm.db";
/// How often the SDK runs the registered health checks itself (`MOAI_HEALTH_INTERVAL`).
const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(30);
/// The longest health check period: a status older than a day is no status.
const MAX_HEALTH_INTERVAL: Duration = Duration::from_secs(86_400);

/// How `moai_flow_query_duration_seconds` (and every other histogram) is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistogramMode {
    /// A summary with quantiles 0.5, 0.9, 0.95 and 0.99 over a recent window, as the guide's
    /// alert rules and dashboard read them (`{quantile="0.95"}`).
    #[default]
    Summary,
    /// Cumulative `le` buckets, which `histogram_quantile()` aggregates across replicas.
    Buckets,
    /// Native histograms: sparse exponential buckets at [`Config::native_histogram_schema`],
    /// served over protobuf (which Prometheus asks for with `--enable-feature=native-histograms`,
    /// or `scrape_native_histograms` from 3.x), with the classic `le` buckets of
    /// [`HistogramMode::Buckets`] in the same family for text and OpenMetrics scrapes.
    Native,
}

impl FromStr for HistogramMode {
    type Err = InitError;

    fn from_str(value: &str) -> Result<Self, InitError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "summary" => Ok(HistogramMode::Summary),
            "buckets" | "histogram" => Ok(HistogramMode::Buckets),
            "native" => Ok(HistogramMode::Native),
            _ => Err(InitError::invalid(
                "MOAI_HISTOGRAM",
                value,
                "expected `summary`, `buckets` or `native`",
            )),
        }
    }
}

/// Settings of the SDK. A builder: each method takes and returns `self`.
///
/// ```
/// use std::time::Duration;
/// use moai_instrument::{Config, HistogramMode};
///
/// let config = Config::new()
///     .histogram_mode(HistogramMode::Buckets)
///     .slow_query_threshold(Duration::from_millis(250));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct Config {
    histogram_mode: HistogramMode,
    quantiles: Vec<f64>,
    buckets: Vec<f64>,
    native_schema: i8,
    summary_period: Duration,
    series_limit: usize,
    family_limit: usize,
    slow_query: Duration,
    progress_timeout: Duration,
    metrics_addr: String,
    metrics_token: Option<String>,
    web_config: Option<PathBuf>,
    log_filter: String,
    log_format: LogFormat,
    log_dir: Option<PathBuf>,
    log_files_kept: usize,
    log_rotation: LogRotation,
    db_path: PathBuf,
    db_url: Option<String>,
    health_interval: Duration,
    thresholds: Thresholds,
    query_types: Option<Vec<String>>,
    pub(crate) collectors: Vec<Collector>,
    pub(crate) checks: Vec<Arc<dyn HealthCheck>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("histogram_mode", &self.histogram_mode)
            .field("quantiles", &self.quantiles)
            .field("buckets", &self.buckets)
            .field("native_schema", &self.native_schema)
            .field("summary_period", &self.summary_period)
            .field("series_limit", &self.series_limit)
            .field("family_limit", &self.family_limit)
            .field("slow_query", &self.slow_query)
            .field("progress_timeout", &self.progress_timeout)
            .field("metrics_addr", &self.metrics_addr)
            // Never print the secret itself.
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("log_dir", &self.log_dir)
            .field("log_files_kept", &self.log_files_kept)
            .field("log_rotation", &self.log_rotation)
            .field("db_path", &self.db_path)
            .field(
                "db_url",
                &self
                    .db_url
                    .as_ref()
                    .map(|_| "<redacted: may hold a password>"),
            )
            .field("health_interval", &self.health_interval)
            .field("thresholds", &self.thresholds)
            .field("query_types", &self.query_types)
            .field("collectors", &self.collectors.len())
            .field(
                "checks",
                &self
                    .checks
                    .iter()
                    .map(|c| c.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            histogram_mode: HistogramMode::Summary,
            quantiles: DEFAULT_QUANTILES.to_vec(),
            buckets: DEFAULT_BUCKETS.to_vec(),
            native_schema: recorder::DEFAULT_NATIVE_SCHEMA,
            summary_period: DEFAULT_SUMMARY_PERIOD,
            series_limit: DEFAULT_SERIES_LIMIT,
            family_limit: DEFAULT_FAMILY_LIMIT,
            slow_query: DEFAULT_SLOW_QUERY,
            progress_timeout: DEFAULT_PROGRESS_TIMEOUT,
            metrics_addr: DEFAULT_METRICS_ADDR.to_owned(),
            metrics_token: None,
            web_config: None,
            log_filter: DEFAULT_LOG_FILTER.to_owned(),
            log_format: LogFormat::Json,
            log_dir: Some(PathBuf::from(DEFAULT_LOG_DIR)),
            log_files_kept: DEFAULT_LOG_FILES_KEPT,
            log_rotation: LogRotation::Daily,
            db_path: PathBuf::from(DEFAULT_DB_PATH),
            db_url: None,
            health_interval: DEFAULT_HEALTH_INTERVAL,
            thresholds: Thresholds::default(),
            query_types: None,
            collectors: Vec::new(),
            checks: Vec::new(),
        }
    }
}

impl Config {
    /// The log file's name inside the log directory ([`Config::log_dir`]).
    pub const LOG_FILE_NAME: &'static str = "moai-flow.log";

    /// The defaults, ignoring the environment.
    #[must_use]
    pub fn new() -> Self {
        Config::default()
    }

    /// The defaults with the environment applied. A bad value is an error naming the variable:
    ///
    /// | variable | setting |
    /// |---|---|
    /// | `MOAI_METRICS_ADDR` | [`Config::metrics_addr`] |
    /// | `MOAI_METRICS_TOKEN` | [`Config::metrics_token`] |
    /// | `MOAI_WEB_CONFIG` | [`Config::web_config`] (empty: none) |
    /// | `RUST_LOG` | [`Config::log_filter`] |
    /// | `MOAI_LOG_FORMAT` | [`Config::log_format`] (`json`, `pretty` or `off`) |
    /// | `MOAI_LOG_DIR` | [`Config::log_dir`] (`none` disables the file) |
    /// | `MOAI_LOG_ROTATION` | [`Config::log_rotation`] (`daily` or `external`) |
    /// | `MOAI_DB_PATH` | [`Config::db_path`] |
    /// | `MOAI_DB_URL` | [`Config::db_url`] (`postgres://...`; empty: unset) |
    /// | `MOAI_HISTOGRAM` | [`Config::histogram_mode`] (`summary`, `buckets` or `native`) |
    /// | `MOAI_NATIVE_HISTOGRAM_SCHEMA` | [`Config::native_histogram_schema`] (-4 to 8) |
    /// | `MOAI_SLOW_QUERY_MS` | [`Config::slow_query_threshold`] (milliseconds) |
    /// | `MOAI_PROGRESS_TIMEOUT_SECS` | [`Config::progress_timeout`] (seconds) |
    /// | `MOAI_HEALTH_INTERVAL` | [`Config::health_interval`] (`30s`, `500ms`, `2m`; bare number: seconds) |
    /// | `MOAI_DISK_WARN_PERCENT`, `MOAI_DISK_FAIL_PERCENT` | [`Thresholds::disk_warn`], [`Thresholds::disk_fail`] (percent, 0-100) |
    /// | `MOAI_MEMORY_WARN_PERCENT`, `MOAI_MEMORY_FAIL_PERCENT` | [`Thresholds::memory_warn`], [`Thresholds::memory_fail`] |
    /// | `MOAI_QUERY_P95_WARN_MS`, `MOAI_QUERY_P95_FAIL_MS` | [`Thresholds::query_p95_warn`], [`Thresholds::query_p95_fail`] (milliseconds) |
    /// | `MOAI_QUERY_TYPES` | [`Config::query_performance_types`] (comma-separated; empty: all) |
    ///
    /// Builder methods called on the result override the environment.
    pub fn from_env() -> Result<Self, InitError> {
        Config::new().with_env(|name| std::env::var(name).ok())
    }

    /// Applies the `MOAI_*` settings that `lookup` returns for a variable's name, as
    /// [`Config::from_env`] does with the process's environment (which is
    /// `Config::new().with_env(|name| std::env::var(name).ok())`). For settings kept elsewhere (a
    /// file, a secret store) under the same names, and for tests, which then set no process-wide
    /// variables.
    ///
    /// ```
    /// use moai_instrument::Config;
    ///
    /// let vars = [("MOAI_METRICS_ADDR", "127.0.0.1:0"), ("MOAI_HISTOGRAM", "buckets")];
    /// let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    /// let config = Config::new().with_env(lookup)?;
    /// # let _ = config;
    /// assert!(Config::new().with_env(|_| Some("bogus".into())).is_err());
    /// # Ok::<(), moai_instrument::InitError>(())
    /// ```
    ///
    /// # Errors
    /// [`InitError::InvalidSetting`] naming the first variable whose value cannot be used.
    pub fn with_env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        if let Some(addr) = lookup("MOAI_METRICS_ADDR") {
            self.metrics_addr = addr;
        }
        if let Some(token) = lookup("MOAI_METRICS_TOKEN") {
            self.metrics_token = Some(token);
        }
        if let Some(path) = lookup("MOAI_WEB_CONFIG") {
            self.web_config = (!path.trim().is_empty()).then(|| PathBuf::from(path));
        }
        if let Some(filter) = lookup("RUST_LOG") {
            self.log_filter = filter;
        }
        if let Some(format) = lookup("MOAI_LOG_FORMAT") {
            self.log_format = format.parse()?;
        }
        if let Some(dir) = lookup("MOAI_LOG_DIR") {
            self.log_dir = (!dir.trim().eq_ignore_ascii_case("none")).then(|| PathBuf::from(dir));
        }
        if let Some(rotation) = lookup("MOAI_LOG_ROTATION") {
            self.log_rotation = rotation.parse()?;
        }
        if let Some(path) = lookup("MOAI_DB_PATH") {
            self.db_path = PathBuf::from(path);
        }
        if let Some(url) = lookup("MOAI_DB_URL").filter(|u| !u.trim().is_empty()) {
            check_db_url(&url)?;
            self.db_url = Some(url);
        }
        if let Some(mode) = lookup("MOAI_HISTOGRAM") {
            self.histogram_mode = mode.parse()?;
        }
        if let Some(schema) = lookup("MOAI_NATIVE_HISTOGRAM_SCHEMA") {
            self.native_schema = schema
                .trim()
                .parse()
                .ok()
                .and_then(|schema| checked_native_schema(schema).ok())
                .ok_or_else(|| {
                    InitError::invalid(
                        "MOAI_NATIVE_HISTOGRAM_SCHEMA",
                        &schema,
                        "expected a whole number from -4 to 8",
                    )
                })?;
        }
        if let Some(ms) = lookup("MOAI_SLOW_QUERY_MS") {
            let millis = ms
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&ms| ms > 0)
                .ok_or_else(|| {
                    InitError::invalid(
                        "MOAI_SLOW_QUERY_MS",
                        &ms,
                        "expected a whole number of milliseconds, at least 1",
                    )
                })?;
            self.slow_query = Duration::from_millis(millis);
        }
        if let Some(secs) = lookup("MOAI_PROGRESS_TIMEOUT_SECS") {
            let secs = secs
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| {
                    InitError::invalid(
                        "MOAI_PROGRESS_TIMEOUT_SECS",
                        &secs,
                        "expected a whole number of seconds, at least 1",
                    )
                })?;
            self.progress_timeout = Duration::from_secs(secs);
        }
        for (variable, field) in [
            ("MOAI_DISK_WARN_PERCENT", &mut self.thresholds.disk_warn),
            ("MOAI_DISK_FAIL_PERCENT", &mut self.thresholds.disk_fail),
            ("MOAI_MEMORY_WARN_PERCENT", &mut self.thresholds.memory_warn),
            ("MOAI_MEMORY_FAIL_PERCENT", &mut self.thresholds.memory_fail),
        ] {
            if let Some(text) = lookup(variable) {
                let percent = text
                    .trim()
                    .trim_end_matches('%')
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=100.0).contains(p))
                    .ok_or_else(|| {
                        InitError::invalid(variable, &text, "expected a percentage from 0 to 100")
                    })?;
                *field = percent / 100.0;
            }
        }
        for (variable, field) in [
            (
                "MOAI_QUERY_P95_WARN_MS",
                &mut self.thresholds.query_p95_warn,
            ),
            (
                "MOAI_QUERY_P95_FAIL_MS",
                &mut self.thresholds.query_p95_fail,
            ),
        ] {
            if let Some(text) = lookup(variable) {
                let millis = text.trim().parse::<u64>().ok().ok_or_else(|| {
                    InitError::invalid(variable, &text, "expected a whole number of milliseconds")
                })?;
                *field = Duration::from_millis(millis);
            }
        }
        if let Some(types) = lookup("MOAI_QUERY_TYPES") {
            let types: Vec<String> = types
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            self.query_types = (!types.is_empty()).then_some(types);
        }
        if let Some(interval) = lookup("MOAI_HEALTH_INTERVAL") {
            self.health_interval = parse_interval(&interval).ok_or_else(|| {
                InitError::invalid(
                    "MOAI_HEALTH_INTERVAL",
                    &interval,
                    "expected a duration above zero such as 30s, 500ms or 2m (a bare number is seconds)",
                )
            })?;
        }
        Ok(self)
    }

    /// Summary (default), classic buckets, or native histograms.
    #[must_use]
    pub fn histogram_mode(mut self, mode: HistogramMode) -> Self {
        self.histogram_mode = mode;
        self
    }

    /// The quantiles a summary reports, each in `0.0..=1.0` (default 0.5, 0.9, 0.95, 0.99).
    #[must_use]
    pub fn summary_quantiles(mut self, quantiles: impl IntoIterator<Item = f64>) -> Self {
        self.quantiles = quantiles.into_iter().collect();
        self
    }

    /// The length of one summary window period: quantiles cover between one and two periods
    /// (default 30 s).
    #[must_use]
    pub fn summary_window_period(mut self, period: Duration) -> Self {
        self.summary_period = period;
        self
    }

    /// The `le` bounds in bucket and native mode, increasing (default 1 ms to 10 s).
    #[must_use]
    pub fn histogram_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.buckets = bounds.into_iter().collect();
        self
    }

    /// The resolution of native histograms ([`HistogramMode::Native`]), as Prometheus defines
    /// the schema: from -4 (a bucket spans 2^16) to 8 (each power of two split into 256
    /// buckets, 0.27% apart); default 3, 8 buckets per power of two, 9% apart. Each bucket a
    /// series uses costs 32 bytes (pages of 16 buckets, 4 thread stripes): a few KiB for
    /// latencies; at worst (every power of two from 2^-128 to 2^1024, both signs) 0.8 MB per
    /// series at schema 3, about 20 MB at schema 8.
    ///
    /// # Errors
    /// Outside -4..=8 (in any mode, as `MOAI_NATIVE_HISTOGRAM_SCHEMA`), [`Config::init`] and the
    /// building blocks return [`InitError::InvalidSetting`].
    #[must_use]
    pub fn native_histogram_schema(mut self, schema: i8) -> Self {
        self.native_schema = schema;
        self
    }

    /// The number of series one metric may have before new label values are folded into
    /// `other` and counted in `moai_instrument_label_overflow_total` (default 1000).
    #[must_use]
    pub fn series_limit(mut self, limit: usize) -> Self {
        self.series_limit = limit;
        self
    }

    /// The number of distinct metric names (families) the recorder holds before it refuses new
    /// ones, with one WARN line and a count in `moai_instrument_families_refused_total`
    /// (default 10,000; the SDK's own are about 25). A family costs far more than a series:
    /// label values, bounded by [`Config::series_limit`], are the way to many series.
    #[must_use]
    pub fn family_limit(mut self, limit: usize) -> Self {
        self.family_limit = limit;
        self
    }

    /// `#[timed_query]` calls slower than this log a WARN line (default 100 ms; per-fn
    /// `slow_ms = N` wins).
    #[must_use]
    pub fn slow_query_threshold(mut self, threshold: Duration) -> Self {
        self.slow_query = threshold;
        self
    }

    /// `/livez` fails when the host has called [`heartbeat`](crate::health::heartbeat) before but not
    /// for this long (default 60 s): its work loop is stuck. Hosts that never call it are judged
    /// by their other liveness checks only.
    #[must_use]
    pub fn progress_timeout(mut self, timeout: Duration) -> Self {
        self.progress_timeout = timeout;
        self
    }

    /// Where the exporter listens (default `0.0.0.0:9090`: every interface; port 0 picks a free
    /// port, which [`Guard::metrics_addr`](crate::Guard::metrics_addr) reports). `none` binds
    /// nothing: the host serves [`Guard::routes`](crate::Guard::routes) from its own router.
    #[must_use]
    pub fn metrics_addr(mut self, addr: impl Into<String>) -> Self {
        self.metrics_addr = addr.into();
        self
    }

    /// Requires `Authorization: Bearer <token>` on `/metrics` (the health endpoints stay open
    /// for the kubelet). Default: none.
    #[must_use]
    pub fn metrics_token(mut self, token: impl Into<String>) -> Self {
        self.metrics_token = Some(token.into());
        self
    }

    /// Serves the exporter as an exporter-toolkit web config file says (`--web.config.file` of
    /// Prometheus exporters): TLS with optional client certificates (`tls_server_config`),
    /// basic-auth users with bcrypt hashes (`basic_auth_users`, for `/metrics`; with
    /// [`Config::metrics_token`] either one lets a scrape in), response headers
    /// (`http_server_config.headers`) and `rate_limit`. The probes stay open. The file is checked
    /// at start and followed while the app runs: see [`exporter::web_config`](crate::exporter::web_config).
    /// With `metrics_addr("none")`, [`Guard::routes`](crate::Guard::routes) applies the users,
    /// headers and rate limit; TLS is then the host's server's job. Default: none (plain HTTP).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("moai-doc-web-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let file = dir.join("web.yml");
    /// std::fs::write(&file, "tls_server_config:\n  cert_file: missing.crt\n").unwrap();
    /// let err = moai_instrument::Config::new().web_config(&file).build().unwrap_err();
    /// assert!(err.to_string().contains("MOAI_WEB_CONFIG"));
    /// assert!(format!("{err:?}").contains("tls_server_config.cert_file"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    #[must_use]
    pub fn web_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.web_config = Some(path.into());
        self
    }

    /// Which events are logged, in `RUST_LOG` syntax: `info` (default), `warn,moai_flow=debug`.
    #[must_use]
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = filter.into();
        self
    }

    /// JSON lines (default), a human format, or nothing (`off`, for a host whose own layer
    /// writes stdout) on stdout; the file is always JSON.
    #[must_use]
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    /// The directory of `moai-flow.log` (default `.moai/logs`), created if missing; `None`
    /// writes no file.
    #[must_use]
    pub fn log_dir(mut self, dir: Option<impl Into<PathBuf>>) -> Self {
        self.log_dir = dir.map(Into::into);
        self
    }

    /// How many rotated log files are kept besides the current one (default 7).
    #[must_use]
    pub fn log_files_kept(mut self, files: usize) -> Self {
        self.log_files_kept = files;
        self
    }

    /// Daily rotation by the SDK (default), or by an outside tool such as logrotate.
    #[must_use]
    pub fn log_rotation(mut self, rotation: LogRotation) -> Self {
        self.log_rotation = rotation;
        self
    }

    /// The SwarmDB file (default `.moai/memory/swarm.db`).
    #[must_use]
    pub fn db_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.db_path = path.into();
        self
    }

    /// How often the SDK runs the registered health checks on its own thread, so that
    /// `moai_flow_health_check_status{check}` is on `/metrics` and current whoever probes
    /// (default 30 s; the first run is at start-up). Scrapes never wait for a check.
    #[must_use]
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }

    /// The configured health check period, checked: [`InitError`] when it is zero or above a
    /// day.
    pub(crate) fn checked_health_interval(&self) -> Result<Duration, InitError> {
        if self.health_interval.is_zero() || self.health_interval > MAX_HEALTH_INTERVAL {
            return Err(InitError::invalid(
                "MOAI_HEALTH_INTERVAL (health_interval)",
                format!("{:?}", self.health_interval),
                "must be above zero and at most a day",
            ));
        }
        Ok(self.health_interval)
    }

    /// The guide's Key Metrics thresholds that the health checks judge by (default: the guide's:
    /// disk 80%/90%, memory 80%/95%, query p95 100 ms/500 ms, database 10 GiB). Checks of
    /// libraries read the same values through [`health::thresholds`](crate::health::thresholds).
    #[must_use]
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// The query types (`query_type` of `#[timed_query]`) whose recorded p95 the
    /// `query_performance` check judges (default, and for an empty list: all, SwarmDB's
    /// maintenance such as `vacuum` included). A handler that is slow by design (an export, a
    /// report) then cannot fail readiness:
    ///
    /// ```
    /// let config = moai_instrument::Config::new()
    ///     .query_performance_types(["get_active_agents", "insert_event"]);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn query_performance_types<I, T>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let types: Vec<String> = types.into_iter().map(Into::into).collect();
        // No type named means all, as an empty `MOAI_QUERY_TYPES` does.
        self.query_types = (!types.is_empty()).then_some(types);
        self
    }

    /// The configured thresholds, checked: the warning level at most the failing one, fractions
    /// in `0.0..=1.0`, a check timeout above zero.
    ///
    /// # Errors
    /// [`InitError::InvalidSetting`] naming the thresholds and their environment variables.
    pub fn checked_thresholds(&self) -> Result<Thresholds, InitError> {
        self.thresholds
            .validate()
            .map_err(|(setting, value, reason)| InitError::invalid(setting, value, reason))?;
        Ok(self.thresholds.clone())
    }

    pub(crate) fn configured_query_types(&self) -> Option<Vec<String>> {
        self.query_types.clone()
    }

    /// The configured SwarmDB file (`MOAI_DB_PATH`), for the store a host opens with it
    /// (`moai_swarmdb::SwarmDb::from_config`).
    #[must_use]
    pub fn configured_db_path(&self) -> &Path {
        &self.db_path
    }

    /// SwarmDB on a PostgreSQL server instead of the file (default: unset):
    /// `postgres://user[:password]@host[:port]/dbname`, for replicas that share one swarm. The SDK
    /// only carries the setting (and refuses a URL that is not `postgres://`); the store reads it
    /// (`moai_swarmdb::SwarmDb::from_config`, with its feature `postgres`).
    #[must_use]
    pub fn db_url(mut self, url: impl Into<String>) -> Self {
        self.db_url = Some(url.into());
        self
    }

    /// The configured PostgreSQL URL, if any (with its password: pass it to the client, never
    /// to a log).
    #[must_use]
    pub fn configured_db_url(&self) -> Option<&str> {
        self.db_url.as_deref()
    }

    /// Runs `collector` before each scrape of `/metrics` and each [`MetricsHandle::render`], to
    /// refresh gauges from the application's state (the guide's `update_metrics()`).
    #[must_use]
    pub fn on_scrape(mut self, collector: impl Fn() + Send + Sync + 'static) -> Self {
        self.collectors.push(Arc::new(collector));
        self
    }

    /// Adds a check to `/livez`, `/readyz` and `/healthz` (see [`HealthCheck::probe`]).
    #[must_use]
    pub fn health_check(mut self, check: impl HealthCheck) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Installs only the metrics recorder: no exporter, no logging, no health checks. For hosts
    /// that serve `/metrics` themselves (render with [`MetricsHandle::render`], which runs the
    /// collectors exactly as `init()` does) and for tests. [`Config::build`] gives the rest as
    /// building blocks too.
    ///
    /// # Errors
    /// As `init()` for the metrics settings; [`InitError::InvalidSetting`] for `health_check`
    /// when checks were added, since nothing here would ever run them (use `init()`, or run them
    /// yourself).
    pub fn install_recorder(self) -> Result<MetricsHandle, InitError> {
        if !self.checks.is_empty() {
            let names: Vec<&str> = self.checks.iter().map(|c| c.name()).collect();
            return Err(InitError::invalid(
                "health_check",
                names.join(", "),
                "install_recorder() serves no probes and runs no checks; use init(), or run them yourself",
            ));
        }
        let prepared = self.prepare_metrics()?;
        self.install_metrics(prepared)
    }

    /// The recorder with the settings that go with it, not yet installed: shared by `build()`
    /// and [`Config::install_recorder`], so each applies every metrics setting, once.
    pub(crate) fn prepare_metrics(&self) -> Result<recorder::Prepared, InitError> {
        let settings = self.registry_settings()?;
        let mut collectors = self.collectors.clone();
        collectors.push(Arc::new(crate::health::progress::export_age));
        Ok(recorder::Prepared::new(
            settings,
            collectors,
            vec![crate::process::collect],
        ))
    }

    /// Installs a prepared recorder and applies the settings the macros read.
    pub(crate) fn install_metrics(
        &self,
        prepared: recorder::Prepared,
    ) -> Result<MetricsHandle, InitError> {
        let handle = prepared.install()?;
        crate::__private::set_default_slow_query(self.slow_query);
        Ok(handle)
    }

    /// A recorder with these settings that is not installed globally (`__test_support`).
    pub(crate) fn detached(self) -> Result<MetricsHandle, InitError> {
        Ok(recorder::detached(
            self.registry_settings()?,
            self.collectors,
        ))
    }

    /// The exporter address, resolved; `None` for `none`.
    pub(crate) fn resolved_metrics_addr(&self) -> Result<Option<SocketAddr>, InitError> {
        if self.metrics_addr.trim().eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let invalid =
            |reason: &str| InitError::invalid("MOAI_METRICS_ADDR", &self.metrics_addr, reason);
        let mut addrs = self.metrics_addr.to_socket_addrs().map_err(|e| {
            invalid(&format!(
                "expected host:port, e.g. 0.0.0.0:9090, or none ({e})"
            ))
        })?;
        addrs
            .next()
            .map(Some)
            .ok_or_else(|| invalid("the name resolves to no address"))
    }

    /// The web config, loaded and checked, when one is set.
    pub(crate) fn opened_web_config(&self) -> Result<Option<Arc<WebConfigWatch>>, InitError> {
        self.web_config
            .as_deref()
            .map(|path| {
                WebConfigWatch::open(path)
                    .map(Arc::new)
                    .map_err(|source| InitError::WebConfig { source })
            })
            .transpose()
    }

    /// The bearer token `/metrics` requires, if one is set.
    pub(crate) fn bearer_token(&self) -> Result<Option<String>, InitError> {
        match &self.metrics_token {
            None => Ok(None),
            Some(token) if token.trim().is_empty() || token.chars().any(char::is_control) => {
                Err(InitError::invalid(
                    "MOAI_METRICS_TOKEN",
                    "<redacted>",
                    "must be non-empty printable text",
                ))
            }
            Some(token) => Ok(Some(token.trim().to_owned())),
        }
    }

    pub(crate) fn log_settings(&self) -> LogSettings {
        LogSettings {
            filter: self.log_filter.clone(),
            format: self.log_format,
            file: self
                .log_dir
                .as_ref()
                .map(|dir| dir.join(Config::LOG_FILE_NAME)),
            files_kept: (self.log_rotation == LogRotation::Daily).then_some(self.log_files_kept),
        }
    }

    pub(crate) fn configured_progress_timeout(&self) -> Duration {
        self.progress_timeout
    }

    pub(crate) fn registry_settings(&self) -> Result<RegistrySettings, InitError> {
        if self.slow_query.is_zero() {
            return Err(InitError::invalid(
                "slow_query_threshold",
                format!("{:?}", self.slow_query),
                "must be above zero",
            ));
        }
        if self.series_limit == 0 {
            return Err(InitError::invalid("series_limit", 0, "must be at least 1"));
        }
        if self.family_limit < crate::catalog::CATALOG.len() + 1 {
            return Err(InitError::invalid(
                "family_limit",
                self.family_limit,
                format!(
                    "must leave room for the SDK's {} names and at least one of the host's",
                    crate::catalog::CATALOG.len()
                ),
            ));
        }
        if self.summary_period.is_zero() {
            return Err(InitError::invalid(
                "summary_window_period",
                format!("{:?}", self.summary_period),
                "must be above zero",
            ));
        }
        // Checked in every mode, as `MOAI_NATIVE_HISTOGRAM_SCHEMA` is.
        let native_schema = checked_native_schema(self.native_schema)?;
        let layout = match self.histogram_mode {
            HistogramMode::Summary => HistogramLayout::Summary {
                quantiles: checked_quantiles(&self.quantiles)?,
            },
            HistogramMode::Buckets => HistogramLayout::Buckets {
                bounds: checked_buckets(&self.buckets)?,
                native: None,
            },
            HistogramMode::Native => HistogramLayout::Buckets {
                bounds: checked_buckets(&self.buckets)?,
                native: Some(native_schema),
            },
        };
        Ok(RegistrySettings {
            layout,
            series_limit: self.series_limit,
            family_limit: self.family_limit,
            window_period: self.summary_period,
        })
    }
}

/// The registry settings of [`Config::new`], which are valid by construction.
pub(crate) fn default_registry_settings() -> RegistrySettings {
    RegistrySettings {
        layout: HistogramLayout::Summary {
            quantiles: DEFAULT_QUANTILES.to_vec(),
        },
        series_limit: DEFAULT_SERIES_LIMIT,
        family_limit: DEFAULT_FAMILY_LIMIT,
        window_period: DEFAULT_SUMMARY_PERIOD,
    }
}

/// `30s`, `500ms`, `2m`, `1h`, or a bare number of seconds; `None` when unreadable or zero.
fn parse_interval(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1e3,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
}

fn checked_quantiles(quantiles: &[f64]) -> Result<Vec<f64>, InitError> {
    if quantiles.is_empty() || quantiles.iter().any(|q| !(0.0..=1.0).contains(q)) {
        return Err(InitError::invalid(
            "summary_quantiles",
            format!("{quantiles:?}"),
            "expected one or more values in 0.0..=1.0",
        ));
    }
    let mut sorted = quantiles.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    Ok(sorted)
}

fn checked_native_schema(schema: i8) -> Result<i8, InitError> {
    if !(recorder::MIN_NATIVE_SCHEMA..=recorder::MAX_NATIVE_SCHEMA).contains(&schema) {
        return Err(InitError::invalid(
            "native_histogram_schema",
            schema,
            "expected -4 to 8, as Prometheus defines native histogram schemas",
        ));
    }
    Ok(schema)
}

fn checked_buckets(bounds: &[f64]) -> Result<Vec<f64>, InitError> {
    let increasing = bounds.windows(2).all(|pair| pair[0] < pair[1]);
    if bounds.is_empty() || !increasing || bounds.iter().any(|b| !b.is_finite()) {
        return Err(InitError::invalid(
            "histogram_buckets",
            format!("{bounds:?}"),
            "expected finite, strictly increasing bounds",
        ));
    }
    Ok(bounds.to_vec())
}

/// `MOAI_DB_URL` must be a PostgreSQL URL.
fn check_db_url(url: &str) -> Result<(), InitError> {
    // The URL may hold a password: only its scheme is shown.
    let shown = match url.split_once("://") {
        Some((scheme, _)) if scheme.len() <= 16 => format!("{scheme}://<redacted>"),
        _ => "<redacted>".to_owned(),
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(InitError::invalid(
            "MOAI_DB_URL",
            shown,
            "expected postgres://user[:password]@host[:port]/dbname",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn environment_is_applied_and_code_wins_afterwards() {
        let config = Config::new()
            .with_env(env(&[
                ("MOAI_HISTOGRAM", "buckets"),
                ("MOAI_SLOW_QUERY_MS", "250"),
            ]))
            .unwrap();
        assert_eq!(config.histogram_mode, HistogramMode::Buckets);
        assert_eq!(config.slow_query, Duration::from_millis(250));
        let config = config.histogram_mode(HistogramMode::Summary);
        assert_eq!(config.histogram_mode, HistogramMode::Summary);
    }

    #[test]
    fn bad_environment_values_name_the_variable_and_value() {
        let err = Config::new()
            .with_env(env(&[("MOAI_HISTOGRAM", "tdigest")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"tdigest\" for MOAI_HISTOGRAM: expected `summary`, `buckets` or `native`"
        );
        let err = Config::new()
            .with_env(env(&[("MOAI_SLOW_QUERY_MS", "fast")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("\"fast\" for MOAI_SLOW_QUERY_MS"),
            "{err}"
        );
        let err = Config::new()
            .with_env(env(&[("MOAI_SLOW_QUERY_MS", "0")]))
            .unwrap_err();
        assert!(err.to_string().contains("MOAI_SLOW_QUERY_MS"), "{err}");
    }

    #[test]
    fn health_interval_comes_from_the_environment_in_common_units() {
        let interval = |value: &str| {
            Config::new()
                .with_env(env(&[("MOAI_HEALTH_INTERVAL", value)]))
                .map(|c| c.health_interval)
        };
        assert_eq!(Config::new().health_interval, Duration::from_secs(30));
        assert_eq!(interval("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(interval("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(interval(" 5 ").unwrap(), Duration::from_secs(5));
        for bad in ["0s", "soon", "5 parsecs", "-1s", ""] {
            let err = interval(bad).unwrap_err();
            assert!(
                err.to_string().contains("MOAI_HEALTH_INTERVAL"),
                "{bad}: {err}"
            );
        }
        let err = Config::new()
            .health_interval(Duration::ZERO)
            .checked_health_interval()
            .unwrap_err();
        assert!(err.to_string().contains("health_interval"), "{err}");
    }

    #[test]
    fn every_threshold_variable_is_read() {
        for variable in crate::health::THRESHOLD_VARIABLES {
            let err = Config::new()
                .with_env(env(&[(variable, "not a number")]))
                .unwrap_err();
            assert!(err.to_string().contains(variable), "{variable}: {err}");
        }
    }

    #[test]
    fn no_query_type_named_means_all_from_code_and_environment() {
        let none: [&str; 0] = [];
        assert_eq!(
            Config::new().query_performance_types(none).query_types,
            None
        );
        let config = Config::new()
            .with_env(env(&[("MOAI_QUERY_TYPES", " , ")]))
            .unwrap();
        assert_eq!(config.query_types, None);
        let config = Config::new()
            .with_env(env(&[("MOAI_QUERY_TYPES", "get_agent, insert_event")]))
            .unwrap();
        assert_eq!(
            config.query_types,
            Some(vec!["get_agent".to_owned(), "insert_event".to_owned()])
        );
        assert_eq!(
            Config::new()
                .with_env(env(&[("MOAI_LOG_FORMAT", "off")]))
                .unwrap()
                .log_format,
            LogFormat::Off
        );
    }

    #[test]
    fn bad_builder_values_are_errors() {
        let bad = [
            Config::new().summary_quantiles([0.5, 1.5]),
            Config::new()
                .histogram_mode(HistogramMode::Buckets)
                .histogram_buckets([0.1, 0.1]),
            Config::new()
                .histogram_mode(HistogramMode::Buckets)
                .histogram_buckets([]),
            Config::new().series_limit(0),
            Config::new().slow_query_threshold(Duration::ZERO),
            Config::new().summary_window_period(Duration::ZERO),
        ];
        for config in bad {
            let err = config.registry_settings().unwrap_err();
            assert!(matches!(err, InitError::InvalidSetting { .. }), "{err}");
        }
        let layout = Config::new()
            .summary_quantiles([0.99, 0.5, 0.5])
            .registry_settings()
            .unwrap()
            .layout;
        assert_eq!(
            layout,
            HistogramLayout::Summary {
                quantiles: vec![0.5, 0.99]
            }
        );
    }
}
