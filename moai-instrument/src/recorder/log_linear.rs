//! Log-linear buckets over every finite `f64`, negative or positive: each power of two is split
//! into 16 equal sub-buckets, read straight off the float's exponent and top mantissa bits.
//! Reporting a bucket's midpoint is within 1/32 (3.1%) of any value in it, inside the 5% the
//! quantiles promise, from the smallest normal magnitude (2^-1022) to `f64::MAX`. Zero and
//! subnormal magnitudes (below 2^-1022) count as 0; infinities land in the outermost bucket of
//! their sign; NaN is ignored.
//!
//! A window allocates lazily (see `pages`): 16 counters per power of two actually used, one line
//! of them per thread stripe; the octaves of durations (2^-32 to 2^40, positive) are a direct
//! array, one load from the hot path. A series whose values span two octaves costs about 5 KiB
//! whatever the number of samples: memory is bounded by the range of values, never by how many
//! were recorded or whether anyone scrapes.

use super::pages::Pages;
use super::stripes::PER_LINE;

const SUB_BITS: u32 = 4;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
const _: () = assert!(SUB_BUCKETS == PER_LINE);
const MANTISSA_BITS: u32 = 52;
/// Octaves of normal magnitudes: biased exponents 1 to 2046 (index = biased exponent - 1).
const OCTAVES: usize = 2046;

/// The positive octaves of durations, 2^-32 s (0.23 ns) up to 2^40 s, which `#[timed_query]`
/// records: the near window of the pages. Every other value goes to the lazily allocated rest.
const NEAR_FIRST: usize = 1023 - 32 - 1;
const NEAR: usize = 72;

/// Keys: positive octaves' sub-buckets, then negative ones', then zero.
const SIGNED_KEYS: usize = 2 * OCTAVES * SUB_BUCKETS;
const ZERO_KEY: usize = SIGNED_KEYS;

/// One window of samples.
pub(crate) struct Window {
    pages: Pages<NEAR>,
}

/// The key of `value`: zero and subnormal magnitudes at [`ZERO_KEY`]; `None` for NaN.
fn key_of(value: f64) -> Option<usize> {
    if value.is_nan() {
        return None;
    }
    let bits = value.to_bits();
    let negative = (bits >> 63) as usize;
    let biased = ((bits >> MANTISSA_BITS) & 0x7ff) as usize;
    let (octave, sub) = match biased {
        0 => return Some(ZERO_KEY),
        // An infinity: the outermost bucket of its sign.
        0x7ff => (OCTAVES - 1, SUB_BUCKETS - 1),
        _ => (
            biased - 1,
            ((bits >> (MANTISSA_BITS - SUB_BITS)) as usize) & (SUB_BUCKETS - 1),
        ),
    };
    Some((negative * OCTAVES + octave) * SUB_BUCKETS + sub)
}

/// The midpoint of a key's bucket: `±2^e * (1 + (sub + 0.5) / 16)`; 0 for [`ZERO_KEY`].
fn midpoint(key: usize) -> f64 {
    if key >= ZERO_KEY {
        return 0.0;
    }
    let (signed_octave, sub) = (key / SUB_BUCKETS, key % SUB_BUCKETS);
    let (negative, octave) = (signed_octave >= OCTAVES, signed_octave % OCTAVES);
    // 2^e built from its bits: `powi` would overflow to infinity past 2^1023 on the way.
    let base = f64::from_bits(((octave + 1) as u64) << MANTISSA_BITS);
    let magnitude = base * (1.0 + (sub as f64 + 0.5) / SUB_BUCKETS as f64);
    // The top octave's upper sub-buckets would round past `f64::MAX`.
    let magnitude = magnitude.min(f64::MAX);
    if negative { -magnitude } else { magnitude }
}

impl Window {
    pub(crate) fn new() -> Self {
        Window {
            pages: Pages::new(ZERO_KEY + 1, NEAR_FIRST * SUB_BUCKETS),
        }
    }

    /// Counts `count` samples of `value` in `stripe` (see [`super::stripes::this_thread`]).
    #[inline]
    pub(crate) fn record(&self, stripe: usize, value: f64, count: u64) {
        if let Some(key) = key_of(value) {
            self.pages.add(stripe, key, count);
        }
    }

    /// Empties the window, keeping its pages allocated for reuse.
    pub(crate) fn clear(&self) {
        self.pages.clear();
    }

    /// Adds `(representative value, count)` of every non-empty bucket to `out` (unordered).
    fn buckets(&self, out: &mut Vec<(f64, u64)>) {
        self.pages
            .for_each_count(|key, count| out.push((midpoint(key), count)));
    }
}

/// The quantiles `qs` (each in 0..=1, ascending) over the union of `windows`; `NaN` where the
/// windows hold no sample, as Prometheus clients report an empty summary.
pub(crate) fn quantiles(windows: &[&Window], qs: &[f64]) -> Vec<f64> {
    let mut merged: Vec<(f64, u64)> = Vec::new();
    for window in windows {
        window.buckets(&mut merged);
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
        window.record(0, -0.0, 1);
        window.record(0, f64::NAN, 1);
        assert_eq!(quantiles(&[&window], &[0.99]), vec![0.0]);
    }

    #[test]
    fn negative_values_have_their_own_quantiles() {
        // Observations of -5 ... -1: the true p50 is -3.
        let window = Window::new();
        for v in [-5.0, -4.0, -3.0, -2.0, -1.0] {
            window.record(0, v, 1);
        }
        let q = quantiles(&[&window], &[0.0, 0.5, 1.0]);
        for (got, want) in q.iter().zip([-5.0, -3.0, -1.0]) {
            assert!((got - want).abs() / want.abs() < 0.05, "{q:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Any finite values, negative and very large included: every quantile within 5% of the
        /// exact one (or exactly 0 when the exact one is 0 or subnormal).
        #[test]
        fn quantiles_hold_their_error_over_every_finite_value(
            values in proptest::collection::vec(
                proptest::num::f64::NORMAL
                    | proptest::num::f64::SUBNORMAL
                    | proptest::num::f64::ZERO
                    | proptest::num::f64::NEGATIVE
                    | proptest::num::f64::POSITIVE,
                1..200,
            ),
        ) {
            let window = Window::new();
            for &v in &values {
                window.record(v.to_bits() as usize, v, 1);
            }
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let qs = [0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0];
            for (q, got) in qs.iter().zip(quantiles(&[&window], &qs)) {
                let want = exact_quantile(&sorted, *q);
                if want.abs() < f64::MIN_POSITIVE {
                    proptest::prop_assert_eq!(got, 0.0, "q{}", q);
                } else {
                    let error = (got - want).abs() / want.abs();
                    proptest::prop_assert!(error < 0.05, "q{}: got {}, want {}", q, got, want);
                }
            }
        }
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
        window.record(0, f64::MIN, 1);
        window.record(0, 5e-324, 1);
        let q = quantiles(&[&window], &[0.0, 0.4, 0.6, 1.0]);
        assert!(q[0] < -1e307 && q[0].is_finite(), "{q:?}");
        assert_eq!(q[1], 0.0, "a subnormal counts as 0: {q:?}");
        assert!(
            (q[2] - f64::MIN_POSITIVE).abs() / f64::MIN_POSITIVE < 0.05,
            "{q:?}"
        );
        assert!(q[3] > 1e307 && q[3].is_finite(), "{q:?}");
    }
}
