//! What the exporter serves, as a value a host can serve from its own router: [`Routes`] maps an
//! `http::Request` to an `http::Response`, and the embedded exporter is only a listener in front
//! of the same `Routes`.

use http::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE,
    RETRY_AFTER, VARY, WWW_AUTHENTICATE,
};
use http::{Method, Request, Response, StatusCode};

use super::http::{constant_time_eq, credentials};
use super::web_config::{Verdict, WebConfig, WebConfigWatch};
use std::sync::Arc;
use std::time::Instant;

use crate::health::check_set::{CHECKS, DEADLINE};
use crate::health::{HealthStatus, Probe};
use crate::recorder::{Format, MetricsHandle};

/// The exporter's endpoints as a handler: `GET /metrics` (the exposition, behind the bearer
/// token and the web config's basic-auth users when they are set: either one lets a scrape in),
/// `GET /livez`, `/readyz` (200 `ok (N checks)` or 503 `unhealthy: a, b`), `/healthz` (the
/// report as JSON; 503 when unhealthy), `GET /` (an HTML page linking them, saying which need
/// credentials); `HEAD` for each; 404 for other paths, 405 (with `Allow`) for other methods. The
/// web config's `http_server_config.headers` go on every answer; its `rate_limit` answers 429
/// to scrapes past it (counted after authentication).
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
    /// The web config (`MOAI_WEB_CONFIG`), followed as it changes.
    web: Option<Arc<WebConfigWatch>>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("web_config", &self.web.is_some())
            .finish_non_exhaustive()
    }
}

impl Routes {
    pub(crate) fn new(
        metrics: MetricsHandle,
        token: Option<String>,
        web: Option<Arc<WebConfigWatch>>,
    ) -> Self {
        Routes {
            metrics,
            token,
            web,
        }
    }

    /// Whether `/metrics` requires the bearer token.
    pub(crate) fn requires_token(&self) -> bool {
        self.token.is_some()
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
        let web = self.web.as_ref().map(|web| web.current());
        let mut response = self.route(request, deadline, web.as_deref());
        if let Some(web) = &web {
            for (name, value) in &web.headers {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
        response
    }

    fn route<B>(
        &self,
        request: &Request<B>,
        deadline: Instant,
        web: Option<&WebConfig>,
    ) -> Response<Vec<u8>> {
        let path = request.uri().path();
        if !matches!(path, "/" | "/metrics" | "/livez" | "/readyz" | "/healthz") {
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
            "/" => self.landing_page(web),
            "/metrics" => self.metrics(request, web),
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

    /// Whether `/metrics` asks for credentials: a bearer token, basic-auth users, or both.
    fn guarded(&self, web: Option<&WebConfig>) -> (bool, bool) {
        let users = web.is_some_and(|web| !web.users.is_empty());
        (self.token.is_some(), users)
    }

    fn metrics<B>(&self, request: &Request<B>, web: Option<&WebConfig>) -> Response<Vec<u8>> {
        let (bearer, basic) = self.guarded(web);
        if bearer || basic {
            let presented = request
                .headers()
                .get(AUTHORIZATION)
                .map_or(&b""[..], http::HeaderValue::as_bytes);
            let by_token = self
                .token
                .as_ref()
                .is_some_and(|token| bearer_matches(presented, token));
            let verdict = match web {
                _ if by_token => Verdict::Accepted,
                Some(web) if basic => web.users.check(presented),
                _ => Verdict::Refused,
            };
            match verdict {
                Verdict::Accepted => {}
                Verdict::Busy => {
                    let mut response = text(
                        StatusCode::TOO_MANY_REQUESTS,
                        "another password check is running; retry\n",
                    );
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, http::HeaderValue::from_static("1"));
                    return response;
                }
                Verdict::Refused => return unauthorized(bearer, basic),
            }
        }
        // Counted once the caller is known, so that nobody else's requests use up a scraper's
        // allowance.
        if web.is_some_and(|web| !web.allow()) {
            return text(StatusCode::TOO_MANY_REQUESTS, "too many requests\n");
        }
        // The format the scraper prefers (`Accept`), as Prometheus' client libraries choose it.
        // `render_as()` runs the scrape-time collectors and reads the process metrics itself, so
        // a host rendering on its own gets the same body.
        let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
        let format = Format::negotiate(accept);
        let body = self.metrics.render_as(format);
        let mut response = respond(StatusCode::OK, format.content_type(), body);
        // The body depends on both, compressed or not.
        response.headers_mut().insert(
            VARY,
            http::HeaderValue::from_static("Accept, Accept-Encoding"),
        );
        let gzip = request
            .headers()
            .get_all(ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(accepts_gzip);
        if gzip {
            compress(&mut response);
        }
        response
    }
}

impl Routes {
    /// `GET /`: the app, the SDK's version and the endpoints, as exporter-toolkit's landing page
    /// does; links are relative, so the page works behind a path prefix.
    fn landing_page(&self, web: Option<&WebConfig>) -> Response<Vec<u8>> {
        let (bearer, basic) = self.guarded(web);
        let credentials = match (bearer, basic) {
            (false, false) => "",
            (true, false) => " (needs a bearer token)",
            (false, true) => " (needs a basic-auth user)",
            (true, true) => " (needs a basic-auth user or a bearer token)",
        };
        let app = escape_html(&app_name());
        let version = env!("CARGO_PKG_VERSION");
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{app} exporter</title>\n</head>\n<body>\n<h1>{app}</h1>\n\
             <p>Prometheus exporter of moai-instrument {version}.</p>\n<ul>\n\
             <li><a href=\"metrics\">/metrics</a>: the metrics{credentials}</li>\n\
             <li><a href=\"livez\">/livez</a>: liveness (open)</li>\n\
             <li><a href=\"readyz\">/readyz</a>: readiness (open)</li>\n\
             <li><a href=\"healthz\">/healthz</a>: every health check, as JSON (open)</li>\n\
             </ul>\n</body>\n</html>\n"
        );
        respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            body.into_bytes(),
        )
    }
}

/// The running program's name, as the landing page shows it.
fn app_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "moai-instrument".to_owned())
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// 401, naming the schemes `/metrics` takes; no data in the body.
fn unauthorized(bearer: bool, basic: bool) -> Response<Vec<u8>> {
    let mut response = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
    let headers = response.headers_mut();
    if basic {
        headers.append(
            WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"metrics\""),
        );
    }
    if bearer {
        headers.append(
            WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
    }
    response
}

/// Whether an `Accept-Encoding` value takes gzip (RFC 9110): `gzip` with a weight above 0, or,
/// when gzip is not named, `*` with one.
fn accepts_gzip(value: &str) -> bool {
    let codings: Vec<(&str, f32)> = value
        .split(',')
        .map(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (name, q)
        })
        .collect();
    let weight = |wanted: &str| {
        codings
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, q)| *q)
    };
    weight("gzip")
        .or_else(|| weight("*"))
        .is_some_and(|q| q > 0.0)
}

/// gzip at flate2's fastest level: a scrape is written once and read once, so compressing fast
/// saves most of the bytes at a fraction of the cost of the best level (BENCHMARKS.md).
fn compress(response: &mut Response<Vec<u8>>) {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(response.body().len() / 4),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail; if it somehow did, the plain body is served instead.
    if encoder.write_all(response.body()).is_err() {
        return;
    }
    let Ok(compressed) = encoder.finish() else {
        return;
    };
    *response.body_mut() = compressed;
    let headers = response.headers_mut();
    headers.insert(CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
    headers.insert(
        VARY,
        http::HeaderValue::from_static("Accept, Accept-Encoding"),
    );
}

/// Whether `Authorization` (`presented`) is `Bearer <token>`, the scheme in any case
/// (RFC 9110), the token compared in constant time.
fn bearer_matches(presented: &[u8], token: &str) -> bool {
    credentials(presented, "bearer").is_some_and(|given| constant_time_eq(given, token.as_bytes()))
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

    #[test]
    fn gzip_only_when_the_client_takes_it() {
        for taken in ["gzip", "GZIP", "br, gzip;q=0.5", "*", "identity, *;q=0.1"] {
            assert!(accepts_gzip(taken), "{taken}");
        }
        for refused in [
            "gzip;q=0",
            "identity",
            "deflate",
            "gzip;q=0, *",
            "*;q=0",
            "",
        ] {
            assert!(!accepts_gzip(refused), "{refused}");
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_exact() {
        for accepted in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "] {
            assert!(bearer_matches(accepted.as_bytes(), "s3cret"), "{accepted}");
        }
        for refused in ["Bearer s3cre", "Basic s3cret", "Bearers3cret", "s3cret", ""] {
            assert!(!bearer_matches(refused.as_bytes(), "s3cret"), "{refused}");
        }
    }
}
