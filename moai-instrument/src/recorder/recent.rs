//! The recent window of a bucketed histogram (bucket and native modes), which the health checks
//! judge: the bucket counts at the last two window rotations are kept, and a quantile reads what
//! was recorded since the older one, between one and two periods, as the summary's window does.
//! The exposition stays cumulative, as Prometheus needs it; without a window here one burst of
//! slow calls would hold the all-time p95 high, and readiness failing, long after it ended.
//!
//! Native mode judges by the native buckets (9% wide at schema 3) rather than the classic ones
//! (a 30 ms call in (25 ms, 50 ms] would read as up to 50 ms).

use std::sync::{Mutex, PoisonError};

use super::native::{self, NativeSnapshot};

/// Bucket counts at one rotation.
#[derive(Clone, Default)]
pub(crate) struct Mark {
    pub(crate) classic: Vec<u64>,
    pub(crate) native: Option<NativeSnapshot>,
}

/// The marks of the last two rotations: `[older, newer]` (boxed: a series carries two pointers
/// until its first rotations).
#[derive(Default)]
pub(crate) struct Marks(Mutex<[Option<Box<Mark>>; 2]>);

impl Marks {
    /// A new period starts with the counts `now`: the newer mark becomes the older one.
    pub(crate) fn rotate(&self, now: Mark) {
        let mut marks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        marks[0] = marks[1].take();
        marks[1] = Some(Box::new(now));
    }

    /// The counts at the start of the window (none before two rotations: everything recorded).
    pub(crate) fn window_start(&self) -> Mark {
        let marks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        marks[0].as_deref().cloned().unwrap_or_default()
    }
}

/// `now` minus `start`, slot by slot (a slot missing from `start` counts from 0).
pub(crate) fn since(now: &[u64], start: &[u64]) -> Vec<u64> {
    now.iter()
        .enumerate()
        .map(|(i, &n)| n.saturating_sub(start.get(i).copied().unwrap_or(0)))
        .collect()
}

/// The `q` quantile of classic bucket counts (non-cumulative, the last `+Inf`), interpolated
/// within the bucket as `histogram_quantile` does; past the last bound, the last bound. `None`
/// without samples.
pub(crate) fn classic_quantile(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &count) in counts.iter().enumerate() {
        if (below + count) as f64 >= rank && count > 0 {
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            let Some(&upper) = bounds.get(i) else {
                return bounds.last().copied();
            };
            return Some(lower + (upper - lower) * ((rank - below as f64) / count as f64));
        }
        below += count;
    }
    bounds.last().copied()
}

/// The native buckets of `now` minus those of `start` (by key).
pub(crate) fn native_since(now: &NativeSnapshot, start: Option<&NativeSnapshot>) -> NativeSnapshot {
    let Some(start) = start else {
        return now.clone();
    };
    let minus = |now: &[(i32, u64)], start: &[(i32, u64)]| -> Vec<(i32, u64)> {
        now.iter()
            .filter_map(|&(key, count)| {
                let before = start
                    .binary_search_by_key(&key, |&(k, _)| k)
                    .map_or(0, |at| start[at].1);
                let count = count.saturating_sub(before);
                (count > 0).then_some((key, count))
            })
            .collect()
    };
    NativeSnapshot {
        schema: now.schema,
        zero_threshold: now.zero_threshold,
        zero_count: now.zero_count.saturating_sub(start.zero_count),
        positive: minus(&now.positive, &start.positive),
        negative: minus(&now.negative, &start.negative),
    }
}

/// The `q` quantile of native buckets, interpolated linearly within the bucket (as Prometheus 2
/// does); values in the zero bucket read as 0. `None` without samples.
pub(crate) fn native_quantile(snapshot: &NativeSnapshot, q: f64) -> Option<f64> {
    let total = snapshot.total();
    if total == 0 {
        return None;
    }
    let bound = |key: i32| native::upper_bound(snapshot.schema, key);
    // In value order: the most negative bucket first, then zero, then the positive ones.
    let negative = snapshot
        .negative
        .iter()
        .rev()
        .map(|&(key, count)| (-bound(key), -bound(key - 1), count));
    let zero = std::iter::once((0.0, 0.0, snapshot.zero_count));
    let positive = snapshot
        .positive
        .iter()
        .map(|&(key, count)| (bound(key - 1), bound(key), count));
    let rank = q * total as f64;
    let mut below = 0u64;
    let mut last = 0.0;
    for (lower, upper, count) in negative.chain(zero).chain(positive) {
        if count > 0 && (below + count) as f64 >= rank {
            return Some(lower + (upper - lower) * ((rank - below as f64) / count as f64));
        }
        below += count;
        last = upper;
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_counts_since_a_mark_and_their_quantile() {
        let bounds = [0.01, 0.1, 1.0];
        assert_eq!(since(&[5, 7, 0, 1], &[5, 2]), vec![0, 5, 0, 1]);
        // 95 of 100 samples in (0.01, 0.1] after 10 in the first bucket: interpolated.
        let p = classic_quantile(&bounds, &[10, 90, 0, 0], 0.95).unwrap();
        assert!((p - (0.01 + 0.09 * (85.0 / 90.0))).abs() < 1e-12, "{p}");
        assert_eq!(classic_quantile(&bounds, &[0, 0, 0, 3], 0.5), Some(1.0));
        assert_eq!(classic_quantile(&bounds, &[0, 0, 0, 0], 0.5), None);
    }

    #[test]
    fn native_quantiles_are_within_a_bucket_and_follow_the_window() {
        let buckets = native::NativeBuckets::new(3);
        for i in 1..=1000 {
            buckets.add(0, 0.030 + f64::from(i) * 1e-6, 1);
        }
        let mut burst = NativeSnapshot::default();
        buckets.snapshot_into(&mut burst);
        let p95 = native_quantile(&burst, 0.95).unwrap();
        assert!((p95 - 0.031).abs() / 0.031 < 0.09, "{p95}");
        // After the mark, fast calls only: the window sees them alone.
        for _ in 0..100 {
            buckets.add(0, 0.002, 1);
        }
        let mut now = NativeSnapshot::default();
        buckets.snapshot_into(&mut now);
        let recent = native_since(&now, Some(&burst));
        assert_eq!(recent.total(), 100);
        let p95 = native_quantile(&recent, 0.95).unwrap();
        assert!((p95 - 0.002).abs() / 0.002 < 0.09, "{p95}");
        assert_eq!(native_since(&now, None).total(), 1100);
        // Negative values and zero, in value order.
        buckets.add(0, -4.0, 2000);
        buckets.add(0, 0.0, 10_000);
        let mut all = NativeSnapshot::default();
        buckets.snapshot_into(&mut all);
        let p5 = native_quantile(&all, 0.05).unwrap();
        assert!((-4.4..=-3.6).contains(&p5), "{p5}");
        assert_eq!(native_quantile(&all, 0.5), Some(0.0));
    }
}
