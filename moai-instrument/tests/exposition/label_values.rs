//! Label values from data: arbitrary strings (quotes, backslashes, newlines, NUL, very long)
//! through `#[counted_event(event_type = ...)]` give an exposition that `promtool check metrics`
//! accepts and that the Prometheus client's own text parser reads back to the exact strings,
//! each as its own series (the stock exporter renders `\"` as `"\""` and collapses `\\`).

use moai_test_support as common;

use std::collections::BTreeMap;

use common::{metrics_with, promtool_check_metrics, python_with_client, run_with_stdin, tool};
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

#[test]
fn arbitrary_label_values_survive_the_exposition_intact() {
    if !common::own_process() {
        return;
    }
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
    let (code, stdout, stderr) = run_with_stdin(&python, &["-c", PARSE], &exposition);
    assert_eq!(code, Some(0), "the parser failed: {stderr}");
    let parsed: Vec<(String, f64)> = serde_json::from_str(&stdout).unwrap();
    let mut parsed: BTreeMap<String, f64> = parsed.into_iter().collect();
    // Other `#[counted_event]` sites of this test binary are registered at 0 too; they are not
    // values of this test.
    parsed.retain(|value, count| *count > 0.0 || expected.contains_key(value));
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
