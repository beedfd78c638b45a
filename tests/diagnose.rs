//! `moai-health --diagnose` against the real parts: the app, Prometheus with the shipped rules and
//! Alertmanager with the shipped config, all on loopback. Healthy, it passes every check and exits
//! 0; then each part is broken in turn (a broken rule file reloaded, Alertmanager stopped, the app
//! stopped) and it names that part, says what to do, and exits 1. Grafana is a stand-in HTTP
//! server (Debian ships no Grafana package): with and without a Prometheus data source.

mod support;
use moai_test_support::tools;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::sinks::Sink;
use support::{
    deploy_file, preflight, query, start_alertmanager, start_app, start_prometheus, stop_app,
    temp_dir, wait_for,
};

/// The probe binary, built beside the app by `cargo test --workspace`.
fn moai_health() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_moai-flow")).with_file_name("moai-health");
    assert!(
        path.exists(),
        "build the workspace first (cargo test --workspace builds moai-health): {}",
        path.display()
    );
    path
}

/// Runs `moai-health --diagnose` with `args`: exit code and output.
fn diagnose(args: &[String]) -> (Option<i32>, String) {
    let output = Command::new(moai_health())
        .arg("--diagnose")
        .args(args)
        .env_remove("MOAI_METRICS_TOKEN")
        .env_remove("GRAFANA_TOKEN")
        .output()
        .expect("moai-health runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), text)
}

/// The line of the finding `what` and the next line (its next step, for a failure).
fn finding<'a>(text: &'a str, what: &str) -> (&'a str, &'a str) {
    let mut lines = text.lines();
    let line = lines
        .find(|l| l.contains(&format!(" {what}: ")))
        .unwrap_or_else(|| panic!("no finding {what:?} in:\n{text}"));
    (line, lines.next().unwrap_or(""))
}

fn assert_passes(text: &str, what: &str) {
    let (line, _) = finding(text, what);
    assert!(
        line.trim_start().starts_with('✅'),
        "{what} passes:\n{text}"
    );
}

fn assert_fails(text: &str, what: &str, says: &str, next: &str) {
    let (line, next_line) = finding(text, what);
    assert!(line.trim_start().starts_with('❌'), "{what} fails:\n{text}");
    assert!(line.contains(says), "{what} says {says:?}:\n{text}");
    assert!(
        next_line.trim_start().starts_with("Next step:") && next_line.contains(next),
        "{what}'s next step names {next:?}:\n{text}"
    );
}

#[test]
fn diagnose_passes_when_everything_works_and_names_each_broken_part() {
    let (Some(prometheus_bin), Some(alertmanager_bin), Some(_amtool)) = (
        tools::tool("prometheus"),
        tools::tool("prometheus-alertmanager"),
        tools::tool("amtool"),
    ) else {
        return;
    };
    let dir = temp_dir("diagnose");

    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("smtp_password"), "s3cret").unwrap();
    std::fs::write(secrets.join("slack_webhook_url"), "http://127.0.0.1:9/x").unwrap();
    let am_config = dir.join("alertmanager.yml");
    let (code, text) = preflight(&deploy_file("alertmanager.yml"), &secrets, &am_config);
    assert_eq!(code, Some(0), "{text}");
    let (alertmanager_process, alertmanager) =
        start_alertmanager(&alertmanager_bin, &am_config, &dir);

    let (mut app, app_addr) = start_app(&dir, "127.0.0.1:0", &["--agents", "3", "--rate", "20"]);

    // Prometheus with the shipped rule files, scraping the app every second.
    let shipped_rules = std::fs::read_to_string(deploy_file("alert_rules.yml")).unwrap();
    std::fs::write(dir.join("alert_rules.yml"), &shipped_rules).unwrap();
    std::fs::copy(deploy_file("slo_rules.yml"), dir.join("slo_rules.yml")).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             rule_files:\n  - alert_rules.yml\n  - slo_rules.yml\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n\
             scrape_configs:\n  - job_name: moai-flow\n    static_configs:\n      - targets: ['{app_addr}']\n"
        ),
    )
    .unwrap();
    let (prometheus_process, prometheus) = start_prometheus(&prometheus_bin, &dir);
    wait_for("the app's target up", Duration::from_secs(30), || {
        (query(&prometheus, r#"up{job="moai-flow"}"#)? == 1.0).then_some(())
    });
    let rules_loaded = || {
        let (_, body) = support::get(&prometheus, "/api/v1/rules").ok()?;
        body.contains("HighErrorRate").then_some(())
    };
    wait_for("the rules loaded", Duration::from_secs(30), rules_loaded);

    let grafana_ok = Sink::grafana(&format!(
        r#"[{{"id":1,"uid":"prom","name":"Prometheus","type":"prometheus","url":"http://{prometheus}"}}]"#
    ));
    let args = |grafana: &Sink| -> Vec<String> {
        vec![
            "--metrics-url".into(),
            format!("http://{app_addr}/metrics"),
            "--prometheus".into(),
            format!("http://{prometheus}"),
            "--alertmanager".into(),
            format!("http://{alertmanager}"),
            "--grafana".into(),
            format!("http://{}", grafana.addr()),
        ]
    };

    // Everything works: every check passes, exit 0.
    let (code, text) = diagnose(&args(&grafana_ok));
    assert_eq!(code, Some(0), "{text}");
    for what in [
        "exporter reachable",
        "exposition valid",
        "Prometheus scrapes it",
        "alert rules loaded",
        "Alertmanager receives them",
        "Grafana has a Prometheus data source",
    ] {
        assert_passes(&text, what);
    }
    assert!(text.contains("✅ Monitoring works end to end"), "{text}");
    assert!(
        grafana_ok
            .received()
            .contains(&"/api/datasources".to_owned()),
        "the stand-in was asked"
    );

    // Grafana without a Prometheus data source.
    let grafana_empty = Sink::grafana(r#"[{"id":2,"name":"Logs","type":"loki","url":"x"}]"#);
    let (code, text) = diagnose(&args(&grafana_empty));
    assert_eq!(code, Some(1), "{text}");
    assert_fails(
        &text,
        "Grafana has a Prometheus data source",
        "has no Prometheus data source",
        "deploy/grafana/moai-flow.json",
    );
    assert_passes(&text, "alert rules loaded");

    // A broken rule file, reloaded: Prometheus keeps running on the old rules and says so.
    std::fs::write(
        dir.join("alert_rules.yml"),
        shipped_rules.replace(
            "expr: up{job=\"moai-flow\"} == 0",
            "expr: up{job=\"moai-flow\" == 0",
        ),
    )
    .unwrap();
    let reload = || {
        // SAFETY: signalling our own child process by its pid.
        unsafe { libc::kill(prometheus_process.0.id() as libc::pid_t, libc::SIGHUP) };
    };
    reload();
    let text = wait_for("the failed reload to show", Duration::from_secs(20), || {
        let (code, text) = diagnose(&args(&grafana_ok));
        (code == Some(1) && text.contains("❌ alert rules loaded")).then_some(text)
    });
    assert_fails(
        &text,
        "alert rules loaded",
        "failed to load its configuration or a rule file",
        "promtool check rules",
    );
    assert_passes(&text, "exporter reachable");
    assert_passes(&text, "Prometheus scrapes it");
    std::fs::write(dir.join("alert_rules.yml"), &shipped_rules).unwrap();
    reload();
    wait_for(
        "the repaired rules to load",
        Duration::from_secs(20),
        || (diagnose(&args(&grafana_ok)).0 == Some(0)).then_some(()),
    );

    // Alertmanager stopped.
    drop(alertmanager_process);
    let (code, text) = diagnose(&args(&grafana_ok));
    assert_eq!(code, Some(1), "{text}");
    assert_fails(
        &text,
        "Alertmanager receives them",
        &format!("cannot reach http://{alertmanager}/api/v2/status"),
        "start Alertmanager",
    );
    assert_passes(&text, "alert rules loaded");

    // The app stopped: the exporter does not answer and Prometheus's target goes down.
    stop_app(&mut app);
    let text = wait_for("the target to be down", Duration::from_secs(20), || {
        let (_, text) = diagnose(&args(&grafana_ok));
        text.contains("❌ Prometheus scrapes it").then_some(text)
    });
    assert_fails(
        &text,
        "exporter reachable",
        &format!("cannot reach http://{app_addr}/metrics"),
        "start the app",
    );
    assert_fails(
        &text,
        "Prometheus scrapes it",
        "is down",
        "make the app reachable",
    );
    assert!(
        !text.contains("exposition valid"),
        "no exposition to check:\n{text}"
    );
    drop(prometheus_process);
    let _ = std::fs::remove_dir_all(&dir);
}
