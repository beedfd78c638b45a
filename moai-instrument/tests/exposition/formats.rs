//! Every text format a scraper can ask for, judged by the tool that reads it: OpenMetrics 1.0.0
//! and text 1.0.0 with UTF-8 names by the Prometheus project's Python client, text 0.0.4 by
//! promtool; each escaping scheme's names; and `/metrics` choosing by `Accept`, gzip when
//! accepted.

use moai_test_support as common;

use common::{metrics_with, python_with_client, run_with_stdin};
use moai_instrument::recorder::{Escaping, Format};
use moai_instrument::{Config, HistogramMode, metrics};

/// Reads stdin with prometheus_client's parser (`text` or `openmetrics`) and prints each
/// family's name and type and each sample's name, labels and value (non-finite ones as text), as
/// JSON.
const PARSE: &str = r#"
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families as text
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
parse = om if sys.argv[1] == "openmetrics" else text
out = []
for family in parse(sys.stdin.read()):
    out.append({"name": family.name, "type": family.type, "unit": getattr(family, "unit", ""),
                "samples": [[s.name, s.labels, s.value if math.isfinite(s.value) else str(s.value)]
                            for s in family.samples]})
print(json.dumps(out))
"#;

fn parsed(dialect: &str, exposition: &[u8]) -> serde_json::Value {
    let python = python_with_client().expect("python3 with prometheus_client");
    let text = String::from_utf8(exposition.to_vec()).unwrap();
    let (code, stdout, stderr) = run_with_stdin(&python, &["-c", PARSE, dialect], &text);
    assert_eq!(
        code,
        Some(0),
        "{dialect} parser refused it: {stderr}\n{text}"
    );
    serde_json::from_str(&stdout).unwrap()
}

fn family<'a>(families: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    families
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| {
            let names: Vec<&serde_json::Value> = families
                .as_array()
                .unwrap()
                .iter()
                .map(|f| &f["name"])
                .collect();
            panic!("no family {name} in {names:?}")
        })
}

fn record() {
    metrics::counter!("jobs.done", "queue.name" => "a\"b").increment(3);
    metrics::counter!("unicode_keys", "ключ" => "значение").increment(1);
    metrics::gauge!("moai_flow_agents_active").set(2.0);
    metrics::histogram!("moai_flow_query_duration_seconds", "query_type" => "get").record(0.25);
    // Sums OpenMetrics cannot call counters: one that fell (a negative value, the sum still
    // positive), and NaN (infinities of both signs).
    metrics::histogram!("host_negative").record(3.0);
    metrics::histogram!("host_negative").record(-1.0);
    metrics::histogram!("host_special").record(f64::INFINITY);
    metrics::histogram!("host_special").record(f64::NEG_INFINITY);
}

#[test]
fn each_format_parses_in_the_tool_that_reads_it() {
    if !common::own_process() {
        return;
    }
    let handle = metrics_with(|| Config::new().histogram_mode(HistogramMode::Buckets));
    record();

    // OpenMetrics 1.0.0: counters as `_total` samples of a family without it, units, `# EOF`.
    let om = handle.render_as(Format::OpenMetrics { v0_0_1: false });
    assert!(String::from_utf8_lossy(&om).ends_with("# EOF\n"));
    let families = parsed("openmetrics", &om);
    let jobs = family(&families, "jobs_done");
    assert_eq!(jobs["type"], "counter");
    assert_eq!(jobs["samples"][0][0], "jobs_done_total");
    assert_eq!(jobs["samples"][0][1]["queue_name"], "a\"b");
    assert_eq!(jobs["samples"][0][2], 3.0);
    let duration = family(&families, "moai_flow_query_duration_seconds");
    assert_eq!(
        (&duration["type"], &duration["unit"]),
        (&"histogram".into(), &"seconds".into())
    );
    assert_eq!(family(&families, "moai_flow_errors")["type"], "counter");
    // Without their `_sum` and `_count` there (the `+Inf` bucket counts), and with them in
    // text 0.0.4, which has no such rule.
    for name in ["host_negative", "host_special"] {
        let samples = family(&families, name)["samples"]
            .as_array()
            .unwrap()
            .clone();
        assert!(
            samples.iter().all(|s| s[0] != format!("{name}_sum")),
            "{samples:?}"
        );
        assert!(
            samples
                .iter()
                .any(|s| s[0] == format!("{name}_bucket") && s[1]["le"] == "+Inf"),
            "{samples:?}"
        );
    }

    // Text 1.0.0 with UTF-8 names: as recorded, quoted.
    let utf8 = handle.render_as(Format::Text100(Escaping::AllowUtf8));
    let text = String::from_utf8_lossy(&utf8).into_owned();
    assert!(
        text.contains(r#"{"jobs.done","queue.name"="a\"b"} 3"#),
        "{text}"
    );
    // A key that is reserved only once its characters are made valid is kept as recorded.
    assert!(
        text.contains(r#"unicode_keys{"ключ"="значение"} 1"#),
        "{text}"
    );
    let families = parsed("text", &utf8);
    let jobs = family(&families, "jobs.done");
    assert_eq!(jobs["samples"][0][1]["queue.name"], "a\"b");

    // The escaping schemes, as client_golang's model.EscapeName writes them.
    for (escaping, name, label, ours) in [
        (
            Escaping::Underscores,
            "jobs_done",
            "queue_name",
            "moai_flow_agents_active",
        ),
        (
            Escaping::Dots,
            "jobs_dot_done",
            "queue_dot_name",
            "moai__flow__agents__active",
        ),
        (
            Escaping::Values,
            "U__jobs_2e_done",
            "U__queue_2e_name",
            "moai_flow_agents_active",
        ),
    ] {
        let exposition = handle.render_as(Format::Text100(escaping));
        let families = parsed("text", &exposition);
        let jobs = family(&families, name);
        assert_eq!(jobs["samples"][0][1][label], "a\"b", "{escaping:?}");
        family(&families, ours);
    }

    // Text 0.0.4 is what it was: the names made valid at registration.
    let classic = handle.render_as(Format::Text004);
    assert!(String::from_utf8_lossy(&classic).contains(r#"jobs_done{queue_name="a\"b"} 3"#));
    assert!(String::from_utf8_lossy(&classic).contains("host_negative_sum 2.0\n"));
    family(&parsed("text", &classic), "jobs_done");
}

#[test]
fn metrics_answers_the_format_the_scraper_asks_for_gzipped_when_accepted() {
    use std::io::Read as _;
    if !common::own_process() {
        return;
    }
    let (_layer, guard) = Config::new()
        .metrics_addr("none")
        .log_dir(None::<&str>)
        .build()
        .unwrap();
    record();
    let routes = guard.routes();
    let scrape = |accept: Option<&str>, encoding: Option<&str>| {
        let mut request = moai_instrument::http::Request::get("/metrics");
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        if let Some(encoding) = encoding {
            request = request.header("Accept-Encoding", encoding);
        }
        routes.handle(&request.body(()).unwrap())
    };
    for (accept, content_type) in [
        (None, "text/plain; version=0.0.4; charset=utf-8"),
        (
            Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        (
            Some("text/plain;version=1.0.0;escaping=allow-utf8;q=0.9,*/*;q=0.1"),
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
        ),
        (
            Some("application/json"),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
    ] {
        let response = scrape(accept, None);
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            content_type,
            "{accept:?}"
        );
        assert!(response.headers().get("content-encoding").is_none());
    }
    let plain = scrape(None, None);
    let zipped = scrape(None, Some("gzip, deflate"));
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert!(
        zipped.body().len() < plain.body().len() / 2,
        "gzip shrinks a scrape"
    );
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&zipped.body()[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert!(unzipped.contains("moai_flow_build_info"), "{unzipped}");
    let refused = scrape(None, Some("gzip;q=0, identity"));
    assert!(refused.headers().get("content-encoding").is_none());
}
