//! Delimited protobuf (`io.prometheus.client.MetricFamily`), judged by the tool that reads it: a
//! real Prometheus 2.42 with `--enable-feature=native-histograms`, which asks for protobuf
//! first, stores every counter, gauge and histogram the app serves with the values it serves.

use moai_test_support as common;

use std::time::Duration;

use common::prometheus::{Prometheus, wait_for};
use moai_instrument::recorder::Format;
use moai_instrument::{Config, HistogramMode, metrics};

const JOB: &str = "protobuf";

#[test]
fn prometheus_reads_the_protobuf_exposition() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .histogram_mode(HistogramMode::Buckets)
        .log_dir(None::<&str>)
        .init()
        .expect("init");
    metrics::counter!("jobs_done", "queue" => "a\"b").increment(3);
    metrics::gauge!("moai_flow_agents_active").set(7.0);
    for ms in [3.0, 40.0, 40.0, 700.0] {
        metrics::histogram!("moai_flow_query_duration_seconds", "query_type" => "get")
            .record(ms / 1000.0);
    }
    // The body Prometheus will get: one delimited message per family of the text exposition,
    // each length first, the same families. (The SDK's health thread may register a family
    // between two renders: compared when the text renders before and after agree.)
    let text_families = || {
        let text = String::from_utf8(guard.metrics().render_as(Format::Text004)).unwrap();
        text.lines()
            .filter_map(|l| {
                l.strip_prefix("# TYPE ")?
                    .split(' ')
                    .next()
                    .map(str::to_owned)
            })
            .collect::<Vec<String>>()
    };
    let (body, families) = wait_for(
        "two text renders that agree",
        Duration::from_secs(10),
        || {
            let before = text_families();
            let body = guard.metrics().render_as(Format::Protobuf);
            (text_families() == before).then_some((body, before))
        },
    );
    assert_eq!(delimited_names(&body), families);

    let prometheus = Prometheus::start_with_features(
        JOB,
        guard.metrics_addr().unwrap(),
        "",
        &["native-histograms"],
    )
    .expect("prometheus");
    wait_for("the first protobuf scrape", Duration::from_secs(30), || {
        prometheus.value("jobs_done{queue=\"a\\\"b\"}")
    });
    let target = prometheus.target(JOB).unwrap();
    assert_eq!(target["health"], "up", "{target}");
    assert_eq!(prometheus.value("jobs_done{queue=\"a\\\"b\"}"), Some(3.0));
    // Names as the classic text writes them: no `_total` added, as OpenMetrics would.
    assert_eq!(prometheus.value("jobs_done_total"), None);
    assert_eq!(prometheus.value("moai_flow_agents_active"), Some(7.0));
    let bucket = |le: &str| {
        prometheus.value(&format!(
            "moai_flow_query_duration_seconds_bucket{{query_type=\"get\",le=\"{le}\"}}"
        ))
    };
    assert_eq!(bucket("0.005"), Some(1.0));
    assert_eq!(bucket("0.05"), Some(3.0));
    assert_eq!(
        bucket("+Inf"),
        Some(4.0),
        "Prometheus adds +Inf from the count"
    );
    assert_eq!(
        prometheus.value("moai_flow_query_duration_seconds_count{query_type=\"get\"}"),
        Some(4.0)
    );
    let sum = prometheus
        .value("moai_flow_query_duration_seconds_sum{query_type=\"get\"}")
        .unwrap();
    assert!((sum - 0.783).abs() < 1e-9, "{sum}");
    assert!(prometheus.value("process_cpu_seconds_total").is_some());
}

/// The family names of the length-delimited messages in `body` (field 1 of each), checking
/// that no bytes are left over.
fn delimited_names(body: &[u8]) -> Vec<String> {
    let varint = |at: &mut usize| {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let byte = body[*at];
            *at += 1;
            value |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                return value;
            }
        }
    };
    let (mut at, mut names) = (0, Vec::new());
    while at < body.len() {
        let length = varint(&mut at);
        let end = at + length;
        assert_eq!(body[at], 0x0a, "a family starts with its name");
        at += 1;
        let name_length = varint(&mut at);
        names.push(String::from_utf8(body[at..at + name_length].to_vec()).unwrap());
        at = end;
    }
    assert_eq!(at, body.len(), "the last message ends with the body");
    names
}
