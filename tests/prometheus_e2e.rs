//! A real Prometheus server on loopback scrapes the running app every second with the shipped
//! alert rules: the values it stores are exactly what the app served, HighErrorRate goes pending
//! while errors flow, and ServiceDown goes pending once the app stops. Every process it starts
//! is ended when it finishes, pass or fail; it polls rather than sleeping fixed times.

mod support;

#[path = "../moai-instrument/tests/common/tools.rs"]
mod tools;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Reaped, get, sample, temp_dir};

/// Polls `probe` every 250 ms until it returns `Some`, failing after `limit` with `what`.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value of an instant query that returns one series.
fn query(prometheus: &str, promql: &str) -> Option<f64> {
    let (status, body) = get(
        prometheus,
        &format!("/api/v1/query?query={}", encode(promql)),
    )
    .ok()?;
    let json: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
    let result = json["data"]["result"].as_array()?;
    result.first()?["value"][1].as_str()?.parse().ok()
}

fn alert_state(prometheus: &str, alertname: &str) -> Option<String> {
    let (_, body) = get(prometheus, "/api/v1/alerts").ok()?;
    let json: Value = serde_json::from_str(&body).ok()?;
    json["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == alertname)
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn prometheus_scrapes_the_app_and_evaluates_the_shipped_rules() {
    let Some(prometheus_bin) = tools::tool("prometheus") else {
        return;
    };
    let started = Instant::now();
    let dir = temp_dir("prometheus");

    // The app: 60 swarm steps, then idle (stable counters), with 20 failing operations a second.
    let mut app = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args([
            "--agents",
            "5",
            "--rate",
            "200",
            "--steps",
            "60",
            "--error-rate",
            "20",
            "--duration-secs",
            "110",
        ])
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", dir.join("logs"))
        .env("MOAI_DB_PATH", dir.join("swarm.db"))
        .env("RUST_LOG", "warn,moai_instrument=info")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start moai-flow");
    let mut lines = BufReader::new(app.stdout.take().unwrap()).lines();
    let app_addr = lines
        .by_ref()
        .find_map(|l| {
            serde_json::from_str::<Value>(&l.ok()?).ok()?["metrics_addr"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("the app names its address");
    // Keep reading stdout so that the app never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let mut app = Reaped(app);

    // Prometheus with the shipped rules; this copy evaluates every second instead of 30 s.
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/alert_rules.yml"),
    )
    .unwrap()
    .replace("interval: 30s", "interval: 1s");
    std::fs::write(dir.join("alert_rules.yml"), rules).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
         rule_files:\n  - alert_rules.yml\n\
         scrape_configs:\n  - job_name: moai-flow\n    static_configs:\n      - targets: ['{app_addr}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let prometheus = format!("127.0.0.1:{}", free_port());
    // Its own log is not needed: readiness is polled on its API.
    let _prometheus = Reaped(tools::spawn_prometheus(
        &prometheus_bin,
        &dir,
        &prometheus,
        Stdio::null(),
    ));
    wait_for("Prometheus to be ready", Duration::from_secs(30), || {
        (get(&prometheus, "/-/ready").ok()?.0 == 200).then_some(())
    });

    // Stored values equal what the app served (its counters are stable once its steps are done).
    let spawn_series = r#"moai_flow_events_total{event_type="spawn"}"#;
    let p95_series =
        r#"moai_flow_query_duration_seconds{query_type="insert_event",quantile="0.95"}"#;
    let (events, p95) = wait_for(
        "Prometheus to hold the app's values",
        Duration::from_secs(30),
        || {
            let served = get(&app_addr, "/metrics").ok()?.1;
            let (events, p95) = (sample(&served, spawn_series)?, sample(&served, p95_series)?);
            let stored_events = query(&prometheus, spawn_series)?;
            let stored_p95 = query(&prometheus, p95_series)?;
            (stored_events == events && stored_p95 == p95 && events > 0.0).then_some((events, p95))
        },
    );
    assert!(events >= 5.0 && p95 > 0.0, "{events} {p95}");

    // Errors flow: the shipped HighErrorRate rule goes pending (its `for: 5m` keeps it there).
    wait_for(
        "HighErrorRate to be pending",
        Duration::from_secs(30),
        || (alert_state(&prometheus, "HighErrorRate")? == "pending").then_some(()),
    );
    assert!(
        alert_state(&prometheus, "ServiceDown").is_none(),
        "the app is up"
    );

    // The app stops: `up` goes to 0 and ServiceDown goes pending.
    // SAFETY: signalling our own child process by its pid.
    unsafe { libc::kill(app.0.id() as libc::pid_t, libc::SIGTERM) };
    assert!(app.0.wait().unwrap().success());
    wait_for("up to be 0", Duration::from_secs(20), || {
        (query(&prometheus, r#"up{job="moai-flow"}"#)? == 0.0).then_some(())
    });
    wait_for("ServiceDown to be pending", Duration::from_secs(20), || {
        (alert_state(&prometheus, "ServiceDown")? == "pending").then_some(())
    });
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
