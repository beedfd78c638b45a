//! Before installation the macros record nothing and cache nothing; after it they record, and a
//! second installation is an error rather than a crash.

use moai_test_support as common;

use moai_instrument::{Config, InitError, MetricsHandle, counted_event, timed_query};

#[counted_event(event_type = "early_event")]
fn early_event() {}

#[timed_query(query_type = "early_query")]
fn early_query(fail: bool) -> Result<(), String> {
    if fail {
        Err("failed early".to_owned())
    } else {
        Ok(())
    }
}

#[counted_event(event_type = kind)]
fn dynamic_event(kind: &str) {}

#[test]
fn nothing_is_recorded_before_install_and_nothing_stale_is_cached() {
    if !common::own_process() {
        return;
    }
    assert!(MetricsHandle::global().is_none());
    for _ in 0..5 {
        early_event();
        let _ = early_query(true);
        dynamic_event("early_dynamic");
    }
    let handle = Config::new().install_recorder().expect("first install");
    let exposition = handle.render();
    // Registered at install, at 0: the calls before it were not recorded.
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_events_total{event_type="early_event"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_errors_total{operation="early_query"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_events_total{event_type="early_dynamic"}"#
        ),
        None
    );

    // The same callsites record once the recorder exists: no no-op handle was cached earlier.
    early_event();
    let _ = early_query(true);
    dynamic_event("early_dynamic");
    let exposition = handle.render();
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_events_total{event_type="early_event"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_errors_total{operation="early_query"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_query_duration_seconds_count{query_type="early_query"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_events_total{event_type="early_dynamic"}"#
        ),
        Some(1.0)
    );

    // Host code using the re-exported facade lands in the same recorder.
    moai_instrument::metrics::counter!("host_jobs_total", "queue" => "default").increment(3);
    assert_eq!(
        common::sample(&handle.render(), r#"host_jobs_total{queue="default"}"#),
        Some(3.0)
    );

    let second = Config::new().install_recorder().unwrap_err();
    assert!(matches!(second, InitError::AlreadyInitialized), "{second}");
    assert!(MetricsHandle::global().is_some());
}
