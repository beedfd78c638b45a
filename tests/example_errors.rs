//! The examples say what went wrong in words a person can act on: a port in use gives the
//! address, the setting and the cause (the error's `Display`, never its `Debug` form), and the
//! example exits with a failure status.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn a_port_in_use_is_reported_with_its_address_setting_and_cause() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let output = Command::new(support::example("metrics_exporter"))
        .args(["--seconds", "1"])
        .env("MOAI_METRICS_ADDR", addr.to_string())
        .env("MOAI_LOG_DIR", "none")
        .output()
        .expect("run the example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "metrics_exporter: cannot listen on {addr} (MOAI_METRICS_ADDR): address already in use"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Bind {") && !stderr.contains("Os {"),
        "Display, not Debug: {stderr}"
    );
}

#[test]
fn a_bad_setting_is_reported_with_display() {
    let output = Command::new(support::example("json_logging"))
        .env("MOAI_LOG_FORMAT", "xml")
        .output()
        .expect("run the example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("json_logging: invalid value \"xml\" for MOAI_LOG_FORMAT"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("InvalidSetting"),
        "Display, not Debug: {stderr}"
    );
}

/// The guide's scripts run unchanged on a database that MoAI-Flow wrote (a copy of the shared
/// fixture): the basic health check counts its 8 active agents, and the metrics exporter serves
/// them in `moai_flow_agents_active`.
#[test]
fn the_examples_run_on_a_database_moai_flow_wrote() {
    let dir = support::temp_dir("examples-fixture");
    let db = dir.join("swarm.db");
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("moai-swarmdb/tests/fixtures/moai-flow-2.0.0/swarm.db"),
        &db,
    )
    .unwrap();
    let mut perms = std::fs::metadata(&db).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&db, perms).unwrap();

    let basic = Command::new(support::example("basic_health_check"))
        .env("MOAI_DB_PATH", &db)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&basic.stdout),
        "✅ Healthy - 8 active agents\n"
    );
    assert!(basic.status.success());

    let mut exporter = Command::new(support::example("metrics_exporter"))
        .args(["--seconds", "20"])
        .env("MOAI_DB_PATH", &db)
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", "none")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(exporter.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the serving line").unwrap();
        if let Some(url) = line.strip_prefix("serving http://") {
            break url.trim_end_matches("/metrics").to_owned();
        }
    };
    let (status, body) = support::get(&url, "/metrics").unwrap();
    let _ = exporter.kill();
    let _ = exporter.wait();
    assert_eq!(status, 200);
    let active = body
        .lines()
        .find_map(|l| l.strip_prefix("moai_flow_agents_active "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no moai_flow_agents_active in\n{body}"));
    // MoAI-Flow's 8, and at most the one agent the exporter itself has running.
    assert!((8.0..=9.0).contains(&active), "{active}");
}
