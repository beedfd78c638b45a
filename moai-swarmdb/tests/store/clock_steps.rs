//! Time that cannot destroy data: the wall clock stepped forward 8 days (an NTP mistake, a VM
//! restored from a snapshot) while the app runs its own 7-day retention deletes no event younger
//! than 7 days by elapsed time, logs the step once, and nothing changes when the clock steps
//! back. The step is the crate's clock seam (`__test_support::step_wall_clock`), the same wall
//! clock retention reads.

use moai_test_support as common;

use common::{install_log_capture, log_lines, temp_dir};
use moai_swarmdb::{EventFilter, EventType, NewEvent, SwarmDb};
use serde_json::json;

#[test]
fn a_wall_clock_step_forward_deletes_nothing_and_is_logged_once() {
    if !common::own_process() {
        return;
    }
    install_log_capture();
    let db = SwarmDb::open(temp_dir("clock-step").join("swarm.db")).unwrap();
    let events: Vec<NewEvent> = (0..200)
        .map(|n| NewEvent::now(EventType::Spawn, format!("agent-{n}"), "expert", json!({})))
        .collect();
    db.insert_events(&events).unwrap();
    let all = || {
        db.get_events(&EventFilter {
            limit: Some(10_000),
            ..EventFilter::default()
        })
        .unwrap()
        .len()
    };
    assert_eq!(all(), 200);

    moai_swarmdb::__test_support::step_wall_clock(8 * 86_400);
    assert_eq!(
        db.cleanup_old_events(7).unwrap(),
        0,
        "minutes-old events are not 7 days old"
    );
    assert_eq!(db.cleanup(7).unwrap().deleted_events, 0);
    assert_eq!(db.cleanup_old_events(1).unwrap(), 0);
    assert_eq!(all(), 200, "every acknowledged event is kept");
    let warned = log_lines("ahead of the time elapsed in this process");
    assert_eq!(warned.len(), 1, "the step is logged once: {warned:?}");

    moai_swarmdb::__test_support::step_wall_clock(-8 * 86_400);
    assert_eq!(db.cleanup(7).unwrap().deleted_events, 0);
    assert_eq!(all(), 200);
    // Retention still works by elapsed time: an event stored as 8 days old goes.
    let old = NewEvent {
        timestamp: moai_swarmdb::iso_timestamp(
            std::time::SystemTime::now() - std::time::Duration::from_secs(8 * 86_400),
        ),
        ..NewEvent::now(EventType::Spawn, "agent-old", "expert", json!({}))
    };
    db.insert_event(&old).unwrap();
    assert_eq!(db.cleanup_old_events(7).unwrap(), 1);
    assert_eq!(all(), 200);
}
