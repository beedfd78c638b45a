//! The delimited protobuf exposition: `io.prometheus.client.MetricFamily` messages
//! (prometheus/client_model's `metrics.proto`), each preceded by its length as a varint, as
//! Prometheus asks for them (`application/vnd.google.protobuf;
//! proto=io.prometheus.client.MetricFamily; encoding=delimited`), the format native histograms
//! need.
//!
//! Hand-written, like the text encoders: it reads this recorder's own cells, and the wire format
//! of these few messages (varints, doubles, strings, nested messages) is a page of code, where a
//! protobuf crate would bring code generation or derive macros into every host's build for it.
//! Names are the exposition's (as text 0.0.4 writes them); families in name order.

use metrics::Key;

use super::exemplar::Exemplar;
use super::histogram::{HistogramLayout, HistogramSnapshot};
use super::names::Kind;
use super::registry::{Registry, Series};

/// `MetricType` values.
const COUNTER: u64 = 0;
const GAUGE: u64 = 1;
const SUMMARY: u64 = 2;
const HISTOGRAM: u64 = 4;

/// Wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;

/// Every family of `registry`, delimited.
pub(crate) fn render(registry: &Registry) -> Vec<u8> {
    let layout = &registry.settings.layout;
    let mut out = Vec::with_capacity(registry.last_render_len() + 4096);
    let mut family_buf = Vec::new();
    let mut metric_buf = Vec::new();
    let mut inner = Vec::new();
    registry.for_each_family(|name, family, help| {
        family_buf.clear();
        string(&mut family_buf, 1, name);
        string(&mut family_buf, 2, help);
        let kind = match (family.kind, layout) {
            (Kind::Counter, _) => COUNTER,
            (Kind::Gauge, _) => GAUGE,
            (Kind::Histogram, HistogramLayout::Summary { .. }) => SUMMARY,
            (Kind::Histogram, HistogramLayout::Buckets { .. }) => HISTOGRAM,
        };
        uint(&mut family_buf, 3, kind);
        for (key, series) in &family.series {
            metric_buf.clear();
            metric(&mut metric_buf, &mut inner, key, series, layout);
            message(&mut family_buf, 4, &metric_buf);
        }
        varint(&mut out, family_buf.len() as u64);
        out.extend_from_slice(&family_buf);
    });
    registry.set_last_render_len(out.len());
    out
}

/// One `Metric`: its labels and its value message.
fn metric(
    out: &mut Vec<u8>,
    inner: &mut Vec<u8>,
    key: &Key,
    series: &Series,
    layout: &HistogramLayout,
) {
    for label in key.labels() {
        inner.clear();
        string(inner, 1, label.key());
        string(inner, 2, label.value());
        message(out, 1, inner);
    }
    inner.clear();
    match series {
        Series::Counter(cell) => {
            double(inner, 1, cell.get() as f64);
            if let Some(exemplar) = cell.exemplar() {
                let mut encoded = Vec::with_capacity(96);
                encode_exemplar(&mut encoded, &exemplar);
                message(inner, 2, &encoded);
            }
            message(out, 3, inner);
        }
        Series::FloatCounter(cell) => {
            double(inner, 1, cell.get());
            message(out, 3, inner);
        }
        Series::Gauge(cell) => {
            double(inner, 1, cell.get());
            message(out, 2, inner);
        }
        Series::Histogram(cell) => match cell.snapshot(layout) {
            HistogramSnapshot::Summary {
                quantiles,
                sum,
                count,
            } => {
                uint(inner, 1, count);
                double(inner, 2, sum);
                let mut quantile = Vec::with_capacity(18);
                for (q, value) in quantiles {
                    quantile.clear();
                    double(&mut quantile, 1, q);
                    double(&mut quantile, 2, value);
                    message(inner, 3, &quantile);
                }
                message(out, 4, inner);
            }
            HistogramSnapshot::Buckets {
                cumulative,
                sum,
                count,
            } => {
                uint(inner, 1, count);
                double(inner, 2, sum);
                let mut bucket = Vec::with_capacity(18);
                let mut encoded = Vec::new();
                // The +Inf bucket is the count; Prometheus adds it, as client_golang leaves it out.
                for (i, (bound, running)) in cumulative.into_iter().enumerate() {
                    if !bound.is_finite() {
                        continue;
                    }
                    bucket.clear();
                    uint(&mut bucket, 1, running);
                    double(&mut bucket, 2, bound);
                    if let Some(exemplar) = cell.exemplar(i) {
                        encoded.clear();
                        encode_exemplar(&mut encoded, &exemplar);
                        message(&mut bucket, 3, &encoded);
                    }
                    message(inner, 3, &bucket);
                }
                message(out, 7, inner);
            }
        },
    }
}

/// `Exemplar`: the trace's ids as labels, the value, and `google.protobuf.Timestamp`.
fn encode_exemplar(out: &mut Vec<u8>, exemplar: &Exemplar) {
    let mut label = Vec::with_capacity(48);
    for (name, value) in [
        ("trace_id", format!("{:032x}", exemplar.trace.trace_id)),
        ("span_id", format!("{:016x}", exemplar.trace.span_id)),
    ] {
        label.clear();
        string(&mut label, 1, name);
        string(&mut label, 2, &value);
        message(out, 1, &label);
    }
    double(out, 2, exemplar.value);
    let seconds = exemplar.unix_seconds.floor();
    let mut timestamp = Vec::with_capacity(16);
    uint(&mut timestamp, 1, seconds as u64);
    uint(
        &mut timestamp,
        2,
        ((exemplar.unix_seconds - seconds) * 1e9) as u64,
    );
    message(out, 3, &timestamp);
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn tag(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, (field << 3) | wire);
}

fn uint(out: &mut Vec<u8>, field: u64, value: u64) {
    tag(out, field, VARINT);
    varint(out, value);
}

fn double(out: &mut Vec<u8>, field: u64, value: f64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

fn string(out: &mut Vec<u8>, field: u64, value: &str) {
    message(out, field, value.as_bytes());
}

fn message(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    tag(out, field, LENGTH_DELIMITED);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_format_of_the_primitives() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        uint(&mut out, 3, 4);
        assert_eq!(out, [0x18, 0x04]);
        out.clear();
        string(&mut out, 1, "up");
        assert_eq!(out, [0x0a, 0x02, b'u', b'p']);
        out.clear();
        double(&mut out, 1, 1.0);
        assert_eq!(out, [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
    }
}
