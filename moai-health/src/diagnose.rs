//! `moai-health --diagnose`: the monitoring guide's Troubleshooting section as a command. It runs
//! the guide's three checks against the running parts and says, for each failure, what is wrong
//! and what to do next:
//!
//! 1. Metrics appear: the exporter answers, its exposition parses, and Prometheus scrapes it
//!    (`up`, no scrape error).
//! 2. Alerts fire: Prometheus loaded its rules (last reload good, every rule healthy, alert rules
//!    present) and sends to an Alertmanager; Alertmanager answers, and which alerts it holds.
//! 3. Dashboard loads (with `--grafana`): Grafana answers and has a Prometheus data source.
//!
//! A check whose precondition failed is not run: the first failure is the one to fix.

use serde_json::Value;

use crate::http::{self, Answer};

/// Where the parts are; the defaults are the guide's ports.
pub(crate) struct Targets {
    pub metrics_url: String,
    pub prometheus: String,
    pub alertmanager: String,
    pub grafana: Option<String>,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            metrics_url: "http://localhost:9090/metrics".into(),
            prometheus: "http://localhost:9091".into(),
            alertmanager: "http://localhost:9093".into(),
            grafana: None,
        }
    }
}

/// The outcome of one check.
struct Finding {
    what: &'static str,
    ok: bool,
    /// What was found: the evidence when it passes, what is wrong when it fails.
    text: String,
    /// The next step, for a failure.
    next: String,
}

fn pass(what: &'static str, text: impl Into<String>) -> Finding {
    Finding {
        what,
        ok: true,
        text: text.into(),
        next: String::new(),
    }
}

fn fail(what: &'static str, text: impl Into<String>, next: impl Into<String>) -> Finding {
    Finding {
        what,
        ok: false,
        text: text.into(),
        next: next.into(),
    }
}

/// Runs every check, prints the findings, and tells whether all passed.
pub(crate) fn run(targets: &Targets) -> bool {
    let sections = [
        ("Metrics appear", metrics_appear(targets)),
        ("Alerts fire", alerts_fire(targets)),
        ("Dashboard loads", dashboard_loads(targets)),
    ];
    let mut failures = 0;
    for (title, findings) in &sections {
        println!("{title}");
        if findings.is_empty() {
            println!("  (not checked: give --grafana URL, and GRAFANA_TOKEN if it needs one)");
        }
        for finding in findings {
            if finding.ok {
                println!("  ✅ {}: {}", finding.what, finding.text);
            } else {
                failures += 1;
                println!("  ❌ {}: {}", finding.what, finding.text);
                println!("     Next step: {}", finding.next);
            }
        }
    }
    if failures == 0 {
        println!("\n✅ Monitoring works end to end");
    } else {
        println!("\n❌ {failures} problem(s) found");
    }
    failures == 0
}

/// `GET url` as JSON, or a failed finding saying it could not be had.
fn json(what: &'static str, url: &str, bearer: Option<&str>, next: &str) -> Result<Value, Finding> {
    let Answer { status, body } =
        http::get(url, bearer).map_err(|e| fail(what, format!("cannot reach {url}: {e}"), next))?;
    if status != 200 {
        return Err(fail(
            what,
            format!("{url} answered {status}: {}", first_line(&body)),
            next,
        ));
    }
    serde_json::from_str(&body)
        .map_err(|e| fail(what, format!("{url} answered no JSON: {e}"), next))
}

/// `name (detail)` from two JSON strings, `?` for a missing one.
fn name_and(name: &Value, detail: &Value) -> String {
    format!(
        "{} ({})",
        name.as_str().unwrap_or("?"),
        detail.as_str().unwrap_or("?")
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

fn metrics_appear(targets: &Targets) -> Vec<Finding> {
    let url = &targets.metrics_url;
    let token = std::env::var("MOAI_METRICS_TOKEN").ok();
    let mut findings = Vec::new();
    let exposition = match http::get(url, token.as_deref()) {
        Err(e) if e.starts_with("TLS failed") => {
            findings.push(fail(
                "exporter reachable",
                format!("{url}: {e}"),
                "the exporter serves TLS from MOAI_WEB_CONFIG: give its CA with --ca-file, and \
                 --cert-file/--key-file when its client_auth_type asks for a client certificate; \
                 an http:// URL on a TLS port gets no metrics",
            ));
            None
        }
        Err(e) => {
            findings.push(fail(
                "exporter reachable",
                format!("cannot reach {url}: {e}"),
                "start the app (moai-flow), or check MOAI_METRICS_ADDR and give its address with \
                 --metrics-url; `curl http://localhost:9090/metrics` must answer",
            ));
            None
        }
        Ok(Answer { status: 401, .. }) => {
            findings.push(fail(
                "exporter reachable",
                format!("{url} refused the credentials (401: authentication failed)"),
                "give a user of the app's web config (basic_auth_users) and its password with \
                 --basic-auth-user and --basic-auth-password-file, or the app's token in \
                 MOAI_METRICS_TOKEN, and check them against the app's (Prometheus needs the same: \
                 basic_auth or authorization in prometheus.yml)",
            ));
            None
        }
        Ok(Answer { status: 200, body }) => {
            findings.push(pass("exporter reachable", format!("{url} answered 200")));
            Some(body)
        }
        Ok(Answer { status, body }) => {
            let next = if body.contains("HTTP request to an HTTPS server") {
                "the exporter serves TLS (MOAI_WEB_CONFIG): give --metrics-url as https://... \
                 with --ca-file"
            } else {
                "give the exporter's /metrics URL with --metrics-url (the app serves /metrics)"
            };
            findings.push(fail(
                "exporter reachable",
                format!("{url} answered {status}: {}", first_line(&body)),
                next,
            ));
            None
        }
    };
    if let Some(body) = exposition {
        findings.push(match check_exposition(&body) {
            Ok(summary) => pass("exposition valid", summary),
            Err(problem) => fail(
                "exposition valid",
                problem,
                "run `curl -s URL | promtool check metrics` for every problem; a host metric \
                 name or label may be at fault",
            ),
        });
    }
    findings.push(target_up(targets));
    findings
}

/// The exposition parses as Prometheus text and carries the SDK's metrics.
fn check_exposition(body: &str) -> Result<String, String> {
    let mut samples = 0;
    let mut families = 0;
    for (number, line) in body.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line:?}", number + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            match words.next() {
                Some("TYPE") => {
                    families += 1;
                    let kind = words.nth(1).ok_or_else(|| bad("TYPE without a type"))?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(bad("unknown TYPE"));
                    }
                }
                Some("HELP") if words.next().is_none() => return Err(bad("HELP without a name")),
                _ => {}
            }
            continue;
        }
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad("no metric name"));
        }
        let rest = &line[name_end..];
        let rest = if rest.starts_with('{') {
            let close = label_set_end(rest).ok_or_else(|| bad("unterminated label set"))?;
            &rest[close + 1..]
        } else {
            rest
        };
        let mut fields = rest.split_whitespace();
        let value = fields.next().ok_or_else(|| bad("no value"))?;
        if value.parse::<f64>().is_err() && !["+Inf", "-Inf", "NaN"].contains(&value) {
            return Err(bad("value is not a number"));
        }
        if let Some(timestamp) = fields.next()
            && timestamp.parse::<i64>().is_err()
        {
            return Err(bad("timestamp is not an integer"));
        }
        samples += 1;
    }
    if !body.contains("\nmoai_flow_build_info{") && !body.starts_with("moai_flow_build_info{") {
        return Err("no moai_flow_build_info: this is not a moai-instrument exporter".into());
    }
    Ok(format!("{samples} samples in {families} metric families"))
}

/// The index of the `}` closing the label set at the start of `text`, skipping quoted values.
fn label_set_end(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// The app's target in Prometheus: present, `up`, and scraped without error.
fn target_up(targets: &Targets) -> Finding {
    const WHAT: &str = "Prometheus scrapes it";
    let url = http::join(&targets.prometheus, "/api/v1/targets?state=active");
    let json = match json(
        WHAT,
        &url,
        None,
        "start Prometheus (`cd deploy && prometheus --config.file=prometheus.yml \
         --web.listen-address=:9091 --storage.tsdb.path=DIR`), or give its URL with --prometheus",
    ) {
        Ok(json) => json,
        Err(finding) => return finding,
    };
    let active = json["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let wanted = same_endpoint(&targets.metrics_url);
    let target = active
        .iter()
        .find(|t| t["scrapeUrl"].as_str().map(same_endpoint) == Some(wanted.clone()))
        .or_else(|| active.iter().find(|t| t["labels"]["job"] == "moai-flow"));
    let Some(target) = target else {
        return fail(
            WHAT,
            format!(
                "Prometheus has no target for {} (and no job \"moai-flow\")",
                targets.metrics_url
            ),
            "add the app under scrape_configs in prometheus.yml (job_name: moai-flow, targets: \
             ['HOST:9090']), then reload Prometheus (SIGHUP or POST /-/reload)",
        );
    };
    let scrape_url = target["scrapeUrl"].as_str().unwrap_or("?");
    let job = target["labels"]["job"].as_str().unwrap_or("?");
    let last_error = target["lastError"].as_str().unwrap_or("");
    match target["health"].as_str() {
        Some("up") if last_error.is_empty() => {
            pass(WHAT, format!("target {scrape_url} (job {job}) is up"))
        }
        Some(health) => fail(
            WHAT,
            format!(
                "target {scrape_url} (job {job}) is {health}{}",
                if last_error.is_empty() {
                    String::new()
                } else {
                    format!(": {last_error}")
                }
            ),
            "make the app reachable from Prometheus at that address (is it running? \
             MOAI_METRICS_ADDR must not be 127.0.0.1 when Prometheus runs elsewhere; a token \
             needs authorization.credentials_file)",
        ),
        None => fail(
            WHAT,
            "the target has no health yet",
            "wait one scrape interval and run again",
        ),
    }
}

/// `host:port/path` of a URL, with `localhost` read as `127.0.0.1`.
fn same_endpoint(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.replacen("localhost", "127.0.0.1", 1)
}

fn alerts_fire(targets: &Targets) -> Vec<Finding> {
    vec![rules_loaded(targets), alertmanager(targets)]
}

/// Prometheus loaded its rule files: the last reload worked, every rule evaluates, and alert
/// rules are among them.
fn rules_loaded(targets: &Targets) -> Finding {
    const WHAT: &str = "alert rules loaded";
    let prometheus = &targets.prometheus;
    let start = "start Prometheus, or give its URL with --prometheus";
    let runtime = match json(
        WHAT,
        &http::join(prometheus, "/api/v1/status/runtimeinfo"),
        None,
        start,
    ) {
        Ok(json) => json,
        Err(finding) => return finding,
    };
    if runtime["data"]["reloadConfigSuccess"] == false {
        return fail(
            WHAT,
            "Prometheus failed to load its configuration or a rule file on the last reload: it \
             still runs the rules it had before",
            "run `promtool check config prometheus.yml` and `promtool check rules \
             alert_rules.yml slo_rules.yml` in deploy/, fix what they name, then reload \
             (SIGHUP or POST /-/reload)",
        );
    }
    let rules = match json(WHAT, &http::join(prometheus, "/api/v1/rules"), None, start) {
        Ok(json) => json,
        Err(finding) => return finding,
    };
    let groups = rules["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let all: Vec<&Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    let alerting = all.iter().filter(|r| r["type"] == "alerting").count();
    if alerting == 0 {
        return fail(
            WHAT,
            format!(
                "{} rules in {} groups, none of them alerts",
                all.len(),
                groups.len()
            ),
            "list alert_rules.yml and slo_rules.yml under rule_files in prometheus.yml (paths \
             relative to it), then reload",
        );
    }
    let broken: Vec<String> = all
        .iter()
        .filter(|r| r["health"] != "ok" && r["health"] != "unknown")
        .map(|r| name_and(&r["name"], &r["lastError"]))
        .collect();
    if !broken.is_empty() {
        return fail(
            WHAT,
            format!("rules failing to evaluate: {}", broken.join("; ")),
            "fix those expressions (try them in the Prometheus UI), check them with `promtool \
             check rules`, then reload",
        );
    }
    let firing: Vec<&str> = all
        .iter()
        .filter(|r| r["state"] == "firing")
        .filter_map(|r| r["name"].as_str())
        .collect();
    pass(
        WHAT,
        format!(
            "{} rules in {} groups, {alerting} alerts, all evaluating; firing: {}",
            all.len(),
            groups.len(),
            if firing.is_empty() {
                "none".to_owned()
            } else {
                firing.join(", ")
            }
        ),
    )
}

/// Alertmanager answers, Prometheus sends to one, and the alerts it holds.
fn alertmanager(targets: &Targets) -> Finding {
    const WHAT: &str = "Alertmanager receives them";
    let base = &targets.alertmanager;
    let start = "start Alertmanager (`cd deploy && ./alertmanager-preflight.sh && \
                 prometheus-alertmanager --config.file=alertmanager.effective.yml`), or give its \
                 URL with --alertmanager";
    if let Err(finding) = json(WHAT, &http::join(base, "/api/v2/status"), None, start) {
        return finding;
    }
    let alerts = match json(WHAT, &http::join(base, "/api/v2/alerts"), None, start) {
        Ok(json) => json.as_array().cloned().unwrap_or_default(),
        Err(finding) => return finding,
    };
    if let Ok(senders) = json(
        WHAT,
        &http::join(&targets.prometheus, "/api/v1/alertmanagers"),
        None,
        "",
    ) && senders["data"]["activeAlertmanagers"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        return fail(
            WHAT,
            format!("Alertmanager answers at {base}, but Prometheus sends alerts to none"),
            "set alerting.alertmanagers in prometheus.yml to Alertmanager's host:port, then \
             reload Prometheus",
        );
    }
    let held: Vec<String> = alerts
        .iter()
        .map(|a| name_and(&a["labels"]["alertname"], &a["status"]["state"]))
        .collect();
    pass(
        WHAT,
        format!(
            "{base} answers; it holds {} alert(s){}{}",
            held.len(),
            if held.is_empty() { "" } else { ": " },
            held.join(", ")
        ),
    )
}

fn dashboard_loads(targets: &Targets) -> Vec<Finding> {
    const WHAT: &str = "Grafana has a Prometheus data source";
    let Some(base) = &targets.grafana else {
        return Vec::new();
    };
    let start = "start Grafana, or give its URL with --grafana";
    let health = match json(WHAT, &http::join(base, "/api/health"), None, start) {
        Ok(json) => json,
        Err(finding) => return vec![finding],
    };
    if health["database"] != "ok" {
        return vec![fail(
            WHAT,
            format!(
                "Grafana at {base} reports its database as {}",
                health["database"]
            ),
            "look at Grafana's log: its own database must be reachable",
        )];
    }
    let token = std::env::var("GRAFANA_TOKEN").ok();
    let url = http::join(base, "/api/datasources");
    let sources = match http::get(&url, token.as_deref()) {
        Ok(Answer { status: 200, body }) => {
            serde_json::from_str::<Value>(&body).unwrap_or(Value::Null)
        }
        Ok(Answer {
            status: 401 | 403, ..
        }) => {
            return vec![fail(
                WHAT,
                format!("{url} needs credentials"),
                "set GRAFANA_TOKEN to a service account token (role Viewer is enough)",
            )];
        }
        Ok(Answer { status, body }) => {
            return vec![fail(
                WHAT,
                format!("{url} answered {status}: {}", first_line(&body)),
                start,
            )];
        }
        Err(e) => return vec![fail(WHAT, format!("cannot reach {url}: {e}"), start)],
    };
    let prometheus: Vec<String> = sources
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "prometheus")
        .map(|s| name_and(&s["name"], &s["url"]))
        .collect();
    if prometheus.is_empty() {
        return vec![fail(
            WHAT,
            format!("Grafana at {base} answers but has no Prometheus data source"),
            format!(
                "add one (Connections > Data sources > Prometheus, URL {}), then import \
                 deploy/grafana/moai-flow.json and pick it in the datasource variable",
                targets.prometheus
            ),
        )];
    }
    vec![pass(WHAT, prometheus.join(", "))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_check_reads_labels_with_braces_and_names_the_bad_line() {
        let good = "# HELP moai_flow_build_info Build\n# TYPE moai_flow_build_info gauge\n\
                    moai_flow_build_info{version=\"0.1.0\"} 1\n\
                    x_total{path=\"/a}b\\\"\"} 2 1700000000000\nup +Inf\n";
        assert_eq!(
            check_exposition(good).unwrap(),
            "3 samples in 1 metric families"
        );
        let bad = format!("{good}broken{{a=\"1\" 2\n");
        assert!(
            check_exposition(&bad)
                .unwrap_err()
                .starts_with("line 6: unterminated label set"),
        );
        let bad = format!("{good}name_only\n");
        assert!(check_exposition(&bad).unwrap_err().contains("no value"));
        assert!(
            check_exposition("up 1\n")
                .unwrap_err()
                .contains("moai_flow_build_info")
        );
    }

    #[test]
    fn endpoints_compare_without_scheme_and_localhost() {
        assert_eq!(
            same_endpoint("http://localhost:9090/metrics"),
            same_endpoint("127.0.0.1:9090/metrics")
        );
    }
}
