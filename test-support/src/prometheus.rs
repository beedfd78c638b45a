//! A real Prometheus server on loopback that scrapes one target every second, ended (by its
//! process id) and its data directory removed when dropped, whether the test passes or fails.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub use crate::process::wait_for;

use crate::http::{encode, http};
use crate::process::temp_dir;
use crate::tools::{spawn_prometheus, tool};

/// The running server; ended and its data removed when dropped.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` as the job `job` every second, and waits until it
    /// serves its API. A missing `prometheus` fails the test with the command that
    /// installs it (never `None`).
    pub fn start(job: &str, target: SocketAddr) -> Option<Prometheus> {
        Prometheus::start_with(job, target, "")
    }

    /// [`Prometheus::start`], with `job_settings` (YAML lines indented by four spaces, such as
    /// `    scheme: https\n`) added to the scrape job.
    pub fn start_with(job: &str, target: SocketAddr, job_settings: &str) -> Option<Prometheus> {
        Prometheus::start_with_features(job, target, job_settings, &[])
    }

    /// [`Prometheus::start_with`], with feature flags (`native-histograms`, `exemplar-storage`:
    /// each becomes `--enable-feature=...`).
    pub fn start_with_features(
        job: &str,
        target: SocketAddr,
        job_settings: &str,
        features: &[&str],
    ) -> Option<Prometheus> {
        Prometheus::launch(job, target, job_settings, features, &[])
    }

    /// [`Prometheus::start_with_features`], evaluating the rule files `rules` every second: each
    /// is copied with its groups' `interval: 30s` made `1s`, so a rule goes pending within
    /// seconds (its `for:` keeps it from firing).
    pub fn start_with_rules(
        job: &str,
        target: SocketAddr,
        features: &[&str],
        rules: &[&Path],
    ) -> Option<Prometheus> {
        Prometheus::launch(job, target, "", features, rules)
    }

    fn launch(
        job: &str,
        target: SocketAddr,
        job_settings: &str,
        features: &[&str],
        rules: &[&Path],
    ) -> Option<Prometheus> {
        let binary = tool("prometheus")?;
        let dir = temp_dir(&format!("prometheus-{job}"));
        let mut rule_files = String::new();
        for (i, rule_file) in rules.iter().enumerate() {
            let text = std::fs::read_to_string(rule_file)
                .unwrap_or_else(|e| panic!("{}: {e}", rule_file.display()))
                .replace("interval: 30s", "interval: 1s");
            let name = format!("rules-{i}.yml");
            std::fs::write(dir.join(&name), text).unwrap();
            rule_files.push_str(&format!("  - {name}\n"));
        }
        if !rule_files.is_empty() {
            rule_files = format!("rule_files:\n{rule_files}");
        }
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             {rule_files}\
             scrape_configs:\n  - job_name: {job}\n{job_settings}    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        // A free port: bound, read, released; Prometheus takes it a moment later.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let mut child =
            spawn_prometheus(&binary, &dir, &addr.to_string(), features, Stdio::piped());
        // Its log says when the API is up; the rest of the log is drained so it never blocks.
        let (ready, is_ready) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.contains("Server is ready to receive web requests") {
                    let _ = ready.send(());
                }
            }
        });
        let prometheus = Prometheus { child, addr, dir };
        is_ready
            .recv_timeout(Duration::from_secs(30))
            .expect("Prometheus is ready within 30 s");
        Some(prometheus)
    }

    /// The JSON answer of `GET path` on Prometheus' API.
    pub fn api(&self, path: &str) -> Value {
        let (status, _, body) = http(self.addr, "GET", path, &[]);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    /// The value of an instant query that returns one series, if it returns one.
    pub fn value(&self, promql: &str) -> Option<f64> {
        let answer = self.api(&format!("/api/v1/query?query={}", encode(promql)));
        let result = answer["data"]["result"].as_array()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// The state (`pending`, `firing`) of the alert `alertname`, if it is active.
    pub fn alert_state(&self, alertname: &str) -> Option<String> {
        crate::servers::alert_state(&self.addr.to_string(), alertname)
    }

    /// The scrape target of `job` as `/api/v1/targets` reports it (`health`, `lastError`, ...).
    pub fn target(&self, job: &str) -> Option<Value> {
        let answer = self.api("/api/v1/targets");
        answer["data"]["activeTargets"]
            .as_array()?
            .iter()
            .find(|t| t["labels"]["job"] == job)
            .cloned()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
