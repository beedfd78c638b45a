//! Shared by the workspace's end-to-end tests: plain HTTP on loopback, temp directories, and child
//! processes that end when the test does.
#![allow(dead_code)]

pub mod sinks;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `GET path` on `addr` with a fresh connection: `(status, body)`.
pub fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// The value of the sample line `series` in an exposition.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moai-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A child process that is killed and reaped when dropped, whatever the test's outcome.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `moai-health` binary that `cargo test --workspace` builds beside `moai-flow` (a binary of
/// another package, which `CARGO_BIN_EXE_*` does not name).
pub fn moai_health() -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_moai-flow")).with_file_name("moai-health");
    assert!(
        path.exists(),
        "build the workspace first (cargo test --workspace builds moai-health): {}",
        path.display()
    );
    path
}

/// Polls `probe` every 250 ms until it returns `Some`, failing after `limit` with `what`.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

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

pub fn alert_state(prometheus: &str, alertname: &str) -> Option<String> {
    let (_, body) = get(prometheus, "/api/v1/alerts").ok()?;
    let json: Value = serde_json::from_str(&body).ok()?;
    json["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == alertname)
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `moai-flow` with `args`, its exporter on `addr` (`127.0.0.1:0` for any free port), its
/// database and logs in `dir`: the running app (killed when dropped) and the address it serves.
pub fn start_app(dir: &std::path::Path, addr: &str, args: &[&str]) -> (Reaped, String) {
    start_app_with(dir, addr, args, &[])
}

/// [`start_app`] with more environment variables (`MOAI_DB_URL` for SwarmDB on PostgreSQL,
/// which the app takes over the file).
pub fn start_app_with(
    dir: &std::path::Path,
    addr: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Reaped, String) {
    use std::io::{BufRead, BufReader};
    let mut app = std::process::Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(args)
        .env("MOAI_METRICS_ADDR", addr)
        .env("MOAI_LOG_DIR", dir.join("logs"))
        .env("MOAI_DB_PATH", dir.join("swarm.db"))
        .env("RUST_LOG", "warn,moai_instrument=info")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start moai-flow");
    let mut lines = BufReader::new(app.stdout.take().unwrap()).lines();
    let app = Reaped(app);
    let served = lines
        .by_ref()
        .find_map(|l| {
            serde_json::from_str::<Value>(&l.ok()?).ok()?["metrics_addr"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("the app names its address");
    // Keep reading stdout so that the app never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (app, served)
}

/// Stops the app with SIGTERM, as a service manager would, and waits for a clean exit.
pub fn stop_app(app: &mut Reaped) {
    // SAFETY: signalling our own child process by its pid.
    unsafe { libc::kill(app.0.id() as libc::pid_t, libc::SIGTERM) };
    assert!(app.0.wait().unwrap().success(), "the app exits cleanly");
}

/// The shipped `deploy/` file `name`.
pub fn deploy_file(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

/// Runs `deploy/alertmanager-preflight.sh` on `config` with the secrets in `secrets_dir`, writing
/// `out`: its exit code and what it printed.
pub fn preflight(
    config: &std::path::Path,
    secrets_dir: &std::path::Path,
    out: &std::path::Path,
) -> (Option<i32>, String) {
    let output = std::process::Command::new("bash")
        .arg(deploy_file("alertmanager-preflight.sh"))
        .arg(config)
        .env("ALERTMANAGER_SECRETS_DIR", secrets_dir)
        .env("ALERTMANAGER_CONFIG_OUT", out)
        .output()
        .expect("bash runs the preflight script");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// A real Alertmanager with `config` on a free loopback port, no cluster, its data in `dir`:
/// the process (killed when dropped) and its `host:port`, once it is ready.
pub fn start_alertmanager(
    binary: &std::path::Path,
    config: &std::path::Path,
    dir: &std::path::Path,
) -> (Reaped, String) {
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
fn start_server(what: &str, binary: &std::path::Path, args: &[String]) -> (Reaped, String) {
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
pub fn start_prometheus(binary: &std::path::Path, dir: &std::path::Path) -> (Reaped, String) {
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
