//! Health checks: what `/livez`, `/readyz` and `/healthz` run, what sets
//! `moai_flow_health_check_status{check}`, and what `moai-health` prints.
//!
//! Each check answers a [`CheckResult`]: a [`HealthStatus`] (healthy, degraded, unhealthy), one
//! line for people and named [`Detail`]s; a degraded check still passes. A set of results is a
//! [`HealthReport`], as `/healthz` and `moai-health --json` print it.
//!
//! The checks of a process are one set: [`Config::build`](crate::Config::build) (and so
//! [`init`](crate::init)) adds the SDK's own, `progress` (liveness: the app calls
//! [`heartbeat`]), `log_file` (the file takes every line), `memory` and `query_performance`
//! (the guide's, against [`Thresholds`]); the host adds its own with
//! [`Config::health_check`](crate::Config::health_check); libraries add and remove theirs with
//! [`add_check`] while the process runs (`moai-swarmdb` adds the guide's database checks when a
//! database opens and removes them when it closes).

mod builtin;
pub(crate) mod check_set;
pub(crate) mod progress;
mod readings;
pub(crate) mod schedule;
mod thresholds;

use serde::ser::{Serialize, SerializeMap, Serializer};

pub use builtin::{MEMORY_CHECK, QUERY_PERFORMANCE_CHECK, check_memory, recorded_query_p95};
pub(crate) use builtin::{MemoryCheck, QueryPerformanceCheck};
pub use check_set::{CheckError, CheckHandle, add_check};
pub use progress::{PROGRESS_CHECK, heartbeat};
pub(crate) use readings::memory_limit;
pub use readings::{Usage, disk_usage, memory_usage, memory_usage_under};
pub(crate) use thresholds::set_thresholds;
pub use thresholds::{
    THRESHOLD_VARIABLES, Thresholds, format_bytes, judge_query_p95, judge_usage, thresholds,
};

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

    /// Whether the status passes a probe: only [`HealthStatus::Unhealthy`] fails.
    #[must_use]
    pub fn is_healthy(self) -> bool {
        self != HealthStatus::Unhealthy
    }
}

/// `healthy`, `degraded` or `unhealthy`, as [`HealthStatus::as_str`].
impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

/// The result of one check. Whether it passes is derived from its status
/// ([`CheckResult::is_healthy`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
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
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// `false` only when the status is unhealthy: a degraded check still passes.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.status.is_healthy()
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
/// Its status is the worst of its checks' (healthy when there are none).
#[derive(Debug, Clone, PartialEq, Default)]
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

    /// Whether every check passes (degraded ones included).
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.status().is_healthy()
    }

    /// The result of the check `name`, if it ran.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&CheckResult> {
        self.results.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// The names of the checks that failed.
    #[must_use]
    pub fn failing(&self) -> Vec<&str> {
        self.results
            .iter()
            .filter(|(_, r)| !r.is_healthy())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// `{"status":..,"checks":{"name":{"healthy":..,"status":..,"message":..,"details":{..}}}}`,
    /// the checks in the order run. A detail that is not a finite number is written as text
    /// (JSON has no NaN).
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serializing maps of strings and numbers into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for HealthReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut report = serializer.serialize_map(Some(2))?;
        report.serialize_entry("status", self.status().as_str())?;
        report.serialize_entry("checks", &InOrder(&self.results))?;
        report.end()
    }
}

/// Named values as a JSON object in their order (checks as run, details as added), which a
/// `BTreeMap` would lose.
struct InOrder<'a, V>(&'a [(String, V)]);

impl<V: Serialize> Serialize for InOrder<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl Serialize for CheckResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut result = serializer.serialize_map(Some(4))?;
        result.serialize_entry("healthy", &self.is_healthy())?;
        result.serialize_entry("status", self.status.as_str())?;
        result.serialize_entry("message", &self.message)?;
        result.serialize_entry("details", &InOrder(&self.details))?;
        result.end()
    }
}

impl Serialize for Detail {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Detail::Text(text) => serializer.serialize_str(text),
            Detail::Integer(n) => serializer.serialize_i64(*n),
            Detail::Number(x) if x.is_finite() => serializer.serialize_f64(*x),
            Detail::Number(x) => serializer.collect_str(x),
            Detail::Flag(b) => serializer.serialize_bool(*b),
        }
    }
}
