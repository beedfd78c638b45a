//! One API, two backends: every SwarmDB operation, with the same test bodies, on an SQLite file
//! and on a real PostgreSQL 15 server started by the test. Each case gets a fresh database and a
//! `Raw` handle that runs SQL on it directly (to age rows and read what was stored, byte for byte).

use moai_test_support as common;

#[cfg(feature = "postgres")]
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moai_instrument::health::HealthStatus;
use moai_swarmdb::{
    AgentStatus, ErrorKind, EventFilter, EventType, MemoryType, NewEvent, Rejection,
    SCHEMA_VERSION, SwarmDb, SwarmDbError,
};
use moai_swarmdb::{CheckKind, HealthChecker};
use serde_json::{Value, json};

/// SQL run directly on the case's database; returns the first column of the first row as text.
type Raw = Box<dyn Fn(&str) -> String>;

type Case = fn(&SwarmDb, &Raw);

/// Every case, run on both backends.
const CASES: &[(&str, Case)] = &[
    ("schema_version", schema_version),
    ("events", events),
    ("event_batches", event_batches),
    ("agents", agents),
    ("memory", memory),
    ("cleanup", cleanup),
    ("maintenance", maintenance),
    ("session_state", session_state),
    ("fixture_round_trip", fixture_round_trip),
    ("health_checks", health_checks),
    ("concurrent_writers", concurrent_writers),
];

#[test]
fn sqlite_backend_conforms() {
    // Its own process: the health checks judge the p95 this process recorded, which the other
    // tests of this binary (storms, slow locks) would raise.
    if !common::own_process() {
        return;
    }
    let dir = common::temp_dir("swarmdb-backends");
    for (name, case) in CASES {
        eprintln!("sqlite: {name}");
        let path = dir.join(format!("{name}.db"));
        let db = SwarmDb::open(&path).unwrap();
        let raw: Raw = Box::new(move |sql| {
            let conn = rusqlite::Connection::open(&path).unwrap();
            if !sql.starts_with("SELECT") {
                return conn.execute(sql, []).unwrap().to_string();
            }
            conn.query_row(sql, [], |r| {
                Ok(match r.get_ref(0)? {
                    rusqlite::types::ValueRef::Null => String::new(),
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(_) => "<blob>".into(),
                })
            })
            .unwrap()
        });
        case(&db, &raw);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_backend_conforms() {
    if !common::own_process() {
        return;
    }
    let Some(pg) = common::postgres::Postgres::start("conformance") else {
        return;
    };
    let pg = Arc::new(pg);
    for (name, case) in CASES {
        eprintln!("postgres: {name}");
        let url = pg.create_database(name);
        let db = SwarmDb::connect(&url).unwrap();
        let server = Arc::clone(&pg);
        let dbname = name.to_string();
        let raw: Raw = Box::new(move |sql| server.psql(&dbname, sql));
        case(&db, &raw);
    }
}

fn schema_version(db: &SwarmDb, raw: &Raw) {
    assert_eq!(
        raw("SELECT value FROM schema_info WHERE key = 'version'"),
        SCHEMA_VERSION
    );
    for table in moai_swarmdb::TABLE_NAMES {
        raw(&format!("SELECT COUNT(*) FROM {table}"));
    }
    assert_eq!(db.quick_check().unwrap(), None);
}

fn event(kind: EventType, agent: &str, timestamp: &str) -> NewEvent {
    NewEvent {
        event_id: None,
        event_type: kind,
        agent_id: agent.into(),
        agent_type: "expert-backend".into(),
        timestamp: timestamp.into(),
        metadata: json!({"prompt": "Ünïcode ✓", "n": 1}),
    }
}

fn events(db: &SwarmDb, raw: &Raw) {
    let first = db
        .insert_event(&event(EventType::Spawn, "a-1", "2026-01-01T00:00:01"))
        .unwrap();
    assert_eq!(first.len(), 36, "a UUID: {first}");
    db.insert_event(&event(EventType::Complete, "a-1", "2026-01-01T00:00:03"))
        .unwrap();
    db.insert_event(&event(EventType::Spawn, "a-2", "2026-01-01T00:00:02"))
        .unwrap();
    // Newest first by timestamp text; filters; limit.
    let all = db.get_events(&EventFilter::default()).unwrap();
    let order: Vec<&str> = all.iter().map(|e| e.timestamp.as_str()).collect();
    assert_eq!(
        order,
        [
            "2026-01-01T00:00:03",
            "2026-01-01T00:00:02",
            "2026-01-01T00:00:01"
        ]
    );
    assert!(all[0].id > all[2].id);
    assert_eq!(all[2].metadata, json!({"prompt": "Ünïcode ✓", "n": 1}));
    let created = all[0].created_at.clone().unwrap();
    assert_eq!(created.len(), 19, "CURRENT_TIMESTAMP's form: {created}");
    assert_eq!(&created[10..11], " ");
    let a1 = db
        .get_events(&EventFilter {
            agent_id: Some("a-1".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(a1.len(), 2);
    let spawns = db
        .get_events(&EventFilter {
            event_type: Some(EventType::Spawn),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((spawns.len(), spawns[0].agent_id.as_str()), (1, "a-2"));
    // Stored as MoAI-Flow stores it: Python's json.dumps text, the timestamp as given.
    assert_eq!(
        raw(&format!(
            "SELECT metadata FROM agent_events WHERE event_id = '{first}'"
        )),
        r#"{"n": 1, "prompt": "\u00dcn\u00efcode \u2713"}"#
    );
    // A given id is kept; a second event with it is a constraint error that names the database.
    let mut named = event(EventType::Error, "a-3", "2026-01-01T00:00:04");
    named.event_id = Some("evt-fixed".into());
    assert_eq!(db.insert_event(&named).unwrap(), "evt-fixed");
    let err = db.insert_event(&named).unwrap_err();
    assert!(
        matches!(
            &err,
            SwarmDbError::Query {
                operation: "insert_event",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), Some(ErrorKind::Constraint));
    let chain = moai_instrument::error_chain(&err);
    assert!(chain.contains(&db.location().to_string()), "{chain}");
    assert!(!chain.contains(common::postgres::PASSWORD), "{chain}");
    // Bad input is refused before it reaches the backend.
    assert!(matches!(
        db.insert_event(&event(EventType::Spawn, "a-4", "yesterday")),
        Err(SwarmDbError::Rejected {
            operation: "insert_event",
            reason: Rejection::BadTimestamp(_),
            ..
        })
    ));
    let mut not_object = event(EventType::Spawn, "a-4", "2026-01-01");
    not_object.metadata = json!([1, 2]);
    assert!(matches!(
        db.insert_event(&not_object),
        Err(SwarmDbError::Rejected {
            reason: Rejection::MetadataNotObject(_),
            ..
        })
    ));
}

/// `insert_events`: one transaction, all the events or none.
fn event_batches(db: &SwarmDb, raw: &Raw) {
    let batch: Vec<NewEvent> = (0..20)
        .map(|i| event(EventType::Spawn, &format!("b-{i}"), "2026-01-01T00:00:01"))
        .collect();
    let ids = db.insert_events(&batch).unwrap();
    assert_eq!(ids.len(), 20);
    assert_eq!(raw("SELECT COUNT(*) FROM agent_events"), "20");
    assert_eq!(
        raw(&format!(
            "SELECT agent_id FROM agent_events WHERE event_id = '{}'",
            ids[7]
        )),
        "b-7"
    );
    // A repeated id in the middle of the next batch: nothing of it is stored.
    let mut refused: Vec<NewEvent> = (0..5)
        .map(|i| event(EventType::Spawn, &format!("c-{i}"), "2026-01-01T00:00:02"))
        .collect();
    refused[3].event_id = Some(ids[0].clone());
    let err = db.insert_events(&refused).unwrap_err();
    assert!(
        matches!(
            &err,
            SwarmDbError::Query {
                operation: "insert_events",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), Some(ErrorKind::Constraint));
    assert_eq!(raw("SELECT COUNT(*) FROM agent_events"), "20");
}

fn agents(db: &SwarmDb, raw: &Raw) {
    let before = SystemTime::now() - Duration::from_secs(1);
    db.register_agent(
        "a-1",
        "expert-backend",
        AgentStatus::Spawned,
        &json!({"model": "x"}),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    db.register_agent("a-2", "expert-frontend", AgentStatus::Running, &Value::Null)
        .unwrap();
    db.register_agent("a-3", "manager-tdd", AgentStatus::Spawned, &json!({}))
        .unwrap();
    let a1 = db.get_agent("a-1").unwrap().unwrap();
    assert_eq!(
        (a1.agent_type.as_str(), a1.status, &a1.metadata),
        (
            "expert-backend",
            AgentStatus::Spawned,
            &json!({"model": "x"})
        )
    );
    assert!(a1.spawn_time > before && a1.spawn_time <= SystemTime::now());
    assert_eq!((a1.complete_time, a1.duration), (None, None));
    let updated = a1.last_updated.unwrap();
    assert_eq!(&updated[10..11], "T", "isoformat(): {updated}");
    assert_eq!(db.get_agent("nobody").unwrap(), None);
    // Active: newest spawn first.
    let active: Vec<String> = db
        .get_active_agents()
        .unwrap()
        .into_iter()
        .map(|a| a.agent_id)
        .collect();
    assert_eq!(active, ["a-3", "a-2", "a-1"]);
    assert_eq!(db.count_active_agents().unwrap(), 3);
    // Finishing sets complete_time and the duration as given.
    db.update_agent_status(
        "a-2",
        AgentStatus::Complete,
        Some(Duration::from_millis(1250)),
    )
    .unwrap();
    let a2 = db.get_agent("a-2").unwrap().unwrap();
    assert_eq!(a2.status, AgentStatus::Complete);
    assert_eq!(a2.duration, Some(Duration::from_millis(1250)));
    assert!(a2.complete_time.is_some());
    assert_eq!(
        raw("SELECT duration_ms FROM agent_registry WHERE agent_id = 'a-2'"),
        "1250"
    );
    assert_eq!(db.count_active_agents().unwrap(), 2);
    assert!(matches!(
        db.update_agent_status("nobody", AgentStatus::Running, None),
        Err(SwarmDbError::Rejected {
            operation: "update_agent_status",
            reason: Rejection::AgentNotFound(_),
            ..
        })
    ));
    // What another writer stored outside the vocabulary reads back as it is.
    raw(
        "INSERT INTO agent_registry (agent_id, agent_type, status, spawn_time)
         VALUES ('other', 't', 'timeout', 1795954042.5)",
    );
    raw(
        "INSERT INTO agent_events (event_id, event_type, agent_id, agent_type, timestamp)
         VALUES ('e-other', 'task_start', 'other', 't', '2026-01-01T00:00:00')",
    );
    let other = db.get_agent("other").unwrap().unwrap();
    assert_eq!(other.status, AgentStatus::Other("timeout".into()));
    assert!(!other.status.is_active() && !other.status.is_final());
    let stored = db
        .get_events(&EventFilter {
            agent_id: Some("other".into()),
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(stored[0].event_type, EventType::Other("task_start".into()));
    // Registering again replaces the row, completion included (INSERT OR REPLACE).
    db.register_agent("a-2", "expert-frontend", AgentStatus::Spawned, &json!({}))
        .unwrap();
    let again = db.get_agent("a-2").unwrap().unwrap();
    assert_eq!((again.complete_time, again.duration), (None, None));
    // Stale: active rows unchanged for longer than asked.
    assert_eq!(db.count_stale_agents(Duration::from_secs(3600)).unwrap(), 0);
    raw("UPDATE agent_registry SET last_updated = '2020-01-01 00:00:00' WHERE agent_id = 'a-1'");
    raw("UPDATE agent_registry SET last_updated = '2020-01-01T00:00:00.5' WHERE agent_id = 'a-3'");
    assert_eq!(db.count_stale_agents(Duration::from_secs(3600)).unwrap(), 2);
    // A status another writer set reads back as it is, and no longer counts as active.
    raw("UPDATE agent_registry SET status = 'zombie' WHERE agent_id = 'a-2'");
    assert_eq!(
        db.get_agent("a-2").unwrap().unwrap().status,
        AgentStatus::Other("zombie".into())
    );
    assert_eq!(db.count_stale_agents(Duration::from_secs(3600)).unwrap(), 2);
}

fn memory(db: &SwarmDb, raw: &Raw) {
    assert_eq!(
        db.get_memory("s-1", MemoryType::Semantic, "plan").unwrap(),
        None
    );
    db.store_memory("s-1", MemoryType::Semantic, "plan", &json!({"v": 0}), None)
        .unwrap();
    db.store_memory(
        "s-1",
        MemoryType::Semantic,
        "plan",
        &json!({"v": 1, "t": "é"}),
        Some(24),
    )
    .unwrap();
    db.store_memory(
        "s-1",
        MemoryType::Episodic,
        "plan",
        &json!({"other": true}),
        None,
    )
    .unwrap();
    assert_eq!(
        db.get_memory("s-1", MemoryType::Semantic, "plan").unwrap(),
        Some(json!({"v": 1, "t": "é"}))
    );
    assert_eq!(
        raw("SELECT COUNT(*) FROM session_memory WHERE key = 'plan'"),
        "3"
    );
    assert_eq!(
        raw("SELECT ttl_hours FROM session_memory WHERE ttl_hours IS NOT NULL"),
        "24"
    );
}

fn cleanup(db: &SwarmDb, raw: &Raw) {
    db.insert_event(&event(EventType::Spawn, "old", "2001-01-01T00:00:00"))
        .unwrap();
    db.insert_event(&event(EventType::Spawn, "old", "2001-01-02T00:00"))
        .unwrap();
    db.insert_event(&NewEvent::now(EventType::Spawn, "new", "x", json!({})))
        .unwrap();
    db.register_agent("stuck", "x", AgentStatus::Running, &json!({}))
        .unwrap();
    db.register_agent("fresh", "x", AgentStatus::Running, &json!({}))
        .unwrap();
    raw("UPDATE agent_registry SET last_updated = '2001-01-01T00:00:00' WHERE agent_id = 'stuck'");
    let report = db.cleanup(7).unwrap();
    assert_eq!((report.deleted_events, report.cleaned_stale_agents), (2, 1));
    assert_eq!(
        db.get_agent("stuck").unwrap().unwrap().status,
        AgentStatus::Error
    );
    assert_eq!(
        db.get_agent("fresh").unwrap().unwrap().status,
        AgentStatus::Running
    );
    assert_eq!(db.cleanup_old_events(7).unwrap(), 0);
    assert_eq!(db.get_events(&EventFilter::default()).unwrap().len(), 1);
}

fn maintenance(db: &SwarmDb, raw: &Raw) {
    let size = db.get_database_size().unwrap();
    assert!(size > 0);
    db.write_probe().unwrap();
    assert_eq!(raw("SELECT COUNT(*) FROM swarm_metrics"), "0");
    assert_eq!(
        raw("SELECT COUNT(*) FROM schema_info WHERE key = 'moai_instrument_write_probe'"),
        "0"
    );
    db.vacuum().unwrap();
    assert_eq!(db.quick_check().unwrap(), None);
    assert_eq!(db.last_storage_failure(), None);
    // A backup is a copy of the file on SQLite; on PostgreSQL the server's tools make it.
    match db.path() {
        Some(path) => {
            let copy = path.with_extension("backup.db");
            db.backup(&copy).unwrap();
            let restored = SwarmDb::open(&copy).unwrap();
            assert_eq!(restored.quick_check().unwrap(), None);
        }
        None => {
            let err = db.backup("/nonexistent/backup.db").unwrap_err();
            assert!(
                matches!(
                    err,
                    SwarmDbError::Unsupported {
                        operation: "backup",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains("pg_dump"), "{err}");
        }
    }
}

fn session_state(db: &SwarmDb, _raw: &Raw) {
    db.register_agent("a-1", "x", AgentStatus::Running, &json!({}))
        .unwrap();
    db.insert_event(&NewEvent::now(EventType::Spawn, "a-1", "x", json!({})))
        .unwrap();
    let file = db.persist_session_state(Some("session-9")).unwrap();
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(state["session_id"], "session-9");
    assert_eq!(state["active_agents"][0]["agent_id"], "a-1");
    assert_eq!(state["recent_events"].as_array().unwrap().len(), 1);
    assert_eq!(state["database_path"], db.location().to_string());
    if db.path().is_none() {
        // On PostgreSQL the file goes to the original's default directory under the working
        // directory: leave nothing of it behind in the source tree.
        assert!(
            file.starts_with(".moai/memory/moai-flow"),
            "{}",
            file.display()
        );
        std::fs::remove_file(&file).unwrap();
        for dir in [".moai/memory/moai-flow", ".moai/memory", ".moai"] {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The fixture's records written through the API read back exactly, on each backend.
fn fixture_round_trip(db: &SwarmDb, _raw: &Raw) {
    let manifest = common::fixture::manifest();
    for (id, agent) in manifest["agents"].as_object().unwrap() {
        let status: AgentStatus = agent["status"].as_str().unwrap().parse().unwrap();
        db.register_agent(
            id,
            agent["agent_type"].as_str().unwrap(),
            status,
            &agent["metadata"],
        )
        .unwrap();
    }
    for e in manifest["events"].as_array().unwrap() {
        db.insert_event(&NewEvent {
            event_id: Some(e["event_id"].as_str().unwrap().into()),
            event_type: e["event_type"].as_str().unwrap().parse().unwrap(),
            agent_id: e["agent_id"].as_str().unwrap().into(),
            agent_type: "fixture".into(),
            timestamp: e["timestamp"].as_str().unwrap().into(),
            metadata: e["metadata"].clone(),
        })
        .unwrap();
    }
    for m in manifest["memory_latest"].as_array().unwrap() {
        let kind: MemoryType = m["memory_type"].as_str().unwrap().parse().unwrap();
        let (session, key) = (
            m["session_id"].as_str().unwrap(),
            m["key"].as_str().unwrap(),
        );
        db.store_memory(session, kind, key, &json!({"older": true}), None)
            .unwrap();
        db.store_memory(session, kind, key, &m["value"], None)
            .unwrap();
    }
    common::fixture::assert_holds_the_manifest(db, &manifest);
}

fn health_checks(db: &SwarmDb, _raw: &Raw) {
    db.register_agent("a-1", "x", AgentStatus::Running, &json!({}))
        .unwrap();
    let checker = HealthChecker::new(db);
    for kind in [
        CheckKind::Database,
        CheckKind::Agents,
        CheckKind::QueryPerformance,
    ] {
        let result = checker.check(kind);
        assert_eq!(
            result.status,
            HealthStatus::Healthy,
            "{kind:?}: {}",
            result.message
        );
    }
    assert_eq!(checker.check(CheckKind::Agents).message, "1 active agents");
}

/// A second handle on the same database, as another thread or replica has.
fn reopen(db: &SwarmDb) -> SwarmDb {
    match db.path() {
        Some(path) => SwarmDb::open(path).unwrap(),
        #[cfg(feature = "postgres")]
        None => SwarmDb::connect(&reopen_url(db)).unwrap(),
        #[cfg(not(feature = "postgres"))]
        None => unreachable!("only SQLite without the postgres feature"),
    }
}

/// The case's URL, rebuilt from its location and the test server's password.
#[cfg(feature = "postgres")]
fn reopen_url(db: &SwarmDb) -> String {
    let shown = db.location().to_string();
    shown.replacen(
        &format!("{}@", common::postgres::USER),
        &format!("{}:{}@", common::postgres::USER, common::postgres::PASSWORD),
        1,
    )
}

/// Eight threads, each with its own handle, insert at once: every acknowledged row is there.
fn concurrent_writers(db: &SwarmDb, raw: &Raw) {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let mine = reopen(db);
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        mine.insert_event(&NewEvent::now(
                            EventType::Spawn,
                            format!("w-{t}-{i}"),
                            "x",
                            json!({}),
                        ))
                        .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(raw("SELECT COUNT(*) FROM agent_events"), "200");
}
