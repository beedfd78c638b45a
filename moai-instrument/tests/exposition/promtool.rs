//! The exposition is valid for Prometheus' own checker, `promtool check metrics`, including
//! label values that need escaping and every kind of series the recorder holds.

use moai_test_support as common;

use common::{metrics, promtool_check_metrics, sample, tool};
use moai_instrument::{counted_event, metrics as facade, timed_query};

#[counted_event(event_type = kind)]
fn event(kind: &str) {}

#[timed_query(query_type = "promtool_query")]
fn query(fail: bool) -> Result<(), String> {
    if fail { Err("no".into()) } else { Ok(()) }
}

#[test]
fn exposition_passes_promtool_check_metrics() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let handle = metrics();
    let awkward = [
        "quote \" inside",
        "back\\slash",
        "new\nline",
        "tab\tand ünïcode",
        "trailing \\",
    ];
    for kind in awkward {
        event(kind);
    }
    let _ = query(true);
    let _ = query(false);
    facade::gauge!("moai_flow_agents_active").set(3.0);
    facade::describe_gauge!("host_queue_depth", "Jobs waiting\nin the \\ queue");
    facade::gauge!("host_queue_depth").set(-1.5);
    let exposition = handle.render();
    if let Err(problems) = promtool_check_metrics(&promtool, &exposition) {
        panic!("promtool rejected the exposition:\n{problems}\n---\n{exposition}");
    }
    for kind in awkward {
        let escaped = kind
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let line = format!("moai_flow_events_total{{event_type=\"{escaped}\"}}");
        assert_eq!(
            sample(&exposition, &line),
            Some(1.0),
            "{line} in\n{exposition}"
        );
    }
}
