//! The Prometheus text exposition format (version 0.0.4): `# HELP`, `# TYPE`, then one line per
//! sample, families sorted by name and series by labels so that output is stable between scrapes.

use std::fmt::Write as _;

use metrics::Key;

use super::histogram::{HistogramLayout, HistogramSnapshot};
use super::registry::{Kind, Registry, Series};

/// The `Content-Type` of what [`render`] produces.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) fn render(registry: &Registry) -> String {
    let layout = &registry.settings.layout;
    let mut out = String::with_capacity(4096);
    registry.with_families(|families| {
        let mut names: Vec<&String> = families.keys().collect();
        names.sort();
        for name in names {
            let family = &families[name];
            if family.series.is_empty() {
                continue;
            }
            let metric = metric_name(name);
            if let Some(help) = registry.help(name) {
                let _ = writeln!(out, "# HELP {metric} {}", escape_help(&help));
            }
            let kind = match (family.kind, layout) {
                (Kind::Counter, _) => "counter",
                (Kind::Gauge, _) => "gauge",
                (Kind::Histogram, HistogramLayout::Summary { .. }) => "summary",
                (Kind::Histogram, HistogramLayout::Buckets { .. }) => "histogram",
            };
            let _ = writeln!(out, "# TYPE {metric} {kind}");
            let mut series: Vec<(String, &Series)> = family
                .series
                .iter()
                .map(|(key, s)| (labels(key), s))
                .collect();
            series.sort_by(|a, b| a.0.cmp(&b.0));
            for (labels, series) in series {
                render_series(&mut out, &metric, &labels, series, layout);
            }
        }
    });
    out
}

fn render_series(
    out: &mut String,
    metric: &str,
    labels: &str,
    series: &Series,
    layout: &HistogramLayout,
) {
    match series {
        Series::Counter(cell) => {
            let _ = writeln!(out, "{metric}{} {}", braced(labels), cell.get());
        }
        Series::Gauge(cell) | Series::FloatCounter(cell) => {
            let _ = writeln!(out, "{metric}{} {}", braced(labels), float(cell.get()));
        }
        Series::Histogram(cell) => match cell.snapshot(layout) {
            HistogramSnapshot::Summary {
                quantiles,
                sum,
                count,
            } => {
                for (q, value) in quantiles {
                    let labels = joined(labels, &format!("quantile=\"{q}\""));
                    let _ = writeln!(out, "{metric}{} {}", braced(&labels), float(value));
                }
                let _ = writeln!(out, "{metric}_sum{} {}", braced(labels), float(sum));
                let _ = writeln!(out, "{metric}_count{} {count}", braced(labels));
            }
            HistogramSnapshot::Buckets {
                cumulative,
                sum,
                count,
            } => {
                for (bound, running) in cumulative {
                    let le = if bound.is_infinite() {
                        "+Inf".to_owned()
                    } else {
                        bound.to_string()
                    };
                    let labels = joined(labels, &format!("le=\"{le}\""));
                    let _ = writeln!(out, "{metric}_bucket{} {running}", braced(&labels));
                }
                let _ = writeln!(out, "{metric}_sum{} {}", braced(labels), float(sum));
                let _ = writeln!(out, "{metric}_count{} {count}", braced(labels));
            }
        },
    }
}

/// `a="x",b="y"` for a key, label names made valid and values escaped.
fn labels(key: &Key) -> String {
    let mut out = String::new();
    for (i, label) in key.labels().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&label_name(label.key()));
        out.push_str("=\"");
        escape_label_value(&mut out, label.value());
        out.push('"');
    }
    out
}

fn joined(labels: &str, extra: &str) -> String {
    if labels.is_empty() {
        extra.to_owned()
    } else {
        format!("{labels},{extra}")
    }
}

fn braced(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

/// Go's float syntax, which Prometheus parses: `NaN`, `+Inf`, `-Inf`, else the shortest
/// round-tripping decimal (Rust's `Debug`, which switches to exponents for tiny and huge values).
fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        }
    } else {
        format!("{value:?}")
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: other characters become `_`.
pub(crate) fn metric_name(name: &str) -> String {
    sanitized(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: other characters become `_`.
fn label_name(name: &str) -> String {
    sanitized(name, |c| c.is_ascii_alphanumeric() || c == '_')
}

fn sanitized(name: &str, allowed: impl Fn(char) -> bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Label values escape `\`, `"` and newline; everything else is written as is.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text escapes `\` and newline.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_round_trip_through_escaping() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\"b\\c\nd\\\"");
        assert_eq!(out, r#"a\"b\\c\nd\\\""#);
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(
            metric_name("moai_flow:events_total"),
            "moai_flow:events_total"
        );
        assert_eq!(metric_name("9lives.total"), "_9lives_total");
        assert_eq!(label_name("event-type"), "event_type");
        assert_eq!(label_name(""), "_");
    }

    #[test]
    fn floats_use_prometheus_syntax() {
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(1e-7), "1e-7");
        assert_eq!("1e-7".parse::<f64>().ok(), Some(1e-7));
    }
}
