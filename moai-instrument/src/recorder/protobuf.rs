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
use super::native::NativeSnapshot;
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
    let mut scratch = Scratch::default();
    registry.for_each_family(|name, family, help| {
        // The delimiting length goes where a field's would, without a tag.
        out.extend_from_slice(&[0; MAX_LENGTH_BYTES]);
        let body = out.len();
        string(&mut out, 1, name);
        string(&mut out, 2, help);
        let kind = match (family.kind, layout) {
            (Kind::Counter, _) => COUNTER,
            (Kind::Gauge, _) => GAUGE,
            (Kind::Histogram, HistogramLayout::Summary { .. }) => SUMMARY,
            (Kind::Histogram, HistogramLayout::Buckets { .. }) => HISTOGRAM,
        };
        uint(&mut out, 3, kind);
        for (key, entry) in &family.series {
            let labels = entry
                .protobuf_labels
                .get_or_init(|| encode_labels(key).into_boxed_slice());
            if !simple_metric(&mut out, labels, &entry.series) {
                let metric_body = open(&mut out, 4);
                out.extend_from_slice(labels);
                metric(&mut out, &mut scratch, &entry.series, layout);
                close(&mut out, metric_body);
            }
        }
        close(&mut out, body);
    });
    registry.set_last_render_len(out.len());
    out
}

/// Buffers reused from one histogram to the next.
#[derive(Default)]
struct Scratch {
    native: NativeSnapshot,
    spans: Vec<(i32, u32)>,
    deltas: Vec<i64>,
}

/// `key`'s labels as `LabelPair` fields (field 1 of `Metric`).
fn encode_labels(key: &Key) -> Vec<u8> {
    let mut out = Vec::new();
    for label in key.labels() {
        let body = open(&mut out, 1);
        string(&mut out, 1, label.key());
        string(&mut out, 2, label.value());
        close(&mut out, body);
    }
    out
}

/// Field 4 of `MetricFamily` for a counter without exemplar or a gauge, whose size is known
/// before writing it: the length, the labels, the value, with nothing to move back. `false` for
/// any other series (written by [`metric`]).
fn simple_metric(out: &mut Vec<u8>, labels: &[u8], series: &Series) -> bool {
    if let Series::Counter(cell) = series
        && cell.exemplar().is_some()
    {
        return false;
    }
    let Some((field, value)) = single_value(series) else {
        return false;
    };
    const VALUE: usize = 9;
    tag(out, 4, LENGTH_DELIMITED);
    varint(out, (labels.len() + 2 + VALUE) as u64);
    out.extend_from_slice(labels);
    tag(out, field, LENGTH_DELIMITED);
    varint(out, VALUE as u64);
    double(out, 1, value);
    true
}

/// A series whose value message is one double (`Counter` or `Gauge`): that message's field in
/// `Metric` (3 or 2) and the value; `None` for a histogram.
fn single_value(series: &Series) -> Option<(u64, f64)> {
    match series {
        Series::Counter(cell) => Some((3, cell.get() as f64)),
        Series::FloatCounter(cell) => Some((3, cell.get())),
        Series::Gauge(cell) => Some((2, cell.get())),
        Series::Histogram(_) => None,
    }
}

/// One `Metric`'s value message, after its labels: a counter with its exemplar (the others of
/// one double are written by [`simple_metric`]), or a histogram.
fn metric(out: &mut Vec<u8>, scratch: &mut Scratch, series: &Series, layout: &HistogramLayout) {
    let Series::Histogram(cell) = series else {
        if let Some((field, value)) = single_value(series) {
            let body = open(out, field);
            double(out, 1, value);
            if let Series::Counter(cell) = series
                && let Some(exemplar) = cell.exemplar()
            {
                encode_exemplar(out, 2, &exemplar);
            }
            close(out, body);
        }
        return;
    };
    match cell.snapshot(layout) {
        HistogramSnapshot::Summary {
            quantiles,
            sum,
            count,
        } => {
            let body = open(out, 4);
            uint(out, 1, count);
            double(out, 2, sum);
            for (q, value) in quantiles {
                let quantile = open(out, 3);
                double(out, 1, q);
                double(out, 2, value);
                close(out, quantile);
            }
            close(out, body);
        }
        HistogramSnapshot::Buckets {
            cumulative,
            sum,
            count,
        } => {
            let body = open(out, 7);
            // Native mode: the count may rise to the native buckets' total (see there).
            let native_count = cell.native_snapshot(count, &mut scratch.native);
            uint(out, 1, native_count.unwrap_or(count));
            double(out, 2, sum);
            let cumulative_len = cumulative.len();
            // Which classic buckets carry their exemplar. Prometheus 2.x keeps only the first
            // exemplar it finds in a native histogram's classic buckets: there, only the
            // slowest bucket's (the call "why was this query slow" asks about) is written;
            // every exemplar is in field 16, which newer Prometheus reads.
            let slowest = native_count.and(
                (0..cumulative_len)
                    .rev()
                    .find(|&i| cell.exemplar(i).is_some()),
            );
            let carries = |i: usize| native_count.is_none() || slowest == Some(i);
            for (i, (bound, running)) in cumulative.into_iter().enumerate() {
                let exemplar = cell.exemplar(i).filter(|_| carries(i));
                // The +Inf bucket is the count: Prometheus adds it, and client_golang writes
                // it only to carry an exemplar (a call slower than the last bound).
                if !bound.is_finite() && exemplar.is_none() {
                    continue;
                }
                let Some(exemplar) = exemplar else {
                    // Most buckets: the size is known, nothing to move back.
                    tag(out, 3, LENGTH_DELIMITED);
                    varint(out, (1 + varint_len(running) + 9) as u64);
                    uint(out, 1, running);
                    double(out, 2, bound);
                    continue;
                };
                let bucket = open(out, 3);
                uint(out, 1, running);
                double(out, 2, bound);
                encode_exemplar(out, 3, &exemplar);
                close(out, bucket);
            }
            if native_count.is_some() {
                encode_native(out, scratch);
                for exemplar in (0..cumulative_len).filter_map(|i| cell.exemplar(i)) {
                    encode_exemplar(out, 16, &exemplar);
                }
            }
            close(out, body);
        }
    }
}

/// The native fields of `Histogram` from `scratch.native`: schema, zero bucket, and each sign's
/// buckets as spans of consecutive keys with the counts as deltas (the first absolute), gaps of
/// up to two empty buckets written as zeros inside a span, as client_golang does (fewer bytes
/// than a new span).
fn encode_native(out: &mut Vec<u8>, scratch: &mut Scratch) {
    let native = &scratch.native;
    sint(out, 5, i64::from(native.schema));
    double(out, 6, native.zero_threshold);
    uint(out, 7, native.zero_count);
    for (buckets, span_field, delta_field) in
        [(&native.negative, 9, 10), (&native.positive, 12, 13)]
    {
        spans_and_deltas(buckets, &mut scratch.spans, &mut scratch.deltas);
        for &(offset, length) in &scratch.spans {
            let (offset, length) = (zigzag(i64::from(offset)), u64::from(length));
            tag(out, span_field, LENGTH_DELIMITED);
            varint(out, (2 + varint_len(offset) + varint_len(length)) as u64);
            uint(out, 1, offset);
            uint(out, 2, length);
        }
        if !scratch.deltas.is_empty() {
            // Packed, as proto3 writes repeated numbers.
            let packed = open(out, delta_field);
            for &delta in &scratch.deltas {
                varint(out, zigzag(delta));
            }
            close(out, packed);
        }
    }
    if native.positive.is_empty() && native.negative.is_empty() {
        // An empty span marks the histogram as native before its first observation.
        message(out, 12, &[]);
    }
}

/// `(key, count)` by key to spans (`offset` from the previous span's end, the first absolute;
/// `length`) and count deltas, into the two vectors (emptied first).
fn spans_and_deltas(buckets: &[(i32, u64)], spans: &mut Vec<(i32, u32)>, deltas: &mut Vec<i64>) {
    spans.clear();
    deltas.clear();
    let mut previous: Option<(i32, i64)> = None;
    for &(key, count) in buckets {
        let count = count as i64;
        let mut last = 0;
        match (previous, spans.last_mut()) {
            (Some((previous_key, previous_count)), Some(span)) => {
                let gap = key - previous_key - 1;
                last = previous_count;
                if gap <= 2 {
                    for _ in 0..gap {
                        deltas.push(-last);
                        last = 0;
                    }
                    span.1 += gap as u32 + 1;
                } else {
                    spans.push((gap, 1));
                }
            }
            _ => spans.push((key, 1)),
        }
        deltas.push(count - last);
        previous = Some((key, count));
    }
}

/// An `Exemplar` as field `field`: the trace's ids as labels, the value, and
/// `google.protobuf.Timestamp`.
fn encode_exemplar(out: &mut Vec<u8>, field: u64, exemplar: &Exemplar) {
    let body = open(out, field);
    for (name, value) in [
        ("trace_id", format!("{:032x}", exemplar.trace.trace_id)),
        ("span_id", format!("{:016x}", exemplar.trace.span_id)),
    ] {
        let label = open(out, 1);
        string(out, 1, name);
        string(out, 2, &value);
        close(out, label);
    }
    double(out, 2, exemplar.value);
    let seconds = exemplar.unix_seconds.floor();
    let timestamp = open(out, 3);
    uint(out, 1, seconds as u64);
    uint(out, 2, ((exemplar.unix_seconds - seconds) * 1e9) as u64);
    close(out, timestamp);
    close(out, body);
}

/// Room for a length: a message body is under 2^35 bytes (a scrape is far below).
const MAX_LENGTH_BYTES: usize = 5;

/// Starts a length-delimited field whose length is not known yet, leaving room for it: returns
/// where the body starts, for [`close`]. Nested messages are written in place this way, without
/// a buffer per level.
fn open(out: &mut Vec<u8>, field: u64) -> usize {
    tag(out, field, LENGTH_DELIMITED);
    out.extend_from_slice(&[0; MAX_LENGTH_BYTES]);
    out.len()
}

/// Ends the field whose body starts at `body`: writes its length as the shortest varint, moving
/// the body back against it.
fn close(out: &mut Vec<u8>, body: usize) {
    let (length, n) = varint_bytes((out.len() - body) as u64);
    let room = body - MAX_LENGTH_BYTES;
    out[room..room + n].copy_from_slice(&length[..n]);
    if n < MAX_LENGTH_BYTES {
        out.copy_within(body.., room + n);
        out.truncate(out.len() - (MAX_LENGTH_BYTES - n));
    }
}

fn varint(out: &mut Vec<u8>, value: u64) {
    // Tags and most lengths: one byte.
    if value < 0x80 {
        out.push(value as u8);
        return;
    }
    let (bytes, n) = varint_bytes(value);
    out.extend_from_slice(&bytes[..n]);
}

/// `value` as a varint: its bytes (the first `n` of the array) and `n`.
fn varint_bytes(mut value: u64) -> ([u8; 10], usize) {
    let mut bytes = [0u8; 10];
    let mut n = 0;
    while value >= 0x80 {
        bytes[n] = (value as u8) | 0x80;
        value >>= 7;
        n += 1;
    }
    bytes[n] = value as u8;
    (bytes, n + 1)
}

fn tag(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, (field << 3) | wire);
}

fn uint(out: &mut Vec<u8>, field: u64, value: u64) {
    tag(out, field, VARINT);
    varint(out, value);
}

/// Bytes of `value` as a varint.
fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// A `sint32`/`sint64` field: zigzag, so small negative numbers stay short.
fn sint(out: &mut Vec<u8>, field: u64, value: i64) {
    tag(out, field, VARINT);
    varint(out, zigzag(value));
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
        out.clear();
        sint(&mut out, 5, -3);
        assert_eq!(out, [0x28, 0x05]);
        assert_eq!(
            (zigzag(0), zigzag(-1), zigzag(1), zigzag(-64)),
            (0, 1, 2, 127)
        );
        for value in [0, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut encoded = Vec::new();
            varint(&mut encoded, value);
            assert_eq!(varint_len(value), encoded.len(), "{value}");
        }
    }

    #[test]
    fn spans_join_small_gaps_and_start_anew_after_large_ones() {
        // Keys -2, -1, 2 (two empty between), then 9 (six empty): two spans.
        let (mut spans, mut deltas) = (Vec::new(), Vec::new());
        spans_and_deltas(&[(-2, 3), (-1, 5), (2, 1), (9, 4)], &mut spans, &mut deltas);
        assert_eq!(spans, vec![(-2, 5), (6, 1)]);
        assert_eq!(deltas, vec![3, 2, -5, 0, 1, 3]);
        spans_and_deltas(&[], &mut spans, &mut deltas);
        assert!(spans.is_empty() && deltas.is_empty());
    }

    #[test]
    fn nested_messages_written_in_place_match_the_buffered_form() {
        for size in [0usize, 1, 127, 128, 300, 16_384, 70_000] {
            let body: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let mut buffered = vec![7];
            message(&mut buffered, 4, &body);
            let mut in_place = vec![7];
            let start = open(&mut in_place, 4);
            in_place.extend_from_slice(&body);
            close(&mut in_place, start);
            assert_eq!(in_place, buffered, "{size} bytes");
        }
    }
}
