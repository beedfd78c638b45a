//! Every file in deploy/ is accepted by the real tool that reads it, and names only what the SDK
//! and the app really provide: metrics from the catalog, the probe binary and its flags, the log
//! file's path.

mod support;
use moai_test_support::tools;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use moai_instrument::Config;
use moai_instrument::catalog::{CATALOG, MetricKind};
use serde_json::Value;
use support::temp_dir;
use tools::tool;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file)
}

fn run_ok(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .expect("the tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{} {args:?} failed:\n{text}",
        program.display()
    );
    text
}

fn yaml(file: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(deploy(file)).unwrap())
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Metric names in a PromQL expression that belong to the SDK or to the exporters beside it.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut token = String::new();
    let mut in_string = false;
    for c in expr.chars().chain([' ']) {
        if c == '"' {
            in_string = !in_string;
            token.clear();
            continue;
        }
        if !in_string && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            token.push(c);
            continue;
        }
        if ["moai_", "process_", "node_"]
            .iter()
            .any(|p| token.starts_with(p))
            || token == "up"
        {
            names.insert(token.clone());
        }
        token.clear();
    }
    names
}

/// Whether the SDK exports `name`, read from its catalog (histograms also as `_bucket`, `_sum`,
/// `_count`); `up` and node-exporter metrics come from Prometheus and node-exporter.
fn exported(name: &str) -> bool {
    if name == "up" || name.starts_with("node_") {
        return true;
    }
    CATALOG.iter().any(|spec| {
        spec.name == name
            || (spec.kind == MetricKind::Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| name == format!("{}{suffix}", spec.name)))
    })
}

fn promtool() -> Option<PathBuf> {
    tool("promtool")
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let Some(promtool) = promtool() else { return };
    let text = run_ok(
        &promtool,
        &[
            "check",
            "config",
            deploy("prometheus.yml").to_str().unwrap(),
        ],
    );
    assert!(text.contains("SUCCESS: 2 rule files found"), "{text}");
    for rules in RULE_FILES {
        run_ok(
            &promtool,
            &["check", "rules", deploy(rules).to_str().unwrap()],
        );
    }
    // The PostgreSQL-mode rules (on the exporter's metrics; run by prometheus_e2e.rs).
    let pg = run_ok(
        &promtool,
        &[
            "check",
            "rules",
            deploy("postgres_rules.yml").to_str().unwrap(),
        ],
    );
    assert!(pg.contains("SUCCESS: 3 rules found"), "{pg}");
    let config = yaml("prometheus.yml");
    let jobs: Vec<&str> = config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["moai-flow", "node-exporter", "postgresql"]);
    assert_eq!(
        config["scrape_configs"][0]["static_configs"][0]["targets"][0],
        "localhost:9090"
    );
    assert_eq!(
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
        "localhost:9093"
    );
}

/// The shipped rule files and their promtool unit tests.
const RULE_FILES: [&str; 2] = ["alert_rules.yml", "slo_rules.yml"];
const RULE_TESTS: [&str; 2] = ["alert_rules.test.yml", "slo_rules.test.yml"];

/// Every rule of every group of the shipped rule files.
fn shipped_rules() -> Vec<serde_yaml_ng::Value> {
    RULE_FILES
        .iter()
        .flat_map(|file| {
            yaml(file)["groups"]
                .as_sequence()
                .unwrap()
                .iter()
                .flat_map(|g| g["rules"].as_sequence().unwrap().clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_alert_has_unit_tests_that_pass() {
    let Some(promtool) = promtool() else { return };
    for tests in RULE_TESTS {
        let text = run_ok(
            &promtool,
            &["test", "rules", deploy(tests).to_str().unwrap()],
        );
        assert!(text.contains("SUCCESS"), "{text}");
    }
    let rules = shipped_rules();
    let alerts: BTreeSet<String> = rules
        .iter()
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect();
    let guide = [
        "HighErrorRate",
        "DatabaseSizeGrowing",
        "HighQueryLatency",
        "ServiceDown",
        "HighCPUUsage",
        "HighMemoryUsage",
        "DiskSpaceLow",
    ];
    for alert in guide {
        assert!(alerts.contains(alert), "the guide's {alert} is shipped");
    }
    // Each alert is expected to fire somewhere in the tests (exp_alerts non-empty), and each
    // test lists the complete set for its time, so silence elsewhere is checked too.
    let mut fired = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for file in RULE_TESTS {
        for test in yaml(file)["tests"].as_sequence().unwrap() {
            let Some(cases) = test["alert_rule_test"].as_sequence() else {
                continue;
            };
            for case in cases {
                let name = case["alertname"].as_str().unwrap().to_owned();
                match case["exp_alerts"].as_sequence() {
                    Some(list) if !list.is_empty() => fired.insert(name),
                    _ => silent.insert(name),
                };
            }
        }
    }
    // promtool 2.42 has no notation for native histogram input series, so the native-mode
    // alerts fire in a real Prometheus instead (moai-instrument's
    // tests/exposition/native_histograms.rs); here they must stay silent on the other modes.
    let native: BTreeSet<String> = alerts
        .iter()
        .filter(|name| name.ends_with("Native"))
        .cloned()
        .collect();
    assert!(!native.is_empty());
    assert!(
        native.is_subset(&silent),
        "{native:?} stay silent elsewhere"
    );
    let promtool_alerts: BTreeSet<String> = alerts.difference(&native).cloned().collect();
    assert_eq!(
        fired, promtool_alerts,
        "every alert has a test where it fires"
    );
    for rule in &rules {
        if rule["alert"].is_string() {
            let annotations = &rule["annotations"];
            assert!(
                annotations["summary"].is_string() && annotations["description"].is_string(),
                "{rule:?}"
            );
        }
        for name in metric_names(rule["expr"].as_str().unwrap()) {
            assert!(
                exported(&name),
                "rule {:?} names {name}, which nothing exports",
                rule["alert"]
            );
        }
    }
    for alert in ["HighErrorRate", "ServiceDown"]
        .into_iter()
        .chain(SLO_ALERTS.map(|(name, ..)| name))
    {
        assert!(
            silent.contains(alert),
            "{alert} has a case where it stays silent"
        );
    }
}

/// The burn-rate alerts: name, long and short windows, burn rate (SRE workbook).
const SLO_ALERTS: [(&str, &str, &str, &str); 4] = [
    ("AvailabilityBudgetFastBurn", "1h", "5m", "14.4"),
    ("AvailabilityBudgetSlowBurn", "6h", "30m", "6"),
    ("ErrorBudgetFastBurn", "1h", "5m", "14.4"),
    ("ErrorBudgetSlowBurn", "6h", "30m", "6"),
];

#[test]
fn slo_rules_record_every_window_and_burn_at_the_workbook_rates() {
    let rules = shipped_rules();
    let recorded: BTreeSet<String> = rules
        .iter()
        .filter_map(|r| r["record"].as_str().map(str::to_owned))
        .collect();
    for window in ["5m", "30m", "1h", "6h"] {
        for record in [
            format!("job:moai_flow_availability:ratio_{window}"),
            format!("job:moai_flow_errors:ratio_rate{window}"),
            format!("job:moai_flow_query_duration_seconds:p95_{window}"),
        ] {
            assert!(recorded.contains(&record), "{record} is recorded");
        }
        // Latency in every histogram mode.
        let modes: BTreeSet<&str> = rules
            .iter()
            .filter(|r| r["record"] == format!("job:moai_flow_query_duration_seconds:p95_{window}"))
            .map(|r| r["labels"]["histogram"].as_str().unwrap())
            .collect();
        assert_eq!(modes, BTreeSet::from(["buckets", "native", "summary"]));
    }
    for (name, long, short, rate) in SLO_ALERTS {
        let rule = rules
            .iter()
            .find(|r| r["alert"] == name)
            .unwrap_or_else(|| panic!("{name} is shipped"));
        let expr = rule["expr"].as_str().unwrap();
        let budget = format!("({rate} * 0.001)");
        for window in [long, short] {
            let availability = format!(":ratio_{window})");
            let errors = format!(":ratio_rate{window} ");
            assert!(
                expr.lines()
                    .any(|l| l.contains(&budget)
                        && (l.contains(&availability) || l.contains(&errors))),
                "{name} compares its {window} window with {budget}:\n{expr}"
            );
        }
        assert_eq!(rule["labels"]["severity"], "critical", "{name} pages");
    }
}

#[test]
fn alertmanager_config_passes_amtool_and_holds_no_secret() {
    let Some(amtool) = tool("amtool") else { return };
    let text = run_ok(
        &amtool,
        &["check-config", deploy("alertmanager.yml").to_str().unwrap()],
    );
    assert!(
        text.contains("SUCCESS") && text.contains("2 receivers"),
        "{text}"
    );
    let raw = std::fs::read_to_string(deploy("alertmanager.yml")).unwrap();
    for inline_secret in [
        "auth_password:",
        "smtp_auth_password:",
        "api_url:",
        "hooks.slack.com",
        "secret'",
    ] {
        assert!(
            !raw.contains(inline_secret),
            "no inline secret ({inline_secret})"
        );
    }
    assert!(raw.contains("smtp_auth_password_file:") && raw.contains("api_url_file:"));
    let config = yaml("alertmanager.yml");
    assert_eq!(config["route"]["group_by"][0], "alertname");
    assert_eq!(config["route"]["repeat_interval"], "12h");
}

#[test]
fn dashboard_is_importable_and_queries_only_exported_metrics() {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/moai-flow.json")).unwrap())
            .unwrap();
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["type"] == "datasource" && v["name"] == "datasource")
    );
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Active Agents",
            "Event Rate",
            "Query Latency (P95)",
            "Database Size",
            "Error Rate",
            "CPU Usage",
            "Memory Usage"
        ]
    );
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut queries = 0;
    for (i, panel) in panels.iter().enumerate() {
        let kind = panel["type"].as_str().unwrap();
        assert!(
            ["timeseries", "gauge", "stat", "bargauge"].contains(&kind),
            "current panel type, not {kind}"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        for (j, target) in panel["targets"].as_array().unwrap().iter().enumerate() {
            let expr = target["expr"].as_str().unwrap();
            queries += 1;
            for name in metric_names(expr) {
                assert!(
                    exported(&name),
                    "panel {:?} names {name}, which nothing exports",
                    panel["title"]
                );
            }
            rules.push_str(&format!(
                "      - record: dashboard:panel_{i}_{j}\n        expr: {}\n",
                serde_json::to_string(expr).unwrap()
            ));
        }
    }
    // promtool parses every query, as Prometheus would when Grafana sends it.
    let Some(promtool) = promtool() else { return };
    let dir = temp_dir("dashboard");
    let file = dir.join("dashboard_rules.yml");
    std::fs::write(&file, rules).unwrap();
    let text = run_ok(&promtool, &["check", "rules", file.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        text.contains(&format!("SUCCESS: {queries} rules found")),
        "{text}"
    );
    // The latency panel has a query for each histogram mode.
    let latency = panels
        .iter()
        .find(|p| p["title"] == "Query Latency (P95)")
        .unwrap();
    let exprs: Vec<&str> = latency["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert!(
        exprs.iter().any(|e| e.contains("quantile=\"0.95\""))
            && exprs.iter().any(|e| e.contains("_bucket"))
            && exprs
                .iter()
                .any(|e| e.contains("rate(moai_flow_query_duration_seconds{")),
        "{exprs:?}"
    );
    // Gauges read from SwarmDB: replicas sharing one database must not add up.
    for target in panels.iter().flat_map(|p| p["targets"].as_array().unwrap()) {
        let expr = target["expr"].as_str().unwrap();
        if expr.contains("moai_flow_agents_active") || expr.contains("moai_flow_db_size_bytes") {
            assert!(expr.starts_with("max by (job)"), "{expr}");
        }
    }
}

/// The probes of the app in both manifests, and the path each asks.
const PROBES: [(&str, &str); 3] = [
    ("livenessProbe", "/livez"),
    ("readinessProbe", "/readyz"),
    ("startupProbe", "/livez"),
];

/// Each of [`PROBES`] is an `httpGet` of its path on the named `metrics` port, not a command.
fn assert_http_probes(container: &serde_yaml_ng::Value) {
    for (probe, path) in PROBES {
        let http = &container[probe]["httpGet"];
        assert_eq!(http["path"], path, "{probe}");
        assert_eq!(
            http["port"], "metrics",
            "{probe} uses the named metrics port"
        );
        assert!(container[probe].get("exec").is_none(), "{probe}");
    }
}

#[test]
fn kubernetes_probes_ask_the_app_on_paths_it_serves() {
    let text = std::fs::read_to_string(deploy("k8s/deployment.yaml")).unwrap();
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML document"))
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Deployment", "Service"]);
    let deployment = &docs[0];
    // SQLite mode: one replica (each pod's file is its own swarm); k8s/postgres.yaml runs three.
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"];
    assert_eq!(pod["metadata"]["annotations"]["prometheus.io/port"], "9090");
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 9090);
    assert_eq!(container["ports"][0]["name"], "metrics");
    let env = |name: &str| -> String {
        container["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(env("MOAI_METRICS_ADDR"), "0.0.0.0:9090");
    assert_eq!(env("MOAI_HEALTH_INTERVAL"), "30s");
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    let mounted = |path: &str| mounts.iter().any(|m| path.starts_with(m));
    assert!(
        mounted(&env("MOAI_DB_PATH")) && mounted(&env("MOAI_LOG_DIR")),
        "{mounts:?}"
    );
    assert!(container["resources"]["limits"]["memory"].is_string());

    // The kubelet's requests, against the running app: each path answers 200 within its timeout.
    let dir = temp_dir("k8s-probes");
    let (app, addr) = support::start_app(&dir, "127.0.0.1:0", &["--agents", "3", "--rate", "20"]);
    assert_http_probes(container);
    for (probe, path) in PROBES {
        let timeout = container[probe]["timeoutSeconds"].as_u64().unwrap();
        let started = std::time::Instant::now();
        let (status, body) = support::get(&addr, path).unwrap();
        assert_eq!(status, 200, "{probe}: {body}");
        assert!(
            started.elapsed().as_secs() < timeout,
            "{probe} answers within its timeout"
        );
    }
    assert_eq!(docs[1]["spec"]["ports"][0]["port"], 9090);
    assert_eq!(docs[1]["spec"]["ports"][0]["targetPort"], "metrics");
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn filebeat_and_logrotate_read_the_file_the_sdk_writes() {
    let filebeat = yaml("filebeat.yml");
    let input = &filebeat["filebeat.inputs"][0];
    let paths: Vec<&str> = input["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let log_file = format!("/var/log/moai-flow/{}", Config::LOG_FILE_NAME);
    assert!(paths.contains(&log_file.as_str()), "{paths:?}");
    assert!(
        input["parsers"][0]["ndjson"]["target"] == "",
        "JSON keys at the top level"
    );
    let logrotate = std::fs::read_to_string(deploy("logrotate/moai-flow")).unwrap();
    assert!(logrotate.contains(&format!("{log_file} {{")), "{logrotate}");
    for directive in [
        "daily",
        "rotate 7",
        "compress",
        "delaycompress",
        "create 0644",
    ] {
        assert!(
            logrotate.lines().any(|l| l.trim() == directive),
            "{directive}"
        );
    }
}

/// logrotate itself, renaming the file while the app appends (MOAI_LOG_ROTATION=external): every
/// line ends up exactly once in the rotated and current files.
#[test]
fn logrotate_loses_no_line_of_a_running_app() {
    let Some(logrotate) = tool("logrotate") else {
        return;
    };
    let dir = temp_dir("logrotate");
    let logs = dir.join("logs");
    let config = std::fs::read_to_string(deploy("logrotate/moai-flow"))
        .unwrap()
        .replace("/var/log/moai-flow/", &format!("{}/", logs.display()));
    std::fs::write(dir.join("moai-flow.conf"), config).unwrap();
    let app = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(["--agents", "3", "--rate", "200", "--duration-secs", "3"])
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", &logs)
        .env("MOAI_LOG_ROTATION", "external")
        .env("MOAI_DB_PATH", dir.join("swarm.db"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let state = dir.join("state");
    run_ok(
        &logrotate,
        &[
            "--force",
            "--state",
            state.to_str().unwrap(),
            dir.join("moai-flow.conf").to_str().unwrap(),
        ],
    );
    let output = app.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let rotated = std::fs::read(logs.join("moai-flow.log.1"))
        .expect("logrotate rotated the file (delaycompress)");
    let current = std::fs::read(logs.join(Config::LOG_FILE_NAME)).unwrap();
    assert!(!rotated.is_empty() && !current.is_empty());
    let both = format!(
        "{}{}",
        String::from_utf8(rotated).unwrap(),
        String::from_utf8(current).unwrap()
    );
    assert_eq!(
        both.lines().count(),
        stdout.lines().count(),
        "every stdout line is in the files once"
    );
    for line in both.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

/// PostgreSQL mode: three replicas on one server, the URL from a Secret (no password in the
/// file), the probes on the app's endpoints, and the guide's `postgresql` exporter on :9187.
#[test]
fn kubernetes_postgres_mode_takes_the_url_from_a_secret() {
    let text = std::fs::read_to_string(deploy("k8s/postgres.yaml")).unwrap();
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML document"))
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Deployment", "Service", "Deployment", "Service"]);
    let app = &docs[0]["spec"];
    assert_eq!(app["replicas"], 3);
    let container = &app["template"]["spec"]["containers"][0];
    let env = container["env"].as_sequence().unwrap();
    let url = env
        .iter()
        .find(|e| e["name"] == "MOAI_DB_URL")
        .expect("MOAI_DB_URL");
    assert_eq!(url["valueFrom"]["secretKeyRef"]["name"], "moai-flow-db");
    assert!(url.get("value").is_none(), "the URL is inline");
    assert!(!env.iter().any(|e| e["name"] == "MOAI_DB_PATH"));
    // The same probes as the SQLite mode: the app's own endpoints on its metrics port.
    assert_http_probes(container);
    assert_eq!(container["ports"][0]["name"], "metrics");
    assert_eq!(container["ports"][0]["containerPort"], 9090);
    let exporter = &docs[2]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(exporter["ports"][0]["containerPort"], 9187);
    assert_eq!(
        exporter["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        "moai-flow-db"
    );
    // The guide's prometheus.yml scrapes that exporter as the `postgresql` job.
    let prometheus = yaml("prometheus.yml");
    let job = prometheus["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "postgresql")
        .expect("a postgresql job");
    assert!(
        job["static_configs"][0]["targets"][0]
            .as_str()
            .unwrap()
            .ends_with(":9187")
    );
    // No secret in the file: only the placeholder in the comment shows how to make the Secret.
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(!line.contains("postgres://"), "inline URL: {line}");
    }
}
