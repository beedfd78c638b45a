//! Database faults: a full disk, a read-only file, a lock held past the busy timeout, a corrupted
//! header, the file deleted while open. Each gives a clear error, a `moai_flow_errors_total`
//! increment and an ERROR line; the health check reports it; nothing committed is lost; nothing
//! panics.

use moai_test_support as common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{http, sample, temp_dir};
use moai_instrument::{Config, Guard, error_chain};
use moai_swarmdb::{CheckKind, HealthChecker};
use moai_swarmdb::{EventType, NewEvent, OpenOptions, SwarmDb, SwarmDbError};
use serde_json::{Value, json};

fn event(agent: &str) -> NewEvent {
    NewEvent::now(EventType::Spawn, agent, "expert", json!({}))
}

/// One `init()` per process: metrics on loopback, JSON lines in a file the tests read.
fn guard() -> &'static Guard {
    static GUARD: OnceLock<Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        Config::new()
            .metrics_addr("127.0.0.1:0")
            .log_dir(Some(temp_dir("db-faults-logs")))
            .log_filter("error")
            .init()
            .expect("init")
    })
}

/// Drops the application's only database and waits until it is closed: the SDK's check round,
/// woken when the database opened, may hold a clone for a moment. The last connection to close
/// folds the WAL into the file and removes it, so the WAL's absence says the file is closed.
fn close(db: SwarmDb) {
    let wal = format!("{}-wal", db.path().unwrap().display());
    drop(db);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&wal).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the database is still open 10 s after its last handle dropped"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Tests that count `moai_flow_errors_total{operation="insert_event"}` take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn errors(operation: &str) -> f64 {
    let body = http(
        guard().metrics_addr().expect("the exporter listens"),
        "GET",
        "/metrics",
        &[],
    )
    .2;
    sample(
        &body,
        &format!(r#"moai_flow_errors_total{{operation="{operation}"}}"#),
    )
    .unwrap_or(0.0)
}

fn error_lines(needle: &str) -> Vec<Value> {
    guard().flush_logs();
    let text = std::fs::read_to_string(guard().log_file().unwrap()).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == "ERROR" && l.to_string().contains(needle))
        .collect()
}

#[test]
fn a_lock_held_past_the_busy_timeout() {
    if !common::own_process() {
        return;
    }
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    guard();
    let dir = temp_dir("db-lock");
    let path = dir.join("swarm.db");
    let db = OpenOptions::new()
        .busy_timeout(Duration::from_millis(200))
        .open(&path)
        .unwrap();
    let kept = db.insert_event(&event("before")).unwrap();
    let before = errors("insert_event");
    let lock = common::LockedDatabase::hold(&path, false);
    let err = db.insert_event(&event("during")).unwrap_err();
    assert!(
        error_chain(&err).contains("locked by another connection past the busy timeout"),
        "{err}"
    );
    assert_eq!(errors("insert_event"), before + 1.0);
    assert!(!error_lines("locked by another connection").is_empty());
    // Reads go on beside the writer's lock (WAL): a probe opens without a write lock; the
    // database check, which proves writes, fails.
    let probe = HealthChecker::for_path(&path);
    let agents = probe.check(CheckKind::Agents);
    assert!(agents.is_healthy(), "{agents:?}");
    let database = probe.check(CheckKind::Database);
    assert!(!database.is_healthy(), "{database:?}");
    assert!(database.message.contains("locked"), "{database:?}");
    lock.commit();
    let after = db.insert_event(&event("after")).unwrap();
    let ids = common::stored_event_ids(&path);
    assert!(ids.contains(&kept) && ids.contains(&after));
}

#[test]
fn the_file_deleted_while_open() {
    if !common::own_process() {
        return;
    }
    guard();
    let dir = temp_dir("db-deleted");
    let path = dir.join("swarm.db");
    let db = SwarmDb::open(&path).unwrap();
    db.insert_event(&event("a")).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let err = db.get_database_size().unwrap_err();
    assert!(matches!(err, SwarmDbError::FileMissing { .. }), "{err}");
    assert!(err.to_string().contains("was deleted or moved while open"));
    assert!(errors("get_database_size") >= 1.0);
    assert!(!error_lines("was deleted or moved while open").is_empty());
    let check = HealthChecker::new(&db).check(CheckKind::Database);
    assert!(
        !check.is_healthy() && check.message.contains("deleted"),
        "{check:?}"
    );
}

#[test]
fn a_corrupted_header() {
    if !common::own_process() {
        return;
    }
    guard();
    let dir = temp_dir("db-corrupt");
    let path = dir.join("swarm.db");
    let db = SwarmDb::open(&path).unwrap();
    db.insert_event(&event("a")).unwrap();
    close(db);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..16].copy_from_slice(b"definitely wrong");
    std::fs::write(&path, bytes).unwrap();
    let err = SwarmDb::open(&path).unwrap_err();
    assert!(
        error_chain(&err).contains("not a SQLite database or is corrupted"),
        "{err}"
    );
    let check = HealthChecker::for_path(&path).check(CheckKind::Database);
    assert!(
        !check.is_healthy() && check.message.contains("corrupted"),
        "{check:?}"
    );
}

#[test]
fn a_read_only_file() {
    if !common::own_process() {
        return;
    }
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    guard();
    let dir = temp_dir("db-readonly");
    let path = dir.join("swarm.db");
    let db = SwarmDb::open(&path).unwrap();
    let kept = db.insert_event(&event("a")).unwrap();
    close(db);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let chattr = root.then(|| common::tool("chattr").expect("a missing tool fails in tool()"));
    if let Some(chattr) = &chattr {
        // Root ignores permission bits: the immutable attribute makes the file read-only for all.
        let output = Command::new(chattr).arg("+i").arg(&path).output().unwrap();
        assert!(
            output.status.success(),
            "chattr +i {}: {}; this test needs a temp directory on a filesystem with the \
             immutable attribute (ext4, xfs, btrfs): set TMPDIR to one",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    } else {
        let mut read_only = std::fs::metadata(&path).unwrap().permissions();
        read_only.set_readonly(true);
        std::fs::set_permissions(&path, read_only).unwrap();
    }
    let result = SwarmDb::open(&path).and_then(|db| db.insert_event(&event("b")));
    if let Some(chattr) = &chattr {
        let _ = Command::new(chattr).arg("-i").arg(&path).status();
    }
    let err = result.unwrap_err();
    let text = error_chain(&err);
    assert!(
        text.contains("read-only")
            || text.contains("permission")
            || text.contains("cannot be opened"),
        "{text}"
    );
    assert_eq!(common::stored_event_ids(&path), [kept]);
}

/// Run as a child with a file size limit: inserts until the disk is "full", then reports.
#[test]
fn child_with_a_file_size_limit() {
    let Ok(path) = std::env::var("MOAI_CHILD_FULL_DB") else {
        return;
    };
    // SAFETY: plain libc calls on this process: ignore SIGXFSZ so that writes past the limit fail
    // with EFBIG instead of killing the process, then lower the file size limit.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit {
            rlim_cur: 1024 * 1024,
            rlim_max: 1024 * 1024,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    guard();
    let db = SwarmDb::open(&path).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let big = NewEvent {
            metadata: json!({"padding": "x".repeat(2000), "i": i}),
            ..event("full")
        };
        match db.insert_event(&big) {
            Ok(id) => writeln!(out, "committed {id}").unwrap(),
            Err(err) => {
                let check = HealthChecker::new(&db).check(CheckKind::Database);
                let report = json!({
                    "error": error_chain(&err),
                    "errors_total": errors("insert_event"),
                    "error_lines": error_lines("Failed to insert_event").len(),
                    "database_check_healthy": check.is_healthy(),
                    "database_check": check.message,
                });
                writeln!(out, "failed {report}").unwrap();
                break;
            }
        }
    }
}

#[test]
fn a_full_disk() {
    let dir = temp_dir("db-full");
    let path = dir.join("swarm.db");
    let mut child = common::child_test(common::test_name!("child_with_a_file_size_limit"))
        .env("MOAI_CHILD_FULL_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut committed = Vec::new();
    let mut report = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("committed ") {
            committed.push(id.to_owned());
        } else if let Some(json) = line.strip_prefix("failed ") {
            report = Some(serde_json::from_str::<Value>(json).unwrap());
        }
    }
    assert!(child.wait().unwrap().success());
    let report = report.expect("the child hit the limit and reported");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("insert_event failed")
            && (error.contains("disk is full") || error.contains("I/O")),
        "{error}"
    );
    assert_eq!(report["errors_total"], 1.0);
    assert_eq!(report["database_check_healthy"], false, "{report}");
    assert!(report["error_lines"].as_u64().unwrap() >= 1);
    assert!(
        committed.len() > 10,
        "{} rows before the limit",
        committed.len()
    );
    let stored = common::stored_event_ids(&path);
    for id in &committed {
        assert!(stored.contains(id), "committed {id} survived the full disk");
    }
    // Without the limit the same file takes writes again.
    let db = SwarmDb::open(&path).unwrap();
    db.insert_event(&event("after")).unwrap();
}
