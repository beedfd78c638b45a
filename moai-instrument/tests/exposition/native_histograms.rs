//! Native histograms (`HistogramMode::Native`), judged by a real Prometheus 2.42 with
//! `--enable-feature=native-histograms`: it stores the app's histogram as one native series at
//! the configured schema, `histogram_quantile` over it is within 5% of the exact quantile of the
//! recorded values, the shipped native-mode alert and SLO rules evaluate on it (promtool 2.42
//! cannot write native input series, so this is where they are tested). Text scrapes of the same
//! family keep the classic `le` buckets. (Exemplars of native histograms: `exemplars.rs`.)

use moai_test_support as common;

use std::path::Path;
use std::time::Duration;

use common::encode;
use common::prometheus::{Prometheus, wait_for};
use moai_instrument::recorder::Format;
use moai_instrument::{Config, HistogramMode, metrics};
use serde_json::Value;

/// The shipped rules read `job="moai-flow"`.
const JOB: &str = "moai-flow";
const QUERY: &str = r#"moai_flow_query_duration_seconds{query_type="scan"}"#;

/// Latencies over two decades (2 ms to 200 ms, log-uniform) and a fifth of them slow (250 ms to
/// 350 ms), so p95 (about 325 ms) is past the 100 ms alert and below the 500 ms one;
/// deterministic.
fn latencies(n: usize, phase: u64) -> Vec<f64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ phase;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            if i % 5 == 0 {
                0.25 + 0.1 * u
            } else {
                0.002 * 100f64.powf(u)
            }
        })
        .collect()
}

/// The `q` quantile of `values` by rank, as a summary defines it.
fn exact_quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn deploy(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file)
}

fn within(got: f64, want: f64, tolerance: f64) -> bool {
    (got - want).abs() / want <= tolerance
}

#[test]
fn prometheus_stores_native_histograms_and_the_shipped_rules_read_them() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .histogram_mode(HistogramMode::Native)
        .log_dir(None::<&str>)
        .init()
        .expect("init");
    let record = |values: &[f64]| {
        for &v in values {
            metrics::histogram!("moai_flow_query_duration_seconds", "query_type" => "scan")
                .record(v);
        }
    };
    let before = latencies(200, 1);
    record(&before);
    // 2% of the calls fail, from the start: rate() extrapolates both series alike only when
    // they start in proportion.
    metrics::counter!("moai_flow_errors_total", "operation" => "scan").increment(4);

    // Text keeps the classic buckets in the same family.
    let text = String::from_utf8(guard.metrics().render_as(Format::Text004)).unwrap();
    assert!(
        text.contains("# TYPE moai_flow_query_duration_seconds histogram")
            && text.contains(
                "moai_flow_query_duration_seconds_bucket{query_type=\"scan\",le=\"0.5\"} 200"
            ),
        "{text}"
    );

    let rules = [deploy("alert_rules.yml"), deploy("slo_rules.yml")];
    let rules: Vec<&Path> = rules.iter().map(|p| p.as_path()).collect();
    let prometheus = Prometheus::start_with_rules(
        JOB,
        guard.metrics_addr().unwrap(),
        &["native-histograms"],
        &rules,
    )
    .expect("prometheus");
    let count = |prometheus: &Prometheus| prometheus.value(&format!("histogram_count({QUERY})"));
    wait_for("the first native scrape", Duration::from_secs(30), || {
        (count(&prometheus)? == 200.0).then_some(())
    });
    // One native series: Prometheus took the native buckets, not the classic ones.
    assert_eq!(
        prometheus.value(r#"moai_flow_query_duration_seconds_count{query_type="scan"}"#),
        None
    );

    // The traffic after the first scrape: what rate() and the rules see.
    let after = latencies(20_000, 2);
    record(&after);
    // Still 2%: past HighErrorRatio's 1%, which reads the calls through histogram_count.
    metrics::counter!("moai_flow_errors_total", "operation" => "scan").increment(400);
    let total = (before.len() + after.len()) as f64;
    wait_for("the second native scrape", Duration::from_secs(30), || {
        (count(&prometheus)? == total).then_some(())
    });

    let all: Vec<f64> = before.iter().chain(&after).copied().collect();
    for q in [0.5, 0.9, 0.95, 0.99] {
        let got = prometheus
            .value(&format!("histogram_quantile({q}, {QUERY})"))
            .unwrap();
        let want = exact_quantile(&all, q);
        assert!(within(got, want, 0.05), "q{q}: {got} against {want}");
    }
    let sum = prometheus
        .value(&format!("histogram_sum({QUERY})"))
        .unwrap();
    let want_sum: f64 = all.iter().sum();
    assert!(within(sum, want_sum, 1e-9), "{sum} against {want_sum}");
    // Over a rate, the quantile of the traffic in the window: the values recorded after the
    // first scrape.
    let p95_after = exact_quantile(&after, 0.95);
    let p95_rate = prometheus
        .value("histogram_quantile(0.95, sum(rate(moai_flow_query_duration_seconds[1m])))")
        .unwrap();
    assert!(
        within(p95_rate, p95_after, 0.05),
        "{p95_rate} against {p95_after}"
    );

    // Buckets at schema 3 (the default): each bound 2^(1/8) above the one before.
    assert_schema(&prometheus, 3);

    // The shipped rules in native mode: the SLO latency recording, the latency and error ratio
    // alerts pending (their `for:` keeps them from firing); the 500 ms critical one silent.
    let recorded = wait_for("the native p95 recording", Duration::from_secs(30), || {
        prometheus.value(
            r#"job:moai_flow_query_duration_seconds:p95_5m{job="moai-flow", histogram="native"}"#,
        )
    });
    assert!(
        within(recorded, p95_after, 0.05),
        "{recorded} against {p95_after}"
    );
    // The dashboard's native latency query.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/moai-flow.json")).unwrap())
            .unwrap();
    let native_query = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .find(|target| target["legendFormat"] == "{{query_type}} (native)")
        .expect("the dashboard's native latency query");
    // One series per query type (the other types this binary instruments have no traffic).
    let expr = native_query["expr"].as_str().unwrap();
    let answer = prometheus.api(&format!("/api/v1/query?query={}", encode(expr)));
    let shown: f64 = answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|series| series["metric"]["query_type"] == "scan")
        .and_then(|series| series["value"][1].as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("{expr}: {answer}"));
    assert!(
        within(shown, p95_after, 0.05),
        "{shown} against {p95_after}"
    );

    // The error ratio through histogram_count: 2%, within 5% once a few samples are in the
    // window (Prometheus 2.42's rate() extrapolates a native histogram to the window's start
    // further than a counter that starts near zero, which a young series feels most).
    wait_for(
        "the error ratio recording at 2%",
        Duration::from_secs(60),
        || {
            let ratio =
                prometheus.value(r#"job:moai_flow_errors:ratio_rate5m{job="moai-flow"}"#)?;
            within(ratio, 0.02, 0.05).then_some(())
        },
    );
    for alert in ["HighQueryLatencyNative", "HighErrorRatio"] {
        wait_for(
            &format!("{alert} to be pending"),
            Duration::from_secs(30),
            || (prometheus.alert_state(alert)? == "pending").then_some(()),
        );
    }
    for alert in [
        "CriticalQueryLatency",
        "HighQueryLatency",
        "HighQueryLatencyBuckets",
    ] {
        assert_eq!(prometheus.alert_state(alert), None, "{alert}");
    }
}

/// A schema set in the environment is the one Prometheus stores.
#[test]
fn the_schema_is_configurable() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .with_env(|name| {
            [
                ("MOAI_HISTOGRAM", "native"),
                ("MOAI_NATIVE_HISTOGRAM_SCHEMA", "-1"),
            ]
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
        })
        .unwrap()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<&str>)
        .init()
        .expect("init");
    for v in latencies(1_000, 3) {
        metrics::histogram!("moai_flow_query_duration_seconds", "query_type" => "scan").record(v);
    }
    let prometheus = Prometheus::start_with_features(
        JOB,
        guard.metrics_addr().unwrap(),
        "",
        &["native-histograms"],
    )
    .expect("prometheus");
    wait_for("the first native scrape", Duration::from_secs(30), || {
        prometheus.value(&format!("histogram_count({QUERY})"))
    });
    assert_schema(&prometheus, -1);
}

/// Every bucket Prometheus returns for the histogram spans a factor of `2^(2^-schema)`.
fn assert_schema(prometheus: &Prometheus, schema: i32) {
    let answer = prometheus.api(&format!("/api/v1/query?query={}", encode(QUERY)));
    let histogram: &Value = &answer["data"]["result"][0]["histogram"][1];
    let buckets = histogram["buckets"].as_array().expect("native buckets");
    assert!(buckets.len() > 3, "{histogram}");
    let factor = 2f64.powf(2f64.powi(-schema));
    for bucket in buckets {
        // [boundary rule, lower, upper, count]
        let lower: f64 = bucket[1].as_str().unwrap().parse().unwrap();
        let upper: f64 = bucket[2].as_str().unwrap().parse().unwrap();
        assert!(
            within(upper / lower, factor, 1e-9),
            "schema {schema}: {bucket} in {histogram}"
        );
    }
}
