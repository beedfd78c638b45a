//! The shipped Alertmanager config reaches people: critical alerts go to email and Slack, warnings
//! to email (`amtool config routes test`); a real Alertmanager suppresses the warnings of an
//! instance that is down (the inhibition); and the preflight script refuses a missing or empty
//! secret file before Alertmanager starts.

mod support;
use moai_test_support::tools;

use std::process::Command;
use std::time::Duration;

use support::{
    alertmanager_alerts, deploy_file, preflight, start_alertmanager, temp_dir, wait_for,
};
use tools::tool;

/// The receiver `amtool config routes test` picks for an alert with `labels`.
fn route(amtool: &std::path::Path, labels: &[&str]) -> String {
    let output = Command::new(amtool)
        .args(["config", "routes", "test"])
        .arg(format!(
            "--config.file={}",
            deploy_file("alertmanager.yml").display()
        ))
        .args(labels)
        .output()
        .expect("amtool runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn critical_alerts_reach_email_and_slack_and_warnings_reach_email() {
    let Some(amtool) = tool("amtool") else { return };
    let both = "team-email-and-slack";
    for (labels, receiver) in [
        (&["severity=critical", "alertname=ServiceDown"][..], both),
        (&["severity=critical", "alertname=HighErrorRate"], both),
        (
            &["severity=critical", "alertname=ErrorBudgetFastBurn"],
            both,
        ),
        (
            &["severity=warning", "alertname=HighCPUUsage"],
            "team-email",
        ),
        (
            &["severity=warning", "alertname=DiskSpaceLow"],
            "team-email",
        ),
        // Without a known severity, still the team's inbox.
        (&["alertname=Custom"], "team-email"),
    ] {
        assert_eq!(route(&amtool, labels), receiver, "{labels:?}");
    }
    // The receiver of critical alerts has both integrations, each sending resolutions too.
    let config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(deploy_file("alertmanager.yml")).unwrap())
            .unwrap();
    let receivers = config["receivers"].as_sequence().unwrap();
    let find = |name: &str| {
        receivers
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("receiver {name}"))
    };
    let critical = find(both);
    assert_eq!(critical["email_configs"][0]["to"], "devops@moai-flow.dev");
    assert_eq!(critical["email_configs"][0]["send_resolved"], true);
    assert_eq!(critical["slack_configs"][0]["send_resolved"], true);
    assert_eq!(
        find("team-email")["email_configs"][0]["to"],
        "devops@moai-flow.dev"
    );
}

#[test]
fn preflight_refuses_missing_and_empty_secret_files() {
    let Some(_amtool) = tool("amtool") else {
        return;
    };
    let dir = temp_dir("am-preflight");
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let config = deploy_file("alertmanager.yml");
    let out = dir.join("alertmanager.yml");
    let smtp = secrets.join("smtp_password");
    let slack = secrets.join("slack_webhook_url");

    // Neither file: both are named, nothing passes.
    let (code, text) = preflight(&config, &secrets, &out);
    assert_eq!(code, Some(1), "{text}");
    for file in [&smtp, &slack] {
        assert!(
            text.contains(&format!("{} is missing", file.display())),
            "{text}"
        );
    }
    // Empty, or only a newline (`amtool check-config` accepts both).
    std::fs::write(&smtp, "s3cret").unwrap();
    for empty in ["", "\n", "  \n"] {
        std::fs::write(&slack, empty).unwrap();
        let (code, text) = preflight(&config, &secrets, &out);
        assert_eq!(code, Some(1), "{empty:?}: {text}");
        assert!(
            text.contains(&format!("api_url_file: {} is empty", slack.display())),
            "{text}"
        );
        assert!(!text.contains("smtp_password"), "{text}");
    }
    std::fs::write(&slack, "not a url\n").unwrap();
    let (code, text) = preflight(&config, &secrets, &out);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("does not hold an http(s) URL"), "{text}");

    // Both present: the copy names the overridden directory and amtool accepts it.
    std::fs::write(&slack, "https://hooks.slack.example/T000/B000/XXX\n").unwrap();
    let (code, text) = preflight(&config, &secrets, &out);
    assert_eq!(code, Some(0), "{text}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(!written.contains("/etc/alertmanager/secrets/"), "{written}");
    assert!(
        written.contains(&format!("smtp_auth_password_file: '{}'", smtp.display()))
            && written.contains(&format!("api_url_file: '{}'", slack.display())),
        "{written}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_down_instance_inhibits_its_warnings_in_a_real_alertmanager() {
    let (Some(amtool), Some(binary)) = (tool("amtool"), tool("prometheus-alertmanager")) else {
        return;
    };
    let dir = temp_dir("am-inhibit");
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("smtp_password"), "s3cret").unwrap();
    // Notifications go nowhere: a closed loopback port (the routing is what is tested here).
    std::fs::write(
        secrets.join("slack_webhook_url"),
        "http://127.0.0.1:9/slack\n",
    )
    .unwrap();
    let config = dir.join("alertmanager.yml");
    let (code, text) = preflight(&deploy_file("alertmanager.yml"), &secrets, &config);
    assert_eq!(code, Some(0), "{text}");
    let local = std::fs::read_to_string(&config)
        .unwrap()
        .replace("smtp.gmail.com:587", "127.0.0.1:9");
    std::fs::write(&config, local).unwrap();
    let (_alertmanager, addr) = start_alertmanager(&binary, &config, &dir);

    let add = |labels: &[&str]| {
        let output = Command::new(&amtool)
            .args(["alert", "add"])
            .arg(format!("--alertmanager.url=http://{addr}"))
            .args(labels)
            .output()
            .expect("amtool runs");
        assert!(output.status.success(), "{output:?}");
    };
    add(&[
        "alertname=ServiceDown",
        "severity=critical",
        "instance=a:9090",
    ]);
    add(&[
        "alertname=HighCPUUsage",
        "severity=warning",
        "instance=a:9090",
    ]);
    add(&[
        "alertname=HighCPUUsage",
        "severity=warning",
        "instance=b:9090",
    ]);
    add(&[
        "alertname=HighErrorRate",
        "severity=critical",
        "instance=a:9090",
    ]);

    let states = wait_for(
        "the four alerts with their inhibition worked out",
        Duration::from_secs(20),
        || {
            let alerts = alertmanager_alerts(&addr)?;
            let state = |name: &str, instance: &str| {
                alerts
                    .iter()
                    .find(|a| {
                        a["labels"]["alertname"] == name && a["labels"]["instance"] == instance
                    })
                    .map(|a| {
                        (
                            a["status"]["state"].as_str().unwrap_or("").to_owned(),
                            a["status"]["inhibitedBy"].as_array().map_or(0, Vec::len),
                        )
                    })
            };
            let states = [
                state("ServiceDown", "a:9090")?,
                state("HighCPUUsage", "a:9090")?,
                state("HighCPUUsage", "b:9090")?,
                state("HighErrorRate", "a:9090")?,
            ];
            (states[1].0 == "suppressed").then_some(states)
        },
    );
    assert_eq!(states[0].0, "active", "ServiceDown itself notifies");
    assert_eq!(
        states[1],
        ("suppressed".to_owned(), 1),
        "a's warning is inhibited"
    );
    assert_eq!(states[2].0, "active", "b is up: its warning notifies");
    assert_eq!(
        states[3].0, "active",
        "critical alerts of a are not inhibited"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
