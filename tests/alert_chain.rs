//! The whole chain, end to end, with real servers on loopback: the app, `prometheus-node-exporter`,
//! Prometheus with a test copy of the shipped rules, Alertmanager with the shipped config (through
//! the preflight script), and the receivers: an HTTP sink for the Slack webhook and an SMTP sink
//! for the email route. Errors flow and HighErrorRate reaches both receivers with its annotations
//! rendered; the app stops and ServiceDown reaches them; then both resolve and the resolved
//! notifications arrive. Everything it starts is ended when it finishes, pass or fail.
//!
//! The test copies shorten time only: rule `for:` to 1 s, rate windows from 5 m to 10 s (so that
//! a rate ends soon after its errors do), evaluation and scraping every second, and Alertmanager's
//! group_wait and group_interval to 1 s.

mod support;
use moai_test_support::tools;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::sinks::{Sink, quoted_printable};
use support::{
    Reaped, deploy_file, free_port, get, preflight, query, start_alertmanager, start_app,
    start_prometheus, stop_app, temp_dir, wait_for,
};

/// Slack messages received: `(title, text)` of each attachment.
fn slack_messages(sink: &Sink) -> Vec<(String, String)> {
    sink.received()
        .iter()
        .filter_map(|body| serde_json::from_str::<Value>(body).ok())
        .flat_map(|json| {
            json["attachments"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    (
                        a["title"].as_str().unwrap_or("").to_owned(),
                        a["text"].as_str().unwrap_or("").to_owned(),
                    )
                })
        })
        .collect()
}

/// Emails received: `(subject, decoded message)`.
fn emails(sink: &Sink) -> Vec<(String, String)> {
    sink.received()
        .iter()
        .map(|message| {
            let subject = message
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .trim()
                .to_owned();
            (subject, quoted_printable(message))
        })
        .collect()
}

/// Waits until both receivers have a notification titled `[STATUS] alertname`; returns the Slack
/// text and the email.
fn wait_for_both(slack: &Sink, smtp: &Sink, status: &str, alertname: &str) -> (String, String) {
    let title = format!("[{status}] {alertname}");
    let subject = format!("[{status}");
    let text = wait_for(&format!("Slack: {title}"), Duration::from_secs(45), || {
        slack_messages(slack)
            .into_iter()
            .find(|(t, _)| *t == title)
            .map(|(_, text)| text)
    });
    let email = wait_for(
        &format!("email: {subject}...] {alertname}"),
        Duration::from_secs(45),
        || {
            emails(smtp)
                .into_iter()
                .find(|(s, _)| s.starts_with(&subject) && s.contains(alertname))
                .map(|(_, message)| message)
        },
    );
    (text, email)
}

#[test]
fn an_alert_travels_from_the_app_to_email_and_slack_and_resolves() {
    let (Some(prometheus_bin), Some(alertmanager_bin), Some(node_exporter_bin), Some(_amtool)) = (
        tools::tool("prometheus"),
        tools::tool("prometheus-alertmanager"),
        tools::tool("prometheus-node-exporter"),
        tools::tool("amtool"),
    ) else {
        return;
    };
    let started = Instant::now();
    let dir = temp_dir("alert-chain");

    // The receivers.
    let slack = Sink::http();
    let smtp = Sink::smtp();

    // Alertmanager: the shipped config through the preflight script (secrets in a temp dir), the
    // SMTP server and TLS switched to the local sink, and shorter group timers.
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("smtp_password"), "s3cret\n").unwrap();
    std::fs::write(
        secrets.join("slack_webhook_url"),
        format!("http://{}/services/T000/B000/XXX\n", slack.addr()),
    )
    .unwrap();
    let am_config = dir.join("alertmanager.yml");
    let (code, text) = preflight(&deploy_file("alertmanager.yml"), &secrets, &am_config);
    assert_eq!(code, Some(0), "{text}");
    let config = std::fs::read_to_string(&am_config).unwrap();
    for shipped in [
        "smtp.gmail.com:587",
        "smtp_require_tls: true",
        "group_wait: 10s",
    ] {
        assert!(config.contains(shipped), "the shipped config has {shipped}");
    }
    let config = config
        .replace("smtp.gmail.com:587", &smtp.addr().to_string())
        .replace("smtp_require_tls: true", "smtp_require_tls: false")
        .replace("group_wait: 10s", "group_wait: 1s")
        .replace("group_interval: 10s", "group_interval: 1s");
    std::fs::write(&am_config, config).unwrap();
    let (_alertmanager, alertmanager) = start_alertmanager(&alertmanager_bin, &am_config, &dir);

    // node-exporter, for the host alerts.
    let node_exporter = format!("127.0.0.1:{}", free_port());
    let _node_exporter = Reaped(
        std::process::Command::new(&node_exporter_bin)
            .arg(format!("--web.listen-address={node_exporter}"))
            .args([
                "--collector.disable-defaults",
                "--collector.filesystem",
                "--collector.meminfo",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus-node-exporter"),
    );

    // The app on a fixed port (it is restarted on the same one), 20 failing operations a second.
    let app_addr = format!("127.0.0.1:{}", free_port());
    let app_args = ["--agents", "5", "--rate", "50"];
    let (mut app, served) = start_app(
        &dir,
        &app_addr,
        &[&app_args[..], &["--error-rate", "20"]].concat(),
    );
    assert_eq!(served, app_addr);

    // Prometheus with the test copy of the shipped rules.
    let rules = std::fs::read_to_string(deploy_file("alert_rules.yml")).unwrap();
    let mut fast = rules
        .replace("interval: 30s", "interval: 1s")
        .replace("[5m]", "[10s]");
    for shipped in ["1m", "5m", "10m", "1h"] {
        fast = fast.replace(&format!("for: {shipped}\n"), "for: 1s\n");
    }
    assert!(!fast.contains("[5m]") && fast.matches("for: 1s").count() >= 10);
    std::fs::write(dir.join("alert_rules.yml"), fast).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             rule_files:\n  - alert_rules.yml\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n\
             scrape_configs:\n\
             \x20 - job_name: moai-flow\n    static_configs:\n      - targets: ['{app_addr}']\n\
             \x20 - job_name: node-exporter\n    static_configs:\n      - targets: ['{node_exporter}']\n"
        ),
    )
    .unwrap();
    let (_prometheus, prometheus) = start_prometheus(&prometheus_bin, &dir);
    wait_for("both targets up", Duration::from_secs(30), || {
        let app_up = query(&prometheus, r#"up{job="moai-flow"}"#)?;
        let node_up = query(&prometheus, r#"up{job="node-exporter"}"#)?;
        (app_up == 1.0 && node_up == 1.0).then_some(())
    });

    // 1. Errors flow: HighErrorRate reaches Slack and email, its annotations rendered.
    let (text, email) = wait_for_both(&slack, &smtp, "FIRING", "HighErrorRate");
    assert!(
        text.contains(&format!("errors/second on {app_addr}"))
            && text.starts_with("Error rate is "),
        "the description is rendered: {text:?}"
    );
    assert!(!text.contains("{{"), "{text}");
    assert!(
        email.contains("High error rate detected") && email.contains("errors/second on"),
        "the email shows the annotations:\n{email}"
    );
    assert!(email.contains("To: devops@moai-flow.dev"), "{email}");

    // 2. The app stops: ServiceDown reaches both.
    stop_app(&mut app);
    let (text, _) = wait_for_both(&slack, &smtp, "FIRING", "ServiceDown");
    assert_eq!(
        text.trim(),
        format!("{app_addr} has been down for 1 minute")
    );

    // 3. No more errors: HighErrorRate resolves, and both receivers hear it.
    wait_for_both(&slack, &smtp, "RESOLVED", "HighErrorRate");

    // 4. The app is back (no errors now): ServiceDown resolves.
    let (_app, _) = start_app(&dir, &app_addr, &app_args);
    wait_for_both(&slack, &smtp, "RESOLVED", "ServiceDown");

    // Alertmanager holds no firing ServiceDown any more.
    let (_, alerts) = get(&alertmanager, "/api/v2/alerts?active=true").unwrap();
    assert!(!alerts.contains("\"ServiceDown\""), "{alerts}");
    assert!(
        started.elapsed() < Duration::from_secs(150),
        "took {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
