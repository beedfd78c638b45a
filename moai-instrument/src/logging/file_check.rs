//! The log's own health check, `log_file`: the file takes every line.

use std::time::Duration;

use super::Sinks;
use crate::health::{CheckResult, Detail, HealthCheck, HealthStatus};

/// The name of the `log_file` check.
pub const LOG_FILE_CHECK: &str = "log_file";

/// How long the `log_file` check stays failing after the last line the file could not take.
pub(super) const LOG_FILE_FAILING_WINDOW: Duration = Duration::from_secs(60);

/// The SDK's own check: the log file takes every line. A state, the same for every caller (the
/// SDK's scheduled runs and the probes alike): it fails while lines are being dropped and for
/// `hold` after the last drop (at least [`LOG_FILE_FAILING_WINDOW`], and two health periods).
pub(super) struct LogFileCheck {
    pub(super) sinks: Sinks,
    pub(super) hold: Duration,
}

impl HealthCheck for LogFileCheck {
    fn name(&self) -> &str {
        LOG_FILE_CHECK
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
        let result =
            result.with_detail("lines_dropped_total", Detail::Integer(losses.total as i64));
        // A number when there was a drop; absent, not a word in a numeric field, when never.
        match since {
            Some(ago) => {
                result.with_detail("seconds_since_last_drop", Detail::Number(ago.as_secs_f64()))
            }
            None => result,
        }
    }
}
