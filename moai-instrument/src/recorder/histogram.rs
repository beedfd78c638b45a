//! The SDK's own histogram. The stock Prometheus exporter buffers every sample until a scrape, so
//! memory grows with traffic when nobody scrapes; this one is a fixed set of atomic counters.
//!
//! In summary mode the quantiles describe a sliding window of two periods (the current one and the
//! one before), so a latency alert sees recent behaviour, not the average since start; `_sum` and
//! `_count` are totals since start, as Prometheus expects. In bucket mode it keeps cumulative
//! counts per `le` boundary, which `histogram_quantile` can aggregate across replicas; native mode
//! keeps those and native buckets beside them (see `native`): text scrapes read the classic
//! buckets, protobuf scrapes both.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use metrics::HistogramFn;

use super::exemplar::{self, Exemplar};
use super::log_linear::{self, Window};
use super::native::{NativeBuckets, NativeSnapshot};
use super::recent::{self, Mark, Marks};
use super::stripes::{self, Line, PER_LINE, STRIPES};
use super::totals::Totals;

/// How every histogram of a recorder is exported.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HistogramLayout {
    Summary {
        quantiles: Vec<f64>,
    },
    /// Classic buckets; with `native: Some(schema)`, native buckets of that schema beside them.
    Buckets {
        bounds: Vec<f64>,
        native: Option<i8>,
    },
}

pub(crate) struct HistogramCell {
    totals: Totals,
    /// Whether a negative value was ever recorded: OpenMetrics then has no `_sum` for it (the sum
    /// is no longer a counter).
    negative_seen: AtomicBool,
    shape: Shape,
    /// The latest exemplar of each bucket (bucket mode), from records made inside a span.
    exemplars: exemplar::Slots,
}

enum Shape {
    Summary {
        windows: Box<[Window; 2]>,
        current: AtomicUsize,
    },
    /// Non-cumulative counts per bound, the last slot `+Inf`; `lines` lines per stripe (see
    /// [`BucketCounts`]).
    Buckets {
        bounds: Box<[f64]>,
        counts: BucketCounts,
        native: Option<Box<NativeBuckets>>,
        /// The counts at the last rotations, for the recent window's quantile (see `recent`).
        marks: Marks,
    },
}

/// What a histogram renders.
pub(crate) enum HistogramSnapshot {
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
    Buckets {
        cumulative: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

impl HistogramCell {
    pub(crate) fn new(layout: &HistogramLayout) -> Self {
        let shape = match layout {
            HistogramLayout::Summary { .. } => Shape::Summary {
                windows: Box::new([Window::new(), Window::new()]),
                current: AtomicUsize::new(0),
            },
            HistogramLayout::Buckets { bounds, native } => Shape::Buckets {
                bounds: bounds.clone().into_boxed_slice(),
                counts: BucketCounts::new(bounds.len() + 1),
                native: native.map(|schema| Box::new(NativeBuckets::new(schema))),
                marks: Marks::default(),
            },
        };
        HistogramCell {
            totals: Totals::new(),
            negative_seen: AtomicBool::new(false),
            shape,
            exemplars: exemplar::Slots::default(),
        }
    }

    /// Records `value` (one observation), with the current span's trace as the exemplar of its
    /// bucket (bucket mode; summaries carry no exemplars).
    #[inline]
    pub(crate) fn record_traced(&self, value: f64) {
        self.observe(value, 1);
        if let Shape::Buckets { bounds, .. } = &self.shape
            && let Some(exemplar) = Exemplar::here(value)
        {
            let slot = bounds.partition_point(|&bound| bound < value);
            self.exemplars.offer(bounds.len() + 1, slot, exemplar);
        }
    }

    /// The latest exemplar of bucket `index` (its bound's position; the last is `+Inf`).
    pub(crate) fn exemplar(&self, index: usize) -> Option<Exemplar> {
        self.exemplars.get(index)
    }

    #[inline]
    fn observe(&self, value: f64, n: u64) {
        if value.is_nan() {
            return;
        }
        if value < 0.0 {
            self.negative_seen.store(true, Ordering::Relaxed);
        }
        let stripe = stripes::this_thread();
        match &self.shape {
            Shape::Summary { windows, current } => {
                windows[current.load(Ordering::Relaxed) & 1].record(stripe, value, n);
                self.totals.add(stripe, value, n);
            }
            Shape::Buckets {
                bounds,
                counts,
                native,
                ..
            } => {
                let slot = bounds.partition_point(|&bound| bound < value);
                counts.add(stripe, slot, n);
                if let Some(native) = native {
                    native.add(stripe, value, n);
                }
                // The count is the buckets' total (`+Inf` included): one atomic add fewer.
                self.totals.add_sum(stripe, value, n);
            }
        }
    }

    /// Starts a new window period: the older window is emptied and becomes the current one, so
    /// quantiles cover between one and two periods. Bucket modes export everything (cumulative)
    /// and mark the counts now, for [`HistogramCell::quantile`]'s window.
    pub(crate) fn rotate(&self) {
        match &self.shape {
            Shape::Summary { windows, current } => {
                let next = (current.load(Ordering::Relaxed) + 1) & 1;
                windows[next].clear();
                current.store(next, Ordering::Relaxed);
            }
            Shape::Buckets {
                counts,
                native,
                marks,
                ..
            } => marks.rotate(Mark {
                classic: counts.totals(),
                native: native.as_ref().map(|native| {
                    let mut snapshot = NativeSnapshot::default();
                    native.snapshot_into(&mut snapshot);
                    snapshot
                }),
            }),
        }
    }

    /// The `q` quantile of recent samples (the last one to two window periods): from the window
    /// in summary mode; in bucket modes from the buckets recorded since the older rotation mark,
    /// interpolated within the bucket as `histogram_quantile` does (the native buckets in native
    /// mode). `None` without samples in the window.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        match &self.shape {
            Shape::Summary { windows, .. } => {
                let value = log_linear::quantiles(&[&windows[0], &windows[1]], &[q])[0];
                (!value.is_nan()).then_some(value)
            }
            Shape::Buckets {
                bounds,
                counts,
                native,
                marks,
            } => {
                let start = marks.window_start();
                if let Some(native) = native {
                    let mut now = NativeSnapshot::default();
                    native.snapshot_into(&mut now);
                    return recent::native_quantile(
                        &recent::native_since(&now, start.native.as_ref()),
                        q,
                    );
                }
                let counts = recent::since(&counts.totals(), &start.classic);
                recent::classic_quantile(bounds, &counts, q)
            }
        }
    }

    /// Whether a negative value was ever recorded.
    pub(crate) fn negative_seen(&self) -> bool {
        self.negative_seen.load(Ordering::Relaxed)
    }

    /// Observations recorded since the series was registered.
    pub(crate) fn count(&self) -> u64 {
        match &self.shape {
            Shape::Summary { .. } => self.totals.count(),
            Shape::Buckets { counts, .. } => counts.totals().iter().sum(),
        }
    }

    pub(crate) fn snapshot(&self, layout: &HistogramLayout) -> HistogramSnapshot {
        let sum = self.totals.sum();
        match (&self.shape, layout) {
            (Shape::Summary { windows, .. }, HistogramLayout::Summary { quantiles }) => {
                let count = self.totals.count();
                let values = log_linear::quantiles(&[&windows[0], &windows[1]], quantiles);
                HistogramSnapshot::Summary {
                    quantiles: quantiles.iter().copied().zip(values).collect(),
                    sum,
                    count,
                }
            }
            (Shape::Buckets { bounds, counts, .. }, _) => {
                // One read of the buckets gives both: `+Inf` (the count) is never below a
                // finite bucket, however samples race the read.
                let mut running = 0;
                let cumulative: Vec<(f64, u64)> = bounds
                    .iter()
                    .chain([&f64::INFINITY])
                    .zip(counts.totals())
                    .map(|(&bound, c)| {
                        running += c;
                        (bound, running)
                    })
                    .collect();
                let count = running;
                HistogramSnapshot::Buckets {
                    cumulative,
                    sum,
                    count,
                }
            }
            (Shape::Summary { .. }, HistogramLayout::Buckets { .. }) => {
                HistogramSnapshot::Summary {
                    quantiles: Vec::new(),
                    sum,
                    count: self.totals.count(),
                }
            }
        }
    }

    /// The native buckets (native mode) into `into`, and the count to serve with them: `count`
    /// (the classic buckets' total, read just before) raised to theirs when samples recorded in
    /// between are in the native buckets only, as Prometheus refuses a native histogram whose
    /// buckets hold more than its count. `None` in the other modes.
    pub(crate) fn native_snapshot(&self, count: u64, into: &mut NativeSnapshot) -> Option<u64> {
        let Shape::Buckets {
            native: Some(native),
            ..
        } = &self.shape
        else {
            return None;
        };
        native.snapshot_into(into);
        Some(count.max(into.total()))
    }
}

/// Bucket counts striped by thread: each stripe's slots on lines of their own.
struct BucketCounts {
    slots: usize,
    lines_per_stripe: usize,
    lines: Box<[Line]>,
}

impl BucketCounts {
    fn new(slots: usize) -> Self {
        let lines_per_stripe = slots.div_ceil(PER_LINE);
        BucketCounts {
            slots,
            lines_per_stripe,
            lines: stripes::zeroed_lines(lines_per_stripe * STRIPES),
        }
    }

    #[inline]
    fn add(&self, stripe: usize, slot: usize, n: u64) {
        let line = (stripe % STRIPES) * self.lines_per_stripe + slot / PER_LINE;
        self.lines[line].0[slot % PER_LINE].fetch_add(n, Ordering::Relaxed);
    }

    /// Each slot's count, summed over the stripes.
    fn totals(&self) -> Vec<u64> {
        (0..self.slots)
            .map(|slot| {
                (0..STRIPES)
                    .map(|stripe| {
                        let line = stripe * self.lines_per_stripe + slot / PER_LINE;
                        self.lines[line].0[slot % PER_LINE].load(Ordering::Relaxed)
                    })
                    .sum()
            })
            .collect()
    }
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        self.observe(value, 1);
    }

    fn record_many(&self, value: f64, count: usize) {
        self.observe(value, count as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> HistogramLayout {
        HistogramLayout::Summary {
            quantiles: vec![0.5, 0.95],
        }
    }

    #[test]
    fn quantiles_follow_the_window_while_totals_keep_everything() {
        let layout = summary();
        let cell = HistogramCell::new(&layout);
        for _ in 0..100 {
            cell.record(0.5);
        }
        cell.rotate();
        for _ in 0..100 {
            cell.record(0.002);
        }
        // Both periods are still in the window: the slow half shows in p95.
        let HistogramSnapshot::Summary { quantiles, .. } = cell.snapshot(&layout) else {
            panic!("summary layout gives a summary")
        };
        assert!((quantiles[1].1 - 0.5).abs() < 0.025, "{quantiles:?}");
        cell.rotate();
        let HistogramSnapshot::Summary {
            quantiles,
            sum,
            count,
        } = cell.snapshot(&layout)
        else {
            panic!("summary layout gives a summary")
        };
        // The slow period has left the window; the totals still count it.
        assert!((quantiles[1].1 - 0.002).abs() < 0.0001, "{quantiles:?}");
        assert_eq!(count, 200);
        assert!((sum - (50.0 + 0.2)).abs() < 1e-9, "{sum}");
        cell.rotate();
        let HistogramSnapshot::Summary { quantiles, .. } = cell.snapshot(&layout) else {
            panic!("summary layout gives a summary")
        };
        assert!(
            quantiles[0].1.is_nan(),
            "an empty window reports NaN: {quantiles:?}"
        );
    }

    #[test]
    fn quantile_in_both_layouts() {
        let summary = HistogramCell::new(&summary());
        assert_eq!(summary.quantile(0.95), None);
        for i in 1..=100 {
            summary.record(f64::from(i) / 1000.0);
        }
        let p95 = summary.quantile(0.95).unwrap();
        assert!((p95 - 0.095).abs() / 0.095 < 0.05, "{p95}");
        let buckets = HistogramCell::new(&HistogramLayout::Buckets {
            bounds: vec![0.01, 0.1, 1.0],
            native: None,
        });
        for i in 1..=100 {
            buckets.record(f64::from(i) / 1000.0);
        }
        // 95 of 100 samples: within the (0.01, 0.1] bucket, which holds samples 11..=100.
        let p95 = buckets.quantile(0.95).unwrap();
        assert!((p95 - (0.01 + 0.09 * (85.0 / 90.0))).abs() < 1e-9, "{p95}");
    }

    #[test]
    fn buckets_are_cumulative_with_le_semantics() {
        let layout = HistogramLayout::Buckets {
            bounds: vec![0.1, 1.0],
            native: None,
        };
        let cell = HistogramCell::new(&layout);
        for v in [0.05, 0.1, 0.5, 1.0, 3.0] {
            cell.record(v);
        }
        cell.record(f64::NAN);
        let HistogramSnapshot::Buckets {
            cumulative,
            sum,
            count,
        } = cell.snapshot(&layout)
        else {
            panic!("bucket layout gives buckets")
        };
        assert_eq!(cumulative, vec![(0.1, 2), (1.0, 4), (f64::INFINITY, 5)]);
        assert_eq!(count, 5);
        assert!((sum - 4.65).abs() < 1e-12);
    }
}
