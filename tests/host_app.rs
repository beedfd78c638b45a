//! The reference host app end to end: started as a user would, it prints JSON lines with
//! agent_id/user_id on stdout, serves a scrapeable `/metrics`, writes the same lines to its log
//! file, and exits by itself at the end of its duration.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn get(url_addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(url_addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn host_app_logs_json_and_serves_metrics() {
    let dir = std::env::temp_dir().join(format!("moai-host-app-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(["--agents", "5", "--rate", "200", "--duration-secs", "3"])
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", dir.join("logs"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start moai-flow");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut addr = None;
    let mut scraped = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    for line in stdout.lines() {
        let line = line.expect("stdout line");
        let json: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
        if let Some(a) = json["metrics_addr"].as_str() {
            addr = Some(a.to_owned());
        }
        if scraped.is_none() && lines.len() > 100 {
            let a = addr.as_deref().expect("the start line names the address");
            scraped = Some(get(a, "/metrics"));
        }
        lines.push(json);
        assert!(
            Instant::now() < deadline,
            "moai-flow did not finish in time"
        );
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let metrics = scraped.expect("scraped while running");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} in {metrics}"))
    };
    assert!(value(r#"moai_flow_events_total{event_type="spawn"}"#) >= 5.0);
    assert!(value("moai_flow_agents_active") >= 0.0);
    assert!(value(r#"moai_flow_query_duration_seconds_count{query_type="register_agent"}"#) >= 5.0);
    assert!(value("process_cpu_seconds_total") > 0.0);

    let spawned: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "Agent spawned successfully")
        .collect();
    assert!(!spawned.is_empty());
    for line in &spawned {
        assert!(
            line["agent_id"].as_str().unwrap().starts_with("agent-"),
            "{line}"
        );
        assert!(
            line["user_id"].as_str().unwrap().starts_with("user-"),
            "{line}"
        );
    }
    assert!(lines.iter().any(|l| {
        l["level"] == "ERROR"
            && l["exception"]
                .as_str()
                .is_some_and(|e| e.contains("crashed"))
    }));
    let file = std::fs::read_to_string(dir.join("logs").join("moai-flow.log")).unwrap();
    assert_eq!(
        file.lines().count(),
        lines.len(),
        "the file holds every stdout line"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pretty_format_on_stdout_keeps_json_in_the_file() {
    let dir = std::env::temp_dir().join(format!("moai-host-app-pretty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let output = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(["--agents", "2", "--rate", "100", "--duration-secs", "1"])
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", dir.join("logs"))
        .env("MOAI_LOG_FORMAT", "pretty")
        .env("RUST_LOG", "info")
        .output()
        .expect("run moai-flow");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("Agent spawned successfully"), "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_err()),
        "human lines, not JSON"
    );
    let file = std::fs::read_to_string(dir.join("logs").join("moai-flow.log")).unwrap();
    assert!(file.lines().count() > 10);
    for line in file.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_exit_non_zero_with_the_setting_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(["--duration-secs", "1"])
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_FORMAT", "xml")
        .output()
        .expect("run moai-flow");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("MOAI_LOG_FORMAT") && stderr.contains("xml"),
        "{stderr}"
    );
    let usage = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
