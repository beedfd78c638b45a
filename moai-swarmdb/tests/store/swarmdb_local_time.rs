//! On a host whose time zone is not UTC, the SDK writes timestamps in the host's local time as
//! MoAI-Flow's Python does (`datetime.now().isoformat()`), so "newest" and the stale-agent and
//! cleanup cut-offs order the SDK's rows and MoAI-Flow's alike. One test in this binary: it sets
//! the process's time zone before anything reads it.

use moai_test_support as common;

use std::process::Command;

use common::temp_dir;
use moai_swarmdb::{AgentStatus, MemoryType, SwarmDb};
use serde_json::json;

const ZONE: &str = "Asia/Tokyo";

/// Runs `code` in Python with the same time zone and the database path as `sys.argv[1]`.
fn python(code: &str, db: &std::path::Path) -> String {
    let out = Command::new("python3")
        .args(["-c", code])
        .arg(db)
        .env("TZ", ZONE)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn timestamps_are_local_time_as_moai_flow_writes_them() {
    if !common::own_process() {
        return;
    }
    // SAFETY: the only test of this binary, before any other thread or time call.
    unsafe {
        std::env::set_var("TZ", ZONE);
    }
    let path = temp_dir("swarmdb-local-time").join("swarm.db");
    let db = SwarmDb::open(&path).unwrap();
    db.register_agent("a-1", "expert", AgentStatus::Running, &json!({}))
        .unwrap();
    let ours: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT last_updated FROM agent_registry", [], |r| r.get(0))
        .unwrap();
    let theirs = python(
        "from datetime import datetime; print(datetime.now().isoformat())",
        &path,
    );
    // Same clock, same zone: the same hour (9 hours apart if the SDK wrote UTC).
    assert_eq!(ours[..13], theirs[..13], "ours {ours}, Python's {theirs}");

    // MoAI-Flow stores a newer version after the SDK's; the newest is MoAI-Flow's, then ours.
    db.store_memory(
        "s",
        MemoryType::ContextHint,
        "k",
        &json!({"by": "sdk"}),
        None,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    python(
        "import sqlite3, sys, json; from datetime import datetime\n\
         c = sqlite3.connect(sys.argv[1])\n\
         c.execute('INSERT INTO session_memory (session_id, memory_type, key, value, timestamp) VALUES (?, ?, ?, ?, ?)', \
                   ('s', 'context_hint', 'k', json.dumps({'by': 'python'}), datetime.now().isoformat()))\n\
         c.commit()",
        &path,
    );
    assert_eq!(
        db.get_memory("s", MemoryType::ContextHint, "k").unwrap(),
        Some(json!({"by": "python"}))
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    db.store_memory(
        "s",
        MemoryType::ContextHint,
        "k",
        &json!({"by": "sdk again"}),
        None,
    )
    .unwrap();
    assert_eq!(
        db.get_memory("s", MemoryType::ContextHint, "k").unwrap(),
        Some(json!({"by": "sdk again"}))
    );

    // An agent MoAI-Flow touched two hours ago (local time) is stale; one touched now is not.
    db.register_agent("a-2", "expert", AgentStatus::Running, &json!({}))
        .unwrap();
    python(
        "import sqlite3, sys; from datetime import datetime, timedelta\n\
         c = sqlite3.connect(sys.argv[1])\n\
         c.execute('UPDATE agent_registry SET last_updated = ? WHERE agent_id = ?', ((datetime.now() - timedelta(hours=2)).isoformat(), 'a-2'))\n\
         c.execute('UPDATE agent_registry SET last_updated = ? WHERE agent_id = ?', (datetime.now().isoformat(), 'a-1'))\n\
         c.commit()",
        &path,
    );
    assert_eq!(
        db.count_stale_agents(std::time::Duration::from_secs(3600))
            .unwrap(),
        1
    );
    let report = db.cleanup(30).unwrap();
    assert_eq!(report.cleaned_stale_agents, 1);
    assert_eq!(
        db.get_agent("a-2").unwrap().unwrap().status,
        AgentStatus::Error
    );
    assert_eq!(
        db.get_agent("a-1").unwrap().unwrap().status,
        AgentStatus::Running
    );
}
