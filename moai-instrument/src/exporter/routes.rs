//! What the exporter serves, as a value a host can serve from its own router: [`Routes`] maps an
//! `http::Request` to an `http::Response`, and the embedded exporter is only a listener in front
//! of the same `Routes`.

use http::header::{ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};

use super::http::constant_time_eq;
use std::time::Instant;

use crate::health::check_set::{CHECKS, DEADLINE};
use crate::health::{HealthStatus, Probe};
use crate::recorder::{CONTENT_TYPE as EXPOSITION, MetricsHandle};

/// The exporter's endpoints as a handler: `GET /metrics` (the exposition, behind the bearer
/// token when one is set), `GET /livez`, `/readyz` (200 `ok (N checks)` or 503 `unhealthy:
/// a, b`), `/healthz` (the report as JSON; 503 when unhealthy); `HEAD` for each; 404 for other
/// paths, 405 (with `Allow`) for other methods.
///
/// Cheap to clone. From [`Guard::routes`](crate::Guard::routes); serve it from any router,
/// sync or async (it renders in place: in an async handler, call it inside
/// `spawn_blocking` when a scrape may be large):
///
/// ```
/// use moai_instrument::{Config, http};
///
/// let (_layer, guard) = Config::new().metrics_addr("none").log_dir(None::<&str>).build()?;
/// let routes = guard.routes();
/// let request = http::Request::get("/livez").body(()).unwrap();
/// let response = routes.handle(&request);
/// assert_eq!(response.status(), 200);
/// # Ok::<(), moai_instrument::InitError>(())
/// ```
#[derive(Clone)]
pub struct Routes {
    metrics: MetricsHandle,
    /// The whole expected `Authorization` value's token, when one is required.
    token: Option<String>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Routes {
    pub(crate) fn new(metrics: MetricsHandle, token: Option<String>) -> Self {
        Routes { metrics, token }
    }

    /// Answers `request` (its body is not read) as the embedded exporter does. The response's
    /// body is complete; its headers carry `Content-Type` and `Cache-Control: no-store`.
    pub fn handle<B>(&self, request: &Request<B>) -> Response<Vec<u8>> {
        self.handle_until(request, Instant::now() + DEADLINE)
    }

    /// [`Routes::handle`], with the health checks answering by `deadline`.
    pub(crate) fn handle_until<B>(
        &self,
        request: &Request<B>,
        deadline: Instant,
    ) -> Response<Vec<u8>> {
        let path = request.uri().path();
        if !matches!(path, "/metrics" | "/livez" | "/readyz" | "/healthz") {
            return text(
                StatusCode::NOT_FOUND,
                "not found: try /metrics, /livez, /readyz or /healthz\n",
            );
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response
                .headers_mut()
                .insert(ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let mut response = match path {
            "/metrics" => self.metrics(request),
            "/livez" => probe(Some(Probe::Liveness), deadline),
            "/readyz" => probe(Some(Probe::Readiness), deadline),
            _ => health_report(deadline),
        };
        if request.method() == Method::HEAD {
            // The headers of the GET, with its length; no body.
            let length = response.body().len();
            response.body_mut().clear();
            response.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(length),
            );
        }
        response
    }

    fn metrics<B>(&self, request: &Request<B>) -> Response<Vec<u8>> {
        if let Some(token) = &self.token
            && !bearer_matches(request, token)
        {
            let mut response = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return response;
        }
        // `render()` runs the scrape-time collectors and reads the process metrics itself, so a
        // host rendering on its own gets the same body.
        respond(
            StatusCode::OK,
            EXPOSITION,
            self.metrics.render().into_bytes(),
        )
    }
}

/// Whether the request carries `Authorization: Bearer <token>`, the scheme in any case
/// (RFC 9110), the token compared in constant time.
fn bearer_matches<B>(request: &Request<B>, token: &str) -> bool {
    let Some(presented) = request
        .headers()
        .get(AUTHORIZATION)
        .map(http::HeaderValue::as_bytes)
    else {
        return false;
    };
    let scheme = b"bearer ";
    if presented.len() < scheme.len() || !presented[..scheme.len()].eq_ignore_ascii_case(scheme) {
        return false;
    }
    let credentials = presented[scheme.len()..].trim_ascii();
    constant_time_eq(credentials, token.as_bytes())
}

fn probe(probe: Option<Probe>, deadline: Instant) -> Response<Vec<u8>> {
    let report = CHECKS.run_until(probe, deadline);
    let failing = report.failing();
    if failing.is_empty() {
        let n = report.results.len();
        text(
            StatusCode::OK,
            format!("ok ({n} {})\n", if n == 1 { "check" } else { "checks" }),
        )
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {}\n", failing.join(", ")),
        )
    }
}

fn health_report(deadline: Instant) -> Response<Vec<u8>> {
    let report = CHECKS.run_until(None, deadline);
    let status = if report.status() == HealthStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    respond(status, "application/json", report.to_json().into_bytes())
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Vec<u8>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        body.into().into_bytes(),
    )
}

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> Request<()> {
        Request::get("/metrics")
            .header(AUTHORIZATION, value)
            .body(())
            .unwrap()
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_exact() {
        for accepted in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "] {
            assert!(bearer_matches(&with_auth(accepted), "s3cret"), "{accepted}");
        }
        for refused in ["Bearer s3cre", "Basic s3cret", "Bearers3cret", "s3cret", ""] {
            assert!(!bearer_matches(&with_auth(refused), "s3cret"), "{refused}");
        }
        assert!(!bearer_matches(
            &Request::get("/metrics").body(()).unwrap(),
            "s3cret"
        ));
    }
}
