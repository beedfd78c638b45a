//! Shared by the integration tests: one recorder per test process, a reader of the exposition,
//! and a capture of log lines.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use moai_instrument::{Config, MetricsHandle};

/// The process's recorder, installed on first use with the given config.
pub fn metrics_with(config: impl FnOnce() -> Config) -> &'static MetricsHandle {
    static HANDLE: OnceLock<MetricsHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        install_log_capture();
        config().install_recorder().expect("the first install succeeds")
    })
}

pub fn metrics() -> &'static MetricsHandle {
    metrics_with(Config::new)
}

/// The value of one sample line, e.g. `moai_flow_events_total{event_type="spawn"}`.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().expect("sample values are numbers"))
    })
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

fn install_log_capture() {
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
    String::from_utf8_lossy(&logs).lines().filter(|l| l.contains(needle)).map(str::to_owned).collect()
}
