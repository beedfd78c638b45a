//! Shared by the integration tests: one recorder per test process, a reader of the exposition,
//! and a capture of log lines.
#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use moai_instrument::{CheckResult, Config, Detail, HealthCheck, HealthStatus, MetricsHandle};

pub mod postgres;
pub mod prometheus;
pub mod registrations;
mod tools;
#[allow(unused_imports)]
pub use tools::{promtool_check_metrics, promtool_lint, python_with_client, run_with_stdin, tool};

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

pub fn metrics() -> &'static MetricsHandle {
    metrics_with(Config::new)
}

/// The value of one sample line, e.g. `moai_flow_events_total{event_type="spawn"}`.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
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

/// One HTTP/1.1 request over a fresh connection: `(status, head, body)`.
pub fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the exporter");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let response = String::from_utf8(response).expect("utf-8 response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, head.to_owned(), body.to_owned())
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("moai-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
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
    pub name: &'static str,
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
