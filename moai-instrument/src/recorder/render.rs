//! The Prometheus text exposition format (version 0.0.4): `# HELP`, `# TYPE`, then one line per
//! sample, families sorted by name and series by labels (the registry keeps them in that order)
//! so that output is stable between scrapes. Everything is written straight into one buffer
//! sized from the last scrape: no string per line or label set.
//! Names and label keys are already in their exposition form (`names`, at registration), so
//! nothing here can make two families of one name or repeat a label.
//!
//! Hand-written because it reads this recorder's own cells (windowed summaries, striped totals),
//! which no exposition crate's encoder takes; its speed against the Prometheus project's Python
//! client is in BENCHMARKS.md ("Scrape render time").

use std::fmt::Write as _;

use metrics::Key;

use super::histogram::{HistogramLayout, HistogramSnapshot};
use super::names::Kind;
use super::names::{BUCKET_LABEL, QUANTILE_LABEL};
use super::registry::{Registry, Series};

/// The `Content-Type` of what [`render`] produces.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The HELP text of a metric that host code recorded without describing it.
const UNDESCRIBED_HELP: &str =
    "Recorded by the application without a description (metrics::describe_* sets one)";

pub(crate) fn render(registry: &Registry) -> String {
    let layout = &registry.settings.layout;
    // Sized from the last scrape, so the buffer is allocated once, not regrown line by line.
    let mut out = String::with_capacity(registry.last_render_len() + 4096);
    let extra = ExtraLabels::of(layout);
    registry.with_families(|families| {
        registry.with_help(|help| {
            let mut names: Vec<&String> = families.keys().collect();
            names.sort_unstable();
            for name in names {
                let family = &families[name];
                if family.series.is_empty() {
                    continue;
                }
                let metric = name.as_str();
                // Every family has HELP text; an undescribed host metric says so.
                let help = help.get(name).map_or(UNDESCRIBED_HELP, String::as_str);
                out.push_str("# HELP ");
                out.push_str(metric);
                out.push(' ');
                escape_help(&mut out, help);
                out.push_str("\n# TYPE ");
                out.push_str(metric);
                out.push_str(match (family.kind, layout) {
                    (Kind::Counter, _) => " counter\n",
                    (Kind::Gauge, _) => " gauge\n",
                    (Kind::Histogram, HistogramLayout::Summary { .. }) => " summary\n",
                    (Kind::Histogram, HistogramLayout::Buckets { .. }) => " histogram\n",
                });
                for (key, series) in &family.series {
                    render_series(&mut out, metric, key, series, layout, &extra);
                }
            }
        });
    });
    registry.set_last_render_len(out.len());
    out
}

/// The `quantile="..."` or `le="..."` label of each quantile or bucket bound, written once per
/// render instead of once per series.
struct ExtraLabels(Vec<String>);

impl ExtraLabels {
    fn of(layout: &HistogramLayout) -> Self {
        ExtraLabels(match layout {
            HistogramLayout::Summary { quantiles } => quantiles
                .iter()
                .map(|q| format!("{QUANTILE_LABEL}=\"{q}\""))
                .collect(),
            HistogramLayout::Buckets { bounds } => bounds
                .iter()
                .map(|b| format!("{BUCKET_LABEL}=\"{b}\""))
                .chain(std::iter::once(format!("{BUCKET_LABEL}=\"+Inf\"")))
                .collect(),
        })
    }
}

fn render_series(
    out: &mut String,
    metric: &str,
    key: &Key,
    series: &Series,
    layout: &HistogramLayout,
    extra: &ExtraLabels,
) {
    match series {
        Series::Counter(cell) => {
            sample_start(out, metric, "", key, None);
            push_u64(out, cell.get());
            out.push('\n');
        }
        Series::Gauge(cell) | Series::FloatCounter(cell) => {
            sample_start(out, metric, "", key, None);
            push_float(out, cell.get());
            out.push('\n');
        }
        Series::Histogram(cell) => {
            let (sum, count) = match cell.snapshot(layout) {
                HistogramSnapshot::Summary {
                    quantiles,
                    sum,
                    count,
                } => {
                    for ((_, value), label) in quantiles.into_iter().zip(&extra.0) {
                        sample_start(out, metric, "", key, Some(label));
                        push_float(out, value);
                        out.push('\n');
                    }
                    (sum, count)
                }
                HistogramSnapshot::Buckets {
                    cumulative,
                    sum,
                    count,
                } => {
                    for ((_, running), label) in cumulative.into_iter().zip(&extra.0) {
                        sample_start(out, metric, "_bucket", key, Some(label));
                        push_u64(out, running);
                        out.push('\n');
                    }
                    (sum, count)
                }
            };
            sample_start(out, metric, "_sum", key, None);
            push_float(out, sum);
            out.push('\n');
            sample_start(out, metric, "_count", key, None);
            push_u64(out, count);
            out.push('\n');
        }
    }
}

/// `name{a="x",b="y",extra} ` (no braces without labels): a sample line up to its value.
fn sample_start(out: &mut String, metric: &str, suffix: &str, key: &Key, extra: Option<&str>) {
    out.push_str(metric);
    out.push_str(suffix);
    let mut labels = key.labels().peekable();
    if labels.peek().is_some() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for label in labels {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(label.key());
            out.push_str("=\"");
            escape_label_value(out, label.value());
            out.push('"');
        }
        if let Some(extra) = extra {
            if !first {
                out.push(',');
            }
            out.push_str(extra);
        }
        out.push('}');
    }
    out.push(' ');
}

/// A counter's decimal digits, without the formatting machinery.
fn push_u64(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or("0"));
}

/// Go's float syntax, which Prometheus parses: `NaN`, `+Inf`, `-Inf`, else the shortest
/// round-tripping decimal (Rust's `Debug`, which switches to exponents for tiny and huge values).
fn push_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value:?}");
    }
}

/// Label values escape `\`, `"` and newline; everything else is written as is.
fn escape_label_value(out: &mut String, value: &str) {
    escape(out, value, |c| match c {
        '\\' => Some("\\\\"),
        '"' => Some("\\\""),
        '\n' => Some("\\n"),
        _ => None,
    });
}

/// HELP text escapes `\` and newline.
fn escape_help(out: &mut String, help: &str) {
    escape(out, help, |c| match c {
        '\\' => Some("\\\\"),
        '\n' => Some("\\n"),
        _ => None,
    });
}

/// `text` with each character that `escaped` names replaced; text without any is copied whole.
fn escape(out: &mut String, text: &str, escaped: impl Fn(char) -> Option<&'static str>) {
    let mut from = 0;
    for (at, c) in text.char_indices() {
        if let Some(replacement) = escaped(c) {
            out.push_str(&text[from..at]);
            out.push_str(replacement);
            from = at + c.len_utf8();
        }
    }
    out.push_str(&text[from..]);
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

    fn float(value: f64) -> String {
        let mut out = String::new();
        push_float(&mut out, value);
        out
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

    #[test]
    fn integers_and_help_text_are_written_exactly() {
        for value in [0, 7, 10, 1_234_567_890, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, value);
            assert_eq!(out, value.to_string());
        }
        let mut out = String::new();
        escape_help(&mut out, "a\\b\n\"c\"");
        assert_eq!(out, r#"a\\b\n"c""#);
    }
}
