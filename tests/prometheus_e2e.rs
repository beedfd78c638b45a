//! A real Prometheus server on loopback scrapes the running app every second with the shipped
//! alert rules: the values it stores are exactly what the app served, HighErrorRate goes pending
//! while errors flow, and ServiceDown goes pending once the app stops. Every process it starts
//! is ended when it finishes, pass or fail; it polls rather than sleeping fixed times.

mod support;

use moai_test_support::postgres;
use moai_test_support::tools;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    Reaped, alert_state, free_port, get, query, sample, start_app, start_app_with,
    start_prometheus, stop_app, temp_dir, wait_for,
};

#[test]
fn prometheus_scrapes_the_app_and_evaluates_the_shipped_rules() {
    let Some(prometheus_bin) = tools::tool("prometheus") else {
        return;
    };
    let started = Instant::now();
    let dir = temp_dir("prometheus");

    // The app: 60 swarm steps, then idle (stable counters), with 20 failing operations a second.
    let (mut app, app_addr) = start_app(
        &dir,
        "127.0.0.1:0",
        &[
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
        ],
    );

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
    let (_prometheus, prometheus) = start_prometheus(&prometheus_bin, &dir);

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
    stop_app(&mut app);
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

/// SwarmDB on PostgreSQL: Prometheus scrapes the app and a real prometheus-postgres-exporter as
/// the guide's `postgresql` job, and loads the shipped PostgreSQL rules; the metrics those rules
/// and the dashboard read are there, with the app's database among them.
#[test]
fn prometheus_scrapes_the_postgres_exporter_beside_the_app() {
    let Some(prometheus_bin) = tools::tool("prometheus") else {
        return;
    };
    let Some(exporter_bin) = tools::tool("prometheus-postgres-exporter") else {
        return;
    };
    let Some(pg) = postgres::Postgres::start("exporter") else {
        return;
    };
    let dir = temp_dir("postgres-exporter");
    let url = pg.create_database("swarm");
    let (_app, app_addr) = start_app_with(
        &dir,
        "127.0.0.1:0",
        &["--agents", "5", "--rate", "100", "--steps", "40"],
        &[("MOAI_DB_URL", &url)],
    );
    let exporter = format!("127.0.0.1:{}", free_port());
    let _exporter = Reaped(
        Command::new(exporter_bin)
            .arg(format!("--web.listen-address={exporter}"))
            .env(
                "DATA_SOURCE_NAME",
                format!("{}?sslmode=disable", pg.url("swarm"))
                    .replace("postgres://", "postgresql://"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-postgres-exporter"),
    );
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/postgres_rules.yml"),
    )
    .unwrap()
    .replace("interval: 30s", "interval: 1s");
    std::fs::write(dir.join("postgres_rules.yml"), rules).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
         rule_files:\n  - postgres_rules.yml\n\
         scrape_configs:\n  - job_name: moai-flow\n    static_configs:\n      - targets: ['{app_addr}']\n\
         \x20 - job_name: postgresql\n    static_configs:\n      - targets: ['{exporter}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let (_prometheus, prometheus) = start_prometheus(&prometheus_bin, &dir);
    // What the rules and the dashboard read, from the real exporter: the server is up, the app's
    // pooled connections show on its database, and the database has a size.
    wait_for("pg_up to be 1", Duration::from_secs(30), || {
        (query(&prometheus, r#"pg_up{job="postgresql"}"#)? == 1.0).then_some(())
    });
    let backends = wait_for("the app's connections", Duration::from_secs(30), || {
        query(
            &prometheus,
            r#"sum(pg_stat_database_numbackends{job="postgresql",datname="swarm"})"#,
        )
        .filter(|n| *n >= 1.0)
    });
    let max = wait_for("max_connections", Duration::from_secs(30), || {
        query(
            &prometheus,
            r#"max(pg_settings_max_connections{job="postgresql"})"#,
        )
    });
    assert!(backends < max, "{backends} of {max}");
    let size = wait_for("the database size", Duration::from_secs(30), || {
        query(
            &prometheus,
            r#"max(pg_database_size_bytes{job="postgresql",datname="swarm"})"#,
        )
    });
    let app_size = wait_for("the app's size gauge", Duration::from_secs(30), || {
        query(
            &prometheus,
            r#"max(moai_flow_db_size_bytes{job="moai-flow"})"#,
        )
    });
    // Both read pg_database_size of the same database, a scrape apart.
    assert!((size - app_size).abs() / size < 0.5, "{size} vs {app_size}");
    // Every query of the PostgreSQL dashboard returns data from this Prometheus.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/moai-flow-postgres.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            wait_for(expr, Duration::from_secs(20), || query(&prometheus, expr));
        }
    }
    // The shipped rules load and evaluate without errors; none fires on a healthy server.
    let (_, rules) = get(&prometheus, "/api/v1/rules").unwrap();
    let rules: Value = serde_json::from_str(&rules).unwrap();
    let loaded: Vec<&Value> = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(loaded.len(), 3, "{rules}");
    for rule in loaded {
        assert_eq!(rule["health"], "ok", "{rule}");
        assert_eq!(rule["state"], "inactive", "{rule}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
