//! `init()` and opening SwarmDB are the whole set-up: the database gauges at every scrape and the
//! guide's checks on the probes and in `moai_flow_health_check_status`, with no other SDK call;
//! what happens with no database, a second one, and the first one closed.

use moai_test_support as common;

use std::path::Path;
use std::time::Duration;

use common::{Switch, http, sample, temp_dir};
use moai_instrument::{Config, InitError};
use moai_swarmdb::{AgentStatus, OpenOptions, SwarmDb};
use serde_json::{Value, json};

/// The checks an open SwarmDB brings: the guide's five and the liveness check.
const SWARMDB_CHECKS: [&str; 6] = [
    "database",
    "disk_space",
    "memory",
    "query_performance",
    "agents",
    "swarmdb",
];

static ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

fn metrics(addr: std::net::SocketAddr) -> String {
    let (status, _, body) = http(addr, "GET", "/metrics", &[]);
    assert_eq!(status, 200, "{body}");
    body
}

/// `/healthz`, past the one second for which the SDK shares check results between callers.
fn health(addr: std::net::SocketAddr) -> Value {
    std::thread::sleep(Duration::from_millis(1100));
    let (_, _, body) = http(addr, "GET", "/healthz", &[]);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn check_names(report: &Value) -> Vec<String> {
    report["checks"]
        .as_object()
        .expect("a checks object")
        .keys()
        .cloned()
        .collect()
}

fn with_agents(path: &Path, active: usize) -> SwarmDb {
    let db = SwarmDb::open(path).unwrap();
    for i in 0..active {
        db.register_agent(
            &format!("agent-{i}"),
            "expert",
            AgentStatus::Running,
            &json!({}),
        )
        .unwrap();
    }
    db
}

#[test]
fn init_and_open_are_the_whole_set_up() {
    if !common::own_process() {
        return;
    }
    let dir = temp_dir("zero-wiring");
    let config = || {
        Config::new()
            .metrics_addr("127.0.0.1:0")
            .log_dir(None::<std::path::PathBuf>)
            .log_filter("error")
            .health_interval(Duration::from_secs(3600))
    };

    // A host check cannot take a name the SDK's checks use, and `install_recorder`, which runs
    // no checks, refuses them instead of ignoring them; neither installs anything.
    let taken = config()
        .health_check(Switch {
            name: "memory",
            on: &ON,
        })
        .init()
        .unwrap_err();
    assert!(
        matches!(
            taken,
            InitError::InvalidSetting {
                setting: "health_check",
                ..
            }
        ),
        "{taken}"
    );
    assert!(taken.to_string().contains("\"memory\""), "{taken}");
    let unnamed = config()
        .health_check(Switch { name: " ", on: &ON })
        .init()
        .unwrap_err();
    assert!(
        unnamed.to_string().contains("a check needs a name"),
        "{unnamed}"
    );
    let ignored = config()
        .health_check(Switch {
            name: "mine",
            on: &ON,
        })
        .install_recorder()
        .unwrap_err();
    assert!(
        ignored.to_string().contains("install_recorder()"),
        "{ignored}"
    );

    let guard = config().init().expect("init");
    let addr = guard.metrics_addr().expect("the exporter listens");

    // No SwarmDB open: no database gauges, and only the checks that need none.
    let body = metrics(addr);
    assert_eq!(sample(&body, "moai_flow_agents_active"), None, "{body}");
    let report = health(addr);
    assert_eq!(
        check_names(&report),
        ["memory", "progress", "query_performance"],
        "{report}"
    );
    assert_eq!(report["status"], "healthy", "{report}");
    // A probe's handle (existing_only) is never the monitored database.
    let a_path = dir.join("a.db");
    drop(SwarmDb::open(&a_path).unwrap());
    let probe = OpenOptions::new().existing_only().open(&a_path).unwrap();
    assert!(!check_names(&health(addr)).contains(&"database".to_owned()));
    drop(probe);

    // Opening SwarmDB is the whole wiring: gauges at every scrape, the guide's five checks and
    // the liveness check, each in moai_flow_health_check_status.
    let a = with_agents(&a_path, 2);
    // The gauges are read off the scrape path: a scrape serves the last read and asks for the
    // next, so the values of now show within a scrape or two.
    let size = a.get_database_size().unwrap() as f64;
    let body = common::wait_for("the gauges of now", Duration::from_secs(10), || {
        let body = metrics(addr);
        (sample(&body, "moai_flow_agents_active") == Some(2.0)
            && sample(&body, "moai_flow_db_size_bytes") == Some(size))
        .then_some(body)
    });
    let age = sample(&body, "moai_flow_db_collect_age_seconds").expect("the age is served");
    assert!((0.0..2.0).contains(&age), "{age}");
    let report = health(addr);
    for name in SWARMDB_CHECKS {
        assert_eq!(
            report["checks"][name]["healthy"], true,
            "{name} in {report}"
        );
    }
    assert_eq!(
        report["checks"]["database"]["details"]["path"],
        a_path.display().to_string()
    );
    assert_eq!(report["checks"]["agents"]["message"], "2 active agents");
    assert_eq!(http(addr, "GET", "/readyz", &[]).0, 200);
    let (status, _, live) = http(addr, "GET", "/livez", &[]);
    assert_eq!(status, 200, "{live}");
    // progress and swarmdb.
    assert!(live.contains("2 checks"), "{live}");
    let body = metrics(addr);
    for check in SWARMDB_CHECKS {
        assert_eq!(
            sample(
                &body,
                &format!(r#"moai_flow_health_check_status{{check="{check}"}}"#)
            ),
            Some(1.0),
            "{check}"
        );
    }

    // A second database changes nothing while the first is open.
    let b_path = dir.join("b.db");
    let b = with_agents(&b_path, 5);
    assert_eq!(sample(&metrics(addr), "moai_flow_agents_active"), Some(2.0));

    // Closing the first (its last clone) hands over to the next one still open.
    let a_clone = a.clone();
    drop(a);
    assert_eq!(sample(&metrics(addr), "moai_flow_agents_active"), Some(2.0));
    drop(a_clone);
    common::wait_for("the next database's gauges", Duration::from_secs(3), || {
        (sample(&metrics(addr), "moai_flow_agents_active") == Some(5.0)).then_some(())
    });
    assert_eq!(
        health(addr)["checks"]["database"]["details"]["path"],
        b_path.display().to_string()
    );

    // None open again: the database checks leave the report, and the database's gauges and its
    // checks' status series leave the exposition (no stale value).
    drop(b);
    let report = health(addr);
    assert_eq!(
        check_names(&report),
        ["memory", "progress", "query_performance"],
        "{report}"
    );
    let body = metrics(addr);
    for gone in [
        "moai_flow_agents_active",
        "moai_flow_db_size_bytes",
        "moai_flow_db_volume_size_bytes",
        r#"moai_flow_health_check_status{check="database"}"#,
        r#"moai_flow_health_check_status{check="swarmdb"}"#,
    ] {
        assert_eq!(sample(&body, gone), None, "{gone} in\n{body}");
    }
    assert_eq!(
        sample(&body, r#"moai_flow_health_check_status{check="memory"}"#),
        Some(1.0)
    );
    drop(guard);
}
