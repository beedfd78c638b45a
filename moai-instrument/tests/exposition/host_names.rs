//! Whatever names and label keys host code records through the `metrics` facade, the exposition
//! stays valid: `promtool check metrics` parses it, the Prometheus Python client's parser reads
//! it, no sample repeats a label name, no name has two `# TYPE` lines, and every value recorded
//! under a name that was kept is there exactly once. The cases of the issue first, then a property
//! test over random sequences of registrations.
//!
//! Each case records into its own detached recorder (`__test_support::detached_recorder`), so cases never
//! see each other's families.

use moai_test_support as common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use common::registrations::{Op, Registration, registration};
use common::{install_log_capture, log_lines, promtool_lint, python_with_client};
use moai_instrument::__test_support::{detached_recorder, in_scope};
use moai_instrument::catalog::{CATALOG, MetricKind};
use moai_instrument::metrics::{self, Label};
use moai_instrument::{Config, HistogramMode, MetricsHandle};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::Value;

/// The findings of promtool's lint that judge a name's style (a counter without `_total`,
/// `camelCase`, `_ms`, ...). The SDK exports host names as given, only made valid, so these may
/// appear for host names; anything else promtool says, and any parse error, fails the test.
const NAME_STYLE_LINTS: &[&str] = &[
    "counter metrics should have \"_total\" suffix",
    "non-counter metrics should not have \"_total\" suffix",
    "metric names should be written in 'snake_case' not 'camelCase'",
    "label names should be written in 'snake_case' not 'camelCase'",
    "metric names should not contain abbreviated units",
    "metric names should not contain ':'",
    "non-histogram and non-summary metrics should not have \"_count\" suffix",
    "non-histogram and non-summary metrics should not have \"_sum\" suffix",
    "non-histogram metrics should not have \"_bucket\" suffix",
    "metric name should not include type",
    "use base unit",
];

/// Reads expositions with prometheus_client's text parser, one JSON string per input line, and
/// answers each with one JSON line: `{"samples": [[family type, sample name, labels, value]]}`
/// (non-finite values as strings) or `{"error": ...}`. One process serves a whole test, since
/// starting Python costs a third of a second.
const PARSER: &str = r#"
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
for line in sys.stdin:
    try:
        out = []
        for family in text_string_to_metric_families(json.loads(line)):
            for s in family.samples:
                value = s.value if math.isfinite(s.value) else str(s.value)
                out.append([family.type, s.name, s.labels, value])
        answer = {"samples": out}
    except Exception as e:
        answer = {"error": repr(e)}
    print(json.dumps(answer), flush=True)
"#;

/// The outside judges of an exposition: promtool and the Python client's parser. The parser
/// process is ended when this is dropped, pass or fail.
struct Judges {
    promtool: Option<std::path::PathBuf>,
    python: Option<(Child, BufReader<ChildStdout>)>,
}

impl Judges {
    fn new() -> Judges {
        let python = python_with_client().map(|python| {
            let mut child = Command::new(python)
                .args(["-c", PARSER])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the Python parser");
            let stdout = BufReader::new(child.stdout.take().unwrap());
            (child, stdout)
        });
        Judges {
            promtool: common::tool("promtool"),
            python,
        }
    }

    /// The samples as the Python client read them (empty without Python, after a loud skip).
    fn python_parse(&mut self, exposition: &str) -> Vec<Parsed> {
        let Some((child, stdout)) = &mut self.python else {
            return Vec::new();
        };
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", serde_json::to_string(exposition).unwrap()).unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        let answer: Value = serde_json::from_str(&answer).unwrap();
        if let Some(error) = answer.get("error") {
            panic!("the Python parser failed: {error}\n{exposition}");
        }
        let rows: Vec<(String, String, BTreeMap<String, String>, Value)> =
            serde_json::from_value(answer["samples"].clone()).unwrap();
        rows.into_iter()
            .map(|(kind, name, labels, value)| Parsed {
                kind,
                name,
                labels,
                value,
            })
            .collect()
    }
}

impl Drop for Judges {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.python {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One sample as the Python client read it.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    kind: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: Value,
}

/// Checks everything a scraper needs of `exposition` and returns its samples as the Python
/// client read them.
fn checked(judges: &mut Judges, exposition: &str) -> Vec<Parsed> {
    // One `# TYPE` line per name.
    let mut typed: HashMap<&str, usize> = HashMap::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            *typed.entry(name).or_default() += 1;
        }
    }
    for (name, count) in &typed {
        assert_eq!(*count, 1, "{name} has {count} TYPE lines:\n{exposition}");
    }
    // No label name twice in one sample (the Python parser would keep one silently).
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let names = label_names(line);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "repeated label in {line:?}");
    }
    if let Some(promtool) = &judges.promtool {
        let findings = promtool_lint(promtool, exposition)
            .unwrap_or_else(|e| panic!("promtool cannot parse it: {e}\n{exposition}"));
        for finding in findings {
            assert!(
                NAME_STYLE_LINTS.iter().any(|ok| finding.contains(ok)),
                "promtool: {finding}\n{exposition}"
            );
        }
    }
    judges.python_parse(exposition)
}

/// The label names of one sample line, read from the raw text (quoted values skipped).
fn label_names(line: &str) -> Vec<String> {
    let Some(open) = line.find('{') else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut chars = line[open + 1..].chars();
    let mut name = String::new();
    while let Some(c) = chars.next() {
        match c {
            '}' => break,
            ',' => {}
            '=' => {
                assert_eq!(chars.next(), Some('"'), "{line}");
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                names.push(std::mem::take(&mut name));
            }
            c => name.push(c),
        }
    }
    names
}

/// The samples named `name` with exactly these `labels`.
fn find<'a>(parsed: &'a [Parsed], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Parsed> {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parsed
        .iter()
        .filter(|p| p.name == name && p.labels == labels)
        .collect()
}

fn one_value(parsed: &[Parsed], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(parsed, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].value.as_f64().unwrap()
}

fn detached(mode: HistogramMode) -> MetricsHandle {
    install_log_capture();
    detached_recorder(Config::new().histogram_mode(mode)).expect("a detached recorder")
}

fn warnings(needle: &str) -> usize {
    log_lines(needle)
        .iter()
        .filter(|l| l.contains("WARN"))
        .count()
}

#[test]
fn names_that_sanitise_alike_are_one_family() {
    let handle = detached(HistogramMode::Summary);
    in_scope(&handle, || {
        metrics::counter!("jobs.done").increment(1);
        metrics::counter!("jobs_done").increment(2);
    });
    let exposition = handle.render();
    assert_eq!(exposition.matches("# TYPE jobs_done counter").count(), 1);
    let parsed = checked(&mut Judges::new(), &exposition);
    // The Python client reads a counter `x` as the family `x` with the sample `x_total`.
    assert_eq!(one_value(&parsed, "jobs_done_total", &[]), 3.0);
}

#[test]
fn label_keys_that_sanitise_alike_keep_the_first_value_with_one_warning() {
    let handle = detached(HistogramMode::Summary);
    in_scope(&handle, || {
        for _ in 0..3 {
            metrics::counter!("queue_total", "kind.a" => "x", "kind_a" => "y").increment(1);
        }
    });
    let exposition = handle.render();
    assert!(
        exposition.contains("queue_total{kind_a=\"x\"} 3\n"),
        "{exposition}"
    );
    let parsed = checked(&mut Judges::new(), &exposition);
    assert_eq!(one_value(&parsed, "queue_total", &[("kind_a", "x")]), 3.0);
    assert_eq!(
        warnings("metric queue_total: two labels become \"kind_a\""),
        1
    );
}

#[test]
fn reserved_label_keys_are_renamed_in_both_modes() {
    for mode in [HistogramMode::Summary, HistogramMode::Buckets] {
        let handle = detached(mode);
        let name = format!("reserved_{mode:?}_seconds").to_lowercase();
        in_scope(&handle, || {
            let labels = [("quantile", "q"), ("le", "l"), ("__meta", "m"), ("a", "1")];
            let labels: Vec<Label> = labels.iter().map(|&(k, v)| Label::new(k, v)).collect();
            metrics::histogram!(name.clone(), labels.clone()).record(0.25);
            metrics::gauge!(format!("{name}_gauge"), labels).set(2.0);
        });
        let exposition = handle.render();
        let parsed = checked(&mut Judges::new(), &exposition);
        let renamed = [
            ("a", "1"),
            ("exported___meta", "m"),
            ("exported_le", "l"),
            ("exported_quantile", "q"),
        ];
        assert_eq!(one_value(&parsed, &format!("{name}_count"), &renamed), 1.0);
        assert_eq!(one_value(&parsed, &format!("{name}_gauge"), &renamed), 2.0);
        let (generated, added) = match mode {
            HistogramMode::Summary => (name.clone(), "quantile"),
            _ => (format!("{name}_bucket"), "le"),
        };
        let series: Vec<&Parsed> = parsed.iter().filter(|p| p.name == generated).collect();
        assert!(!series.is_empty(), "{exposition}");
        for sample in series {
            assert!(sample.labels.contains_key(added), "{sample:?}");
            assert_eq!(sample.labels["exported_quantile"], "q");
            assert_eq!(sample.labels["exported_le"], "l");
        }
        for key in ["quantile", "le", "__meta"] {
            assert_eq!(
                warnings(&format!("metric {name}: label {key:?} is, or becomes")),
                1,
                "{key}"
            );
        }
    }
}

#[test]
fn generated_sample_names_are_never_typed_twice() {
    for mode in [HistogramMode::Summary, HistogramMode::Buckets] {
        let handle = detached(mode);
        let h = format!("gen_{mode:?}_seconds").to_lowercase();
        let jobs = format!("gen_{mode:?}_jobs").to_lowercase();
        in_scope(&handle, || {
            metrics::histogram!(h.clone()).record(2.0);
            metrics::gauge!(format!("{h}_count")).set(99.0);
            metrics::counter!(format!("{h}_sum")).increment(99);
            metrics::gauge!(format!("{h}.bucket")).set(99.0);
            // A gauge first, then a histogram whose `_sum` it would be.
            metrics::gauge!(format!("{jobs}_sum")).set(5.0);
            metrics::histogram!(jobs.clone()).record(99.0);
            // A counter and its `_total` form are one OpenMetrics family: the first is kept.
            metrics::counter!(jobs.clone()).increment(7);
            metrics::counter!(format!("{jobs}_total")).increment(99);
            metrics::gauge!(format!("{jobs}_total")).set(99.0);
            // The SDK's own generated names are taken from installation on.
            metrics::gauge!("moai_flow_query_duration_seconds_count").set(99.0);
            metrics::counter!("moai_flow_events").increment(99);
        });
        let exposition = handle.render();
        let parsed = checked(&mut Judges::new(), &exposition);
        assert!(!exposition.contains(" 99"), "{exposition}");
        assert_eq!(one_value(&parsed, &format!("{h}_count"), &[]), 1.0);
        assert_eq!(one_value(&parsed, &format!("{h}_sum"), &[]), 2.0);
        assert_eq!(one_value(&parsed, &format!("{jobs}_sum"), &[]), 5.0);
        assert_eq!(one_value(&parsed, &format!("{jobs}_total"), &[]), 7.0);
        for refused in [
            format!("metric {h}_count (Gauge) is refused"),
            format!("metric {h}_sum (Counter) is refused"),
            format!("metric {h}_bucket (Gauge) is refused"),
            format!("metric {jobs} (Histogram) is refused"),
            format!("metric {jobs}_total (Counter) is refused"),
            format!("metric {jobs}_total (Gauge) is refused"),
        ] {
            assert_eq!(warnings(&refused), 1, "{refused}");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A series: its name and its sorted labels, in exposition form.
type SeriesKey = (String, Vec<(String, String)>);

/// The documented rules (crate docs, "Host metric names"), written plainly: what the exposition
/// must hold after a sequence of registrations.
#[derive(Default)]
struct Model {
    kinds: HashMap<String, Kind>,
    /// Sample name (as an OpenMetrics parser reads it) -> the family that writes it.
    owners: HashMap<String, String>,
    series: BTreeMap<SeriesKey, (Kind, f64, u64)>,
}

fn valid(raw: &str, colon: bool) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' => c,
            ':' if colon => c,
            _ => '_',
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

impl Model {
    fn new() -> Self {
        let mut model = Model::default();
        for spec in CATALOG {
            let kind = match spec.kind {
                MetricKind::Counter => Kind::Counter,
                MetricKind::Gauge => Kind::Gauge,
                MetricKind::Histogram => Kind::Histogram,
            };
            assert!(model.admits(spec.name, kind));
        }
        model
    }

    /// The sample names parsers attribute to a family: a counter is `<base>_total` and names the
    /// family `<base>`, whichever of the two it was registered as.
    fn sample_names(name: &str, kind: Kind) -> Vec<String> {
        match kind {
            Kind::Gauge => vec![name.to_owned()],
            Kind::Counter => {
                let base = name.strip_suffix("_total").unwrap_or(name).to_owned();
                vec![format!("{base}_total"), base]
            }
            Kind::Histogram => vec![
                name.to_owned(),
                name.to_owned() + "_count",
                name.to_owned() + "_sum",
                name.to_owned() + "_bucket",
            ],
        }
    }

    fn admits(&mut self, name: &str, kind: Kind) -> bool {
        if let Some(first) = self.kinds.get(name) {
            return *first == kind;
        }
        let samples = Self::sample_names(name, kind);
        if samples.iter().any(|s| self.owners.contains_key(s)) {
            return false;
        }
        for sample in samples {
            self.owners.insert(sample, name.to_owned());
        }
        self.kinds.insert(name.to_owned(), kind);
        true
    }

    fn apply(&mut self, registration: &Registration) {
        let kind = match registration.op {
            Op::Count(_) => Kind::Counter,
            Op::Set(_) => Kind::Gauge,
            Op::Observe(_) => Kind::Histogram,
        };
        let mut name = valid(&registration.name, true);
        if name == "_total" {
            // A counter `_total` would be the family "" for OpenMetrics parsers.
            name.insert(0, '_');
        }
        let mut labels: Vec<(String, String)> = Vec::new();
        for (key, value) in &registration.labels {
            // An empty value is no label, as Prometheus reads it.
            if value.is_empty() {
                continue;
            }
            let mut key = valid(key, false);
            if key == "le" || key == "quantile" || key.starts_with("__") {
                key = format!("exported_{key}");
            }
            if labels.iter().all(|(k, _)| *k != key) {
                labels.push((key, value.clone()));
            }
        }
        labels.sort();
        if !self.admits(&name, kind) {
            return;
        }
        let entry = self.series.entry((name, labels)).or_insert((kind, 0.0, 0));
        match &registration.op {
            Op::Count(n) => entry.1 += *n as f64,
            Op::Set(v) => entry.1 = *v,
            Op::Observe(values) => {
                for v in values {
                    entry.1 += v;
                    entry.2 += 1;
                }
            }
        }
    }
}

/// Asserts that every series the model kept is in `parsed` exactly once with its value, and
/// that every other sample is one the SDK writes by itself (`baseline`: a fresh recorder's).
fn assert_kept_exactly_once(
    model: &Model,
    parsed: &[Parsed],
    baseline: &[Parsed],
    mode: HistogramMode,
) {
    let mut accounted = vec![false; parsed.len()];
    let mut take = |name: &str, labels: &[(String, String)], extra: Option<&str>| {
        let matches: Vec<usize> = (0..parsed.len())
            .filter(|&i| {
                let p = &parsed[i];
                let mut rest = p.labels.clone();
                let added = extra.map(|key| rest.remove(key).is_some());
                p.name == name
                    && added.unwrap_or(true)
                    && rest.len() == labels.len()
                    && labels.iter().all(|(k, v)| rest.get(k) == Some(v))
            })
            .collect();
        for &i in &matches {
            accounted[i] = true;
        }
        matches.into_iter().map(|i| &parsed[i]).collect::<Vec<_>>()
    };
    for ((name, labels), (kind, value, count)) in &model.series {
        let close = |sample: &Parsed, expected: f64| {
            let got = sample.value.as_f64().unwrap();
            (got - expected).abs() <= 1e-9 * expected.abs().max(1.0)
        };
        let single = |found: Vec<&Parsed>, what: &str, expected: f64| {
            assert_eq!(found.len(), 1, "{what} {labels:?}: {found:?}");
            assert!(
                close(found[0], expected),
                "{what} {labels:?}: {found:?} != {expected}"
            );
        };
        match kind {
            Kind::Counter => {
                let sample = format!("{}_total", name.strip_suffix("_total").unwrap_or(name));
                single(take(&sample, labels, None), &sample, *value);
            }
            Kind::Gauge => single(take(name, labels, None), name, *value),
            Kind::Histogram => {
                let count_name = format!("{name}_count");
                single(take(&count_name, labels, None), &count_name, *count as f64);
                let sum_name = format!("{name}_sum");
                single(take(&sum_name, labels, None), &sum_name, *value);
                let (generated, key, expected) = match mode {
                    HistogramMode::Summary => (name.clone(), "quantile", 4),
                    _ => (format!("{name}_bucket"), "le", 0),
                };
                let found = take(&generated, labels, Some(key));
                let mut keys: Vec<&String> = found.iter().map(|p| &p.labels[key]).collect();
                keys.sort();
                keys.dedup();
                assert_eq!(keys.len(), found.len(), "{generated}: a {key} twice");
                if expected > 0 {
                    assert_eq!(found.len(), expected, "{generated} {labels:?}");
                } else {
                    let inf = found.iter().find(|p| p.labels[key] == "+Inf");
                    assert!(inf.is_some_and(|p| close(p, *count as f64)), "{found:?}");
                }
            }
        }
    }
    for (sample, accounted) in parsed.iter().zip(accounted) {
        let sdk = baseline
            .iter()
            .any(|b| b.name == sample.name && b.labels == sample.labels);
        assert!(accounted || sdk, "a sample nobody recorded: {sample:?}");
    }
}

#[test]
fn any_sequence_of_registrations_gives_a_valid_exposition() {
    install_log_capture();
    let judges = RefCell::new(Judges::new());
    // What a fresh recorder writes by itself (build info, process metrics, the callsites of the
    // SDK's own SwarmDB at 0), per histogram mode.
    let baselines: RefCell<HashMap<bool, Vec<Parsed>>> = RefCell::default();
    let recorder = |mode| detached_recorder(Config::new().histogram_mode(mode)).unwrap();
    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let strategy = (prop::collection::vec(registration(), 1..=14), any::<bool>());
    TestRunner::new(config)
        .run(&strategy, |(registrations, buckets)| {
            let mode = if buckets {
                HistogramMode::Buckets
            } else {
                HistogramMode::Summary
            };
            let handle = recorder(mode);
            let mut model = Model::new();
            in_scope(&handle, || {
                for registration in &registrations {
                    registration.record();
                    model.apply(registration);
                }
            });
            let exposition = handle.render();
            let judges = &mut judges.borrow_mut();
            let parsed = checked(judges, &exposition);
            if !parsed.is_empty() {
                let mut baselines = baselines.borrow_mut();
                let baseline = baselines
                    .entry(buckets)
                    .or_insert_with(|| checked(judges, &recorder(mode).render()));
                assert_kept_exactly_once(&model, &parsed, baseline, mode);
            }
            Ok(())
        })
        .unwrap();
}
