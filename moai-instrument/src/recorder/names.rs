//! What a metric name or label key becomes in the exposition, decided once, when its series is
//! first registered: every comparison the registry makes (family identity, kind, duplicate label
//! keys, the series limit) is then made on what Prometheus will see, never on the raw spelling.
//!
//! The rules (also in the crate docs, "Host metric names"):
//! - Characters outside `[a-zA-Z0-9_:]` (names) or `[a-zA-Z0-9_]` (label keys) become `_`, and a
//!   leading digit, an empty name or the name `_total` gets a `_` in front: `jobs.done` is
//!   `jobs_done`.
//! - Label keys the exposition writes itself (`quantile`, `le`) and keys starting with `__`
//!   (reserved by Prometheus) are renamed `exported_<key>`, as Prometheus renames a scraped label
//!   that collides with a target label. This holds for every kind and both histogram modes, so a
//!   series keeps its labels when the mode changes.
//! - When two keys of one series become the same key, the first one (in the order given) keeps
//!   its value and the others are dropped.
//! - A label with an empty value is no label, as Prometheus reads it: `m{queue=""}` and `m` are
//!   one series.
//! - Each family claims the names of the samples it writes: a gauge its name; a counter `c` (or
//!   `c_total`) both `c` and `c_total`, since OpenMetrics parsers read both as the family `c`; a
//!   histogram `h` in either mode `h`, `h_sum`, `h_count` and `h_bucket`. A new family whose
//!   claims meet another family's is refused, so one name never has two `# TYPE` lines.

use std::borrow::Cow;

use metrics::{Key, Label};

/// The label a summary adds to its quantile samples.
pub(crate) const QUANTILE_LABEL: &str = "quantile";
/// The label a histogram adds to its bucket samples.
pub(crate) const BUCKET_LABEL: &str = "le";
/// What a reserved label key is prefixed with, as Prometheus does on a label collision.
const EXPORTED_PREFIX: &str = "exported_";

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: other characters become `_`. A name that is only `_total` gets
/// another `_` in front too: OpenMetrics parsers read a counter `x_total` as the family `x`, and
/// an empty family name is invalid.
pub(crate) fn metric_name(name: &str) -> Cow<'_, str> {
    let name = sanitized(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if name == "_total" {
        Cow::Borrowed("__total")
    } else {
        name
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: other characters become `_`.
pub(crate) fn label_name(name: &str) -> Cow<'_, str> {
    sanitized(name, |c| c.is_ascii_alphanumeric() || c == '_')
}

fn sanitized(name: &str, allowed: impl Fn(char) -> bool) -> Cow<'_, str> {
    let leading_digit = name.starts_with(|c: char| c.is_ascii_digit());
    if !name.is_empty() && !leading_digit && name.chars().all(&allowed) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if name.is_empty() || leading_digit {
        out.push('_');
    }
    out.extend(name.chars().map(|c| if allowed(c) { c } else { '_' }));
    Cow::Owned(out)
}

/// A label key the exposition reserves for itself.
fn is_reserved(key: &str) -> bool {
    key == QUANTILE_LABEL || key == BUCKET_LABEL || key.starts_with("__")
}

/// Something a key lost on its way to the exposition, for the one WARN line it deserves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LabelChange {
    /// A reserved key (`quantile`, `le`, `__*`) was renamed.
    Reserved { from: String, to: String },
    /// The key became the same as an earlier key of the series; its value was dropped.
    Duplicate { key: String, dropped: String },
    /// The label's value was empty: Prometheus reads `m{queue=""}` as `m`, so it is no label.
    Empty { key: String },
}

/// A key in its exposition form: the name and label keys valid, reserved keys renamed, label keys
/// unique and sorted (so that label order never makes two series of one time series).
pub(crate) struct Exposed {
    pub(crate) key: Key,
    pub(crate) changes: Vec<LabelChange>,
    /// Label keys whose characters were made valid: (exposed key, the key as recorded), so that
    /// formats with UTF-8 names can write them as recorded.
    pub(crate) renamed_keys: Vec<(String, String)>,
}

pub(crate) fn exposed(key: &Key) -> Exposed {
    let name = metric_name(key.name());
    let mut changed = name != key.name();
    let mut changes = Vec::new();
    let mut renamed_keys = Vec::new();
    let mut labels: Vec<Label> = Vec::with_capacity(key.labels().len());
    for label in key.labels() {
        if label.value().is_empty() {
            // One series with `m`, as Prometheus stores them, instead of two samples it would
            // store as one (prometheus/prometheus#14102).
            changes.push(LabelChange::Empty {
                key: label.key().to_owned(),
            });
            changed = true;
            continue;
        }
        let mut exposed = label_name(label.key());
        if is_reserved(&exposed) {
            let renamed = format!("{EXPORTED_PREFIX}{exposed}");
            changes.push(LabelChange::Reserved {
                from: label.key().to_owned(),
                to: renamed.clone(),
            });
            exposed = Cow::Owned(renamed);
        }
        // Formats with UTF-8 names write the key as recorded, unless it is reserved as recorded.
        if exposed != label.key() && !is_reserved(label.key()) {
            renamed_keys.push((exposed.clone().into_owned(), label.key().to_owned()));
        }
        if labels.iter().any(|l| l.key() == exposed) {
            changes.push(LabelChange::Duplicate {
                key: exposed.into_owned(),
                dropped: label.value().to_owned(),
            });
            changed = true;
            continue;
        }
        match exposed {
            Cow::Borrowed(_) => labels.push(label.clone()),
            Cow::Owned(exposed) => {
                changed = true;
                labels.push(Label::new(exposed, label.value().to_owned()));
            }
        }
    }
    if !labels.is_sorted_by(|a, b| a.key() < b.key()) {
        labels.sort_by(|a, b| a.key().cmp(b.key()));
        changed = true;
    }
    let key = if changed {
        Key::from_parts(name.into_owned(), labels)
    } else {
        key.clone()
    };
    Exposed {
        key,
        changes,
        renamed_keys,
    }
}

/// The kind of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The sample names a family of `kind` named `name` (already in exposition form) writes or that
/// parsers attribute to it: no two families may share one.
pub(crate) fn claims(name: &str, kind: Kind) -> Vec<String> {
    match kind {
        Kind::Gauge => vec![name.to_owned()],
        Kind::Counter => {
            let base = name.strip_suffix("_total").unwrap_or(name);
            vec![base.to_owned(), format!("{base}_total")]
        }
        Kind::Histogram => ["", "_sum", "_count", "_bucket"]
            .iter()
            .map(|suffix| format!("{name}{suffix}"))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
        Key::from_parts(
            name,
            labels
                .iter()
                .map(|(k, v)| Label::from_static_parts(k, v))
                .collect::<Vec<_>>(),
        )
    }

    fn rendered(key: &Key) -> String {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(
            metric_name("moai_flow:events_total"),
            "moai_flow:events_total"
        );
        assert!(matches!(metric_name("jobs_done"), Cow::Borrowed(_)));
        assert_eq!(metric_name("jobs.done"), "jobs_done");
        assert_eq!(metric_name("9lives.total"), "_9lives_total");
        assert_eq!(metric_name("ünï"), "_n_");
        assert_eq!(metric_name(""), "_");
        assert_eq!(metric_name("_total"), "__total");
        assert_eq!(metric_name(".total"), "__total");
        assert_eq!(label_name("event-type"), "event_type");
        assert_eq!(label_name("a:b"), "a_b");
        assert_eq!(label_name(""), "_");
    }

    #[test]
    fn valid_sorted_keys_are_kept_as_they_are() {
        let exposed = exposed(&key("jobs_total", &[("a", "1"), ("b", "2")]));
        assert_eq!(rendered(&exposed.key), "jobs_total{a=1,b=2}");
        assert!(exposed.changes.is_empty());
    }

    #[test]
    fn label_keys_that_sanitise_alike_keep_the_first_value() {
        let exposed = exposed(&key("queue_total", &[("kind.a", "x"), ("kind_a", "y")]));
        assert_eq!(rendered(&exposed.key), "queue_total{kind_a=x}");
        assert_eq!(
            exposed.changes,
            [LabelChange::Duplicate {
                key: "kind_a".into(),
                dropped: "y".into()
            }]
        );
    }

    #[test]
    fn reserved_label_keys_are_renamed_and_sorted() {
        let exposed = exposed(&key(
            "h.seconds",
            &[
                ("quantile", "q"),
                ("le", "l"),
                ("__name__", "n"),
                ("a", "1"),
            ],
        ));
        assert_eq!(
            rendered(&exposed.key),
            "h_seconds{a=1,exported___name__=n,exported_le=l,exported_quantile=q}"
        );
        assert_eq!(exposed.changes.len(), 3);
        // A host key already named like the renamed one: the first keeps its value.
        let exposed = self::exposed(&key("g", &[("exported_le", "mine"), ("le", "theirs")]));
        assert_eq!(rendered(&exposed.key), "g{exported_le=mine}");
    }

    #[test]
    fn families_claim_their_generated_sample_names() {
        assert_eq!(claims("q", Kind::Gauge), ["q"]);
        assert_eq!(claims("jobs", Kind::Counter), ["jobs", "jobs_total"]);
        assert_eq!(claims("jobs_total", Kind::Counter), ["jobs", "jobs_total"]);
        assert_eq!(
            claims("h", Kind::Histogram),
            ["h", "h_sum", "h_count", "h_bucket"]
        );
    }
}
