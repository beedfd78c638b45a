//! The database MoAI-Flow itself wrote (`moai-swarmdb/tests/fixtures/moai-flow-2.0.0`, a copy
//! of the shared fixture) and its manifest: what a reader must find in it.

use std::path::{Path, PathBuf};

use moai_swarmdb::{EventFilter, MemoryType, SwarmDb};
use serde_json::Value;

use crate::process::temp_dir;

/// The fixture's directory: `swarm.db`, `manifest.json`, `README.md`.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../moai-swarmdb/tests/fixtures/moai-flow-2.0.0")
}

/// The manifest: `agents`, `active_agents`, `events`, `memory_latest`, the schema's SQL.
pub fn manifest() -> Value {
    let path = fixture_dir().join("manifest.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// A writable copy of the fixture's database in a fresh temp directory (the original stays
/// read-only input).
pub fn fixture_copy(name: &str) -> PathBuf {
    let path = temp_dir(name).join("swarm.db");
    std::fs::copy(fixture_dir().join("swarm.db"), &path).expect("copy the fixture");
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

/// Asserts that `db` holds the manifest's records as MoAI-Flow reads them: each agent's type,
/// status and metadata, exactly the active agents, each event's type, agent, timestamp text and
/// metadata, and the newest value of each memory key.
pub fn assert_holds_the_manifest(db: &SwarmDb, manifest: &Value) {
    for (id, expected) in manifest["agents"].as_object().expect("agents") {
        let agent = db
            .get_agent(id)
            .unwrap()
            .unwrap_or_else(|| panic!("agent {id}"));
        assert_eq!(agent.agent_type, expected["agent_type"], "{id}");
        assert_eq!(agent.status.as_str(), expected["status"], "{id}");
        assert_eq!(agent.metadata, expected["metadata"], "{id}");
    }
    let mut active: Vec<String> = db
        .get_active_agents()
        .unwrap()
        .into_iter()
        .map(|a| a.agent_id)
        .collect();
    active.sort();
    let mut expected_active: Vec<String> = manifest["active_agents"]
        .as_array()
        .expect("active_agents")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    expected_active.sort();
    assert_eq!(active, expected_active);

    let events = db
        .get_events(&EventFilter {
            limit: Some(100_000),
            ..EventFilter::default()
        })
        .unwrap();
    for expected in manifest["events"].as_array().expect("events") {
        let event = events
            .iter()
            .find(|e| e.event_id == expected["event_id"])
            .unwrap_or_else(|| panic!("event {}", expected["event_id"]));
        assert_eq!(event.event_type.as_str(), expected["event_type"]);
        assert_eq!(event.agent_id, expected["agent_id"]);
        assert_eq!(
            event.timestamp, expected["timestamp"],
            "stored text, as given"
        );
        assert_eq!(
            event.metadata, expected["metadata"],
            "{}",
            expected["event_id"]
        );
    }

    for expected in manifest["memory_latest"].as_array().expect("memory_latest") {
        let memory_type: MemoryType = expected["memory_type"].as_str().unwrap().parse().unwrap();
        let value = db
            .get_memory(
                expected["session_id"].as_str().unwrap(),
                memory_type,
                expected["key"].as_str().unwrap(),
            )
            .unwrap();
        assert_eq!(value.as_ref(), Some(&expected["value"]), "{expected}");
    }
}
