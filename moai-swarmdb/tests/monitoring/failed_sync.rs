//! One failed `fdatasync` of the WAL (EIO, injected into the real system call with `strace`;
//! the disk healthy afterwards): the writes it covered and every later one are refused, their
//! errors say the database must be reopened (`ErrorKind::MustReopen`), and liveness fails, so a
//! restart, which reopens it, cures it. Before, `/livez` stayed 200 for good while every write
//! failed with "disk I/O error (... may be full ...)".

use moai_test_support as common;

use std::process::{Command, Stdio};

use common::{http, temp_dir};
use moai_instrument::Config;
use moai_swarmdb::{ErrorKind, EventType, NewEvent, SwarmDb};
use serde_json::{Value, json};

/// Run under `strace` by the test below: writes until a write fails, then reports.
#[test]
fn child_writing_through_a_failed_sync() {
    let Ok(path) = std::env::var("MOAI_CHILD_SYNC_DB") else {
        return;
    };
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<&str>)
        .log_filter("off")
        .init()
        .unwrap();
    let db = SwarmDb::open(&path).unwrap();
    let event = || NewEvent::now(EventType::Spawn, "agent-1", "expert", json!({}));
    let mut acknowledged = 0;
    let first_error = loop {
        match db.insert_event(&event()) {
            Ok(_) => acknowledged += 1,
            Err(error) => break error,
        }
        assert!(acknowledged < 1_000, "no sync failed");
    };
    let later = db.insert_event(&event()).unwrap_err();
    let addr = guard.metrics_addr().unwrap();
    // The check round runs at start and every 30 s; a probe runs the checks now.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (livez, _, livez_body) = http(addr, "GET", "/livez", &[]);
    let report = json!({
        "acknowledged": acknowledged,
        "first_kind": format!("{:?}", first_error.kind()),
        "first": moai_instrument::error_chain(&first_error),
        "later_kind": format!("{:?}", later.kind()),
        "later": moai_instrument::error_chain(&later),
        "must_reopen": db.must_reopen(),
        "livez": livez,
        "livez_body": livez_body,
    });
    println!("report {report}");
}

#[test]
fn a_failed_sync_refuses_writes_says_reopen_and_fails_liveness() {
    let strace = common::tool("strace").expect("strace (.ci/install-test-tools)");
    let dir = temp_dir("failed-sync");
    let path = dir.join("swarm.db");
    drop(SwarmDb::open(&path).unwrap());
    // The 6th fdatasync of the child fails with EIO, once; the disk is fine afterwards.
    let output = Command::new(strace)
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=fdatasync",
            "-e",
        ])
        .arg("inject=fdatasync:error=EIO:when=6")
        .arg(std::env::current_exe().unwrap())
        .args(common::alone(common::test_name!(
            "child_writing_through_a_failed_sync"
        )))
        .env("MOAI_CHILD_SYNC_DB", &path)
        .stdin(Stdio::null())
        .output()
        .expect("run the child under strace");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = stdout
        .lines()
        .find_map(|l| l.split_once("report ").map(|(_, json)| json))
        .map(|json| serde_json::from_str(json).unwrap())
        .unwrap_or_else(|| {
            panic!(
                "the child reported nothing ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(report["acknowledged"].as_u64().unwrap() >= 1, "{report}");
    let must_reopen = format!("{:?}", Some(ErrorKind::MustReopen));
    assert_eq!(report["first_kind"], must_reopen, "{report}");
    assert_eq!(
        report["later_kind"], must_reopen,
        "later writes are refused: {report}"
    );
    for which in ["first", "later"] {
        let text = report[which].as_str().unwrap();
        assert!(
            text.contains("reopened"),
            "{which} says a reopen is needed: {text}"
        );
        assert!(
            !text.contains("may be full"),
            "{which} does not blame a full disk: {text}"
        );
    }
    assert!(report["must_reopen"].is_string(), "{report}");
    assert_eq!(
        report["livez"], 503,
        "liveness fails: a restart cures it: {report}"
    );
    assert!(
        report["livez_body"].as_str().unwrap().contains("swarmdb"),
        "{report}"
    );
    // A restart reopens it: every acknowledged row is there, and it takes writes again.
    let db = SwarmDb::open(&path).unwrap();
    db.insert_event(&NewEvent::now(
        EventType::Spawn,
        "agent-2",
        "expert",
        json!({}),
    ))
    .expect("a reopened database takes writes");
}

#[test]
fn a_database_file_deleted_or_replaced_under_the_app_takes_no_acknowledged_write() {
    if !common::own_process() {
        return;
    }
    let dir = temp_dir("replaced-db");
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(dir.join("logs")))
        .init()
        .unwrap();
    let addr = guard.metrics_addr().unwrap();
    let event = || NewEvent::now(EventType::Spawn, "agent-1", "expert", json!({}));
    for case in ["replace", "delete", "delete the WAL"] {
        let path = dir.join(format!("swarm-{}.db", case.replace(' ', "-")));
        let db = SwarmDb::open(&path).unwrap();
        db.insert_event(&event()).unwrap();
        let what = match case {
            "replace" => {
                // Someone puts another database in its place (`mv other.db swarm.db`).
                let other = dir.join("other.db");
                drop(SwarmDb::open(&other).unwrap());
                std::fs::rename(&other, &path).unwrap();
                "was replaced by another file while open"
            }
            "delete" => {
                std::fs::remove_file(&path).unwrap();
                "was deleted while open"
            }
            _ => {
                std::fs::remove_file(format!("{}-wal", path.display())).unwrap();
                "write-ahead log"
            }
        };
        let error = db.insert_event(&event()).unwrap_err();
        let text = moai_instrument::error_chain(&error);
        assert_eq!(error.kind(), Some(ErrorKind::MustReopen), "{text}");
        assert!(text.contains(what), "{text}");
        assert!(text.contains("reopened"), "{text}");
        assert!(
            db.insert_event(&event()).is_err(),
            "no later write is acknowledged either"
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let (ready, _, body) = http(addr, "GET", "/readyz", &[]);
        assert_eq!(ready, 503, "{body}");
        let (live, _, body) = http(addr, "GET", "/livez", &[]);
        assert_eq!((live, body.contains("swarmdb")), (503, true), "{body}");
        guard.flush_logs();
        let log = std::fs::read_to_string(guard.log_file().unwrap()).unwrap();
        assert!(log.contains(what), "the log says what happened");
        drop(db);
    }
}
