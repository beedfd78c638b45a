//! Values at the edges of the exposition: an empty label value is no label, as Prometheus reads
//! it (one series, values merged, one WARN; prometheus/prometheus#14102), and past the limit of
//! distinct metric names new names are refused with one WARN and counted.

use moai_test_support as common;

use common::{install_log_capture, log_lines, promtool_check_metrics, sample};
use moai_instrument::__test_support::{detached_recorder, in_scope};
use moai_instrument::catalog::CATALOG;
use moai_instrument::{Config, metrics};

#[test]
fn an_empty_label_value_is_no_label_one_series_one_warn() {
    install_log_capture();
    let handle = detached_recorder(Config::new()).unwrap();
    in_scope(&handle, || {
        metrics::counter!("edge_jobs_total", "queue" => "").increment(1);
        metrics::counter!("edge_jobs_total").increment(2);
        metrics::counter!("edge_jobs_total", "queue" => "").increment(4);
        metrics::gauge!("edge_depth", "queue" => "", "kind" => "a").set(3.0);
    });
    let exposition = handle.render();
    assert_eq!(
        sample(&exposition, "edge_jobs_total"),
        Some(7.0),
        "{exposition}"
    );
    assert!(!exposition.contains("queue=\"\""), "{exposition}");
    assert_eq!(
        sample(&exposition, r#"edge_depth{kind="a"}"#),
        Some(3.0),
        "{exposition}"
    );
    let samples = exposition
        .lines()
        .filter(|l| l.starts_with("edge_jobs_total"))
        .count();
    assert_eq!(
        samples, 1,
        "one series, as Prometheus stores it:\n{exposition}"
    );
    let promtool = common::tool("promtool").expect("promtool (.ci/install-test-tools)");
    promtool_check_metrics(&promtool, &exposition).expect("promtool accepts the exposition");
    let warned = log_lines("label \"queue\" has an empty value")
        .into_iter()
        .filter(|l| l.contains("edge_jobs_total"))
        .count();
    assert_eq!(warned, 1, "one WARN for the metric and label");
}

#[test]
fn past_the_family_limit_new_names_are_refused_with_one_warn_and_counted() {
    install_log_capture();
    let room = 50;
    let limit = CATALOG.len() + room;
    let handle = detached_recorder(Config::new().family_limit(limit)).unwrap();
    in_scope(&handle, || {
        for n in 0..200 {
            metrics::counter!(format!("edge_family_{n}")).increment(1);
        }
        // Names already held keep working.
        metrics::counter!("edge_family_0").increment(1);
    });
    let exposition = handle.render();
    let families = exposition
        .lines()
        .filter(|l| l.starts_with("# TYPE edge_family_"))
        .count();
    // The catalog's names are held from installation, so the host gets the rest of the room.
    assert!(
        families <= room,
        "{families} host families past a room of {room}"
    );
    assert!(families >= room - 2, "the room is used: {families}");
    assert_eq!(sample(&exposition, "edge_family_0"), Some(2.0));
    let refused = sample(&exposition, "moai_instrument_families_refused_total").unwrap();
    assert_eq!(refused, (200 - families) as f64, "{exposition}");
    assert_eq!(
        log_lines("metric names; new names such as").len(),
        1,
        "one WARN for the limit, not one per name"
    );
    let too_small = Config::new()
        .family_limit(3)
        .install_recorder()
        .unwrap_err();
    assert!(
        too_small.to_string().contains("family_limit"),
        "a limit below the SDK's own names is refused: {too_small}"
    );
}
