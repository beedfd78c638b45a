//! SwarmDB group commit on SQLite: concurrent writers share transactions yet each fails alone,
//! `insert_events` is all or nothing, several processes writing one file never see "locked past
//! the busy timeout", and a process killed with SIGKILL in the middle of a write storm from many
//! threads keeps every row it had acknowledged, and no write is acknowledged before the WAL that
//! holds it was synced (traced with `strace`).

use moai_test_support as common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{metrics, temp_dir};
use moai_swarmdb::{
    AgentStatus, ErrorKind, EventFilter, EventType, NewEvent, SwarmDb, SwarmDbError,
};
use serde_json::json;

fn event(agent: &str) -> NewEvent {
    NewEvent::now(EventType::Spawn, agent, "expert", json!({"task": "t-1"}))
}

fn with_id(agent: &str, id: &str) -> NewEvent {
    NewEvent {
        event_id: Some(id.to_owned()),
        ..event(agent)
    }
}

/// The stored event ids, as a set.
fn stored_ids(path: &Path) -> std::collections::HashSet<String> {
    common::stored_event_ids(path).into_iter().collect()
}

#[test]
fn a_failing_write_fails_alone_among_concurrent_writers() {
    metrics();
    let dir = temp_dir("group-commit-isolation");
    let db = Arc::new(SwarmDb::open(dir.join("swarm.db")).unwrap());
    db.insert_event(&with_id("taken", "taken-id")).unwrap();
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..8 {
            let (db, outcomes) = (&db, &outcomes);
            s.spawn(move || {
                for i in 0..200 {
                    // Every fifth write of every thread repeats an existing event id.
                    let id = if i % 5 == 0 {
                        "taken-id".to_owned()
                    } else {
                        format!("t{t}-{i}")
                    };
                    let result = db.insert_event(&with_id("a", &id));
                    outcomes.lock().unwrap().push((id, result));
                }
            });
        }
    });
    let stored = stored_ids(db.path().unwrap());
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(outcomes.len(), 1600);
    for (id, result) in outcomes {
        if id == "taken-id" {
            let error = result.expect_err("a duplicate id is refused");
            assert_eq!(error.kind(), Some(ErrorKind::Constraint), "{error}");
        } else {
            assert_eq!(result.unwrap(), id);
            assert!(stored.contains(&id), "acknowledged {id} is stored");
        }
    }
    assert_eq!(stored.len(), 1 + 8 * 160);
}

#[test]
fn insert_events_stores_all_or_nothing() {
    metrics();
    let dir = temp_dir("group-commit-batch");
    let db = SwarmDb::open(dir.join("swarm.db")).unwrap();
    let batch: Vec<NewEvent> = (0..50).map(|i| event(&format!("agent-{i}"))).collect();
    let ids = db.insert_events(&batch).unwrap();
    assert_eq!(ids.len(), 50);
    let events = db
        .get_events(&EventFilter {
            limit: Some(1000),
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(events.len(), 50);
    assert!(
        ids.iter()
            .all(|id| events.iter().any(|e| &e.event_id == id))
    );
    assert_eq!(db.insert_events(&[]).unwrap(), Vec::<String>::new());

    // A duplicate id in the middle: nothing of the batch is stored.
    let mut refused: Vec<NewEvent> = (0..10).map(|i| event(&format!("late-{i}"))).collect();
    refused[5].event_id = Some(ids[0].clone());
    let error = db.insert_events(&refused).unwrap_err();
    assert_eq!(error.kind(), Some(ErrorKind::Constraint), "{error}");
    // A bad timestamp: refused before anything is written.
    let mut bad = vec![event("x"), event("y")];
    bad[1].timestamp = "yesterday".into();
    assert!(matches!(
        db.insert_events(&bad),
        Err(SwarmDbError::Rejected { .. })
    ));
    assert_eq!(stored_ids(db.path().unwrap()).len(), 50);
}

/// Run as a child: `MOAI_CHILD_STORM` = `db path,threads,writes per thread`. Each thread mixes
/// inserts, agent registrations and updates, memory writes and write probes, and prints each
/// acknowledged event id (flushed) or `error <text>`; it exits when done.
#[test]
fn child_storm() {
    let Ok(spec) = std::env::var("MOAI_CHILD_STORM") else {
        return;
    };
    let mut parts = spec.split(',');
    let path = parts.next().unwrap().to_owned();
    let threads: usize = parts.next().unwrap().parse().unwrap();
    let writes: usize = parts.next().unwrap().parse().unwrap();
    let db = Arc::new(SwarmDb::open(&path).unwrap());
    let out = Mutex::new(std::io::stdout());
    let print = |line: String| {
        let mut out = out.lock().unwrap();
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    let pid = std::process::id();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (db, print) = (&db, &print);
            s.spawn(move || {
                let agent = format!("agent-{pid}-{t}");
                for i in 0..writes {
                    let done = match i % 10 {
                        0 => db
                            .register_agent(&agent, "expert", AgentStatus::Running, &json!({}))
                            .map(drop),
                        3 => db.write_probe(),
                        6 => db
                            .update_agent_status(&agent, AgentStatus::Running, None)
                            .map(drop),
                        8 => db
                            .insert_events(&[event(&agent), event(&agent)])
                            .map(|ids| print(format!("acked {}", ids.join(" ")))),
                        _ => db
                            .insert_event(&event(&agent))
                            .map(|id| print(format!("acked {id}"))),
                    };
                    if let Err(error) = done {
                        print(format!("error {}", moai_instrument::error_chain(&error)));
                    }
                }
            });
        }
    });
}

fn spawn_storm(path: &Path, threads: usize, writes: usize) -> Child {
    common::child_test(common::test_name!("child_storm"))
        .env(
            "MOAI_CHILD_STORM",
            format!("{},{threads},{writes}", path.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills the child on drop, so a failing assertion never leaves it running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Acknowledged ids and error lines from a child's stdout, up to `stop_after` ids.
fn read_acks(stdout: ChildStdout, stop_after: usize) -> (Vec<String>, Vec<String>) {
    let (mut acked, mut errors) = (Vec::new(), Vec::new());
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // The test harness's own `test child_storm ... ` may precede the first line.
        if let Some((_, ids)) = line.split_once("acked ") {
            acked.extend(ids.split(' ').map(str::to_owned));
        } else if let Some((_, error)) = line.split_once("error ") {
            errors.push(error.to_owned());
        }
        if acked.len() >= stop_after {
            break;
        }
    }
    (acked, errors)
}

#[test]
fn three_writer_processes_on_one_file_never_fail() {
    let dir = temp_dir("group-commit-processes");
    let path = dir.join("swarm.db");
    // Created first, so that the three only contend for writes.
    drop(SwarmDb::open(&path).unwrap());
    let mut children: Vec<Reaped> = (0..3).map(|_| Reaped(spawn_storm(&path, 4, 300))).collect();
    let readers: Vec<_> = children
        .iter_mut()
        .map(|child| {
            let stdout = child.0.stdout.take().unwrap();
            std::thread::spawn(move || read_acks(stdout, usize::MAX))
        })
        .collect();
    let mut acked = Vec::new();
    for (reader, child) in readers.into_iter().zip(&mut children) {
        let (ids, errors) = reader.join().unwrap();
        assert!(errors.is_empty(), "writes failed: {errors:?}");
        assert!(child.0.wait().unwrap().success());
        acked.extend(ids);
    }
    // Per thread: 300 writes, of which 30 batches of two and 180 single inserts.
    assert_eq!(acked.len(), 3 * 4 * (30 * 2 + 180));
    let stored = stored_ids(&path);
    assert_eq!(stored.len(), acked.len());
    for id in &acked {
        assert!(stored.contains(id), "acknowledged {id} is stored");
    }
}

#[test]
fn sigkill_mid_storm_keeps_every_acknowledged_row() {
    let dir = temp_dir("group-commit-sigkill");
    let path = dir.join("swarm.db");
    let mut child = Reaped(spawn_storm(&path, 8, 1_000_000));
    let (acked, errors) = read_acks(child.0.stdout.take().unwrap(), 3000);
    assert!(errors.is_empty(), "writes failed: {errors:?}");
    // SIGKILL: no destructor, no flush, in the middle of the next batches.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(acked.len() >= 3000);
    let stored = stored_ids(&path);
    for id in &acked {
        assert!(stored.contains(id), "acknowledged {id} survived SIGKILL");
    }
    assert!(SwarmDb::open(&path).is_ok(), "the database opens again");
}

/// Durability, seen from the system calls: the child writes under `strace`, and at every
/// acknowledgement the WAL has no write that a completed `fdatasync`/`fsync` of it did not follow.
/// One writer thread, so that the trace is one sequence (the pipelined flush of several threads is
/// covered by the unit tests of the group commit).
#[test]
fn no_write_is_acknowledged_before_the_wal_holding_it_is_synced() {
    let strace = common::tool("strace").expect("a missing tool fails in tool()");
    let dir = temp_dir("group-commit-strace");
    let path = dir.join("swarm.db");
    drop(SwarmDb::open(&path).unwrap());
    let trace = dir.join("trace");
    let status = Command::new(strace)
        .args([
            "-f",
            "-qq",
            "-y",
            "-e",
            "trace=pwrite64,write,fdatasync,fsync",
            "-o",
        ])
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args(common::alone(common::test_name!("child_storm")))
        .env("MOAI_CHILD_STORM", format!("{},1,60", path.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the traced child failed: {status}");
    let trace = std::fs::read_to_string(&trace).unwrap();
    let wal = format!("{}-wal>", path.display());
    let (mut unsynced, mut syncs, mut acks) = (false, 0, 0);
    for line in trace.lines() {
        let call = line
            .split_once(' ')
            .map_or(line, |(_, call)| call.trim_start());
        if call.starts_with("pwrite64(") && call.contains(&wal) {
            unsynced = true;
        } else if (call.starts_with("fdatasync(") || call.starts_with("fsync("))
            && call.contains(&wal)
            && call.ends_with("= 0")
        {
            unsynced = false;
            syncs += 1;
        } else if call.starts_with("write(1") && call.contains("acked ") {
            assert!(!unsynced, "acknowledged before the WAL was synced: {line}");
            acks += 1;
        }
    }
    // Of 60 calls, 36 inserts and 6 batches of two print an acknowledgement each.
    assert_eq!(acks, 42, "acknowledgements in the trace:\n{trace}");
    assert!(
        syncs >= acks,
        "{syncs} syncs of the WAL for {acks} acknowledged writes"
    );
}
