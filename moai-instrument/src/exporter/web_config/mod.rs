//! exporter-toolkit's web configuration (`MOAI_WEB_CONFIG`, [`Config::web_config`]): TLS with
//! optional client certificates, basic-auth users with bcrypt hashes, response headers and a rate
//! limit for the guarded endpoints, in the file format Prometheus exporters share
//! (`--web.config.file`), with the same keys and meanings:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt            # relative paths: from this file's directory
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: clients-ca.crt
//! basic_auth_users:
//!   prometheus: $2y$10$...           # bcrypt: `htpasswd -nBC 10 prometheus`
//! http_server_config:
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! ```
//!
//! Checked at start (a bad file is an [`InitError`](crate::InitError) naming the key) and
//! followed while the app runs: a changed file (or certificate, key or client CA file) takes
//! effect on the next connection, without a restart; a file broken later keeps the last good
//! configuration, logs one ERROR and sets `moai_instrument_web_config_last_reload_successful`
//! to 0.
//!
//! What differs from exporter-toolkit: TLS is rustls (TLS 1.2 and 1.3 only, AEAD cipher suites
//! only; `min_version: TLS10` is refused), `client_allowed_sans` matches DNS names and IP
//! addresses, `http2` is accepted and ignored (the exporter speaks HTTP/1.1), and credentials
//! guard `/metrics` only: the probes stay open for the kubelet.
//!
//! [`Config::web_config`]: crate::Config::web_config

mod basic_auth;
mod file;
mod tls;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub(crate) use basic_auth::Users;
use watch::Fingerprint;
pub(crate) use watch::WebConfigWatch;

/// A web config file that cannot be used: the file, the key (`tls_server_config.cert_file`)
/// when one is to blame, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {problem}", path.display(), key.as_ref().map(|k| format!(": {k}")).unwrap_or_default())]
pub struct WebConfigError {
    path: PathBuf,
    key: Option<String>,
    problem: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl WebConfigError {
    pub(super) fn new(path: &Path, key: Option<String>, problem: impl Into<String>) -> Self {
        WebConfigError {
            path: path.to_owned(),
            key,
            problem: problem.into(),
            source: None,
        }
    }

    pub(super) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The web config file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key to blame, dotted (`tls_server_config.client_auth_type`), when one is.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

/// A loaded, checked web config.
#[derive(Default)]
pub(crate) struct WebConfig {
    /// TLS for new connections, when `tls_server_config` is set.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// `basic_auth_users` (maybe none).
    pub(crate) users: Users,
    /// `http_server_config.headers`, set on every response.
    pub(crate) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// `rate_limit`, for the guarded endpoints.
    rate_limit: Option<Mutex<TokenBucket>>,
}

impl WebConfig {
    /// Reads and checks the file at `path` and the files it names, noting each in `seen` before
    /// reading it.
    fn load(path: &Path, seen: &mut Fingerprint) -> Result<WebConfig, WebConfigError> {
        seen.add(path);
        let text = std::fs::read_to_string(path).map_err(|e| {
            WebConfigError::new(path, None, "cannot read the web config file").with_source(e)
        })?;
        let raw = file::RawFile::parse(path, &text)?;
        let tls = raw
            .tls_server_config
            .as_ref()
            .map(|raw| tls::server_config(path, raw, seen))
            .transpose()?;
        let rate_limit = match &raw.rate_limit {
            None => None,
            Some(limit) => TokenBucket::new(path, limit)?.map(Mutex::new),
        };
        Ok(WebConfig {
            tls,
            users: Users::parse(path, &raw.basic_auth_users)?,
            headers: file::headers(path, &raw.http_server_config.headers)?,
            rate_limit,
        })
    }

    /// Whether the rate limit lets one more guarded request through now.
    pub(crate) fn allow(&self) -> bool {
        self.rate_limit.as_ref().is_none_or(|bucket| {
            bucket
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(Instant::now())
        })
    }
}

/// `rate_limit`: `burst` requests at once, then one per `interval` (Go's `rate.Limiter`).
struct TokenBucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(path: &Path, raw: &file::RawRateLimit) -> Result<Option<TokenBucket>, WebConfigError> {
        let interval = match raw.interval.as_deref() {
            None => Duration::ZERO,
            Some(text) => file::go_duration(text).ok_or_else(|| {
                WebConfigError::new(
                    path,
                    Some("rate_limit.interval".into()),
                    format!("{text:?} is not a duration such as 1s or 500ms"),
                )
            })?,
        };
        // As the toolkit: no interval, no limit.
        if interval.is_zero() {
            return Ok(None);
        }
        if raw.burst == 0 {
            return Err(WebConfigError::new(
                path,
                Some("rate_limit.burst".into()),
                "must be at least 1 (0 would refuse every request)",
            ));
        }
        let burst = f64::from(raw.burst);
        Ok(Some(TokenBucket {
            burst,
            per_second: 1.0 / interval.as_secs_f64(),
            tokens: burst,
            last: Instant::now(),
        }))
    }

    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
