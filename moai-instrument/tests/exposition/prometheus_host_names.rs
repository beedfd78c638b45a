//! A real Prometheus scrapes an app whose host code records awkward names through the `metrics`
//! facade (the two cases, then a random sequence of registrations, some of them while
//! Prometheus is already scraping): the target stays `up` on every scrape, and the values of the
//! issue's cases are stored as one series each.

use moai_test_support as common;

use std::time::Duration;

use common::prometheus::{Prometheus, wait_for};
use common::registrations::registration;
use moai_instrument::Config;
use moai_instrument::metrics::counter;
use moai_instrument::recorder::Format;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

const JOB: &str = "host_names";

#[test]
fn prometheus_keeps_the_target_up_whatever_names_the_host_records() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<&str>)
        .log_filter("error")
        .init()
        .expect("init");
    counter!("jobs.done").increment(1);
    counter!("jobs_done").increment(2);
    counter!("queue_total", "kind.a" => "x", "kind_a" => "y").increment(1);
    let mut runner = TestRunner::deterministic();
    let registrations: Vec<_> = (0..120)
        .map(|_| registration().new_tree(&mut runner).unwrap().current())
        .collect();
    let (before, during) = registrations.split_at(60);
    for registration in before {
        registration.record();
    }

    let Some(prometheus) =
        Prometheus::start(JOB, guard.metrics_addr().expect("the exporter listens"))
    else {
        return;
    };
    let healthy = || {
        let target = prometheus.target(JOB)?;
        (target["health"] == "up").then_some(target)
    };
    wait_for("the first good scrape", Duration::from_secs(30), healthy);
    // New families and series appear between scrapes.
    for registration in during {
        registration.record();
        std::thread::sleep(Duration::from_millis(50));
    }
    // Five more scrapes after the last registration, all good.
    let scrapes = || prometheus.value(&format!("count_over_time(up{{job=\"{JOB}\"}}[1h])"));
    let seen = scrapes().unwrap_or(0.0);
    wait_for("five more scrapes", Duration::from_secs(30), || {
        (scrapes()? >= seen + 5.0).then_some(())
    });
    let target = healthy().expect("the target is up");
    assert_eq!(target["lastError"], "", "{target}");
    assert_eq!(
        prometheus.value(&format!("min_over_time(up{{job=\"{JOB}\"}}[1h])")),
        Some(1.0),
        "every scrape succeeded"
    );
    // Prometheus asks for OpenMetrics first, where a counter's sample ends in `_total`.
    assert_eq!(prometheus.value("jobs_done_total"), Some(3.0), "one family");
    assert_eq!(
        prometheus.value("queue_total{kind_a=\"x\"}"),
        Some(1.0),
        "the first value of the label is kept"
    );
    // What Prometheus stored from the last scrape is what the app serves: every sample kept.
    let served = guard
        .metrics()
        .render_as(Format::OpenMetrics { v0_0_1: false });
    let served = String::from_utf8(served)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count() as f64;
    let scraped = prometheus
        .value(&format!("scrape_samples_scraped{{job=\"{JOB}\"}}"))
        .unwrap();
    assert_eq!(scraped, served, "samples in the last scrape");
}
