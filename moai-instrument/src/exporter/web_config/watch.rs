//! The web config file followed while the app runs: every connection and every guarded request
//! asks for the current configuration, which costs a `stat` of each file it was read from (the
//! config, the certificate, the key, the client CA) and a reload only when one of them changed.
//! A file broken later keeps the last good configuration: one ERROR line per broken version and
//! `moai_instrument_web_config_last_reload_successful` at 0 until it is mended.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Protection, WebConfig, WebConfigError};
use crate::catalog::WEB_CONFIG_LAST_RELOAD_SUCCESSFUL;

/// What a file looked like when it was read: a replaced (renamed over, as Kubernetes updates
/// secrets) or rewritten file differs in one of these.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// The files a configuration was read from, each as it was just before it was read.
#[derive(Clone, Default, Debug)]
pub(super) struct Fingerprint {
    files: Vec<(PathBuf, Option<Stamp>)>,
}

impl Fingerprint {
    /// Notes `path` as it is now; call it before reading the file.
    pub(super) fn add(&mut self, path: &Path) {
        self.files.push((path.to_owned(), stamp(path)));
    }

    fn changed(&self) -> bool {
        self.files.iter().any(|(path, seen)| stamp(path) != *seen)
    }
}

/// The configuration from `MOAI_WEB_CONFIG`, reloaded when its files change.
pub(crate) struct WebConfigWatch {
    path: PathBuf,
    /// The protection at start: no change while the app runs may go below it.
    floor: Protection,
    state: Mutex<State>,
}

struct State {
    active: Arc<WebConfig>,
    /// The files of `active`.
    seen: Fingerprint,
    /// The files of the last attempt, when it failed: not retried until they change.
    failed: Option<Fingerprint>,
}

impl WebConfigWatch {
    /// Loads `path`; `Err` when it cannot be used (the app must not start on it).
    pub(crate) fn open(path: &Path) -> Result<WebConfigWatch, WebConfigError> {
        let mut seen = Fingerprint::default();
        let config = WebConfig::load(path, &mut seen)?;
        Ok(WebConfigWatch {
            path: path.to_owned(),
            floor: config.protection(),
            state: Mutex::new(State {
                active: Arc::new(config),
                seen,
                failed: None,
            }),
        })
    }

    /// The protection the configuration gave at start.
    pub(crate) fn protection_at_start(&self) -> Protection {
        self.floor
    }

    /// Says the configuration in use is the file as it is (at start, once the recorder is
    /// installed: the gauge is absent until then).
    pub(crate) fn report_loaded(&self) {
        metrics::gauge!(WEB_CONFIG_LAST_RELOAD_SUCCESSFUL.name).set(1.0);
    }

    /// The configuration to use now: reloaded first when a file changed, the last good one
    /// when the change does not load.
    pub(crate) fn current(&self) -> Arc<WebConfig> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let last_attempt = state.failed.as_ref().unwrap_or(&state.seen);
        if !last_attempt.changed() {
            return Arc::clone(&state.active);
        }
        let mut seen = Fingerprint::default();
        let loaded = WebConfig::load(&self.path, &mut seen).and_then(|config| {
            match config.protection().lost_since(self.floor) {
                None => Ok(config),
                Some(lost) => Err(WebConfigError::new(
                    &self.path,
                    None,
                    format!("refused while the app runs: {lost} (restart the app to lower the protection)"),
                )),
            }
        });
        match loaded {
            Ok(config) => {
                state.active = Arc::new(config);
                state.seen = seen;
                state.failed = None;
                metrics::gauge!(WEB_CONFIG_LAST_RELOAD_SUCCESSFUL.name).set(1.0);
                tracing::info!(
                    target: "moai_instrument::exporter",
                    path = %self.path.display(),
                    "Web config reloaded: new connections and requests use it"
                );
            }
            Err(error) => {
                state.failed = Some(seen);
                metrics::gauge!(WEB_CONFIG_LAST_RELOAD_SUCCESSFUL.name).set(0.0);
                tracing::error!(
                    target: "moai_instrument::exporter",
                    path = %self.path.display(),
                    error = &error as &dyn std::error::Error,
                    "Web config changed and cannot be used; the exporter keeps the last good one"
                );
            }
        }
        Arc::clone(&state.active)
    }
}
