//! Label values from data: arbitrary strings (quotes, backslashes, newlines, NUL, very long)
//! through `#[counted_event(event_type = ...)]` give an exposition that `promtool check metrics`
//! accepts and that the Prometheus client's own text parser reads back to the exact strings,
//! each as its own series (the stock exporter renders `\"` as `"\""` and collapses `\\`).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{metrics_with, promtool_check_metrics, tool};
use moai_instrument::{Config, counted_event};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

#[counted_event(event_type = kind)]
fn event(kind: &str) {}

/// Reads an exposition with prometheus_client's parser (the Prometheus project's Python client)
/// and prints the `event_type` of each `moai_flow_events_total` sample with its value, as JSON.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        if s.name == "moai_flow_events_total":
            out.append([s.labels.get("event_type", ""), s.value])
print(json.dumps(out))
"#;

fn python_with_client() -> Option<std::path::PathBuf> {
    let python = tool("python3")?;
    let ok = Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("MOAI_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("python3 has no prometheus_client (pip install prometheus_client)");
        }
        eprintln!(
            "\n*** SKIPPED: python3 has no prometheus_client; pip install prometheus_client ***\n"
        );
        return None;
    }
    Some(python)
}

#[test]
fn arbitrary_label_values_survive_the_exposition_intact() {
    let handle = metrics_with(|| Config::new().series_limit(5000));
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::string::string_regex("(?s).{0,40}").unwrap();
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    let mut values: Vec<String> = (0..400)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect();
    values.extend(
        [
            "\\\"",
            "\\\\",
            "\"\\\"\"",
            "trailing\\",
            "new\nline",
            "nul\0byte",
            "\u{2028}",
            "tab\t",
            "é ü 漢字 🦀",
        ]
        .map(str::to_owned),
    );
    values.push("long-".repeat(2000));
    for value in &values {
        event(value);
        *expected.entry(value.clone()).or_default() += 1.0;
    }
    let exposition = handle.render();

    if let Some(promtool) = tool("promtool") {
        promtool_check_metrics(&promtool, &exposition).unwrap_or_else(|e| panic!("promtool: {e}"));
    }
    let Some(python) = python_with_client() else {
        return;
    };
    let mut child = Command::new(python)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the parser failed");
    let parsed: Vec<(String, f64)> = serde_json::from_slice(&output.stdout).unwrap();
    let parsed: BTreeMap<String, f64> = parsed.into_iter().collect();
    for (value, count) in &expected {
        assert_eq!(
            parsed.get(value),
            Some(count),
            "{value:?} did not come back intact"
        );
    }
    assert_eq!(
        parsed.len(),
        expected.len(),
        "no two values were merged into one series"
    );
}
