//! Why `init()` or `install_recorder()` refused to start, and why a web config file cannot be
//! used.

use std::path::{Path, PathBuf};

/// An initialization failure: each names the setting and the value at fault. Nothing is left
/// installed, running or bound when one is returned.
///
/// `Debug` prints what `Display` does, followed by the causes (`: cause: root cause`), so that
/// `fn main() -> Result<(), InitError>` with `?` says what is wrong.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// `init()` or `install_recorder()` already ran in this process.
    #[error(
        "moai-instrument is already initialized: init(), Config::build() and install_recorder() run once per process"
    )]
    AlreadyInitialized,
    /// The host installed another `metrics` recorder first.
    #[error(
        "another `metrics` recorder is already installed; moai-instrument needs its own to export metrics"
    )]
    ForeignRecorder,
    /// A setting, from code or from the environment, has a value that cannot be used.
    #[error("invalid value {value:?} for {setting}: {reason}")]
    InvalidSetting {
        /// The setting, by its environment variable when it came from there.
        setting: &'static str,
        /// The value as given.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
    /// The log file (`MOAI_LOG_DIR`) cannot be created or opened for writing.
    #[error("cannot open the log file {path} (MOAI_LOG_DIR)")]
    LogFile {
        /// The file that was to be opened.
        path: std::path::PathBuf,
        /// Why it could not.
        #[source]
        source: std::io::Error,
    },
    /// The exporter cannot listen on its address (`MOAI_METRICS_ADDR`), for example because the
    /// port is in use. `Display` names the address, the setting and the cause in words, e.g.
    /// `cannot listen on 0.0.0.0:9090 (MOAI_METRICS_ADDR): address already in use; ...`.
    #[error("cannot listen on {addr} (MOAI_METRICS_ADDR): {reason}")]
    Bind {
        /// The address as configured.
        addr: String,
        /// The cause in words, with what to do about it.
        reason: String,
        /// The operating system's refusal (for a port in use: `EADDRINUSE`).
        #[source]
        source: std::io::Error,
    },
    /// The web config file (`MOAI_WEB_CONFIG`) cannot be used: unreadable, not the
    /// exporter-toolkit format, or a key with a bad value (named in the source).
    #[error("cannot use the web config {} (MOAI_WEB_CONFIG)", source.path().display())]
    WebConfig {
        /// The file, the key and what is wrong.
        #[source]
        source: WebConfigError,
    },
    /// `init()` found another global `tracing` subscriber installed first.
    #[error(
        "another global tracing subscriber is already installed; use Config::build() and add its JsonLayer to that subscriber"
    )]
    Subscriber {
        /// The refusal from `tracing`, when it was asked (the SDK checks the slot first).
        #[source]
        source: Option<tracing::subscriber::SetGlobalDefaultError>,
    },
    /// A background thread could not be started.
    #[error("could not start the {name} thread")]
    Thread {
        /// The thread's name.
        name: &'static str,
        /// The operating system's refusal.
        #[source]
        source: std::io::Error,
    },
}

impl std::fmt::Debug for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&error_chain(self))
    }
}

impl InitError {
    /// The exporter could not listen on `addr`: the cause in words a person can act on.
    pub(crate) fn bind(addr: impl std::fmt::Display, source: std::io::Error) -> Self {
        use std::io::ErrorKind;
        let reason = match source.kind() {
            ErrorKind::AddrInUse => "address already in use: another process listens on this \
                                     port; stop it, or set MOAI_METRICS_ADDR to a free port \
                                     (port 0 picks one)"
                .to_owned(),
            ErrorKind::PermissionDenied => "permission denied: ports below 1024 need \
                                            privileges; choose a port above 1023"
                .to_owned(),
            ErrorKind::AddrNotAvailable => "address not available: no network interface of \
                                            this host has this IP address"
                .to_owned(),
            kind => kind.to_string(),
        };
        InitError::Bind {
            addr: addr.to_string(),
            reason,
            source,
        }
    }

    pub(crate) fn invalid(
        setting: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        InitError::InvalidSetting {
            setting,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// An error and each of its sources, joined as `outer: cause: root cause`: how the SDK prints
/// an error everywhere (the `exception` field of log lines, health messages, `moai-health`).
/// Each error type of the SDK says its cause once, through `source()`, so printing only
/// `Display` leaves the cause out; print this instead. A cause whose text the chain already holds
/// (libraries whose `Display` repeats their source) is not written again.
#[must_use]
///
/// A `Display` that fails (returns `fmt::Error`) becomes `<unprintable: its formatting failed>`
/// in the chain instead of a panic: printing an error never takes a thread down.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = display_or_placeholder(error);
    let mut source = error.source();
    while let Some(cause) = source {
        let text = display_or_placeholder(cause);
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    chain
}

/// What a value whose `Display` or `Debug` fails (returns `fmt::Error`) is written as, in log
/// lines and error chains.
pub(crate) const UNPRINTABLE: &str = "<unprintable: its formatting failed>";

/// `value`'s `Display`, or [`UNPRINTABLE`] when it fails: `to_string()` would panic.
pub(crate) fn display_or_placeholder(value: &dyn std::fmt::Display) -> String {
    let mut out = String::new();
    match std::fmt::write(&mut out, format_args!("{value}")) {
        Ok(()) => out,
        Err(_) => UNPRINTABLE.to_owned(),
    }
}

/// `value`'s `Debug`, or [`UNPRINTABLE`] when it fails.
pub(crate) fn debug_or_placeholder(value: &dyn std::fmt::Debug) -> String {
    let mut out = String::new();
    match std::fmt::write(&mut out, format_args!("{value:?}")) {
        Ok(()) => out,
        Err(_) => UNPRINTABLE.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::error_chain;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("failed to insert event")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn error_chain_lists_every_source() {
        let error = Outer(std::io::Error::other("disk full"));
        assert_eq!(error_chain(&error), "failed to insert event: disk full");
    }

    #[derive(Debug)]
    struct Repeats(std::io::Error);
    impl fmt::Display for Repeats {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "request failed: {}", self.0)
        }
    }
    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_the_text_is_said_once() {
        let error = Repeats(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&error), "request failed: connection refused");
    }
}

/// A web config file that cannot be used: the file, the key (`tls_server_config.cert_file`)
/// when one is to blame, and what is wrong with it.
///
/// `Display` names the key and the problem (`tls_server_config.client_auth_type: "Sometimes" is
/// not a client auth type; ...`); [`InitError::WebConfig`](crate::InitError::WebConfig) names
/// the file.
#[derive(Debug, thiserror::Error)]
#[error("{}{problem}", key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
pub struct WebConfigError {
    path: PathBuf,
    key: Option<String>,
    problem: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl WebConfigError {
    pub(crate) fn new(path: &Path, key: Option<String>, problem: impl Into<String>) -> Self {
        WebConfigError {
            path: path.to_owned(),
            key,
            problem: problem.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
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
