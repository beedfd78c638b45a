//! The reference host app end to end: started as a user would, it prints JSON lines with
//! agent_id/user_id on stdout, serves a scrapeable `/metrics`, writes the same lines to its log
//! file, and exits by itself at the end of its duration.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The whole response (status line, headers and body) is what these checks read.
fn get(addr: &str, path: &str) -> String {
    let (status, body) = support::get(addr, path).expect("request");
    format!("HTTP/1.1 {status}\r\n\r\n{body}")
}

#[test]
fn host_app_logs_json_and_serves_metrics() {
    let dir = support::temp_dir("host-app");
    let mut child = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(["--agents", "5", "--rate", "200", "--duration-secs", "3"])
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", dir.join("logs"))
        .env("MOAI_DB_PATH", dir.join("memory/swarm.db"))
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
            // Probes first: their results feed moai_flow_health_check_status in the scrape.
            let (healthz, readyz, livez) =
                (get(a, "/healthz"), get(a, "/readyz"), get(a, "/livez"));
            scraped = Some((get(a, "/metrics"), healthz, readyz, livez));
        }
        lines.push(json);
        assert!(
            Instant::now() < deadline,
            "moai-flow did not finish in time"
        );
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let (metrics, healthz, readyz, livez) = scraped.expect("scraped while running");
    assert!(
        readyz.starts_with("HTTP/1.1 200") && livez.starts_with("HTTP/1.1 200"),
        "{readyz}\n{livez}"
    );
    let report: Value = serde_json::from_str(healthz.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    for check in [
        "database",
        "disk_space",
        "memory",
        "query_performance",
        "agents",
        "log_file",
    ] {
        assert!(
            report["checks"][check]["message"].is_string(),
            "{check} in {report}"
        );
    }
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} in {metrics}"))
    };
    assert!(value(r#"moai_flow_events_total{event_type="spawn"}"#) >= 5.0);
    // Refreshed from SwarmDB by the scrape itself (agents move in lockstep, so 0 is possible).
    assert!(value("moai_flow_agents_active") >= 0.0, "{metrics}");
    assert!(
        value(r#"moai_flow_query_duration_seconds_count{query_type="count_active_agents"}"#) >= 1.0
    );
    assert!(value("moai_flow_db_size_bytes") > 4096.0);
    assert_eq!(
        value(r#"moai_flow_health_check_status{check="database"}"#),
        1.0
    );
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
    let failed = lines
        .iter()
        .find(|l| l["message"] == "Agent task failed")
        .expect("every 7th task fails");
    assert_eq!(failed["level"], "WARNING");
    assert!(
        failed["duration_ms"].is_u64() && failed["agent_id"].is_string(),
        "{failed}"
    );
    let file = std::fs::read_to_string(dir.join("logs").join("moai-flow.log")).unwrap();
    assert_eq!(
        file.lines().count(),
        lines.len(),
        "the file holds every stdout line"
    );
    // The swarm's work is in SwarmDB.
    let db = moai_swarmdb::SwarmDb::open(dir.join("memory/swarm.db")).unwrap();
    let spawns = db.get_events(&moai_swarmdb::EventFilter {
        event_type: Some(moai_swarmdb::EventType::Spawn),
        ..Default::default()
    });
    assert!(spawns.unwrap().len() >= 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_shuts_down_cleanly_with_the_log_flushed() {
    let dir = support::temp_dir("host-app-term");
    let mut child = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(["--agents", "3", "--rate", "100"])
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", dir.join("logs"))
        .env("MOAI_DB_PATH", dir.join("swarm.db"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start moai-flow");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    for line in stdout.by_ref() {
        let json: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if let Some(a) = json["metrics_addr"].as_str() {
            addr = Some(a.to_owned());
        }
        if json["message"] == "Agent spawned successfully" {
            break;
        }
    }
    let addr = addr.expect("the start line names the address");
    // SAFETY: signalling our own child process by its pid.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let started = Instant::now();
    let rest: Vec<Value> = stdout
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let last = rest.last().expect("a last line");
    assert_eq!(last["message"], "moai-flow shutting down");
    assert_eq!(last["reason"], "signal");
    let file = std::fs::read_to_string(dir.join("logs/moai-flow.log")).unwrap();
    let last_in_file: Value = serde_json::from_str(file.lines().last().unwrap()).unwrap();
    assert_eq!(&last_in_file, last, "the file holds the last line too");
    assert!(TcpStream::connect(&addr).is_err(), "the exporter is gone");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pretty_format_on_stdout_keeps_json_in_the_file() {
    let dir = support::temp_dir("host-app-pretty");
    let output = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(["--agents", "2", "--rate", "100", "--duration-secs", "1"])
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", dir.join("logs"))
        .env("MOAI_LOG_FORMAT", "pretty")
        .env("MOAI_DB_PATH", dir.join("swarm.db"))
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

/// MoAI-Flow's own database (the shared fixture, copied): the app runs on it unchanged, counts its
/// active agents, appends events beside MoAI-Flow's, and `moai-health` reads it.
#[test]
fn host_app_runs_on_a_database_moai_flow_wrote() {
    let dir = support::temp_dir("host-app-fixture");
    let db_path = dir.join("swarm.db");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("moai-swarmdb/tests/fixtures/moai-flow-2.0.0/swarm.db");
    std::fs::copy(&fixture, &db_path).unwrap();
    let mut perms = std::fs::metadata(&db_path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&db_path, perms).unwrap();
    let health = |args: &[&str]| {
        let out = Command::new(support::moai_health())
            .args(args)
            .arg("--db")
            .arg(&db_path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(
        health(&[]),
        (Some(0), "✅ Healthy - 8 active agents\n".to_owned())
    );
    // One step per agent: each of the app's 3 agents is spawned, nothing else changes.
    let child = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(["--agents", "3", "--rate", "100", "--steps", "3"])
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", "none")
        .env("MOAI_DB_PATH", &db_path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start moai-flow");
    let mut child = support::Reaped(child);
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut addr = None;
    for line in stdout.lines() {
        let json: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if let Some(a) = json["metrics_addr"].as_str() {
            addr = Some(a.to_owned());
            break;
        }
    }
    let addr = addr.expect("the start line names the address");
    let deadline = Instant::now() + Duration::from_secs(20);
    let active = loop {
        let (_, metrics) = support::get(&addr, "/metrics").unwrap();
        let active = support::sample(&metrics, "moai_flow_agents_active");
        let spawned = support::sample(&metrics, r#"moai_flow_events_total{event_type="spawn"}"#);
        if spawned == Some(3.0) || Instant::now() > deadline {
            break active;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        active,
        Some(11.0),
        "MoAI-Flow's 8 active agents and the app's 3"
    );
    drop(child);
    assert_eq!(
        health(&[]),
        (Some(0), "✅ Healthy - 11 active agents\n".to_owned())
    );
    let db = moai_swarmdb::SwarmDb::open(&db_path).unwrap();
    let events = db
        .get_events(&moai_swarmdb::EventFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(events.len(), 33 + 3, "the app's events beside MoAI-Flow's");
    assert!(events.iter().any(|e| e.event_id == "evt-1-0000"));
}

/// Whether `pid` has a handler installed for `signal` (the `SigCgt` mask of /proc/PID/status).
fn catches(pid: u32, signal: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

/// SIGTERM as early as it can be handled (the moment the handler is in place, before the SDK is
/// initialized), and SIGINT, SIGQUIT and SIGHUP once running: each ends the app cleanly, with its
/// shutdown line in the flushed log file.
#[test]
fn every_stop_signal_at_any_moment_flushes_and_exits_cleanly() {
    for (name, signal, settle) in [
        ("TERM-at-once", libc::SIGTERM, Duration::ZERO),
        ("INT", libc::SIGINT, Duration::from_millis(300)),
        ("QUIT", libc::SIGQUIT, Duration::from_millis(300)),
        ("HUP", libc::SIGHUP, Duration::from_millis(300)),
    ] {
        let dir = support::temp_dir(&format!("host-app-signal-{name}"));
        let child = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
            .args(["--agents", "2", "--rate", "50"])
            .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
            .env("MOAI_LOG_DIR", dir.join("logs"))
            .env("MOAI_DB_PATH", dir.join("swarm.db"))
            .stdout(Stdio::null())
            .spawn()
            .expect("start moai-flow");
        let mut child = support::Reaped(child);
        let pid = child.0.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !catches(pid, signal) {
            assert!(Instant::now() < deadline, "{name}: no handler installed");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(settle);
        // SAFETY: sending a signal to our own child.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{name}: did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{name}: {status}");
        let log = std::fs::read_to_string(dir.join("logs/moai-flow.log")).unwrap_or_default();
        let last: Value = serde_json::from_str(log.lines().last().unwrap_or("null")).unwrap();
        assert_eq!(last["message"], "moai-flow shutting down", "{name}: {log}");
        assert_eq!(last["reason"], "signal", "{name}");
    }
}

/// Out of file descriptors: the exporter backs off instead of spinning on a listener that stays
/// readable, counts it, and serves again once descriptors are free.
#[test]
fn running_out_of_file_descriptors_is_counted_and_never_a_spin() {
    let dir = support::temp_dir("host-app-nofile");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new("prlimit")
        .arg("--nofile=48:48")
        .arg(env!("CARGO_BIN_EXE_moai-flow"))
        .args(["--agents", "2", "--rate", "20"])
        .env("MOAI_METRICS_ADDR", &addr)
        .env("MOAI_LOG_DIR", dir.join("logs"))
        .env("MOAI_DB_PATH", dir.join("swarm.db"))
        .stdout(Stdio::null())
        .spawn()
        .expect("prlimit (util-linux) runs moai-flow");
    let child = support::Reaped(child);
    let pid = child.0.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while support::get(&addr, "/livez").is_err() {
        assert!(Instant::now() < deadline, "the app did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Idle connections hold descriptors until the app has none left to accept with.
    let held: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // utime and stime, in clock ticks (100 per second here).
        (fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()) as f64 / 100.0
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu() - before;
    assert!(used < 0.5, "the process spun: {used:.2} s of CPU in 2 s");
    drop(held);
    // The held connections close; within the head timeout the app serves again.
    let deadline = Instant::now() + Duration::from_secs(15);
    let metrics = loop {
        if let Ok((200, body)) = support::get(&addr, "/metrics") {
            break body;
        }
        assert!(Instant::now() < deadline, "the exporter did not recover");
        std::thread::sleep(Duration::from_millis(100));
    };
    let exhausted = support::sample(
        &metrics,
        r#"moai_instrument_resource_exhausted_total{resource="file_descriptors"}"#,
    );
    assert!(exhausted.is_some_and(|n| n >= 1.0), "{exhausted:?}");
}

#[test]
fn every_check_status_is_on_metrics_within_a_second_of_start_without_a_probe() {
    let dir = support::temp_dir("host-app-statuses");
    let (_app, addr) = support::start_app(&dir, "127.0.0.1:0", &["--agents", "3"]);
    // From the moment the app names its address, scrapes only: no probe runs a check.
    let started = Instant::now();
    let checks = [
        "progress",
        "log_file",
        "memory",
        "query_performance",
        "database",
        "disk_space",
        "agents",
        "swarmdb",
    ];
    loop {
        let metrics = get(&addr, "/metrics");
        let missing: Vec<&str> = checks
            .iter()
            .copied()
            .filter(|check| {
                support::sample(
                    &metrics,
                    &format!(r#"moai_flow_health_check_status{{check="{check}"}}"#),
                )
                .is_none()
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "statuses still missing {:?} after start: {missing:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
