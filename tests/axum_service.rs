//! A host with its own subscriber and router (`examples/axum_service.rs`: tokio, axum, its own
//! `fmt` layer) gets the SDK's JSON lines, metrics and probes on its one port: under load from
//! several threads the counts on `/metrics` are exact, an expected `NotFound` is no error (no
//! count, no ERROR line), `/readyz` answers 200, and the process listens on one port only.

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{Reaped, http, sample, temp_dir};

/// TCP sockets of `pid` in the LISTEN state (Linux `/proc`).
fn listening_sockets(pid: u32) -> usize {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process's descriptors")
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok())
        .flat_map(|text| text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .filter(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            cols.get(3) == Some(&"0A") && cols.get(9).is_some_and(|inode| inodes.contains(*inode))
        })
        .count()
}

#[test]
fn a_host_router_serves_the_sdk_on_its_one_port_with_exact_counts() {
    let dir = temp_dir("axum-service");
    let port = support::free_port();
    let mut app = Reaped(
        Command::new(support::example("axum_service"))
            .args(["--addr", &format!("127.0.0.1:{port}"), "--seconds", "120"])
            .env("MOAI_LOG_DIR", &dir)
            .env("RUST_LOG", "info")
            .env_remove("MOAI_METRICS_ADDR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example"),
    );
    let mut first = String::new();
    BufReader::new(app.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr: SocketAddr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("the example says where it listens: {first:?}"))
        .parse()
        .unwrap();
    let stderr = app.0.stderr.take().unwrap();
    let host_lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    // 4 threads, 250 requests each: ids 0 (404, expected), 1..=9 (200), u32::MAX (503, a failure).
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                for i in 0..250u32 {
                    let id = match (t * 250 + i) % 10 {
                        0 => 0,
                        9 => u32::MAX,
                        n => n,
                    };
                    statuses.push(http(addr, "GET", &format!("/agents/{id}"), &[]).0);
                }
                statuses
            })
        })
        .collect();
    let statuses: Vec<u16> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let count = |status| statuses.iter().filter(|s| **s == status).count() as f64;
    assert_eq!((count(200), count(404), count(503)), (800.0, 100.0, 100.0));

    let (status, head, body) = http(addr, "GET", "/metrics", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let value =
        |series: &str| sample(&body, series).unwrap_or_else(|| panic!("no {series} in:\n{body}"));
    assert_eq!(
        value(r#"moai_flow_events_total{event_type="agent_lookup"}"#),
        1000.0
    );
    assert_eq!(
        value(r#"moai_flow_query_duration_seconds_count{query_type="get_agent"}"#),
        1000.0
    );
    assert_eq!(
        value(r#"moai_flow_errors_total{operation="get_agent"}"#),
        100.0,
        "only the 503s are errors; the expected 404s are not"
    );
    // A host that links no SwarmDB sees none of its series: no query types, no database gauges.
    for absent in [
        "insert_event",
        "moai_flow_agents_active ",
        "moai_flow_db_size_bytes ",
        "check=\"database\"",
    ] {
        assert!(
            !body.contains(absent),
            "{absent} in a host without SwarmDB:\n{body}"
        );
    }
    let (status, _, ready) = http(addr, "GET", "/readyz", &[]);
    assert_eq!((status, ready.as_str()), (200, "ok (4 checks)\n"));
    assert_eq!(http(addr, "GET", "/livez", &[]).0, 200);
    assert_eq!(http(addr, "GET", "/healthz", &[]).0, 200);
    assert_eq!(http(addr, "GET", "/nope", &[]).0, 404);
    assert_eq!(
        listening_sockets(app.0.id()),
        1,
        "the host's port is the only one: the SDK binds none"
    );

    // The SDK's JSON lines in its file; the host's fmt lines on stderr.
    // SAFETY: kill has no memory preconditions; SIGTERM ends the example, whose guard flushes.
    unsafe { libc::kill(app.0.id() as libc::pid_t, libc::SIGINT) };
    let _ = app.0.wait();
    let text = std::fs::read_to_string(dir.join("moai-flow.log")).expect("the SDK's log file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let failures = |needle: &str| {
        lines
            .iter()
            .filter(|l| {
                l["level"] == "ERROR" && l["message"].as_str().unwrap_or("").contains(needle)
            })
            .count()
    };
    assert_eq!(
        failures("no agent"),
        0,
        "an expected error logs no ERROR line"
    );
    assert_eq!(failures("the agent store is unavailable"), 100);
    assert!(
        lines.iter().any(|l| l["message"] == "axum service started"),
        "the host's own event is in the SDK's JSON file"
    );
    let host_lines = host_lines.join().unwrap();
    assert!(
        host_lines
            .iter()
            .any(|l| l.contains("axum service started")),
        "the host's fmt layer still prints its lines: {host_lines:?}"
    );
}
