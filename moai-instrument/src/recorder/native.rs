//! Native histograms (Prometheus' sparse exponential buckets), kept beside the classic buckets in
//! `HistogramMode::Native` and served over protobuf.
//!
//! At schema `s` (-4 to 8), bucket `k` holds the magnitudes in `(2^((k-1)/2^s), 2^(k/2^s)]`: each
//! power of two splits into `2^s` buckets (schema 3, the default, grows 9% per bucket, as
//! client_golang's default factor 1.1 picks), or `2^-s` powers of two share one bucket. Magnitudes
//! at or below [`ZERO_THRESHOLD`] count in the zero bucket, negative values in buckets of their
//! own; `±Inf` count in `±f64::MAX`'s bucket (the outermost), as the summary's window does.
//!
//! A value's key comes from its float bits: the exponent gives the power of two, and within it a
//! table indexed by the top `s + 1` mantissa bits names the candidate bucket, settled by one
//! comparison (the bounds are further apart than a table cell, so a cell holds at most one).
//! Counts live in [`Pages`]: memory follows the range of values recorded (512 bytes per 16
//! buckets used), never the number of samples or whether anyone scrapes.

use std::sync::OnceLock;

use super::pages::Pages;

/// The lowest and highest schema Prometheus accepts.
pub(crate) const MIN_SCHEMA: i8 = -4;
pub(crate) const MAX_SCHEMA: i8 = 8;
/// client_golang's default resolution: factor 1.1 gives schema 3 (2^(1/8) = 1.09).
pub(crate) const DEFAULT_SCHEMA: i8 = 3;
/// Magnitudes up to this count in the zero bucket: 2^-128, client_golang's default.
pub(crate) const ZERO_THRESHOLD: f64 = f64::from_bits((1023 - 128) << MANTISSA_BITS);

const MANTISSA_BITS: u32 = 52;
const MANTISSA_MASK: u64 = (1 << MANTISSA_BITS) - 1;
/// The near window of the pages (see `pages`): 512 keys where latencies land.
const NEAR: usize = 32;
const NEAR_KEYS: i32 = (NEAR * super::stripes::PER_LINE) as i32;

/// How values become bucket keys at one schema.
pub(crate) struct Schema {
    schema: i8,
    /// Mantissa bits of `2^(j/2^s)` for `j` in `0..=2^s` (the last is `2^52`, a mantissa of 2).
    bounds: Box<[u64]>,
    /// For each cell of the top `s + 1` mantissa bits, the first `j >= 1` whose bound is at or
    /// above the cell's start.
    first: Box<[u16]>,
    /// The key of the smallest magnitude above the zero threshold, and of `f64::MAX`.
    lowest: i32,
    highest: i32,
}

impl Schema {
    /// The shared tables of `schema` (clamped to -4..=8; the config refuses other values).
    pub(crate) fn get(schema: i8) -> &'static Schema {
        static SCHEMAS: [OnceLock<Schema>; (MAX_SCHEMA - MIN_SCHEMA + 1) as usize] =
            [const { OnceLock::new() }; (MAX_SCHEMA - MIN_SCHEMA + 1) as usize];
        let schema = schema.clamp(MIN_SCHEMA, MAX_SCHEMA);
        SCHEMAS[(schema - MIN_SCHEMA) as usize].get_or_init(|| Schema::new(schema))
    }

    fn new(schema: i8) -> Schema {
        let per_octave = 1usize << schema.max(0);
        let bounds: Box<[u64]> = (0..=per_octave)
            .map(|j| {
                if j == per_octave {
                    return 1 << MANTISSA_BITS;
                }
                let bound = (j as f64 / per_octave as f64).exp2();
                bound.to_bits() & MANTISSA_MASK
            })
            .collect();
        let cell_bits = MANTISSA_BITS - (schema.max(0) as u32 + 1);
        let first = (0..per_octave * 2)
            .map(|cell| {
                let start = (cell as u64) << cell_bits;
                (1..=per_octave)
                    .find(|&j| bounds[j] >= start)
                    .unwrap_or(per_octave) as u16
            })
            .collect();
        let mut table = Schema {
            schema,
            bounds,
            first,
            lowest: 0,
            highest: 0,
        };
        table.lowest = table.key(f64::from_bits(ZERO_THRESHOLD.to_bits() + 1));
        table.highest = table.key(f64::MAX);
        table
    }

    /// `ceil(log2(magnitude) * 2^s)`, exact at the bounds, for a positive normal magnitude; an
    /// infinity (exponent 1024, mantissa 0) falls in `f64::MAX`'s bucket by the same arithmetic.
    #[inline]
    fn key(&self, magnitude: f64) -> i32 {
        let bits = magnitude.to_bits();
        let exponent = (bits >> MANTISSA_BITS) as i32 - 1023;
        let mantissa = bits & MANTISSA_MASK;
        if self.schema > 0 {
            if mantissa == 0 {
                return exponent << self.schema;
            }
            let cell = (mantissa >> (MANTISSA_BITS - (self.schema as u32 + 1))) as usize;
            let mut j = usize::from(self.first[cell]);
            if mantissa > self.bounds[j] {
                j += 1;
            }
            (exponent << self.schema) + j as i32
        } else {
            // Schema 0's key, then 2^-s of them per bucket (rounding up, as the bounds are upper).
            let key = exponent + i32::from(mantissa != 0);
            let shift = -self.schema;
            (key + (1 << shift) - 1) >> shift
        }
    }

    #[cfg(test)]
    fn upper_bound(&self, key: i32) -> f64 {
        upper_bound(self.schema, key)
    }
}

/// The upper bound of bucket `key` at `schema`: `2^(key/2^schema)`.
pub(crate) fn upper_bound(schema: i8, key: i32) -> f64 {
    (f64::from(key) / f64::from(2i32.pow(schema.max(0) as u32))
        * f64::from(2i32.pow((-schema).max(0) as u32)))
    .exp2()
}

/// The native buckets of one series.
pub(crate) struct NativeBuckets {
    schema: &'static Schema,
    /// Index 0 is the zero bucket; `1..=span` positive keys from `schema.lowest`; then as many
    /// negative ones.
    pages: Pages<NEAR>,
    span: usize,
}

/// What the protobuf encoder writes for a native histogram.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct NativeSnapshot {
    pub(crate) schema: i8,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    /// `(key, count)` of each non-empty bucket, by key.
    pub(crate) positive: Vec<(i32, u64)>,
    pub(crate) negative: Vec<(i32, u64)>,
}

impl NativeSnapshot {
    /// Observations in every bucket, the zero bucket included.
    pub(crate) fn total(&self) -> u64 {
        self.zero_count
            + self
                .positive
                .iter()
                .chain(&self.negative)
                .map(|&(_, c)| c)
                .sum::<u64>()
    }
}

impl NativeBuckets {
    pub(crate) fn new(schema: i8) -> Self {
        let schema = Schema::get(schema);
        // Keys `lowest..=highest`.
        let span = (schema.highest + 1 - schema.lowest) as usize;
        // The near window starts at 0.23 ns (2^-32 s) when its 512 keys reach past an hour from
        // there (schema 3 and coarser), else at 1 µs (2^-20 s) when they still do (schema 4);
        // finer schemas centre it on 8 ms (2^-7 s).
        let octaves = NEAR_KEYS >> schema.schema.max(0) << (-schema.schema).max(0);
        let start_octave = match octaves {
            64.. => -32,
            32.. => -20,
            _ => -7 - octaves / 2,
        };
        let near_key = schema.key(f64::from(start_octave).exp2());
        NativeBuckets {
            schema,
            pages: Pages::new(1 + 2 * span, (near_key - schema.lowest + 1) as usize),
            span,
        }
    }

    /// Counts `n` observations of `value` (not NaN) in `stripe`.
    #[inline]
    pub(crate) fn add(&self, stripe: usize, value: f64, n: u64) {
        let magnitude = value.abs();
        let index = if magnitude <= ZERO_THRESHOLD {
            0
        } else {
            let index = (self.schema.key(magnitude) - self.schema.lowest + 1) as usize;
            if value < 0.0 {
                index + self.span
            } else {
                index
            }
        };
        self.pages.add(stripe, index, n);
    }

    /// The buckets now, into `snapshot` (its vectors reused).
    pub(crate) fn snapshot_into(&self, snapshot: &mut NativeSnapshot) {
        snapshot.schema = self.schema.schema;
        snapshot.zero_threshold = ZERO_THRESHOLD;
        snapshot.zero_count = 0;
        snapshot.positive.clear();
        snapshot.negative.clear();
        self.pages.for_each_count(|index, count| match index {
            0 => snapshot.zero_count = count,
            _ if index <= self.span => snapshot
                .positive
                .push((index as i32 - 1 + self.schema.lowest, count)),
            _ => snapshot
                .negative
                .push(((index - self.span) as i32 - 1 + self.schema.lowest, count)),
        });
        // The near window's keys come first: the rest is in order on either side of them, and
        // latencies are all in the near window (already in order).
        for buckets in [&mut snapshot.positive, &mut snapshot.negative] {
            if !buckets.is_sorted() {
                buckets.sort_unstable();
            }
        }
    }

    #[cfg(test)]
    fn snapshot(&self) -> NativeSnapshot {
        let mut snapshot = NativeSnapshot::default();
        self.snapshot_into(&mut snapshot);
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key by the definition, from `log2` with a guard at the float's own bounds.
    fn key_by_definition(schema: &Schema, value: f64) -> i32 {
        let guess = (value.log2() * 2f64.powi(i32::from(schema.schema))).ceil() as i32;
        (guess - 2..=guess + 2)
            .find(|&k| value <= schema.upper_bound(k))
            .unwrap()
    }

    #[test]
    fn keys_follow_the_definition_at_every_schema() {
        for s in MIN_SCHEMA..=MAX_SCHEMA {
            let schema = Schema::get(s);
            let mut value = 1e-9f64;
            while value < 1e9 {
                let key = schema.key(value);
                assert_eq!(key, key_by_definition(schema, value), "schema {s}, {value}");
                let upper = schema.upper_bound(key);
                let lower = schema.upper_bound(key - 1);
                // The bounds of the bucket hold the value (to the float's rounding of exp2).
                assert!(
                    value <= upper * (1.0 + 1e-12),
                    "schema {s}, {value} > {upper}"
                );
                assert!(
                    value > lower * (1.0 - 1e-12),
                    "schema {s}, {value} <= {lower}"
                );
                value *= 1.013;
            }
        }
    }

    #[test]
    fn powers_of_two_close_their_bucket() {
        // 1 is the upper bound of bucket 0 at every schema; just above it starts bucket 1.
        for s in MIN_SCHEMA..=MAX_SCHEMA {
            let schema = Schema::get(s);
            assert_eq!(schema.key(1.0), 0, "schema {s}");
            assert_eq!(schema.key(1.0 + f64::EPSILON), 1, "schema {s}");
        }
        let three = Schema::get(3);
        assert_eq!(three.key(2.0), 8);
        assert_eq!(three.key(0.5), -8);
        assert_eq!(three.key(0.25), -16);
        let minus_two = Schema::get(-2);
        // Buckets of four powers of two: (1, 16], (16, 256].
        assert_eq!(minus_two.key(16.0), 1);
        assert_eq!(minus_two.key(17.0), 2);
        assert_eq!(minus_two.key(1.0 / 16.0), -1);
    }

    #[test]
    fn zero_negative_and_extreme_values_have_their_buckets() {
        let buckets = NativeBuckets::new(3);
        for value in [
            0.0,
            -0.0,
            1e-300,
            5e-324,
            0.1,
            0.1,
            -0.1,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            buckets.add(0, value, 1);
        }
        let snapshot = buckets.snapshot();
        assert_eq!(snapshot.zero_count, 4);
        assert_eq!(snapshot.total(), 10);
        let schema = Schema::get(3);
        let tenth = schema.key(0.1);
        assert_eq!(snapshot.positive, vec![(tenth, 2), (schema.highest, 2)]);
        assert_eq!(snapshot.negative, vec![(tenth, 1), (schema.highest, 1)]);
        assert_eq!(schema.highest, 1024 << 3);
        assert_eq!(schema.lowest, (-128 << 3) + 1);
    }

    #[test]
    fn near_and_far_values_of_every_schema_land_in_range() {
        for s in MIN_SCHEMA..=MAX_SCHEMA {
            let buckets = NativeBuckets::new(s);
            for value in [1e-30, 1e-6, 0.005, 0.3, 7.0, 1e4, 1e30] {
                buckets.add(1, value, 1);
                buckets.add(2, -value, 1);
            }
            let snapshot = buckets.snapshot();
            let schema = Schema::get(s);
            let mut expected: Vec<(i32, u64)> = [1e-30, 1e-6, 0.005, 0.3, 7.0, 1e4, 1e30]
                .iter()
                .map(|&v| (schema.key(v), 1))
                .collect();
            // Coarse schemas put neighbours into one bucket.
            expected.dedup_by(|b, a| {
                let same = a.0 == b.0;
                if same {
                    a.1 += b.1;
                }
                same
            });
            assert_eq!(snapshot.positive, expected, "schema {s}");
            assert_eq!(snapshot.negative, expected, "schema {s}");
        }
    }
}
