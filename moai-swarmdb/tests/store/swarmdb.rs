//! SwarmDB: every operation round-trips, concurrent inserts are all kept, closed vocabularies are
//! enforced, a corrupted or read-only file is a clear error, and a writer killed with SIGKILL
//! loses nothing it had committed. MoAI-Flow compatibility: `swarmdb_compat.rs`.

use moai_test_support as common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::{metrics, sample, temp_dir};
use moai_swarmdb::{
    AgentStatus, EventFilter, EventType, MemoryType, NewEvent, Rejection, SCHEMA_VERSION, SwarmDb,
    SwarmDbError, TABLE_NAMES,
};
use serde_json::json;

fn event(event_type: EventType, agent: &str) -> NewEvent {
    NewEvent::now(
        event_type,
        agent,
        "expert-backend",
        json!({"task": "t-1", "attempt": 2}),
    )
}

#[test]
fn every_operation_round_trips() {
    metrics();
    let dir = temp_dir("swarmdb-roundtrip");
    let db = SwarmDb::open(dir.join("nested/memory/swarm.db")).expect("open creates parents");
    let raw = rusqlite::Connection::open(db.path().unwrap()).unwrap();
    for table in TABLE_NAMES {
        let exists: bool = raw
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1)",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert!(exists, "{table}");
    }
    let version: String = raw
        .query_row(
            "SELECT value FROM schema_info WHERE key = 'version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    let mut first = event(EventType::Spawn, "agent-1");
    first.timestamp = "2026-01-01T00:00:00".into();
    let spawn_id = db.insert_event(&first).unwrap();
    db.insert_event(&event(EventType::Complete, "agent-1"))
        .unwrap();
    db.insert_event(&event(EventType::Spawn, "agent-2"))
        .unwrap();
    let all = db.get_events(&EventFilter::default()).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].event_id, spawn_id, "newest first");
    assert_eq!(all[2].timestamp, "2026-01-01T00:00:00", "stored as given");
    assert_eq!(all[2].metadata, json!({"task": "t-1", "attempt": 2}));
    // Filters by agent and type: the two-backend conformance body (tests/swarmdb_backends.rs).
    // A caller's event id is kept; a second event with it is refused.
    let mut named = event(EventType::Error, "agent-3");
    named.event_id = Some("evt-fixed".into());
    assert_eq!(db.insert_event(&named).unwrap(), "evt-fixed");
    assert!(matches!(
        db.insert_event(&named),
        Err(SwarmDbError::Query {
            operation: "insert_event",
            ..
        })
    ));

    db.register_agent(
        "agent-1",
        "expert-backend",
        AgentStatus::Spawned,
        &json!({"model": "x"}),
    )
    .unwrap();
    let agent = db.get_agent("agent-1").unwrap().unwrap();
    assert_eq!(
        (agent.status, agent.complete_time, agent.metadata.clone()),
        (AgentStatus::Spawned, None, json!({"model": "x"}))
    );
    db.register_agent(
        "agent-2",
        "expert-frontend",
        AgentStatus::Running,
        &json!(null),
    )
    .unwrap();
    assert_eq!(db.get_active_agents().unwrap().len(), 2);
    assert_eq!(
        db.get_active_agents().unwrap()[0].agent_id,
        "agent-2",
        "the most recently spawned first"
    );
    db.update_agent_status("agent-1", AgentStatus::Running, None)
        .unwrap();
    assert_eq!(
        db.get_agent("agent-1").unwrap().unwrap().status,
        AgentStatus::Running
    );
    db.update_agent_status(
        "agent-1",
        AgentStatus::Complete,
        Some(Duration::from_millis(20)),
    )
    .unwrap();
    let done = db.get_agent("agent-1").unwrap().unwrap();
    assert!(done.complete_time.unwrap() >= done.spawn_time);
    assert_eq!(done.duration, Some(Duration::from_millis(20)));
    assert_eq!(db.get_agent("nobody").unwrap(), None);
    let active = db.get_active_agents().unwrap();
    assert_eq!(
        active
            .iter()
            .map(|a| a.agent_id.as_str())
            .collect::<Vec<_>>(),
        ["agent-2"]
    );
    assert_eq!(db.count_active_agents().unwrap(), 1);
    assert_eq!(db.count_stale_agents(Duration::from_secs(3600)).unwrap(), 0);
    assert!(matches!(
        db.update_agent_status("nobody", AgentStatus::Running, None),
        Err(SwarmDbError::Rejected {
            operation: "update_agent_status",
            reason: Rejection::AgentNotFound(_),
            ..
        })
    ));

    db.store_memory(
        "session-1",
        MemoryType::Semantic,
        "plan",
        &json!({"steps": [1, 2, 3]}),
        None,
    )
    .unwrap();
    db.store_memory(
        "session-1",
        MemoryType::Semantic,
        "plan",
        &json!({"steps": [4]}),
        Some(2),
    )
    .unwrap();
    assert_eq!(
        db.get_memory("session-1", MemoryType::Semantic, "plan")
            .unwrap(),
        Some(json!({"steps": [4]})),
        "the newest value"
    );
    assert_eq!(
        db.get_memory("session-1", MemoryType::Episodic, "plan")
            .unwrap(),
        None
    );
    assert_eq!(
        db.get_memory("session-1", MemoryType::Semantic, "other")
            .unwrap(),
        None
    );

    assert_eq!(
        db.cleanup_old_events(1).unwrap(),
        1,
        "the one of 2026-01-01"
    );
    assert_eq!(
        db.cleanup_old_events(0).unwrap(),
        3,
        "every event is older than now"
    );
    let size = db.get_database_size().unwrap();
    let wal = std::fs::metadata(format!("{}-wal", db.path().unwrap().display()))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(wal > 0 && size > wal, "size {size} counts the WAL ({wal})");
    db.vacuum().unwrap();
    assert_eq!(db.quick_check().unwrap(), None);
    let rows = |sql: &str| -> Vec<String> {
        raw.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let sequences = rows("SELECT name || '=' || seq FROM sqlite_sequence ORDER BY name");
    db.write_probe().unwrap();
    assert_eq!(
        rows("SELECT key FROM schema_info"),
        ["version"],
        "no probe row stays"
    );
    assert_eq!(
        rows("SELECT name || '=' || seq FROM sqlite_sequence ORDER BY name"),
        sequences,
        "no sequence of MoAI-Flow's moves"
    );

    let exposition = metrics().render();
    assert!(sample(&exposition, r#"moai_flow_events_total{event_type="spawn"}"#).unwrap() >= 2.0);
    assert!(
        sample(
            &exposition,
            r#"moai_flow_query_duration_seconds_count{query_type="insert_event"}"#
        )
        .unwrap()
            >= 3.0
    );
    for operation in ["update_agent_status", "insert_event"] {
        assert!(
            sample(
                &exposition,
                &format!(r#"moai_flow_errors_total{{operation="{operation}"}}"#)
            )
            .unwrap()
                >= 1.0,
            "{operation}"
        );
    }
}

#[test]
fn vocabularies_and_metadata_are_checked() {
    assert!(
        matches!("heartbeat".parse::<EventType>(), Err(SwarmDbError::UnknownEventType(t)) if t == "heartbeat")
    );
    assert!(matches!(
        "paused".parse::<AgentStatus>(),
        Err(SwarmDbError::UnknownStatus(_))
    ));
    assert!(matches!(
        "dream".parse::<MemoryType>(),
        Err(SwarmDbError::UnknownMemoryType(_))
    ));
    let dir = temp_dir("swarmdb-vocab");
    let db = SwarmDb::open(dir.join("swarm.db")).unwrap();
    let err = db
        .register_agent("a", "t", AgentStatus::Spawned, &json!([1, 2]))
        .unwrap_err();
    assert_eq!(
        moai_instrument::error_chain(&err),
        format!(
            "SwarmDB register_agent on {} refused: metadata must be a JSON object, got [1,2]",
            db.path().unwrap().display()
        )
    );
    // What other writers store reads back as it is, whatever the vocabulary or number type: a
    // status and an event type of their own, a float duration and a numeric text spawn time.
    let raw = rusqlite::Connection::open(db.path().unwrap()).unwrap();
    raw.execute_batch(
        "INSERT INTO agent_registry (agent_id, agent_type, status, spawn_time, duration_ms)
             VALUES ('x', 't', 'timeout', '1795954042.5', 1250.7);
         INSERT INTO agent_events (event_id, event_type, agent_id, agent_type, timestamp)
             VALUES ('e-1', 'task_start', 'x', 't', '2026-01-01T00:00:00');",
    )
    .unwrap();
    let x = db.get_agent("x").unwrap().unwrap();
    assert_eq!(x.status, AgentStatus::Other("timeout".into()));
    assert!(!x.status.is_active() && !x.status.is_final());
    assert_eq!(x.duration, Some(Duration::from_micros(1_250_700)));
    let events = db.get_events(&EventFilter::default()).unwrap();
    assert_eq!(events[0].event_type, EventType::Other("task_start".into()));
    assert_eq!(db.count_active_agents().unwrap(), 0);
    // Metadata that is not JSON reads as `{}`, as the original reads it.
    raw.execute(
        "INSERT INTO agent_registry (agent_id, agent_type, status, spawn_time, metadata) VALUES ('y', 't', 'running', 1, 'not json')",
        [],
    )
    .unwrap();
    assert_eq!(db.get_agent("y").unwrap().unwrap().metadata, json!({}));
}

#[test]
fn a_backup_of_a_live_database_finishes_while_another_process_writes() {
    let dir = temp_dir("swarmdb-backup");
    let path = dir.join("swarm.db");
    let db = SwarmDb::open(&path).unwrap();
    for i in 0..2000 {
        db.insert_event(&event(EventType::Spawn, &format!("before-{i}")))
            .unwrap();
    }
    // Another process writes the whole time (the writer child of the SIGKILL test).
    let mut child = spawn_child_writer(&path);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while lines.next().is_some_and(|l| l.unwrap().len() != 36) {}
    let copy = dir.join("backup.db");
    let started = std::time::Instant::now();
    db.backup(&copy).unwrap();
    let took = started.elapsed();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(took < Duration::from_secs(10), "{took:?}");
    let backup = SwarmDb::open(&copy).unwrap();
    assert_eq!(backup.quick_check().unwrap(), None);
    let kept = backup
        .get_events(&EventFilter {
            limit: Some(1_000_000),
            ..Default::default()
        })
        .unwrap()
        .len();
    assert!(kept > 2000, "{kept} events in the copy");
    assert!(
        db.backup(&copy).is_err(),
        "an existing destination is refused"
    );
}

#[test]
fn two_threads_of_ten_thousand_inserts_keep_twenty_thousand_rows() {
    let dir = temp_dir("swarmdb-threads");
    let db = Arc::new(SwarmDb::open(dir.join("swarm.db")).unwrap());
    std::thread::scope(|s| {
        for t in 0..2 {
            let db = Arc::clone(&db);
            s.spawn(move || {
                for i in 0..10_000 {
                    db.insert_event(&event(EventType::Spawn, &format!("agent-{t}-{i}")))
                        .unwrap();
                }
            });
        }
    });
    let raw = rusqlite::Connection::open(db.path().unwrap()).unwrap();
    let (rows, distinct): (i64, i64) = raw
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM agent_events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((rows, distinct), (20_000, 20_000));
}

/// The last connection to close folds the WAL into the database file and removes it, so a copy
/// of `swarm.db` alone, taken after the application stopped, holds every row (the read-only
/// readers close before the writer, which can checkpoint).
#[test]
fn a_clean_close_leaves_every_row_in_the_database_file() {
    let dir = temp_dir("swarmdb-clean-close");
    let path = dir.join("swarm.db");
    let db = SwarmDb::open(&path).unwrap();
    let clone = db.clone();
    for i in 0..20 {
        clone
            .insert_event(&event(EventType::Spawn, &format!("agent-{i}")))
            .unwrap();
    }
    assert_eq!(db.count_active_agents().unwrap(), 0);
    drop(db);
    drop(clone);
    let wal = dir.join("swarm.db-wal");
    assert!(!wal.exists(), "{} left after the last close", wal.display());
    let copy = dir.join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    let rows: i64 = rusqlite::Connection::open(&copy)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM agent_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 20);
}

#[test]
fn many_connections_opening_a_new_file_at_once_all_succeed() {
    for round in 0..5 {
        let path = temp_dir(&format!("swarmdb-race-{round}")).join("swarm.db");
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    barrier.wait();
                    SwarmDb::open(&path).expect("a concurrent open succeeds");
                });
            }
        });
        let raw = rusqlite::Connection::open(&path).unwrap();
        let versions: i64 = raw
            .query_row("SELECT COUNT(*) FROM schema_info", [], |r| r.get(0))
            .unwrap();
        assert_eq!(versions, 1, "the version is recorded once");
    }
}

#[test]
fn corrupted_and_read_only_files_are_clear_errors() {
    let dir = temp_dir("swarmdb-corrupt");
    let path = dir.join("swarm.db");
    drop(SwarmDb::open(&path).unwrap());
    let _ = std::fs::remove_file(format!("{}-wal", path.display()));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..16].copy_from_slice(b"not sqlite at al");
    std::fs::write(&path, &bytes).unwrap();
    let err = SwarmDb::open(&path).unwrap_err();
    assert!(
        moai_instrument::error_chain(&err).contains("not a SQLite database or is corrupted"),
        "{err}"
    );

    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, vec![0xAB; 8192]).unwrap();
    assert!(matches!(
        SwarmDb::open(&garbage),
        Err(SwarmDbError::Open { .. })
    ));

    // A read-only database: opened read-only by SQLite, writes refused with a clear reason.
    let ro = dir.join("ro.db");
    drop(SwarmDb::open(&ro).unwrap());
    let conn =
        rusqlite::Connection::open_with_flags(&ro, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let refused = conn
        .execute(
            "INSERT INTO swarm_metrics (swarm_id, metric_type, value) VALUES ('x', 'health', 1)",
            [],
        )
        .unwrap_err();
    assert_eq!(
        refused.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly)
    );

    // A directory where the file should be.
    let dir_path = dir.join("is-a-dir.db");
    std::fs::create_dir_all(&dir_path).unwrap();
    let err = SwarmDb::open(&dir_path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot open SwarmDB at {}", dir_path.display())),
        "{err}"
    );
}

/// Starts [`child_writer`] on the database at `path`, its stdout piped.
fn spawn_child_writer(path: &std::path::Path) -> std::process::Child {
    common::child_test(common::test_name!("child_writer"))
        .env("MOAI_CHILD_WRITER_DB", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Run as a child: inserts until killed, printing each event id once its insert has returned.
#[test]
fn child_writer() {
    let Ok(path) = std::env::var("MOAI_CHILD_WRITER_DB") else {
        return;
    };
    let db = SwarmDb::open(&path).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let id = db
            .insert_event(&event(EventType::Spawn, &format!("agent-{i}")))
            .unwrap();
        writeln!(out, "{id}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_mid_write_keeps_every_committed_row() {
    let dir = temp_dir("swarmdb-sigkill");
    let path = dir.join("swarm.db");
    let mut child = spawn_child_writer(&path);
    let mut committed = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.len() == 36 {
            committed.push(line);
        }
        if committed.len() == 300 {
            break;
        }
    }
    // SIGKILL: no destructor, no flush, in the middle of the next inserts.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(committed.len(), 300);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let check: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = raw
        .prepare("SELECT COUNT(*) FROM agent_events WHERE event_id = ?1")
        .unwrap();
    for id in &committed {
        let n: i64 = stmt.query_row([id], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "committed event {id} is present");
    }
    assert!(
        SwarmDb::open(&path).is_ok(),
        "the database opens again after the crash"
    );
}

#[test]
fn an_empty_path_is_an_error_not_a_temporary_database() {
    let err = SwarmDb::open("").unwrap_err();
    assert!(
        matches!(err, moai_swarmdb::SwarmDbError::EmptyPath),
        "{err}"
    );
    assert!(err.to_string().contains("MOAI_DB_PATH"), "{err}");
}
