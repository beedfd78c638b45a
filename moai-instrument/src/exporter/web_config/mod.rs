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
//! to 0. A change may add protection while the app runs, never remove it: one that turns TLS
//! off, removes every user or stops requiring client certificates (an emptied or half-written
//! file) is refused the same way, and takes a restart.
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

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use crate::error::WebConfigError;
pub(crate) use basic_auth::Users;
pub(crate) use basic_auth::Verdict;
use watch::Fingerprint;
pub(crate) use watch::WebConfigWatch;

/// A loaded, checked web config.
pub(crate) struct WebConfig {
    /// TLS for new connections, when `tls_server_config` is set.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// `basic_auth_users` (maybe none).
    pub(crate) users: Users,
    /// `http_server_config.headers`, set on every response.
    pub(crate) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// `rate_limit`, for the guarded endpoints.
    rate_limit: Option<Mutex<TokenBucket>>,
    /// Whether `client_auth_type` requires a client certificate of every client.
    client_certificate_required: bool,
}

/// The protection a web config gives: a change made while the app runs may add to it, never take
/// from it (an emptied or half-written file must not open the metrics to anyone); lowering it
/// takes a restart, as exporter-toolkit decides TLS once, at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Protection {
    pub(crate) tls: bool,
    pub(crate) basic_auth: bool,
    pub(crate) client_certificate_required: bool,
}

impl Protection {
    /// What `self` has that `then` lacks, in words; `None` when nothing is lost.
    pub(crate) fn lost_since(self, then: Protection) -> Option<&'static str> {
        if then.tls && !self.tls {
            Some("it turns TLS off")
        } else if then.basic_auth && !self.basic_auth {
            Some("it removes every basic_auth_users user")
        } else if then.client_certificate_required && !self.client_certificate_required {
            Some("it stops requiring client certificates")
        } else {
            None
        }
    }
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
        let client_certificate_required = raw.tls_server_config.as_ref().is_some_and(|tls| {
            matches!(
                tls.client_auth_type.as_deref(),
                Some("RequireAnyClientCert" | "RequireClientCert" | "RequireAndVerifyClientCert")
            )
        });
        Ok(WebConfig {
            tls,
            users: Users::parse(path, &raw.basic_auth_users)?,
            headers: file::headers(path, &raw.http_server_config.headers)?,
            rate_limit,
            client_certificate_required,
        })
    }

    /// The protection this configuration gives.
    pub(crate) fn protection(&self) -> Protection {
        Protection {
            tls: self.tls.is_some(),
            basic_auth: !self.users.is_empty(),
            client_certificate_required: self.client_certificate_required,
        }
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
