//! Random sequences of host registrations through the `metrics` facade: names and label keys
//! drawn from a small alphabet of what breaks expositions (`.`, `-`, `_`, digits, upper case, the
//! exposition's reserved words and generated suffixes, the SDK's own names), all three kinds.

use moai_instrument::metrics::{self, Label};
use proptest::prelude::*;

/// What host code does with one name: the facade's three kinds.
#[derive(Debug, Clone)]
pub enum Op {
    /// `counter!(..).increment(n)`.
    Count(u64),
    /// `gauge!(..).set(x)`.
    Set(f64),
    /// `histogram!(..).record(x)` for each value.
    Observe(Vec<f64>),
}

/// One registration: a name, its labels, and what is recorded.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The metric name as the host gives it.
    pub name: String,
    /// Label keys and values as given.
    pub labels: Vec<(String, String)>,
    /// What is recorded.
    pub op: Op,
}

impl Registration {
    /// Records through the facade into the current thread's recorder.
    pub fn record(&self) {
        let labels: Vec<Label> = self
            .labels
            .iter()
            .map(|(k, v)| Label::new(k.clone(), v.clone()))
            .collect();
        match &self.op {
            Op::Count(n) => metrics::counter!(self.name.clone(), labels).increment(*n),
            Op::Set(v) => metrics::gauge!(self.name.clone(), labels).set(*v),
            Op::Observe(values) => {
                let histogram = metrics::histogram!(self.name.clone(), labels);
                for v in values {
                    histogram.record(*v);
                }
            }
        }
    }
}

/// One registration: a name of one to three parts, up to three labels, a kind and its values.
pub fn registration() -> impl Strategy<Value = Registration> {
    let name_parts = prop::sample::select(vec![
        "jobs",
        "Jobs",
        "doneMs",
        "a",
        "Q",
        ".",
        "-",
        "_",
        "__",
        "9",
        ":",
        "é",
        "_total",
        "_count",
        "_sum",
        "_bucket",
        "quantile",
        "le",
        "moai_flow_events_total",
        "moai_flow_query_duration_seconds",
    ]);
    let key_parts = prop::sample::select(vec![
        "kind",
        "kind.a",
        "kind_a",
        "kind-a",
        "le",
        "quantile",
        "__name__",
        "__",
        "A",
        "9",
        "-",
        "exported_le",
        "",
        "event_type",
    ]);
    let values = prop::sample::select(vec!["x", "y", "", "a\"b", "back\\slash", "new\nline"]);
    let name = prop::collection::vec(name_parts, 1..=3).prop_map(|parts| parts.concat());
    let key = prop::collection::vec(key_parts, 1..=2).prop_map(|parts| parts.concat());
    let labels = prop::collection::vec((key, values.prop_map(str::to_owned)), 0..=3);
    let op = prop_oneof![
        (1..1000u64).prop_map(Op::Count),
        prop::sample::select(vec![-1.5, 0.0, 2.25, 1e6]).prop_map(Op::Set),
        prop::collection::vec(prop::sample::select(vec![0.001, 0.25, 1.5, 40.0]), 1..=3)
            .prop_map(Op::Observe),
    ];
    (name, labels, op).prop_map(|(name, labels, op)| Registration { name, labels, op })
}
