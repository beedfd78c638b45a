//! `moai-flow` replicas on a database URL, with what each acknowledged and logged.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::{Reaped, get, sample};
use moai_test_support::postgres::Postgres;

/// A running `moai-flow` on `url`: its metrics address, and the event ids it logged as stored.
pub(crate) struct Replica {
    pub(crate) process: Reaped,
    pub(crate) addr: String,
    pub(crate) acknowledged: Arc<Mutex<Vec<String>>>,
    pub(crate) lines: Arc<Mutex<Vec<String>>>,
    /// Reads stdout until the process closes it.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Replica {
    /// Stops the replica with SIGTERM and waits until it has exited and every line it wrote has
    /// been read: from then on, its acknowledged events are all it will ever acknowledge.
    pub(crate) fn stop(&mut self) {
        super::stop_app(&mut self.process);
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the stdout reader");
        }
    }
}

pub(crate) fn start_replica(url: &str, args: &[&str]) -> Replica {
    start_replica_with(url, args, &[])
}

/// [`start_replica`] with more environment variables.
pub(crate) fn start_replica_with(url: &str, args: &[&str], env: &[(&str, &str)]) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(args)
        .env("MOAI_DB_URL", url)
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", "none")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start moai-flow");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = child.stderr.take().unwrap();
    let process = Reaped(child);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = mpsc::channel();
    let (acked, all) = (Arc::clone(&acknowledged), Arc::clone(&lines));
    let reader = std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Ok(json) = serde_json::from_str::<Value>(&line) {
                if let Some(a) = json["metrics_addr"].as_str() {
                    let _ = addr_tx.send(a.to_owned());
                }
                if let Some(id) = json["event_id"].as_str() {
                    acked.lock().unwrap().push(id.to_owned());
                }
            }
            all.lock().unwrap().push(line);
        }
    });
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        if !text.is_empty() {
            eprintln!("moai-flow stderr: {text}");
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("moai-flow names its metrics address");
    Replica {
        process,
        addr,
        acknowledged,
        lines,
        reader: Some(reader),
    }
}

pub(crate) fn metric(addr: &str, series: &str) -> Option<f64> {
    let (status, body) = get(addr, "/metrics").ok()?;
    (status == 200).then(|| sample(&body, series))?
}

pub(crate) fn acknowledged(replica: &Replica) -> usize {
    replica.acknowledged.lock().unwrap().len()
}

/// The `event_id`s stored in the `swarm` database on `pg`.
pub(crate) fn stored_event_ids(pg: &Postgres) -> std::collections::HashSet<String> {
    pg.psql(
        "swarm",
        "SELECT string_agg(event_id, ',') FROM agent_events",
    )
    .split(',')
    .map(str::to_owned)
    .collect()
}
