//! Liveness that means progress: the host calls [`heartbeat`] from its work loop; `/livez`
//! fails once the loop has stopped calling it for [`Config::progress_timeout`](crate::Config::progress_timeout),
//! and `moai_flow_last_progress_age_seconds` says how long ago it last did.
//!
//! A process whose threads are all alive can still be stuck (a lock never released, a blocked
//! write, an endless retry); only the work loop itself can say it moves on. Until the first
//! heartbeat the check passes, so hosts that never call it are judged by their other liveness
//! checks only.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{CheckResult, Detail, HealthCheck, HealthStatus, Probe};
use crate::catalog::LAST_PROGRESS_AGE_SECONDS;

/// Nanoseconds after [`epoch`] of the last heartbeat, plus one; 0: none yet.
static LAST: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Tells the SDK that the application's work loop made progress: call it once per iteration (or
/// per unit of work). One atomic store; cheap enough for every iteration.
pub fn heartbeat() {
    let nanos = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
    LAST.store(nanos + 1, Ordering::Relaxed);
}

/// How long ago the last heartbeat was, `None` before the first.
pub(crate) fn since_last() -> Option<Duration> {
    let last = LAST.load(Ordering::Relaxed).checked_sub(1)?;
    Some(epoch().elapsed().saturating_sub(Duration::from_nanos(last)))
}

/// Sets `moai_flow_last_progress_age_seconds` (a scrape-time collector).
pub(crate) fn export_age() {
    if let Some(age) = since_last() {
        metrics::gauge!(LAST_PROGRESS_AGE_SECONDS.name).set(age.as_secs_f64());
    }
}

/// The name of the `progress` liveness check.
pub const PROGRESS_CHECK: &str = "progress";

/// The `progress` liveness check.
pub(crate) struct ProgressCheck {
    pub(crate) timeout: Duration,
}

impl HealthCheck for ProgressCheck {
    fn name(&self) -> &str {
        PROGRESS_CHECK
    }

    fn probe(&self) -> Probe {
        Probe::Liveness
    }

    fn check(&self) -> CheckResult {
        match since_last() {
            None => CheckResult::new(
                HealthStatus::Healthy,
                "No heartbeat reported yet (the host does not call heartbeat())",
            ),
            Some(age) if age > self.timeout => CheckResult::new(
                HealthStatus::Unhealthy,
                format!(
                    "No progress for {:.1} s (limit {} s): the work loop is stuck",
                    age.as_secs_f64(),
                    self.timeout.as_secs()
                ),
            )
            .with_detail("seconds_since_progress", Detail::Number(age.as_secs_f64())),
            Some(age) => CheckResult::new(
                HealthStatus::Healthy,
                format!("Progress {:.1} s ago", age.as_secs_f64()),
            )
            .with_detail("seconds_since_progress", Detail::Number(age.as_secs_f64())),
        }
    }
}
