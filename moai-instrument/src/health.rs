//! Health checks behind `/livez`, `/readyz` and `/healthz`, and the
//! `moai_flow_health_check_status{check}` gauge. The host (and the SDK itself) registers checks;
//! each run answers `{healthy, status, message, details}` as the guide's scripts print them.

use std::fmt::Write as _;

use crate::logging::Sinks;

/// The three states of a check, in the guide's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthStatus {
    /// Within targets.
    Healthy,
    /// Working, but past a warning threshold.
    Degraded,
    /// Past a critical threshold, or failing.
    Unhealthy,
}

impl HealthStatus {
    /// `healthy`, `degraded` or `unhealthy`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// A value in a check's details.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// Text.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A measurement.
    Number(f64),
    /// A flag.
    Flag(bool),
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// `false` only when the status is unhealthy: a degraded check still passes.
    pub healthy: bool,
    /// Healthy, degraded or unhealthy.
    pub status: HealthStatus,
    /// One line for people, e.g. `Disk usage 42.0%`.
    pub message: String,
    /// Named readings behind the message.
    pub details: Vec<(String, Detail)>,
}

impl CheckResult {
    /// A result with the given status and message and no details.
    #[must_use]
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        CheckResult {
            healthy: status != HealthStatus::Unhealthy,
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// The details as the guide's scripts print them: `{'size_bytes': 4096, 'path': '/x'}`.
    #[must_use]
    pub fn details_text(&self) -> String {
        let fields: Vec<String> = self
            .details
            .iter()
            .map(|(key, value)| match value {
                Detail::Text(text) => format!("'{key}': '{text}'"),
                Detail::Integer(n) => format!("'{key}': {n}"),
                Detail::Number(x) => format!("'{key}': {x}"),
                Detail::Flag(b) => format!("'{key}': {}", if *b { "True" } else { "False" }),
            })
            .collect();
        format!("{{{}}}", fields.join(", "))
    }

    /// Adds a detail.
    #[must_use]
    pub fn with_detail(mut self, name: impl Into<String>, value: Detail) -> Self {
        self.details.push((name.into(), value));
        self
    }
}

/// Which probes a check gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `/livez` and `/readyz`: failing means the process should be restarted.
    Liveness,
    /// `/readyz` only: failing means it should get no traffic for now.
    Readiness,
}

/// A health check: run on each probe request (`/livez`, `/readyz`, `/healthz`) and by the SDK
/// every `MOAI_HEALTH_INTERVAL`, which sets `moai_flow_health_check_status{check}`. A check should
/// bound its own time (the SDK's SwarmDB checks have a limit each): a slow one delays the next
/// scheduled round and its probe's answer, never a scrape.
pub trait HealthCheck: Send + Sync + 'static {
    /// The `check` label and the key in `/healthz`, e.g. `database`.
    fn name(&self) -> &str;
    /// The probes it gates (default: readiness).
    fn probe(&self) -> Probe {
        Probe::Readiness
    }
    /// Runs the check.
    fn check(&self) -> CheckResult;
}

impl HealthCheck for Box<dyn HealthCheck> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn probe(&self) -> Probe {
        (**self).probe()
    }
    fn check(&self) -> CheckResult {
        (**self).check()
    }
}

/// The outcome of running a set of checks, as `/healthz` and `moai-health --json` print it.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// Each check's name and result, in the order run.
    pub results: Vec<(String, CheckResult)>,
}

impl HealthReport {
    /// The worst status of any check (healthy when there are none).
    #[must_use]
    pub fn status(&self) -> HealthStatus {
        self.results
            .iter()
            .map(|(_, r)| r.status)
            .max()
            .unwrap_or(HealthStatus::Healthy)
    }

    /// The names of the checks that failed.
    #[must_use]
    pub fn failing(&self) -> Vec<&str> {
        self.results
            .iter()
            .filter(|(_, r)| !r.healthy)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// `{"status":..,"checks":{"name":{"healthy":..,"status":..,"message":..,"details":{..}}}}`
    #[must_use]
    pub fn to_json(&self) -> String {
        use crate::logging::push_json_string as string;
        let mut out = String::from("{\"status\":");
        string(&mut out, self.status().as_str());
        out.push_str(",\"checks\":{");
        for (i, (name, result)) in self.results.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            string(&mut out, name);
            let _ = write!(out, ":{{\"healthy\":{},\"status\":", result.healthy);
            string(&mut out, result.status.as_str());
            out.push_str(",\"message\":");
            string(&mut out, &result.message);
            out.push_str(",\"details\":{");
            for (j, (key, value)) in result.details.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                string(&mut out, key);
                out.push(':');
                match value {
                    Detail::Text(text) => string(&mut out, text),
                    Detail::Integer(n) => {
                        let _ = write!(out, "{n}");
                    }
                    Detail::Number(x) if x.is_finite() => {
                        let _ = write!(out, "{x:?}");
                    }
                    Detail::Number(x) => string(&mut out, &x.to_string()),
                    Detail::Flag(b) => {
                        let _ = write!(out, "{b}");
                    }
                }
            }
            out.push_str("}}");
        }
        out.push_str("}}");
        out
    }
}

/// How long the `log_file` check stays failing after the last line the file could not take.
pub const LOG_FILE_FAILING_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// The SDK's own check: the log file takes every line. A state, the same for every caller (the
/// SDK's scheduled runs and the probes alike): it fails while lines are being dropped and for
/// `hold` after the last drop (at least [`LOG_FILE_FAILING_WINDOW`], and two health periods).
pub(crate) struct LogFileCheck {
    pub(crate) sinks: Sinks,
    pub(crate) hold: std::time::Duration,
}

impl HealthCheck for LogFileCheck {
    fn name(&self) -> &str {
        "log_file"
    }

    fn check(&self) -> CheckResult {
        let Some(losses) = self.sinks.file_losses() else {
            return CheckResult::new(HealthStatus::Healthy, "No log file");
        };
        let since = losses.last.map(|t| t.elapsed());
        let result = match since {
            Some(ago) if ago < self.hold => CheckResult::new(
                HealthStatus::Unhealthy,
                format!(
                    "{} log line(s) could not be written, the last {:.0} s ago",
                    losses.total,
                    ago.as_secs_f64()
                ),
            ),
            _ => CheckResult::new(HealthStatus::Healthy, "Log file writable"),
        };
        result
            .with_detail("lines_dropped_total", Detail::Integer(losses.total as i64))
            .with_detail(
                "seconds_since_last_drop",
                since.map_or(Detail::Text("never".into()), |d| {
                    Detail::Number(d.as_secs_f64())
                }),
            )
    }
}
