//! The Prometheus text exposition format (version 0.0.4): `# HELP`, `# TYPE`, then one line per
//! sample, families sorted by name and series by labels so that output is stable between scrapes.
//! Names and label keys are already in their exposition form (`names`, at registration), so
//! nothing here can make two families of one name or repeat a label.
//!
//! Hand-written because it reads this recorder's own cells (windowed summaries, striped totals),
//! which no exposition crate's encoder takes; its speed against the Prometheus project's Python
//! client is in BENCHMARKS.md ("Scrape render time").

use std::fmt::Write as _;

use metrics::Key;

use super::histogram::{HistogramLayout, HistogramSnapshot};
use super::names::{BUCKET_LABEL, QUANTILE_LABEL};
use super::registry::{Kind, Registry, Series};

/// The `Content-Type` of what [`render`] produces.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The HELP text of a metric that host code recorded without describing it.
const UNDESCRIBED_HELP: &str =
    "Recorded by the application without a description (metrics::describe_* sets one)";

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
            let metric = name.as_str();
            // Every family has HELP text; an undescribed host metric says so.
            let help = registry.help(name);
            let help = help.as_deref().unwrap_or(UNDESCRIBED_HELP);
            let _ = writeln!(out, "# HELP {metric} {}", escape_help(help));
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
                render_series(&mut out, metric, &labels, series, layout);
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
                    let labels = joined(labels, &format!("{QUANTILE_LABEL}=\"{q}\""));
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
                    let labels = joined(labels, &format!("{BUCKET_LABEL}=\"{le}\""));
                    let _ = writeln!(out, "{metric}_bucket{} {running}", braced(&labels));
                }
                let _ = writeln!(out, "{metric}_sum{} {}", braced(labels), float(sum));
                let _ = writeln!(out, "{metric}_count{} {count}", braced(labels));
            }
        },
    }
}

/// `a="x",b="y"` for a key (already in exposition form), values escaped.
fn labels(key: &Key) -> String {
    let mut out = String::new();
    for (i, label) in key.labels().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(label.key());
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
    fn floats_use_prometheus_syntax() {
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(1e-7), "1e-7");
        assert_eq!("1e-7".parse::<f64>().ok(), Some(1e-7));
    }
}
