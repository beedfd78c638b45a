//! The SDK's own process-level checks of the guide: `memory` (the working set against the
//! process's memory limit) and `query_performance` (the recorded p95 of the query types the host
//! names). Both read the thresholds of the process ([`thresholds`](super::thresholds)).

use std::time::Duration;

use super::readings::memory_usage;
use super::thresholds::{Thresholds, judge_query_p95, judge_usage, thresholds};
use super::{CheckResult, Detail, HealthCheck, HealthStatus};
use crate::catalog::QUERY_DURATION_SECONDS;
use crate::recorder::MetricsHandle;

/// The name of the memory check.
pub const MEMORY_CHECK: &str = "memory";
/// The name of the query performance check.
pub const QUERY_PERFORMANCE_CHECK: &str = "query_performance";

/// The memory check's result: usage against the container's limit, else the machine's.
#[must_use]
pub fn check_memory(t: &Thresholds) -> CheckResult {
    match memory_usage() {
        Some(usage) => judge_usage("Memory", &usage, t.memory_warn, t.memory_fail),
        None => CheckResult::new(
            HealthStatus::Degraded,
            "Memory usage unknown on this system",
        ),
    }
}

/// The worst recorded p95 of `moai_flow_query_duration_seconds` among `query_types` (all when
/// `None`), judged; `None` while none of them has a recent call. Details: `source` (`recorded`),
/// `slowest_query_type`, `p95_ms`.
#[must_use]
pub fn recorded_query_p95(t: &Thresholds, query_types: Option<&[String]>) -> Option<CheckResult> {
    let handle = MetricsHandle::global()?;
    let (query_type, p95) =
        handle.worst_quantile_among(QUERY_DURATION_SECONDS.name, 0.95, |labels| {
            query_types.is_none_or(|types| types.iter().any(|t| t == labels))
        })?;
    Some(
        judge_query_p95(Duration::from_secs_f64(p95.max(0.0)), t)
            .with_detail("source", Detail::Text("recorded".into()))
            .with_detail("slowest_query_type", Detail::Text(query_type)),
    )
}

/// `memory`: the process's working set against its limit (readiness).
pub(crate) struct MemoryCheck;

impl HealthCheck for MemoryCheck {
    fn name(&self) -> &str {
        MEMORY_CHECK
    }

    fn check(&self) -> CheckResult {
        check_memory(&thresholds())
    }
}

/// `query_performance`: the recorded p95 of the named query types (readiness).
pub(crate) struct QueryPerformanceCheck {
    pub(crate) query_types: Option<Vec<String>>,
}

impl HealthCheck for QueryPerformanceCheck {
    fn name(&self) -> &str {
        QUERY_PERFORMANCE_CHECK
    }

    fn check(&self) -> CheckResult {
        let judged = recorded_query_p95(&thresholds(), self.query_types.as_deref());
        judged.unwrap_or_else(|| {
            let which = match &self.query_types {
                None => "No query recorded in the summary window".to_owned(),
                Some(types) => format!(
                    "No call of the judged query types ({}) in the summary window",
                    types.join(", ")
                ),
            };
            CheckResult::new(HealthStatus::Healthy, which)
                .with_detail("source", Detail::Text("none".into()))
        })
    }
}
