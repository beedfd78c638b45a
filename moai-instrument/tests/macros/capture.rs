//! `testing::capture`: what a closure records on its thread, macros included, goes to its own
//! snapshot, so parallel tests each read exactly their own calls, with or without a global
//! recorder.

use moai_instrument::testing::capture;
use moai_instrument::{counted_event, timed_query};

#[counted_event(event_type = "capture_spawn")]
fn spawn_agent() {}

#[counted_event(event_type = kind)]
fn dynamic(kind: &str) {}

#[timed_query(query_type = "capture_lookup")]
fn lookup(id: u32) -> Result<u32, String> {
    if id == 0 {
        Err("no agent 0".into())
    } else {
        Ok(id)
    }
}

/// Runs `calls` spawns, lookups and dynamic events, all in one capture.
fn work(calls: u64) -> moai_instrument::testing::Snapshot {
    let ((), snapshot) = capture(|| {
        for i in 0..calls {
            spawn_agent();
            dynamic("capture_dynamic");
            let _ = lookup(u32::try_from(i).unwrap());
            moai_instrument::metrics::gauge!("capture_depth", "queue" => "a").set(i as f64);
        }
    });
    snapshot
}

#[test]
fn two_captures_on_two_threads_see_only_their_own_calls() {
    // Several rounds, so the two threads overlap for real.
    for _ in 0..20 {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| work(300));
            let b = s.spawn(|| work(700));
            (a.join().unwrap(), b.join().unwrap())
        });
        for (snapshot, calls) in [(a, 300u64), (b, 700)] {
            let events = |event_type| {
                snapshot.counter("moai_flow_events_total", &[("event_type", event_type)])
            };
            assert_eq!(events("capture_spawn"), Some(calls));
            assert_eq!(events("capture_dynamic"), Some(calls));
            assert_eq!(
                snapshot.histogram_count(
                    "moai_flow_query_duration_seconds",
                    &[("query_type", "capture_lookup")]
                ),
                Some(calls)
            );
            assert_eq!(
                snapshot.counter("moai_flow_errors_total", &[("operation", "capture_lookup")]),
                Some(1)
            );
            assert_eq!(
                snapshot.gauge("capture_depth", &[("queue", "a")]),
                Some((calls - 1) as f64)
            );
            let text = snapshot.render();
            assert!(
                text.contains(&format!(
                    "moai_flow_events_total{{event_type=\"capture_spawn\"}} {calls}"
                )),
                "{text}"
            );
        }
    }
}

#[test]
fn nothing_outside_the_capture_and_nothing_recorded_is_found() {
    spawn_agent(); // outside: not in any snapshot
    let ((), snapshot) = capture(|| {});
    assert_eq!(
        snapshot.counter("moai_flow_events_total", &[("event_type", "capture_spawn")]),
        None
    );
    assert_eq!(snapshot.gauge("capture_depth", &[]), None);
    // Another thread's calls during a capture stay out of it.
    let ((), snapshot) = capture(|| {
        std::thread::scope(|s| {
            s.spawn(spawn_agent);
        });
        spawn_agent();
    });
    assert_eq!(
        snapshot.counter("moai_flow_events_total", &[("event_type", "capture_spawn")]),
        Some(1)
    );
    // The value of the closure comes back.
    let (n, _) = capture(|| lookup(7));
    assert_eq!(n, Ok(7));
}

#[counted_event(event_type = "capture_only_here")]
fn only_here() {}

#[test]
fn captures_work_when_a_global_recorder_is_installed_too() {
    // The process recorder of the other tests in this binary.
    let global = moai_test_support::metrics();
    let series = r#"moai_flow_events_total{event_type="capture_only_here"}"#;
    let global_count = || moai_test_support::sample(&global.render(), series);
    assert_eq!(global_count(), Some(0.0), "registered at 0 at installation");
    let ((), snapshot) = capture(|| {
        only_here();
        only_here();
    });
    assert_eq!(
        snapshot.counter(
            "moai_flow_events_total",
            &[("event_type", "capture_only_here")]
        ),
        Some(2)
    );
    assert_eq!(
        global_count(),
        Some(0.0),
        "nothing captured reached the global recorder"
    );
    only_here();
    assert_eq!(
        global_count(),
        Some(1.0),
        "outside a capture, the global recorder records"
    );
}
