//! `moai-health --url http://host:9090`: the report of a running app, from its own endpoints
//! (`/healthz`, or `/livez` for the liveness and startup modes), so the answer is the app's own
//! state (its connection, its recorded p95) rather than a second process's view of the database.

use moai_instrument::health::{CheckResult, Detail, HealthReport, HealthStatus};
use serde_json::Value;

use crate::http;

/// The app's full report from `/healthz`.
pub(crate) fn report(base: &str) -> Result<HealthReport, String> {
    let url = http::join(base, "/healthz");
    let answer = http::get(&url, None).map_err(|e| format!("cannot reach {url}: {e}"))?;
    if answer.status != 200 && answer.status != 503 {
        return Err(format!(
            "{url} answered {}: {}",
            answer.status,
            answer.body.trim()
        ));
    }
    let json: Value = serde_json::from_str(&answer.body)
        .map_err(|e| format!("{url} did not answer a health report: {e}"))?;
    let checks = json["checks"]
        .as_object()
        .ok_or_else(|| format!("{url} answered JSON without \"checks\""))?;
    let results = checks
        .iter()
        .map(|(name, check)| (name.clone(), check_result(check)))
        .collect();
    Ok(HealthReport { results })
}

/// The liveness answer from `/livez`: healthy on 200, else the failing checks it names.
pub(crate) fn live(base: &str) -> Result<CheckResult, String> {
    let url = http::join(base, "/livez");
    let answer = http::get(&url, None).map_err(|e| format!("cannot reach {url}: {e}"))?;
    let text = answer.body.trim().to_owned();
    Ok(match answer.status {
        200 => CheckResult::new(HealthStatus::Healthy, format!("{url}: {text}")),
        503 => CheckResult::new(HealthStatus::Unhealthy, format!("{url}: {text}")),
        other => CheckResult::new(
            HealthStatus::Unhealthy,
            format!("{url} answered {other}: {text}"),
        ),
    })
}

fn check_result(check: &Value) -> CheckResult {
    let status = match check["status"].as_str() {
        Some("healthy") => HealthStatus::Healthy,
        Some("degraded") => HealthStatus::Degraded,
        _ => HealthStatus::Unhealthy,
    };
    // Whether it passes follows from the status (a degraded check passes), as in the app.
    let mut result = CheckResult::new(status, check["message"].as_str().unwrap_or(""));
    if let Some(details) = check["details"].as_object() {
        for (key, value) in details {
            let detail = match value {
                Value::Bool(b) => Detail::Flag(*b),
                Value::Number(n) => n.as_i64().map_or_else(
                    || Detail::Number(n.as_f64().unwrap_or(f64::NAN)),
                    Detail::Integer,
                ),
                Value::String(s) => Detail::Text(s.clone()),
                other => Detail::Text(other.to_string()),
            };
            result.details.push((key.clone(), detail));
        }
    }
    result
}
