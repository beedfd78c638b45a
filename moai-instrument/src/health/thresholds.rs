//! The guide's Key Metrics thresholds, and how a reading is judged against them.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use super::readings::Usage;
use super::{CheckResult, Detail, HealthStatus};

/// The guide's Key Metrics thresholds, and the limits of the checks themselves. Set for the
/// process with [`Config::thresholds`](crate::Config::thresholds) (and the `MOAI_*_PERCENT`,
/// `MOAI_QUERY_P95_*_MS` variables); checks read them with [`thresholds`].
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Disk usage that degrades, a fraction of the total (0.80).
    pub disk_warn: f64,
    /// Disk usage that fails (0.90).
    pub disk_fail: f64,
    /// Memory usage that degrades (0.80).
    pub memory_warn: f64,
    /// Memory usage that fails (0.95).
    pub memory_fail: f64,
    /// Query p95 that degrades (100 ms).
    pub query_p95_warn: Duration,
    /// Query p95 that fails (500 ms).
    pub query_p95_fail: Duration,
    /// Database size that degrades, in bytes (10 GiB).
    pub database_warn_bytes: u64,
    /// An active agent whose row has not changed for this long is stale (1 h).
    pub stale_agent_after: Duration,
    /// The longest one check may take before it counts as failed (2 s).
    pub check_timeout: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            disk_warn: 0.80,
            disk_fail: 0.90,
            memory_warn: 0.80,
            memory_fail: 0.95,
            query_p95_warn: Duration::from_millis(100),
            query_p95_fail: Duration::from_millis(500),
            database_warn_bytes: 10 * 1024 * 1024 * 1024,
            stale_agent_after: Duration::from_secs(3600),
            check_timeout: Duration::from_secs(2),
        }
    }
}

impl Thresholds {
    /// Whether every value can be used: fractions in `0.0..=1.0` with warn at most fail, the
    /// p95 warn at most its fail, a check timeout above zero. `Err` names the first bad pair (by
    /// its environment variables), the values given, and what is expected.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String, &'static str)> {
        let fraction = |x: f64| (0.0..=1.0).contains(&x);
        let percent = |x: f64| format!("{}%", x * 100.0);
        for (setting, warn, fail) in [
            (
                "MOAI_DISK_WARN_PERCENT / MOAI_DISK_FAIL_PERCENT (Thresholds::disk_warn, disk_fail)",
                self.disk_warn,
                self.disk_fail,
            ),
            (
                "MOAI_MEMORY_WARN_PERCENT / MOAI_MEMORY_FAIL_PERCENT (Thresholds::memory_warn, memory_fail)",
                self.memory_warn,
                self.memory_fail,
            ),
        ] {
            if !fraction(warn) || !fraction(fail) || warn > fail {
                return Err((
                    setting,
                    format!("warn {} fail {}", percent(warn), percent(fail)),
                    "percentages from 0 to 100, the warning at most the failing one",
                ));
            }
        }
        if self.query_p95_warn > self.query_p95_fail {
            return Err((
                "MOAI_QUERY_P95_WARN_MS / MOAI_QUERY_P95_FAIL_MS (Thresholds::query_p95_warn, query_p95_fail)",
                format!(
                    "warn {} ms fail {} ms",
                    self.query_p95_warn.as_millis(),
                    self.query_p95_fail.as_millis()
                ),
                "the warning at most the failing one",
            ));
        }
        if self.check_timeout.is_zero() {
            return Err((
                "Thresholds::check_timeout",
                "0s".into(),
                "a time limit above zero",
            ));
        }
        Ok(())
    }
}

/// The environment variables [`Config::from_env`](crate::Config::from_env) reads into
/// [`Thresholds`]: for a probe outside the app (`moai-health`) that judges as the app does.
pub const THRESHOLD_VARIABLES: [&str; 6] = [
    "MOAI_DISK_WARN_PERCENT",
    "MOAI_DISK_FAIL_PERCENT",
    "MOAI_MEMORY_WARN_PERCENT",
    "MOAI_MEMORY_FAIL_PERCENT",
    "MOAI_QUERY_P95_WARN_MS",
    "MOAI_QUERY_P95_FAIL_MS",
];

static CONFIGURED: RwLock<Option<Arc<Thresholds>>> = RwLock::new(None);

/// The thresholds of this process: those of the [`Config`](crate::Config) that was built, else
/// the guide's defaults.
#[must_use]
pub fn thresholds() -> Arc<Thresholds> {
    CONFIGURED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_default()
}

pub(crate) fn set_thresholds(thresholds: Thresholds) {
    *CONFIGURED.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(thresholds));
}

/// Degraded at `warn`, unhealthy at `fail` (fractions of the total). The message is
/// `{what} usage 42.0% of 1.0 GB (filesystem)`; details `used_bytes`, `total_bytes`,
/// `usage_percent`, `source`.
#[must_use]
pub fn judge_usage(what: &str, usage: &Usage, warn: f64, fail: f64) -> CheckResult {
    let fraction = usage.fraction();
    let status = if fraction >= fail {
        HealthStatus::Unhealthy
    } else if fraction >= warn {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    };
    CheckResult::new(
        status,
        format!(
            "{what} usage {:.1}% of {} ({})",
            fraction * 100.0,
            format_bytes(usage.total),
            usage.source
        ),
    )
    .with_detail("used_bytes", Detail::Integer(usage.used as i64))
    .with_detail("total_bytes", Detail::Integer(usage.total as i64))
    .with_detail(
        "usage_percent",
        Detail::Number((fraction * 1000.0).round() / 10.0),
    )
    .with_detail("source", Detail::Text(usage.source.into()))
}

/// Degraded past the p95 target, unhealthy past the critical threshold; detail `p95_ms`.
#[must_use]
pub fn judge_query_p95(p95: Duration, t: &Thresholds) -> CheckResult {
    let status = if p95 > t.query_p95_fail {
        HealthStatus::Unhealthy
    } else if p95 > t.query_p95_warn {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    };
    let ms = p95.as_secs_f64() * 1e3;
    CheckResult::new(
        status,
        format!(
            "Query p95 {ms:.1} ms (target <{} ms)",
            t.query_p95_warn.as_millis()
        ),
    )
    .with_detail("p95_ms", Detail::Number((ms * 1000.0).round() / 1000.0))
}

/// `512 B`, `1.0 KB`, `10.0 GB`: sizes in health messages (powers of 1024).
#[must_use]
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(percent: u64) -> Usage {
        Usage {
            used: percent,
            total: 100,
            source: "filesystem",
        }
    }

    #[test]
    fn usage_has_three_states_at_the_guides_thresholds() {
        let t = Thresholds::default();
        let judge = |p, w, f| judge_usage("Disk", &usage(p), w, f).status;
        assert_eq!(judge(79, t.disk_warn, t.disk_fail), HealthStatus::Healthy);
        assert_eq!(judge(80, t.disk_warn, t.disk_fail), HealthStatus::Degraded);
        let failing = judge_usage("Disk", &usage(90), t.disk_warn, t.disk_fail);
        assert_eq!(
            (failing.status, failing.is_healthy()),
            (HealthStatus::Unhealthy, false)
        );
        assert_eq!(failing.message, "Disk usage 90.0% of 100 B (filesystem)");
        assert_eq!(
            judge(94, t.memory_warn, t.memory_fail),
            HealthStatus::Degraded
        );
        assert_eq!(
            judge(95, t.memory_warn, t.memory_fail),
            HealthStatus::Unhealthy
        );
    }

    #[test]
    fn query_p95_states() {
        let t = Thresholds::default();
        let judge = |ms| judge_query_p95(Duration::from_millis(ms), &t);
        assert_eq!(judge(99).status, HealthStatus::Healthy);
        assert_eq!(judge(150).status, HealthStatus::Degraded);
        let slow = judge(600);
        assert_eq!(
            (slow.status, slow.message.as_str()),
            (
                HealthStatus::Unhealthy,
                "Query p95 600.0 ms (target <100 ms)"
            )
        );
        assert_eq!(format_bytes(1 << 20), "1.0 MB");
    }

    #[test]
    fn bad_thresholds_name_the_field() {
        let mut t = Thresholds::default();
        assert!(t.validate().is_ok());
        t.disk_warn = 0.95;
        let (setting, value, _) = t.validate().unwrap_err();
        assert!(setting.starts_with("MOAI_DISK_WARN_PERCENT"), "{setting}");
        assert_eq!(value, "warn 95% fail 90%");
        let t = Thresholds {
            query_p95_warn: Duration::from_secs(1),
            ..Thresholds::default()
        };
        assert!(
            t.validate()
                .unwrap_err()
                .0
                .starts_with("MOAI_QUERY_P95_WARN_MS")
        );
    }
}
