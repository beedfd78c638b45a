//! The text exposition formats: Prometheus text 0.0.4 (the default), text 1.0.0 with UTF-8 names
//! and its `escaping` schemes, and OpenMetrics 1.0.0 (see [`Format`]). `# HELP`, `# TYPE`, then
//! one line per sample, families sorted by name and series by labels (the registry keeps them
//! in that order) so that output is stable between scrapes. Everything is written straight into
//! one buffer sized from the last scrape: no string per line or label set.
//! Names and label keys are already in their exposition form (`names`, at registration), so
//! nothing here can make two families of one name or repeat a label; formats with UTF-8 names
//! write a name as the host recorded it (the registry keeps that spelling).
//!
//! Hand-written because it reads this recorder's own cells (windowed summaries, striped totals),
//! which no exposition crate's encoder takes; its speed against the Prometheus project's Python
//! client is in BENCHMARKS.md ("Scrape render time").

use std::borrow::Cow;
use std::fmt::Write as _;

use metrics::Key;

use super::exemplar::Exemplar;
use super::format::{Escaping, Format};
use super::histogram::{HistogramLayout, HistogramSnapshot};
use super::names::Kind;
use super::names::{BUCKET_LABEL, QUANTILE_LABEL};
use super::registry::{Family, Registry, Series};

/// The `Content-Type` of [`render`]'s output (text 0.0.4).
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Units OpenMetrics' `# UNIT` names, for a family whose name ends in `_<unit>`.
const UNITS: &[&str] = &[
    "seconds", "bytes", "ratio", "percent", "celsius", "meters", "grams", "joules", "volts",
    "amperes",
];

/// Text 0.0.4.
pub(crate) fn render(registry: &Registry) -> String {
    render_as(registry, Format::Text004)
}

/// `format`'s exposition of everything in `registry`.
pub(crate) fn render_as(registry: &Registry, format: Format) -> String {
    let layout = &registry.settings.layout;
    let open_metrics = matches!(format, Format::OpenMetrics { .. });
    // Sized from the last scrape, so the buffer is allocated once, not regrown line by line.
    let mut out = String::with_capacity(registry.last_render_len() + 4096);
    let extra = ExtraLabels::of(layout);
    registry.for_each_family(|name, family, help| {
        let names = FamilyNames::of(name, family, format);
        out.push_str("# HELP ");
        names.push_family(&mut out);
        out.push(' ');
        escape_help(&mut out, help, open_metrics);
        out.push_str("\n# TYPE ");
        names.push_family(&mut out);
        out.push_str(match (family.kind, layout) {
            (Kind::Counter, _) => " counter\n",
            (Kind::Gauge, _) => " gauge\n",
            (Kind::Histogram, HistogramLayout::Summary { .. }) => " summary\n",
            (Kind::Histogram, HistogramLayout::Buckets { .. }) => " histogram\n",
        });
        if open_metrics && let Some(unit) = unit_of(&names.family) {
            out.push_str("# UNIT ");
            names.push_family(&mut out);
            out.push(' ');
            out.push_str(unit);
            out.push('\n');
        }
        for (key, series) in &family.series {
            render_series(&mut out, &names, key, series, layout, &extra);
        }
    });
    if open_metrics {
        out.push_str("# EOF\n");
    }
    registry.set_last_render_len(out.len());
    out
}

/// The unit a family's name ends with, for OpenMetrics' `# UNIT`.
fn unit_of(family: &str) -> Option<&'static str> {
    UNITS.iter().copied().find(|unit| {
        family
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_') && rest.len() > 1)
    })
}

/// How one family's names are written in a format: the family's name (HELP, TYPE), the base of
/// its sample names, whether they are quoted (a UTF-8 name that the classic syntax cannot hold),
/// and its label keys when they differ from their exposition form.
struct FamilyNames<'a> {
    family: Cow<'a, str>,
    sample: Cow<'a, str>,
    quoted: bool,
    /// (exposition key, key as written); `None`: every key as in the exposition.
    keys: Option<Vec<(&'a str, String)>>,
    allow_utf8: bool,
    /// Whether samples carry their exemplars (OpenMetrics).
    exemplars: bool,
}

impl<'a> FamilyNames<'a> {
    fn of(name: &'a str, family: &'a Family, format: Format) -> Self {
        match format {
            // Protobuf is written by `protobuf`, with these names.
            Format::Text004 | Format::Protobuf => FamilyNames {
                family: Cow::Borrowed(name),
                sample: Cow::Borrowed(name),
                quoted: false,
                keys: None,
                allow_utf8: false,
                exemplars: false,
            },
            Format::OpenMetrics { .. } => {
                // An OpenMetrics counter family is named without `_total`; its sample with it.
                let (family_name, sample) = match family.kind {
                    Kind::Counter => {
                        let base = name.strip_suffix("_total").unwrap_or(name);
                        (Cow::Borrowed(base), Cow::Owned(format!("{base}_total")))
                    }
                    _ => (Cow::Borrowed(name), Cow::Borrowed(name)),
                };
                FamilyNames {
                    family: family_name,
                    sample,
                    quoted: false,
                    keys: None,
                    allow_utf8: false,
                    exemplars: true,
                }
            }
            Format::Text100(escaping) => {
                let recorded = family.recorded_name.as_deref().unwrap_or(name);
                let escaped = escape_name(recorded, escaping);
                let allow_utf8 = escaping == Escaping::AllowUtf8;
                let keys = (escaping != Escaping::Underscores || !family.recorded_keys.is_empty())
                    .then(|| key_names(family, escaping));
                FamilyNames {
                    quoted: allow_utf8 && !is_legacy_name(&escaped),
                    family: escaped.clone(),
                    sample: escaped,
                    keys,
                    allow_utf8,
                    exemplars: false,
                }
            }
        }
    }

    /// The family's name, quoted if need be.
    fn push_family(&self, out: &mut String) {
        if self.quoted {
            out.push('"');
            escape_quoted(out, &self.family);
            out.push('"');
        } else {
            out.push_str(&self.family);
        }
    }

    /// A label key as this format writes it.
    fn push_key(&self, out: &mut String, key: &str) {
        let written = self
            .keys
            .as_ref()
            .and_then(|keys| keys.iter().find(|(k, _)| *k == key))
            .map_or(key, |(_, written)| written.as_str());
        if self.allow_utf8 && !is_legacy_name(written) {
            out.push('"');
            escape_quoted(out, written);
            out.push('"');
        } else {
            out.push_str(written);
        }
    }
}

/// Every label key of `family`'s series, escaped as `escaping` says from the key as recorded.
fn key_names(family: &Family, escaping: Escaping) -> Vec<(&str, String)> {
    let mut keys: Vec<(&str, String)> = Vec::new();
    for key in family.series.keys() {
        for label in key.labels() {
            if keys.iter().any(|(k, _)| *k == label.key()) {
                continue;
            }
            let recorded = family
                .recorded_keys
                .iter()
                .find(|(exposed, _)| exposed == label.key())
                .map_or(label.key(), |(_, recorded)| recorded.as_str());
            let escaped = escape_name(recorded, escaping);
            // An escaping that makes a key Prometheus reserves (`__...`: `dots` turns `0-x` into
            // `__x`, any scheme may for a key of non-ASCII letters) keeps its exposition form,
            // which is valid and unreserved, so that the scrape parses.
            let written = if escaping != Escaping::AllowUtf8 && escaped.starts_with("__") {
                label.key().to_owned()
            } else {
                escaped.into_owned()
            };
            keys.push((label.key(), written));
        }
    }
    keys
}

/// Whether `name` fits the classic syntax `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_legacy_name(name: &str) -> bool {
    !name.is_empty() && name.char_indices().all(|(i, c)| is_legacy_char(c, i))
}

fn is_legacy_char(c: char, at: usize) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (c.is_ascii_digit() && at > 0)
}

/// `name` escaped by `escaping`, as client_golang's `model.EscapeName`.
fn escape_name(name: &str, escaping: Escaping) -> Cow<'_, str> {
    match escaping {
        Escaping::AllowUtf8 => Cow::Borrowed(name),
        Escaping::Underscores if is_legacy_name(name) => Cow::Borrowed(name),
        Escaping::Underscores => Cow::Owned(
            name.char_indices()
                .map(|(i, c)| if is_legacy_char(c, i) { c } else { '_' })
                .collect(),
        ),
        Escaping::Dots => {
            let mut out = String::with_capacity(name.len() + 8);
            for (i, c) in name.char_indices() {
                match c {
                    '_' => out.push_str("__"),
                    '.' => out.push_str("_dot_"),
                    c if is_legacy_char(c, i) => out.push(c),
                    _ => out.push_str("__"),
                }
            }
            Cow::Owned(out)
        }
        Escaping::Values if is_legacy_name(name) => Cow::Borrowed(name),
        Escaping::Values => {
            let mut out = String::from("U__");
            for (i, c) in name.char_indices() {
                match c {
                    '_' => out.push_str("__"),
                    c if is_legacy_char(c, i) => out.push(c),
                    c => {
                        let _ = write!(out, "_{:x}_", u32::from(c));
                    }
                }
            }
            Cow::Owned(out)
        }
    }
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
            HistogramLayout::Buckets { bounds, .. } => bounds
                .iter()
                .map(|b| format!("{BUCKET_LABEL}=\"{b}\""))
                .chain(std::iter::once(format!("{BUCKET_LABEL}=\"+Inf\"")))
                .collect(),
        })
    }
}

fn render_series(
    out: &mut String,
    names: &FamilyNames<'_>,
    key: &Key,
    series: &Series,
    layout: &HistogramLayout,
    extra: &ExtraLabels,
) {
    match series {
        Series::Counter(cell) => {
            sample_start(out, names, "", key, None);
            push_u64(out, cell.get());
            if names.exemplars
                && let Some(exemplar) = cell.exemplar()
            {
                push_exemplar(out, &exemplar);
            }
            out.push('\n');
        }
        Series::Gauge(cell) | Series::FloatCounter(cell) => {
            sample_start(out, names, "", key, None);
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
                        sample_start(out, names, "", key, Some(label));
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
                    for (i, ((_, running), label)) in
                        cumulative.into_iter().zip(&extra.0).enumerate()
                    {
                        sample_start(out, names, "_bucket", key, Some(label));
                        push_u64(out, running);
                        if names.exemplars
                            && let Some(exemplar) = cell.exemplar(i)
                        {
                            push_exemplar(out, &exemplar);
                        }
                        out.push('\n');
                    }
                    (sum, count)
                }
            };
            sample_start(out, names, "_sum", key, None);
            push_float(out, sum);
            out.push('\n');
            sample_start(out, names, "_count", key, None);
            push_u64(out, count);
            out.push('\n');
        }
    }
}

/// `name{a="x",b="y",extra} ` (no braces without labels), or for a quoted UTF-8 name
/// `{"name",a="x"} `: a sample line up to its value.
fn sample_start(
    out: &mut String,
    names: &FamilyNames<'_>,
    suffix: &str,
    key: &Key,
    extra: Option<&str>,
) {
    let mut first = true;
    if names.quoted {
        out.push_str("{\"");
        escape_quoted(out, &names.sample);
        out.push_str(suffix);
        out.push('"');
        first = false;
    } else {
        out.push_str(&names.sample);
        out.push_str(suffix);
    }
    let mut labels = key.labels().peekable();
    if labels.peek().is_some() || extra.is_some() || names.quoted {
        if !names.quoted {
            out.push('{');
        }
        for label in labels {
            if !first {
                out.push(',');
            }
            first = false;
            names.push_key(out, label.key());
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

/// OpenMetrics' exemplar after a sample's value: ` # {trace_id="...",span_id="..."} value time`.
fn push_exemplar(out: &mut String, exemplar: &Exemplar) {
    let _ = write!(
        out,
        " # {{trace_id=\"{:032x}\",span_id=\"{:016x}\"}} ",
        exemplar.trace.trace_id, exemplar.trace.span_id
    );
    push_float(out, exemplar.value);
    let _ = write!(out, " {:.3}", exemplar.unix_seconds);
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

/// HELP text escapes `\` and newline (OpenMetrics: and `"`).
fn escape_help(out: &mut String, help: &str, open_metrics: bool) {
    escape(out, help, |c| match c {
        '\\' => Some("\\\\"),
        '\n' => Some("\\n"),
        '"' if open_metrics => Some("\\\""),
        _ => None,
    });
}

/// A quoted name escapes what a label value escapes.
fn escape_quoted(out: &mut String, name: &str) {
    escape_label_value(out, name);
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
        escape_help(&mut out, "a\\b\n\"c\"", false);
        assert_eq!(out, r#"a\\b\n"c""#);
    }
}
