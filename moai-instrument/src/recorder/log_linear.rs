//! Log-linear buckets over positive `f64` values: each power of two is split into 16 equal
//! sub-buckets, read straight off the float's exponent and top mantissa bits. Reporting a bucket's
//! midpoint is within 1/32 (3.1%) of any value in it, inside the 5% the quantiles promise.
//!
//! A window holds one lazily allocated chunk of 16 counters per power of two actually used (one
//! line of them per thread stripe, see `stripes`), so a series whose values span two octaves costs
//! about 4 KiB whatever the number of samples: memory is bounded by the range of values, never by
//! how many were recorded or whether anyone scrapes.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::stripes::{self, Line, PER_LINE, Padded, STRIPES};

const SUB_BITS: u32 = 4;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
const _: () = assert!(SUB_BUCKETS == PER_LINE);
/// 2^-32 (about 0.23 ns as seconds) up to 2^40 (about 1.1e12): below the floor counts as zero,
/// above the ceiling lands in the top bucket.
const MIN_EXPONENT: i32 = -32;
const MAX_EXPONENT: i32 = 40;
const OCTAVES: usize = (MAX_EXPONENT - MIN_EXPONENT) as usize;
const MANTISSA_BITS: u32 = 52;
const EXPONENT_BIAS: i32 = 1023;

/// One octave's sub-buckets, a line per stripe.
type Chunk = Box<[Line]>;

/// One window of samples.
pub(crate) struct Window {
    /// Values at or below zero, or below the floor: reported as `0.0`. One per stripe.
    zero: [Padded<AtomicU64>; STRIPES],
    octaves: [OnceLock<Chunk>; OCTAVES],
}

/// Where a value lands.
enum Slot {
    Zero,
    Bucket { octave: usize, sub: usize },
}

fn slot_of(value: f64) -> Option<Slot> {
    if value.is_nan() {
        return None;
    }
    if value <= 0.0 {
        return Some(Slot::Zero);
    }
    let bits = value.to_bits();
    let exponent = ((bits >> MANTISSA_BITS) & 0x7ff) as i32 - EXPONENT_BIAS;
    if exponent < MIN_EXPONENT {
        return Some(Slot::Zero);
    }
    if exponent >= MAX_EXPONENT {
        return Some(Slot::Bucket {
            octave: OCTAVES - 1,
            sub: SUB_BUCKETS - 1,
        });
    }
    let sub = ((bits >> (MANTISSA_BITS - SUB_BITS)) as usize) & (SUB_BUCKETS - 1);
    Some(Slot::Bucket {
        octave: (exponent - MIN_EXPONENT) as usize,
        sub,
    })
}

/// The midpoint of a bucket: `2^e * (1 + (sub + 0.5) / 16)`.
fn midpoint(octave: usize, sub: usize) -> f64 {
    let base = 2f64.powi(octave as i32 + MIN_EXPONENT);
    base * (1.0 + (sub as f64 + 0.5) / SUB_BUCKETS as f64)
}

impl Window {
    pub(crate) fn new() -> Self {
        Window {
            zero: std::array::from_fn(|_| Padded(AtomicU64::new(0))),
            octaves: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Counts `count` samples of `value` in `stripe` (see [`stripes::this_thread`]).
    #[inline]
    pub(crate) fn record(&self, stripe: usize, value: f64, count: u64) {
        let stripe = stripe % STRIPES;
        match slot_of(value) {
            None => {}
            Some(Slot::Zero) => {
                self.zero[stripe].0.fetch_add(count, Ordering::Relaxed);
            }
            Some(Slot::Bucket { octave, sub }) => {
                let chunk = self.octaves[octave].get_or_init(|| stripes::zeroed_lines(STRIPES));
                chunk[stripe].0[sub].fetch_add(count, Ordering::Relaxed);
            }
        }
    }

    /// Empties the window, keeping its chunks allocated for reuse.
    pub(crate) fn clear(&self) {
        for zero in &self.zero {
            zero.0.store(0, Ordering::Relaxed);
        }
        for chunk in self.octaves.iter().filter_map(OnceLock::get) {
            for counter in chunk.iter().flat_map(|line| line.0.iter()) {
                counter.store(0, Ordering::Relaxed);
            }
        }
    }

    /// `(representative value, count)` of every non-empty bucket, in increasing value order.
    fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let zero = self.zero.iter().map(|z| z.0.load(Ordering::Relaxed)).sum();
        let rest = self.octaves.iter().enumerate().flat_map(|(octave, chunk)| {
            chunk.get().into_iter().flat_map(move |chunk| {
                (0..SUB_BUCKETS).map(move |sub| {
                    let count = chunk
                        .iter()
                        .map(|line| line.0[sub].load(Ordering::Relaxed))
                        .sum();
                    (midpoint(octave, sub), count)
                })
            })
        });
        std::iter::once((0.0, zero))
            .chain(rest)
            .filter(|&(_, count)| count > 0)
    }
}

/// The quantiles `qs` (each in 0..=1, ascending) over the union of `windows`; `NaN` where the
/// windows hold no sample, as Prometheus clients report an empty summary.
pub(crate) fn quantiles(windows: &[&Window], qs: &[f64]) -> Vec<f64> {
    let mut merged: Vec<(f64, u64)> = Vec::new();
    for window in windows {
        merged.extend(window.buckets());
    }
    merged.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = merged.iter().map(|&(_, c)| c).sum();
    if total == 0 {
        return vec![f64::NAN; qs.len()];
    }
    qs.iter()
        .map(|&q| {
            // The smallest value with at least ceil(q * total) samples at or below it.
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            merged
                .iter()
                .find(|&&(_, count)| {
                    seen += count;
                    seen >= rank
                })
                .map_or(f64::NAN, |&(value, _)| value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn quantiles_are_within_five_percent_of_the_exact_values() {
        let window = Window::new();
        // Latencies from 10 µs to 1 s, spread over five octaves and more.
        let mut values: Vec<f64> = (1..=20_000).map(|i| 10e-6 * (1.0004f64).powi(i)).collect();
        for &v in &values {
            window.record(0, v, 1);
        }
        values.sort_by(f64::total_cmp);
        let qs = [0.5, 0.9, 0.95, 0.99];
        for (q, got) in qs.iter().zip(quantiles(&[&window], &qs)) {
            let want = exact_quantile(&values, *q);
            let error = (got - want).abs() / want;
            assert!(error < 0.05, "q{q}: got {got}, want {want}, error {error}");
        }
    }

    #[test]
    fn empty_windows_report_nan_and_zero_values_report_zero() {
        let window = Window::new();
        assert!(quantiles(&[&window], &[0.5])[0].is_nan());
        window.record(0, 0.0, 3);
        window.record(0, -1.0, 1);
        window.record(0, f64::NAN, 1);
        assert_eq!(quantiles(&[&window], &[0.99]), vec![0.0]);
    }

    #[test]
    fn windows_merge_and_clear() {
        let (a, b) = (Window::new(), Window::new());
        a.record(0, 0.001, 50);
        b.record(0, 0.2, 50);
        let q = quantiles(&[&a, &b], &[0.25, 0.75]);
        assert!((q[0] - 0.001).abs() / 0.001 < 0.05, "{q:?}");
        assert!((q[1] - 0.2).abs() / 0.2 < 0.05, "{q:?}");
        a.clear();
        let q = quantiles(&[&a, &b], &[0.25]);
        assert!((q[0] - 0.2).abs() / 0.2 < 0.05, "{q:?}");
    }

    #[test]
    fn extreme_values_stay_in_range() {
        let window = Window::new();
        window.record(0, f64::MAX, 1);
        window.record(0, f64::INFINITY, 1);
        window.record(0, f64::MIN_POSITIVE, 1);
        let q = quantiles(&[&window], &[0.0, 1.0]);
        assert_eq!(q[0], 0.0);
        assert!(q[1] > 1e11 && q[1].is_finite(), "{q:?}");
    }
}
