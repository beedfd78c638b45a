//! In-process helpers: one recorder per test process, a reader of the exposition, a capture of
//! log lines, a switchable health check, and this process's own resources.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::exposition::sample;
use moai_instrument::health::{CheckResult, Detail, HealthCheck, HealthStatus};
use moai_instrument::{Config, MetricsHandle};

/// The process's recorder, installed on first use with the given config.
pub fn metrics_with(config: impl FnOnce() -> Config) -> &'static MetricsHandle {
    static HANDLE: OnceLock<MetricsHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        install_log_capture();
        config()
            .install_recorder()
            .expect("the first install succeeds")
    })
}

/// The process's recorder with the default settings.
pub fn metrics() -> &'static MetricsHandle {
    metrics_with(Config::new)
}

/// Like [`sample`] on a fresh render, failing with the exposition when the series is missing.
pub fn value(series: &str) -> f64 {
    let exposition = metrics().render();
    sample(&exposition, series).unwrap_or_else(|| panic!("no sample {series} in:\n{exposition}"))
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends `tracing` lines at INFO and above to the capture read by [`log_lines`] (once per process).
pub fn install_log_capture() {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(|| Capture)
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Captured log lines that mention `needle`.
pub fn log_lines(needle: &str) -> Vec<String> {
    let logs = LOGS.lock().unwrap();
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// The resident set of this process, in MB.
pub fn resident_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<f64>().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

/// The threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A readiness check that a test switches: healthy (`on`) while `on` is set, else unhealthy
/// (`switched off by the test`, detail `switched_off: True`).
pub struct Switch {
    /// The check's name.
    pub name: &'static str,
    /// Healthy while set.
    pub on: &'static AtomicBool,
}

impl HealthCheck for Switch {
    fn name(&self) -> &str {
        self.name
    }
    fn check(&self) -> CheckResult {
        if self.on.load(Ordering::SeqCst) {
            CheckResult::new(HealthStatus::Healthy, "on")
        } else {
            CheckResult::new(HealthStatus::Unhealthy, "switched off by the test")
                .with_detail("switched_off", Detail::Flag(true))
        }
    }
}

/// A lookup for [`Config::with_env`] that finds only `vars`: the environment a test means,
/// without setting process-wide variables.
pub fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}
