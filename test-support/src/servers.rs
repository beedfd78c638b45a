//! Prometheus-project servers (Prometheus, Alertmanager) on free loopback ports, and their APIs.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::http::{encode, get};
use crate::process::{Reaped, free_port, wait_for};

/// The value of an instant query that returns one series.
pub fn query(prometheus: &str, promql: &str) -> Option<f64> {
    let (status, body) = get(
        prometheus,
        &format!("/api/v1/query?query={}", encode(promql)),
    )
    .ok()?;
    let json: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
    let result = json["data"]["result"].as_array()?;
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// The state (`pending`, `firing`) of the alert `alertname` in Prometheus, if it is active.
pub fn alert_state(prometheus: &str, alertname: &str) -> Option<String> {
    let (_, body) = get(prometheus, "/api/v1/alerts").ok()?;
    let json: Value = serde_json::from_str(&body).ok()?;
    json["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == alertname)
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

/// A real Alertmanager with `config` on a free loopback port, no cluster, its data in `dir`:
/// the process (killed when dropped) and its `host:port`, once it is ready.
pub fn start_alertmanager(binary: &Path, config: &Path, dir: &Path) -> (Reaped, String) {
    start_server(
        "Alertmanager",
        binary,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.join("alertmanager").display()),
            // No gossip port: one instance, nothing bound beyond loopback.
            "--cluster.listen-address=".into(),
        ],
    )
}

/// Starts a Prometheus-project server (`binary` with `args`, on a free loopback port, logging
/// warnings only) and waits for its `/-/ready`: the process (killed when dropped) and its address.
fn start_server(what: &str, binary: &Path, args: &[String]) -> (Reaped, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let process = Reaped(
        std::process::Command::new(binary)
            .args(args)
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}")),
    );
    wait_for(
        &format!("{what} to be ready"),
        Duration::from_secs(30),
        || (get(&addr, "/-/ready").ok()?.0 == 200).then_some(()),
    );
    (process, addr)
}

/// The alerts Alertmanager holds (`/api/v2/alerts`).
pub fn alertmanager_alerts(addr: &str) -> Option<Vec<Value>> {
    let (status, body) = get(addr, "/api/v2/alerts").ok()?;
    (status == 200).then_some(())?;
    serde_json::from_str::<Value>(&body)
        .ok()?
        .as_array()
        .cloned()
}

/// A real Prometheus reading `dir/prometheus.yml`, its data in `dir/tsdb`, on a free loopback
/// port with the lifecycle API (for `/-/reload`): the process (killed when dropped) and its
/// `host:port`, once it is ready.
pub fn start_prometheus(binary: &Path, dir: &Path) -> (Reaped, String) {
    start_server(
        "Prometheus",
        binary,
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            "--web.enable-lifecycle".into(),
        ],
    )
}
