//! SwarmDB is MoAI-Flow's own store: a database the SDK creates has the schema of one MoAI-Flow
//! wrote (`tests/fixtures/moai-flow-2.0.0`, copied from the shared fixture), the fixture reads
//! back exactly as its manifest says, what the SDK writes uses MoAI-Flow's encodings (checked
//! against Python's own `json` and `sqlite3`), other layouts are migrated or refused by name, and
//! probes never create a database.

use moai_test_support as common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::fixture::{assert_holds_the_manifest, fixture_copy, fixture_dir, manifest};
use common::temp_dir;
use moai_instrument::error_chain;
use moai_swarmdb::{
    AgentStatus, EventFilter, EventType, MemoryType, NewEvent, OpenOptions, SCHEMA_VERSION,
    SwarmDb, SwarmDbError,
};
use rusqlite::Connection;
use serde_json::{Value, json};

/// Every table's `PRAGMA table_info` and every index's `index_list`/`index_info`, as text rows.
fn schema_shape(conn: &Connection) -> BTreeMap<String, Vec<String>> {
    let mut shape = BTreeMap::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let columns = conn
            .prepare(
                "SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)",
            )
            .unwrap()
            .query_map([&table], |r| {
                Ok(format!(
                    "{} {} {} notnull={} default={:?} pk={}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?
                ))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        shape.insert(format!("table {table}"), columns);
        let indexes: Vec<(String, i64, String)> = conn
            .prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1) ORDER BY name")
            .unwrap()
            .query_map([&table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (index, unique, origin) in indexes {
            let mut keys: Vec<String> = conn
                .prepare("SELECT seqno, cid, name FROM pragma_index_info(?1)")
                .unwrap()
                .query_map([&index], |r| {
                    Ok(format!(
                        "{} {} {:?}",
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?
                    ))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            keys.insert(0, format!("unique={unique} origin={origin}"));
            shape.insert(format!("index {table}.{index}"), keys);
        }
    }
    shape
}

/// The manifest's `CREATE` statements, sorted as [`stored_sql`] returns them.
fn manifest_schema_sql() -> Vec<String> {
    let mut expected: Vec<String> = manifest()["schema_sql"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    expected
}

fn stored_sql(conn: &Connection) -> Vec<String> {
    conn.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY sql")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_new_database_has_the_fixtures_schema_table_by_table_and_index_by_index() {
    let path = temp_dir("compat-schema").join("swarm.db");
    drop(SwarmDb::open(&path).unwrap());
    let created = Connection::open(&path).unwrap();
    let original = Connection::open_with_flags(
        fixture_dir().join("swarm.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (ours, theirs) = (schema_shape(&created), schema_shape(&original));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (name, shape) in &theirs {
        assert_eq!(&ours[name], shape, "{name}");
    }
    // The CREATE statements themselves, as SQLite stores them, are the manifest's.
    let expected = manifest_schema_sql();
    assert_eq!(stored_sql(&created), expected);
    let version: String = created
        .query_row(
            "SELECT value FROM schema_info WHERE key = 'version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((version.as_str(), SCHEMA_VERSION), ("2.0.0", "2.0.0"));
}

#[test]
fn the_fixture_reads_back_exactly_then_takes_writes() {
    let path = fixture_copy("compat-fixture");
    let manifest = manifest();
    let db = SwarmDb::open(&path).expect("MoAI-Flow's own database opens");

    assert_holds_the_manifest(&db, &manifest);
    // What the shared reading leaves out: the counts, the times, and the order.
    for (id, _) in manifest["agents"].as_object().unwrap() {
        let agent = db.get_agent(id).unwrap().unwrap();
        assert!(agent.spawn_time > UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(
            agent.complete_time.is_some(),
            !agent.status.is_active(),
            "{id}: complete_time is set when the agent finished"
        );
    }
    assert_eq!(db.count_active_agents().unwrap(), 8);
    let events = db
        .get_events(&EventFilter {
            limit: Some(1000),
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(events.len(), manifest["events"].as_array().unwrap().len());
    // Newest first, by the stored timestamp text, as the original orders them.
    assert!(events.windows(2).all(|w| w[0].timestamp >= w[1].timestamp));

    // Writes go in beside MoAI-Flow's rows and read back.
    let id = db
        .insert_event(&NewEvent {
            event_id: Some("evt-rust-1".into()),
            event_type: EventType::Complete,
            agent_id: "agent-1-003-α".into(),
            agent_type: "expert-security".into(),
            timestamp: "2026-01-02T03:04:05.000006".into(),
            metadata: json!({"prompt": "Ünïcode ✓", "list": [1, 2.5]}),
        })
        .unwrap();
    assert_eq!(id, "evt-rust-1");
    let mine = db
        .get_events(&EventFilter {
            agent_id: Some("agent-1-003-α".into()),
            limit: Some(1),
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(mine[0].event_id, "evt-rust-1");
    assert_eq!(
        mine[0].id, 34,
        "the integer id continues MoAI-Flow's sequence"
    );
    db.update_agent_status(
        "agent-1-003-α",
        AgentStatus::Complete,
        Some(Duration::from_millis(4321)),
    )
    .unwrap();
    let done = db.get_agent("agent-1-003-α").unwrap().unwrap();
    assert_eq!(
        (done.status, done.duration),
        (AgentStatus::Complete, Some(Duration::from_millis(4321)))
    );
    assert_eq!(db.count_active_agents().unwrap(), 7);
    db.store_memory(
        "session-1-0",
        MemoryType::ContextHint,
        "plan",
        &json!({"v": 2}),
        Some(1),
    )
    .unwrap();
    assert_eq!(
        db.get_memory("session-1-0", MemoryType::ContextHint, "plan")
            .unwrap(),
        Some(json!({"v": 2}))
    );
    assert_eq!(db.quick_check().unwrap(), None);
}

/// What Python's own `sqlite3` and `json` read from the database, the way MoAI-Flow's SwarmDB
/// reads it (`SELECT *`, `json.loads`), and whether each JSON text is byte for byte what
/// `json.dumps` writes for its value.
const PYTHON_READER: &str = r#"
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.row_factory = sqlite3.Row
out = {"agents": {}, "events": {}, "memory": [], "version": None, "same_bytes": True}
def load(text, where):
    value = json.loads(text)
    if json.dumps(value) != text:
        out["same_bytes"] = False
        out.setdefault("differs", []).append([where, text, json.dumps(value)])
    return value
for row in conn.execute("SELECT * FROM agent_registry"):
    a = dict(row)
    a["metadata"] = load(a["metadata"], a["agent_id"])
    out["agents"][a["agent_id"]] = a
for row in conn.execute("SELECT * FROM agent_events ORDER BY timestamp DESC"):
    e = dict(row)
    e["metadata"] = load(e["metadata"], e["event_id"])
    out["events"][e["event_id"]] = e
for row in conn.execute("SELECT * FROM session_memory ORDER BY timestamp DESC"):
    m = dict(row)
    m["value"] = load(m["value"], m["key"])
    out["memory"].append(m)
out["version"] = conn.execute("SELECT value FROM schema_info WHERE key = 'version'").fetchone()[0]
print(json.dumps(out))
"#;

fn python_read(path: &Path) -> Value {
    let output = Command::new("python3")
        .args(["-c", PYTHON_READER])
        .arg(path)
        .output()
        .expect("python3 runs (apt-get install python3)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn what_the_sdk_writes_reads_back_in_python_with_moai_flows_encodings() {
    let path = temp_dir("compat-python").join("swarm.db");
    let db = SwarmDb::open(&path).unwrap();
    let before = SystemTime::now();
    let meta = json!({"prompt": "Fix \"quoted\" bug\nline 2 – Ünïcode ✓ 😀", "n": [1, 2.5, null, true], "tab": "a\tb"});
    db.register_agent("agent-é", "expert-backend", AgentStatus::Running, &meta)
        .unwrap();
    db.update_agent_status(
        "agent-é",
        AgentStatus::Error,
        Some(Duration::from_millis(1500)),
    )
    .unwrap();
    db.insert_event(&NewEvent {
        event_id: None,
        event_type: EventType::Error,
        agent_id: "agent-é".into(),
        agent_type: "expert-backend".into(),
        timestamp: "2025-06-16T23:01:30.737549".into(),
        metadata: meta.clone(),
    })
    .unwrap();
    db.store_memory(
        "s-1",
        MemoryType::Episodic,
        "notes",
        &json!(["ü", {"k": 1}]),
        Some(24),
    )
    .unwrap();
    let after = SystemTime::now();
    drop(db);

    let read = python_read(&path);
    assert_eq!(
        read["same_bytes"], true,
        "JSON text as json.dumps writes it: {read}"
    );
    assert_eq!(read["version"], "2.0.0");
    let agent = &read["agents"]["agent-é"];
    assert_eq!(agent["metadata"], meta);
    assert_eq!(agent["status"], "error");
    assert_eq!(agent["duration_ms"], 1500);
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let spawn = agent["spawn_time"]
        .as_f64()
        .expect("spawn_time is REAL Unix seconds");
    let complete = agent["complete_time"]
        .as_f64()
        .expect("complete_time is REAL Unix seconds");
    assert!(secs(before) - 0.001 <= spawn && spawn <= complete && complete <= secs(after) + 0.001);
    let updated = agent["last_updated"].as_str().unwrap();
    assert_eq!(
        updated.len(),
        "2026-11-29T12:07:22.681735".len(),
        "{updated}"
    );
    assert_eq!(&updated[10..11], "T");
    let (_, event) = read["events"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(event["timestamp"], "2025-06-16T23:01:30.737549");
    assert_eq!(event["metadata"], meta);
    let event_id = event["event_id"].as_str().unwrap();
    assert!(
        event_id.len() == 36 && event_id.as_bytes()[14] == b'7',
        "a UUID (v7, time-ordered; the original's are v4): {event_id}"
    );
    assert!(event["created_at"].is_string() && event["id"] == 1);
    assert_eq!(read["memory"][0]["value"], json!(["ü", {"k": 1}]));
    assert_eq!(read["memory"][0]["ttl_hours"], 24);
    assert_eq!(read["memory"][0]["memory_type"], "episodic");
}

#[test]
fn cleanup_reports_deleted_events_and_stale_agents() {
    let path = fixture_copy("compat-cleanup");
    let db = SwarmDb::open(&path).unwrap();
    // The fixture's events are from 2025.
    let old = db
        .get_events(&EventFilter {
            limit: Some(1000),
            ..EventFilter::default()
        })
        .unwrap()
        .len();
    // Two agents untouched since 2020; the others updated just now.
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "UPDATE agent_registry SET last_updated = strftime('%Y-%m-%dT%H:%M:%f', 'now');
             UPDATE agent_registry SET last_updated = '2020-01-01T00:00:00'
                 WHERE agent_id IN ('agent-1-001-üñï', 'agent-1-003-α');",
        )
        .unwrap();
    db.insert_event(&NewEvent::now(
        EventType::Spawn,
        "fresh",
        "expert",
        json!({}),
    ))
    .unwrap();
    let report = db.cleanup(30).unwrap();
    assert_eq!(
        (report.deleted_events, report.cleaned_stale_agents),
        (old, 2)
    );
    assert_eq!(
        db.get_agent("agent-1-003-α").unwrap().unwrap().status,
        AgentStatus::Error
    );
    assert_eq!(db.count_active_agents().unwrap(), 6);
    let left = db.get_events(&EventFilter::default()).unwrap();
    assert_eq!(left.len(), 1, "the fresh event stays");

    let state = db.persist_session_state(Some("session-9")).unwrap();
    assert_eq!(
        state,
        path.parent().unwrap().join("moai-flow/session-state.json")
    );
    let state: Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    assert_eq!(state["session_id"], "session-9");
    assert_eq!(state["active_agents"].as_array().unwrap().len(), 6);
    assert_eq!(state["recent_events"][0]["agent_id"], "fresh");
}

/// The SDK's layout before it adopted MoAI-Flow's (what `main` created until this change).
const SDK_LEGACY_LAYOUT: &str = "
CREATE TABLE schema_info (version INTEGER NOT NULL, applied_at TEXT NOT NULL);
CREATE TABLE agent_events (event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL CHECK (event_type IN ('spawn', 'complete', 'error')),
    agent_id TEXT NOT NULL, agent_type TEXT NOT NULL, timestamp TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}');
CREATE INDEX idx_agent_events_agent_id ON agent_events (agent_id);
CREATE INDEX idx_agent_events_event_type ON agent_events (event_type);
CREATE INDEX idx_agent_events_timestamp ON agent_events (timestamp);
CREATE TABLE agent_registry (agent_id TEXT PRIMARY KEY, agent_type TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('spawned', 'running', 'complete', 'error')), spawn_time TEXT NOT NULL,
    complete_time TEXT, duration_ms INTEGER, metadata TEXT NOT NULL DEFAULT '{}', last_updated TEXT NOT NULL);
CREATE INDEX idx_agent_registry_status ON agent_registry (status);
CREATE INDEX idx_agent_registry_agent_type ON agent_registry (agent_type);
CREATE TABLE session_memory (session_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, PRIMARY KEY (session_id, key));
CREATE TABLE task_metrics (task_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, task_type TEXT NOT NULL, status TEXT NOT NULL,
    started_at TEXT NOT NULL, completed_at TEXT, duration_ms INTEGER, metadata TEXT NOT NULL DEFAULT '{}');
CREATE INDEX idx_task_metrics_agent_id ON task_metrics (agent_id);
CREATE TABLE agent_metrics (agent_id TEXT NOT NULL, metric_name TEXT NOT NULL, metric_value REAL NOT NULL, recorded_at TEXT NOT NULL);
CREATE INDEX idx_agent_metrics_agent_metric ON agent_metrics (agent_id, metric_name);
CREATE TABLE swarm_metrics (metric_name TEXT NOT NULL, metric_value REAL NOT NULL, recorded_at TEXT NOT NULL);
CREATE INDEX idx_swarm_metrics_name_time ON swarm_metrics (metric_name, recorded_at);
INSERT INTO schema_info VALUES (2, '2026-11-20T10:00:00.000000Z');
";

fn legacy_database(name: &str) -> PathBuf {
    let path = temp_dir(name).join("swarm.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(SDK_LEGACY_LAYOUT).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    for i in 0..50 {
        conn.execute(
            "INSERT INTO agent_events VALUES (?1, 'spawn', ?2, 'expert', ?3, '{\"i\":1}')",
            rusqlite::params![
                format!("evt-{i}"),
                format!("agent-{}", i % 5),
                format!("2026-11-20T10:00:{:02}.000000Z", i)
            ],
        )
        .unwrap();
    }
    conn.execute_batch(
        "INSERT INTO agent_registry VALUES ('agent-0', 'expert', 'running', '2026-11-20T10:00:00.250000Z', NULL, NULL, '{\"m\":\"ü\"}', '2026-11-20T10:00:01.000000Z');
         INSERT INTO agent_registry VALUES ('agent-1', 'expert', 'complete', '2026-11-20T10:00:00.000000Z', '2026-11-20T10:00:02.500000Z', 2500, '{}', '2026-11-20T10:00:02.500000Z');
         INSERT INTO session_memory VALUES ('s-1', 'plan', '{\"steps\":[1]}', '2026-11-20T10:00:00.000000Z', '2026-11-20T10:05:00.000000Z');
         INSERT INTO agent_metrics VALUES ('agent-0', 'throughput', 3.5, '2026-11-20T10:00:00.000000Z');",
    )
    .unwrap();
    path
}

#[test]
fn the_sdks_earlier_layout_is_migrated_in_one_transaction_without_losing_a_row() {
    let path = legacy_database("compat-legacy");
    let db = SwarmDb::open(&path).expect("the earlier layout is migrated");
    let events = db
        .get_events(&EventFilter {
            limit: Some(1000),
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(events.len(), 50);
    assert_eq!(events[0].event_id, "evt-49");
    assert_eq!(events[0].timestamp, "2026-11-20T10:00:49.000000");
    assert_eq!(events[0].metadata, json!({"i": 1}));
    let running = db.get_agent("agent-0").unwrap().unwrap();
    let at = |s: f64| UNIX_EPOCH + Duration::from_secs_f64(s);
    let spawn = running
        .spawn_time
        .duration_since(at(1_795_168_800.25))
        .unwrap_or_else(|e| e.duration());
    assert!(
        spawn < Duration::from_millis(1),
        "2026-11-20T10:00:00.25Z as Unix seconds: {running:?}"
    );
    assert_eq!(
        (running.status, running.metadata.clone()),
        (AgentStatus::Running, json!({"m": "ü"}))
    );
    let done = db.get_agent("agent-1").unwrap().unwrap();
    assert_eq!(done.duration, Some(Duration::from_millis(2500)));
    assert!(done.complete_time.unwrap() > done.spawn_time);
    assert_eq!(
        db.get_memory("s-1", MemoryType::Semantic, "plan").unwrap(),
        Some(json!({"steps": [1]}))
    );
    drop(db);
    // The file now has exactly the original's schema, and no leftover of the old one.
    let conn = Connection::open(&path).unwrap();
    let expected = manifest_schema_sql();
    assert_eq!(stored_sql(&conn), expected);
    let metrics: (String, f64) = conn
        .query_row("SELECT metric_type, value FROM agent_metrics", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(metrics, ("throughput".to_owned(), 3.5));
}

#[test]
fn other_layouts_and_newer_versions_are_refused_by_name_and_left_untouched() {
    // The earlier layout with rows the original's schema cannot keep.
    let path = legacy_database("compat-legacy-refused");
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO task_metrics VALUES ('t-1', 'a', 'build', 'done', 'x', NULL, NULL, '{}')",
            [],
        )
        .unwrap();
    let err = SwarmDb::open(&path).unwrap_err();
    assert!(
        matches!(err, SwarmDbError::UnsupportedLayout { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "SwarmDB at {} holds the pre-compatibility moai-instrument layout (schema_info.version = 2), \
             not MoAI-Flow's schema 2.0.0: its task_metrics table holds 1 rows with task_type and metadata \
             columns that MoAI-Flow's task_metrics has no place for",
            path.display()
        )
    );
    let conn = Connection::open(&path).unwrap();
    let kept: i64 = conn
        .query_row("SELECT COUNT(*) FROM agent_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 50, "the refused file is untouched");
    assert!(
        conn.query_row("SELECT applied_at FROM schema_info", [], |r| r
            .get::<_, String>(0))
            .is_ok()
    );

    // Tables of someone else's, and no schema_info.
    let other = temp_dir("compat-unknown").join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE notes (id INTEGER);")
        .unwrap();
    let err = SwarmDb::open(&other).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "SwarmDB at {} holds tables notes and no schema_info, not MoAI-Flow's schema 2.0.0",
            other.display()
        )
    );

    // A newer MoAI-Flow.
    let newer = fixture_copy("compat-newer");
    Connection::open(&newer)
        .unwrap()
        .execute(
            "UPDATE schema_info SET value = '2.1.0' WHERE key = 'version'",
            [],
        )
        .unwrap();
    let err = SwarmDb::open(&newer).unwrap_err();
    assert!(
        matches!(&err, SwarmDbError::NewerSchema { found, .. } if found == "2.1.0"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "SwarmDB at {} has schema version 2.1.0, newer than the supported 2.0.0: upgrade moai-instrument",
            newer.display()
        )
    );
}

#[test]
fn an_older_moai_flow_file_is_upgraded_as_moai_flow_upgrades_it() {
    let path = fixture_copy("compat-older");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE task_metrics; DROP TABLE agent_metrics; DROP TABLE swarm_metrics;
         UPDATE schema_info SET value = '1.0.0' WHERE key = 'version';",
    )
    .unwrap();
    // A probe does not write: it says the app will migrate.
    let err = OpenOptions::new().existing_only().open(&path).unwrap_err();
    assert!(matches!(err, SwarmDbError::NeedsMigration { .. }), "{err}");
    let db = SwarmDb::open(&path).unwrap();
    assert_eq!(db.count_active_agents().unwrap(), 8);
    drop(db);
    let expected = manifest_schema_sql();
    assert_eq!(stored_sql(&conn), expected);
    let version: String = conn
        .query_row(
            "SELECT value FROM schema_info WHERE key = 'version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "2.0.0");
}

#[test]
fn probes_open_existing_databases_only_and_create_nothing() {
    let dir = temp_dir("compat-probe");
    let missing = dir.join("not/here/swarm.db");
    let err = OpenOptions::new()
        .existing_only()
        .open(&missing)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "SwarmDB {} does not exist (the application creates it when it starts)",
            missing.display()
        )
    );
    assert!(!dir.join("not").exists(), "no directory was created");
    // An existing, current database opens for reading and writing without a schema write.
    let path = fixture_copy("compat-probe-existing");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let probe = OpenOptions::new().existing_only().open(&path).unwrap();
    assert_eq!(probe.count_active_agents().unwrap(), 8);
    drop(probe);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    assert!(
        !Path::new(&format!("{}-wal", path.display())).exists(),
        "the journal mode is the file's own"
    );
}

#[test]
fn errors_say_the_operation_the_file_and_the_cause_once() {
    let dir = temp_dir("compat-errors");
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, vec![0xAB; 8192]).unwrap();
    let err = SwarmDb::open(&garbage).unwrap_err();
    assert_eq!(
        error_chain(&err),
        format!(
            "cannot open SwarmDB at {}: the file is not a SQLite database or is corrupted",
            garbage.display()
        )
    );
    let path = dir.join("swarm.db");
    let db = SwarmDb::open(&path).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE agent_events;")
        .unwrap();
    let err = db.get_events(&EventFilter::default()).unwrap_err();
    assert_eq!(
        error_chain(&err),
        format!(
            "SwarmDB get_events failed on {}: no such table: agent_events",
            path.display()
        )
    );
    for bad in [
        "yesterday",
        "2025-99-99T99:99:99",
        "2025-01-01T12:xx",
        "0000-00-00",
        "2025-01-01 10:00:00",
        "2025-01-01T10:00:00Z",
        "2025-01-01T10:00:00+09:00",
    ] {
        let err = db
            .insert_event(&NewEvent {
                timestamp: bad.into(),
                ..NewEvent::now(EventType::Spawn, "a", "t", json!({}))
            })
            .unwrap_err();
        assert_eq!(
            error_chain(&err),
            format!(
                "SwarmDB insert_event on {} refused: event timestamp {bad:?} is not ISO 8601 local \
                 time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.ffffff]])",
                path.display()
            )
        );
    }
    for good in [
        "2025-01-01",
        "2025-01-01T10:00",
        "2025-01-01T10:00:00",
        "2025-01-01T10:00:00.5",
        "2025-12-31T23:59:59.123456",
    ] {
        let mut event = NewEvent::now(EventType::Spawn, "a", "t", json!({}));
        event.timestamp = good.into();
        // The table was dropped above: a good timestamp gets as far as SQLite.
        assert!(
            matches!(db.insert_event(&event), Err(SwarmDbError::Query { .. })),
            "{good}"
        );
    }
    // A migration that fails names the statement's start, not sixty lines of schema.
    let older = fixture_copy("compat-errors-older");
    Connection::open(&older)
        .unwrap()
        .execute_batch(
            "CREATE TABLE s2 AS SELECT id, session_id, key, value, timestamp FROM session_memory;
             DROP TABLE session_memory; ALTER TABLE s2 RENAME TO session_memory;
             UPDATE schema_info SET value = '1.0.0' WHERE key = 'version';",
        )
        .unwrap();
    let err = SwarmDb::open(&older).unwrap_err();
    let text = error_chain(&err);
    assert!(text.len() < 300, "{text}");
    assert!(
        text.contains("session_memory has no column memory_type"),
        "{text}"
    );
}
