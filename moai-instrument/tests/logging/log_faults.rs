//! Log sink faults: the log file's disk fills and frees again (a file size limit in a child
//! process), and stdout is a pipe nobody reads. Every line in the file stays whole JSON, what
//! could not be written is counted (and the counter is there at 0 from the start), the `log_file`
//! check is a state that every caller sees alike, and a stalled stdout never stalls the
//! application or the file.

use moai_test_support as common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{http, sample, temp_dir};
use moai_instrument::Config;
use serde_json::{Value, json};

fn child(test: &str, env: (&str, &std::path::Path), stdout: Stdio) -> std::process::Child {
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    common::child_test(&format!("{module}::{test}"))
        .env(env.0, env.1)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn set_file_size_limit(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain system calls on valid arguments.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

/// Run as a child: logs before, during and after a file size limit, and reports what the
/// endpoints said on stdout's last line (its JSON log lines go to the file only).
#[test]
fn child_logging_through_a_full_disk() {
    let Some(dir) = std::env::var_os("MOAI_CHILD_LOG_DIR") else {
        return;
    };
    // SAFETY: ignoring a signal; writes past the limit then fail with EFBIG instead of killing.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(std::path::PathBuf::from(dir)))
        .log_format(moai_instrument::LogFormat::Pretty)
        .log_filter("info")
        .init()
        .unwrap();
    let addr = guard.metrics_addr().expect("the exporter listens");
    let dropped = || {
        let (_, _, body) = http(addr, "GET", "/metrics", &[]);
        sample(
            &body,
            r#"moai_instrument_log_lines_dropped_total{sink="file"}"#,
        )
    };
    let at_start = dropped();
    for i in 0..100 {
        tracing::info!(phase = "before", i, "line before the disk fills");
    }
    guard.flush_logs();
    let size = std::fs::metadata(guard.log_file().unwrap()).unwrap().len();
    let (_, _, healthz_before) = http(addr, "GET", "/healthz", &[]);
    // Room for a few lines, then a line cut short, then nothing.
    set_file_size_limit(size + 1000);
    for i in 0..500 {
        tracing::info!(phase = "during", i, "line while the disk is full");
    }
    guard.flush_logs();
    // Check results are shared by every caller for a second: wait past the one from before.
    std::thread::sleep(Duration::from_millis(1100));
    let (_, _, first) = http(addr, "GET", "/healthz", &[]);
    let (_, _, second) = http(addr, "GET", "/healthz", &[]);
    let (readyz, _, _) = http(addr, "GET", "/readyz", &[]);
    set_file_size_limit(libc::RLIM_INFINITY);
    for i in 0..100 {
        tracing::info!(phase = "after", i, "line after the disk freed");
    }
    guard.flush_logs();
    let check = |body: &str| -> Value {
        serde_json::from_str::<Value>(body).unwrap()["checks"]["log_file"].clone()
    };
    let report = json!({
        "at_start": at_start,
        "dropped": dropped(),
        "before": check(&healthz_before),
        "first": check(&first),
        "second": check(&second),
        "readyz": readyz,
        "after_window": check(&http(addr, "GET", "/healthz", &[]).2),
    });
    println!("report {report}");
}

#[test]
fn a_full_log_disk_costs_whole_lines_counted_and_the_check_is_one_state() {
    let dir = temp_dir("log-full");
    let mut child = child(
        "child_logging_through_a_full_disk",
        ("MOAI_CHILD_LOG_DIR", &dir),
        Stdio::piped(),
    );
    let mut report = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(json) = line.unwrap().strip_prefix("report ") {
            report = Some(serde_json::from_str::<Value>(json).unwrap());
        }
    }
    assert!(child.wait().unwrap().success());
    let report = report.expect("the child reported");
    assert_eq!(
        report["at_start"], 0.0,
        "the counter is exported before any loss"
    );
    assert_eq!(report["before"]["healthy"], true, "{report}");
    // The same state for every caller, and readiness follows it.
    assert_eq!(report["first"]["healthy"], false, "{report}");
    assert_eq!(report["second"]["healthy"], false, "{report}");
    assert_eq!(report["readyz"], 503, "{report}");

    let text = std::fs::read_to_string(dir.join("moai-flow.log")).unwrap();
    let mut phases = std::collections::BTreeMap::<String, u64>::new();
    for line in text.lines() {
        let json: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a torn or invalid line {line:?}: {e}"));
        if let Some(phase) = json["phase"].as_str() {
            *phases.entry(phase.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(phases.get("before"), Some(&100));
    assert_eq!(
        phases.get("after"),
        Some(&100),
        "writes work again once the disk frees"
    );
    let during = phases.get("during").copied().unwrap_or(0);
    let dropped = report["dropped"].as_f64().unwrap() as u64;
    assert!(dropped > 0, "{report}");
    assert_eq!(
        during + dropped,
        500,
        "every line is either whole in the file or counted as dropped"
    );
}

/// Run as a child: stdout is a pipe the parent never reads. Logs from a work loop for a few
/// seconds and reports, in a file, how far it got.
#[test]
fn child_logging_into_a_stuck_pipe() {
    let Some(dir) = std::env::var_os("MOAI_CHILD_STUCK_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(dir.clone()))
        .log_filter("info")
        .init()
        .unwrap();
    let started = Instant::now();
    let mut iterations = 0u64;
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        tracing::info!(
            i = iterations,
            padding = "x".repeat(200),
            "work loop iteration"
        );
        slowest = slowest.max(t.elapsed());
        iterations += 1;
        if iterations.is_multiple_of(16) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    guard.flush_logs();
    let addr = guard.metrics_addr().expect("the exporter listens");
    let (_, _, metrics) = http(addr, "GET", "/metrics", &[]);
    let (livez, _, _) = http(addr, "GET", "/livez", &[]);
    let report = json!({
        "iterations": iterations,
        "slowest_ms": slowest.as_secs_f64() * 1000.0,
        "stdout_dropped": sample(&metrics, r#"moai_instrument_log_lines_dropped_total{sink="stdout"}"#),
        "file_dropped": sample(&metrics, r#"moai_instrument_log_lines_dropped_total{sink="file"}"#),
        "livez": livez,
    });
    let mut out = std::fs::File::create(dir.join("report.json")).unwrap();
    write!(out, "{report}").unwrap();
    // The test harness would print its verdict into the stuck pipe and wait forever.
    std::process::exit(0);
}

#[test]
fn a_stdout_pipe_nobody_reads_stalls_neither_the_work_nor_the_file() {
    let dir = temp_dir("log-stuck-stdout");
    let mut child = child(
        "child_logging_into_a_stuck_pipe",
        ("MOAI_CHILD_STUCK_DIR", &dir),
        Stdio::piped(),
    );
    // Hold the pipe open and never read it; the child must finish on its own.
    let _pipe = child.stdout.take();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child blocked on its stdout");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let iterations = report["iterations"].as_u64().unwrap();
    assert!(iterations > 2000, "the work went on: {report}");
    assert!(
        report["slowest_ms"].as_f64().unwrap() < 500.0,
        "no line waited for the pipe for long: {report}"
    );
    assert!(report["stdout_dropped"].as_f64().unwrap() > 0.0, "{report}");
    assert_eq!(
        report["file_dropped"], 0.0,
        "the file took every line: {report}"
    );
    assert_eq!(report["livez"], 200, "{report}");
    let lines = std::fs::read_to_string(dir.join("moai-flow.log"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("work loop iteration"))
        .count() as u64;
    assert_eq!(lines, iterations, "every iteration's line is in the file");
}
