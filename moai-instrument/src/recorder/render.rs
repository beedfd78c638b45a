//! The text exposition formats: Prometheus text 0.0.4 (the default), text 1.0.0 with UTF-8 names
//! and its `escaping` schemes, and OpenMetrics 1.0.0 (see [`Format`]). `# HELP`, `# TYPE`, then
//! one line per sample, families sorted by name and series by labels (the registry keeps them
//! in that order) so that output is stable between scrapes. Text 0.0.4 and OpenMetrics, what
//! Prometheus asks for, render from a compiled exposition (`template`); text 1.0.0 writes every
//! line at each scrape. Either way into one buffer sized from the last scrape.
//! Names and label keys are already in their exposition form (`names`, at registration), so
//! nothing here can make two families of one name or repeat a label; formats with UTF-8 names
//! write a name as the host recorded it (the registry keeps that spelling).
//!
//! Hand-written because it reads this recorder's own cells (windowed summaries, striped totals),
//! which no exposition crate's encoder takes; its speed against measured, prometheus-client and
//! the Prometheus project's Python client is in BENCHMARKS.md.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use metrics::Key;

use super::exemplar::Exemplar;
use super::format::{Escaping, Format};
use super::histogram::{HistogramCell, HistogramLayout, HistogramSnapshot};
use super::label_text::{escape, escape_label_value};
use super::names::Kind;
use super::names::{BUCKET_LABEL, QUANTILE_LABEL};
use super::registry::{Family, Registry, Series, each_family};
use super::template::{Piece, Template};

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
    match format {
        // The formats Prometheus scrapes by default: from their compiled template.
        Format::Text004 | Format::OpenMetrics { .. } => registry.with_template(
            usize::from(open_metrics),
            |families, generation| compile(families, generation, format, layout),
            |template| emit(&mut out, template, open_metrics, layout, &extra),
        ),
        Format::Text100(_) | Format::Protobuf => registry.for_each_family(|name, family, help| {
            write_family(&mut out, name, family, help, format, layout, &extra);
        }),
    }
    if open_metrics {
        out.push_str("# EOF\n");
    }
    registry.set_last_render_len(out.len());
    out
}

/// One family in `format`, values included.
fn write_family(
    out: &mut String,
    name: &str,
    family: &Family,
    help: &str,
    format: Format,
    layout: &HistogramLayout,
    extra: &ExtraLabels,
) {
    let names = FamilyNames::of(name, family, format);
    write_header(out, &names, family.kind, layout, help, names.open_metrics);
    // Labels as the registry wrote them at registration, unless this format writes the keys or
    // the name differently (text 1.0.0's escapings of recorded spellings).
    let written_at_registration = names.keys.is_none() && !names.quoted;
    for (key, entry) in &family.series {
        let labels = if written_at_registration {
            Labels::Text(&entry.labels)
        } else {
            Labels::Key(key)
        };
        render_series(out, &names, labels, &entry.series, layout, extra);
    }
}

/// The template of `format` (text 0.0.4 or OpenMetrics) for `families`: everything but the
/// values, which [`emit`] writes.
fn compile(
    families: &BTreeMap<String, Family>,
    generation: u64,
    format: Format,
    layout: &HistogramLayout,
) -> Template {
    let mut text = String::new();
    let mut pieces = Vec::new();
    each_family(families, |name, family, help| {
        let names = FamilyNames::of(name, family, format);
        write_header(
            &mut text,
            &names,
            family.kind,
            layout,
            help,
            names.open_metrics,
        );
        for (_, entry) in &family.series {
            let labels = Labels::Text(&entry.labels);
            let mut value_line = |piece: &dyn Fn(usize) -> Piece| {
                sample_start(&mut text, &names, "", labels, None);
                pieces.push(piece(text.len()));
                text.push('\n');
            };
            match &entry.series {
                Series::Counter(cell) => value_line(&|end| Piece::Counter {
                    end,
                    cell: Arc::clone(cell),
                }),
                Series::Gauge(cell) | Series::FloatCounter(cell) => {
                    value_line(&|end| Piece::Float {
                        end,
                        cell: Arc::clone(cell),
                    })
                }
                Series::Histogram(cell) => pieces.push(Piece::Histogram {
                    end: text.len(),
                    cell: Arc::clone(cell),
                    sample: names.sample.as_ref().into(),
                    labels: entry.labels.clone(),
                }),
            }
        }
    });
    Template {
        generation,
        text,
        pieces,
    }
}

/// The exposition from `template`: its text with the values of now between the pieces.
fn emit(
    out: &mut String,
    template: &Template,
    open_metrics: bool,
    layout: &HistogramLayout,
    extra: &ExtraLabels,
) {
    let mut at = 0;
    for piece in &template.pieces {
        let end = piece.end();
        out.push_str(&template.text[at..end]);
        at = end;
        match piece {
            Piece::Counter { cell, .. } => {
                push_u64(out, cell.get());
                if open_metrics && let Some(exemplar) = cell.exemplar() {
                    push_exemplar(out, &exemplar);
                }
            }
            Piece::Float { cell, .. } => push_float(out, cell.get()),
            Piece::Histogram {
                cell,
                sample,
                labels,
                ..
            } => {
                let names = FamilyNames::plain(sample, open_metrics);
                render_histogram(out, &names, Labels::Text(labels), cell, layout, extra);
            }
        }
    }
    out.push_str(&template.text[at..]);
}

/// `# HELP`, `# TYPE` and (OpenMetrics) `# UNIT` lines of a family.
fn write_header(
    out: &mut String,
    names: &FamilyNames<'_>,
    kind: Kind,
    layout: &HistogramLayout,
    help: &str,
    open_metrics: bool,
) {
    out.push_str("# HELP ");
    names.push_family(out);
    out.push(' ');
    escape_help(out, help, open_metrics);
    out.push_str("\n# TYPE ");
    names.push_family(out);
    out.push_str(match (kind, layout) {
        (Kind::Counter, _) => " counter\n",
        (Kind::Gauge, _) => " gauge\n",
        (Kind::Histogram, HistogramLayout::Summary { .. }) => " summary\n",
        (Kind::Histogram, HistogramLayout::Buckets { .. }) => " histogram\n",
    });
    if open_metrics && let Some(unit) = unit_of(&names.family) {
        out.push_str("# UNIT ");
        names.push_family(out);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
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
    /// OpenMetrics: samples carry their exemplars, and a histogram's `_sum` is counter-like.
    open_metrics: bool,
}

impl<'a> FamilyNames<'a> {
    /// Names as text 0.0.4 and OpenMetrics write a sample whose name is `sample`.
    fn plain(sample: &'a str, open_metrics: bool) -> Self {
        FamilyNames {
            family: Cow::Borrowed(sample),
            sample: Cow::Borrowed(sample),
            quoted: false,
            keys: None,
            allow_utf8: false,
            open_metrics,
        }
    }

    fn of(name: &'a str, family: &'a Family, format: Format) -> Self {
        match format {
            // Protobuf is written by `protobuf`, with these names.
            Format::Text004 | Format::Protobuf => FamilyNames {
                family: Cow::Borrowed(name),
                sample: Cow::Borrowed(name),
                quoted: false,
                keys: None,
                allow_utf8: false,
                open_metrics: false,
            },
            Format::OpenMetrics { .. } => {
                // An OpenMetrics counter family is named without `_total`; its sample with it.
                let (family_name, sample) = match (family.kind, name.strip_suffix("_total")) {
                    (Kind::Counter, Some(base)) => (Cow::Borrowed(base), Cow::Borrowed(name)),
                    (Kind::Counter, None) => {
                        (Cow::Borrowed(name), Cow::Owned(format!("{name}_total")))
                    }
                    _ => (Cow::Borrowed(name), Cow::Borrowed(name)),
                };
                FamilyNames {
                    family: family_name,
                    sample,
                    quoted: false,
                    keys: None,
                    allow_utf8: false,
                    open_metrics: true,
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
                    open_metrics: false,
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

/// A series' labels: the text written at registration (`a="x",b="y"`), or its key, for a format
/// that writes the keys otherwise.
#[derive(Clone, Copy)]
enum Labels<'a> {
    Text(&'a str),
    Key(&'a Key),
}

fn render_series(
    out: &mut String,
    names: &FamilyNames<'_>,
    labels: Labels<'_>,
    series: &Series,
    layout: &HistogramLayout,
    extra: &ExtraLabels,
) {
    match series {
        Series::Counter(cell) => {
            sample_start(out, names, "", labels, None);
            push_u64(out, cell.get());
            if names.open_metrics
                && let Some(exemplar) = cell.exemplar()
            {
                push_exemplar(out, &exemplar);
            }
            out.push('\n');
        }
        Series::Gauge(cell) | Series::FloatCounter(cell) => {
            sample_start(out, names, "", labels, None);
            push_float(out, cell.get());
            out.push('\n');
        }
        Series::Histogram(cell) => render_histogram(out, names, labels, cell, layout, extra),
    }
}

/// A histogram series' lines: quantiles or buckets, then `_sum` and `_count`.
fn render_histogram(
    out: &mut String,
    names: &FamilyNames<'_>,
    labels: Labels<'_>,
    cell: &HistogramCell,
    layout: &HistogramLayout,
    extra: &ExtraLabels,
) {
    let (sum, count) = match cell.snapshot(layout) {
        HistogramSnapshot::Summary {
            quantiles,
            sum,
            count,
        } => {
            for ((_, value), label) in quantiles.into_iter().zip(&extra.0) {
                sample_start(out, names, "", labels, Some(label));
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
            for (i, ((_, running), label)) in cumulative.into_iter().zip(&extra.0).enumerate() {
                sample_start(out, names, "_bucket", labels, Some(label));
                push_u64(out, running);
                if names.open_metrics
                    && let Some(exemplar) = cell.exemplar(i)
                {
                    push_exemplar(out, &exemplar);
                }
                out.push('\n');
            }
            (sum, count)
        }
    };
    // OpenMetrics: once a negative value was recorded the sum is no counter (it can fall), nor
    // is a NaN one (infinities of both signs), so it is left out, and `_count` with it, as the
    // format says (`_count` goes with `_sum`; the `+Inf` bucket still counts everything).
    if !(names.open_metrics && (cell.negative_seen() || sum.is_nan())) {
        sample_start(out, names, "_sum", labels, None);
        push_float(out, sum);
        out.push('\n');
        sample_start(out, names, "_count", labels, None);
        push_u64(out, count);
        out.push('\n');
    }
}

/// `name{a="x",b="y",extra} ` (no braces without labels), or for a quoted UTF-8 name
/// `{"name",a="x"} `: a sample line up to its value.
fn sample_start(
    out: &mut String,
    names: &FamilyNames<'_>,
    suffix: &str,
    labels: Labels<'_>,
    extra: Option<&str>,
) {
    let key = match labels {
        Labels::Text(text) => {
            out.push_str(&names.sample);
            out.push_str(suffix);
            if !text.is_empty() || extra.is_some() {
                out.push('{');
                out.push_str(text);
                if let Some(extra) = extra {
                    if !text.is_empty() {
                        out.push(',');
                    }
                    out.push_str(extra);
                }
                out.push('}');
            }
            out.push(' ');
            return;
        }
        Labels::Key(key) => key,
    };
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

/// HELP text escapes `\` and newline (OpenMetrics: and `"`).
fn escape_help(out: &mut String, help: &str, open_metrics: bool) {
    escape(out, help, |b| match b {
        b'\\' => Some("\\\\"),
        b'\n' => Some("\\n"),
        b'"' if open_metrics => Some("\\\""),
        _ => None,
    });
}

/// A quoted name escapes what a label value escapes.
fn escape_quoted(out: &mut String, name: &str) {
    escape_label_value(out, name);
}

#[cfg(test)]
mod tests {
    use super::*;

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
