//! Every metric the SDK exports: name, type, labels and HELP text, in one place. Dashboards,
//! alert rules and tests read names from here, never from copies.
//!
//! Data only: this module imports nothing of the SDK (the recorder reads it at installation).

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up; reset on restart.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Distribution of durations: a summary with quantiles, or buckets (see
    /// [`HistogramMode`](crate::HistogramMode)).
    Histogram,
}

/// One metric of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    /// The exact exported name.
    pub name: &'static str,
    /// Its Prometheus type.
    pub kind: MetricKind,
    /// Its label names (bounded values only; `agent_id` and `user_id` never appear here).
    pub labels: &'static [&'static str],
    /// Its `# HELP` text.
    pub help: &'static str,
}

/// `moai_flow_events_total{event_type}`: counted by `#[counted_event]`.
pub const EVENTS_TOTAL: MetricSpec = MetricSpec {
    name: "moai_flow_events_total",
    kind: MetricKind::Counter,
    labels: &["event_type"],
    help: "Total number of events processed",
};

/// `moai_flow_errors_total{operation}`: an `Err` returned by a `#[timed_query]` fn.
pub const ERRORS_TOTAL: MetricSpec = MetricSpec {
    name: "moai_flow_errors_total",
    kind: MetricKind::Counter,
    labels: &["operation"],
    help: "Total number of failed operations",
};

/// `moai_flow_query_duration_seconds{query_type}`: timed by `#[timed_query]`.
pub const QUERY_DURATION_SECONDS: MetricSpec = MetricSpec {
    name: "moai_flow_query_duration_seconds",
    kind: MetricKind::Histogram,
    labels: &["query_type"],
    help: "Query duration in seconds",
};

/// `moai_flow_db_collect_age_seconds`: how old the database-derived gauges served are. They are
/// read from the database off the scrape path, so a scrape never waits on it.
pub const DB_COLLECT_AGE_SECONDS: MetricSpec = MetricSpec {
    name: "moai_flow_db_collect_age_seconds",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Seconds since the database-derived gauges were last read from the database",
};

/// `moai_flow_agents_active`: agents in status spawned or running.
pub const AGENTS_ACTIVE: MetricSpec = MetricSpec {
    name: "moai_flow_agents_active",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Number of active agents",
};

/// `moai_flow_db_size_bytes`: SwarmDB file size.
pub const DB_SIZE_BYTES: MetricSpec = MetricSpec {
    name: "moai_flow_db_size_bytes",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Database size in bytes",
};

/// `moai_flow_health_check_status{check}`: 1 healthy, 0 not.
pub const HEALTH_CHECK_STATUS: MetricSpec = MetricSpec {
    name: "moai_flow_health_check_status",
    kind: MetricKind::Gauge,
    labels: &["check"],
    help: "Health check status per check (1 healthy, 0 not)",
};

/// `moai_flow_memory_limit_bytes`: the memory this process may use, in bytes: the cgroup limit
/// (v2 `memory.max`, v1 `memory.limit_in_bytes`) when one is set, else the host's `MemTotal`.
/// Read at each scrape; `process_resident_memory_bytes / moai_flow_memory_limit_bytes` is the
/// memory alert's ratio with no join to node-exporter.
pub const MEMORY_LIMIT_BYTES: MetricSpec = MetricSpec {
    name: "moai_flow_memory_limit_bytes",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Memory this process may use in bytes: the cgroup limit, else the host's total memory",
};

/// `moai_flow_db_volume_size_bytes`: size in bytes of the filesystem that holds the SwarmDB file
/// (`statvfs` `f_blocks * f_frsize`), taken by the `disk_space` health check on each run.
pub const DB_VOLUME_SIZE_BYTES: MetricSpec = MetricSpec {
    name: "moai_flow_db_volume_size_bytes",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Size in bytes of the filesystem that holds SwarmDB",
};

/// `moai_flow_db_volume_avail_bytes`: bytes of that filesystem the app can still use
/// (`f_bavail * f_frsize`, without the root reserve), taken by the `disk_space` health check.
pub const DB_VOLUME_AVAIL_BYTES: MetricSpec = MetricSpec {
    name: "moai_flow_db_volume_avail_bytes",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Bytes available to the app on the filesystem that holds SwarmDB",
};

/// `moai_flow_build_info{version}`: always 1.
pub const BUILD_INFO: MetricSpec = MetricSpec {
    name: "moai_flow_build_info",
    kind: MetricKind::Gauge,
    labels: &["version"],
    help: "Build information of the moai-instrument SDK (always 1)",
};

/// `moai_instrument_label_overflow_total{metric}`: label values folded into `other` because a
/// metric reached its series limit.
pub const LABEL_OVERFLOW_TOTAL: MetricSpec = MetricSpec {
    name: "moai_instrument_label_overflow_total",
    kind: MetricKind::Counter,
    labels: &["metric"],
    help: "Label values folded into \"other\" because a metric reached its series limit",
};

/// `moai_instrument_families_refused_total`: registrations of a new metric name refused because
/// the recorder holds its limit of distinct names (`Config::family_limit`).
pub const FAMILIES_REFUSED_TOTAL: MetricSpec = MetricSpec {
    name: "moai_instrument_families_refused_total",
    kind: MetricKind::Counter,
    labels: &[],
    help: "Registrations of a new metric name refused because the recorder holds its limit of distinct names",
};

/// `moai_instrument_log_lines_dropped_total{sink}`: JSON lines a sink (stdout or file) failed to
/// write.
pub const LOG_LINES_DROPPED_TOTAL: MetricSpec = MetricSpec {
    name: "moai_instrument_log_lines_dropped_total",
    kind: MetricKind::Counter,
    labels: &["sink"],
    help: "Log lines that a sink failed to write",
};

/// `moai_flow_last_progress_age_seconds`: seconds since the host last called
/// [`heartbeat`](crate::health::heartbeat); absent until the first call.
pub const LAST_PROGRESS_AGE_SECONDS: MetricSpec = MetricSpec {
    name: "moai_flow_last_progress_age_seconds",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Seconds since the application last reported progress (heartbeat)",
};

/// `moai_instrument_resource_exhausted_total{resource}`: times the SDK found a resource
/// exhausted (`file_descriptors`, `threads`), each time backing off instead of spinning.
pub const RESOURCE_EXHAUSTED_TOTAL: MetricSpec = MetricSpec {
    name: "moai_instrument_resource_exhausted_total",
    kind: MetricKind::Counter,
    labels: &["resource"],
    help: "Times the SDK found a resource exhausted and backed off",
};

/// `moai_instrument_web_config_last_reload_successful`: 1 while the web config
/// (`MOAI_WEB_CONFIG`) in use is the file as it is now, 0 while a later change cannot be used
/// and the last good one serves. Absent without a web config.
pub const WEB_CONFIG_LAST_RELOAD_SUCCESSFUL: MetricSpec = MetricSpec {
    name: "moai_instrument_web_config_last_reload_successful",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Whether the web config file as it is now is in use (1) or the last good one serves (0)",
};

/// `process_cpu_seconds_total`: user and system CPU time of the process.
pub const PROCESS_CPU_SECONDS_TOTAL: MetricSpec = MetricSpec {
    name: "process_cpu_seconds_total",
    kind: MetricKind::Counter,
    labels: &[],
    help: "Total user and system CPU time spent in seconds",
};

/// `process_resident_memory_bytes`: resident set size of the process.
pub const PROCESS_RESIDENT_MEMORY_BYTES: MetricSpec = MetricSpec {
    name: "process_resident_memory_bytes",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Resident memory size in bytes",
};

/// `process_virtual_memory_bytes`: virtual memory size of the process.
pub const PROCESS_VIRTUAL_MEMORY_BYTES: MetricSpec = MetricSpec {
    name: "process_virtual_memory_bytes",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Virtual memory size in bytes",
};

/// `process_open_fds`: open file descriptors.
pub const PROCESS_OPEN_FDS: MetricSpec = MetricSpec {
    name: "process_open_fds",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Number of open file descriptors",
};

/// `process_max_fds`: the open file descriptor limit.
pub const PROCESS_MAX_FDS: MetricSpec = MetricSpec {
    name: "process_max_fds",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Maximum number of open file descriptors",
};

/// `process_start_time_seconds`: start time since the Unix epoch.
pub const PROCESS_START_TIME_SECONDS: MetricSpec = MetricSpec {
    name: "process_start_time_seconds",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Start time of the process since unix epoch in seconds",
};

/// `process_threads`: threads of the process.
pub const PROCESS_THREADS: MetricSpec = MetricSpec {
    name: "process_threads",
    kind: MetricKind::Gauge,
    labels: &[],
    help: "Number of OS threads in the process",
};

/// Every metric of the contract, in one list.
pub const CATALOG: &[MetricSpec] = &[
    EVENTS_TOTAL,
    ERRORS_TOTAL,
    QUERY_DURATION_SECONDS,
    AGENTS_ACTIVE,
    DB_SIZE_BYTES,
    DB_COLLECT_AGE_SECONDS,
    HEALTH_CHECK_STATUS,
    MEMORY_LIMIT_BYTES,
    DB_VOLUME_SIZE_BYTES,
    DB_VOLUME_AVAIL_BYTES,
    BUILD_INFO,
    LABEL_OVERFLOW_TOTAL,
    FAMILIES_REFUSED_TOTAL,
    LOG_LINES_DROPPED_TOTAL,
    LAST_PROGRESS_AGE_SECONDS,
    RESOURCE_EXHAUSTED_TOTAL,
    WEB_CONFIG_LAST_RELOAD_SUCCESSFUL,
    PROCESS_CPU_SECONDS_TOTAL,
    PROCESS_RESIDENT_MEMORY_BYTES,
    PROCESS_VIRTUAL_MEMORY_BYTES,
    PROCESS_OPEN_FDS,
    PROCESS_MAX_FDS,
    PROCESS_START_TIME_SECONDS,
    PROCESS_THREADS,
];
