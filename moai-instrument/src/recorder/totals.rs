//! A histogram's `_count` and `_sum`, striped by thread: every call updates them, so with one
//! shared pair two threads timing the same query would fight over one cache line on each call.
//! Bucketed histograms keep only the sum here (their buckets' total is the count).

use std::sync::atomic::{AtomicU64, Ordering};

use super::atomic_f64::AtomicF64;
use super::stripes::{Padded, STRIPES};

struct Stripe {
    count: AtomicU64,
    sum: AtomicF64,
}

pub(crate) struct Totals {
    stripes: [Padded<Stripe>; STRIPES],
}

impl Totals {
    pub(crate) fn new() -> Self {
        Totals {
            stripes: std::array::from_fn(|_| {
                Padded(Stripe {
                    count: AtomicU64::new(0),
                    sum: AtomicF64::new(0.0),
                })
            }),
        }
    }

    /// Adds `n` samples of `value` to `stripe` (see [`super::stripes::this_thread`]).
    #[inline]
    pub(crate) fn add(&self, stripe: usize, value: f64, n: u64) {
        let stripe = &self.stripes[stripe % STRIPES].0;
        stripe.sum.add(value * n as f64);
        stripe.count.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` samples of `value` to the sum only, for histograms whose buckets give the count.
    #[inline]
    pub(crate) fn add_sum(&self, stripe: usize, value: f64, n: u64) {
        self.stripes[stripe % STRIPES].0.sum.add(value * n as f64);
    }

    pub(crate) fn count(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.count.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn sum(&self) -> f64 {
        self.stripes.iter().map(|s| s.0.sum.load()).sum()
    }
}
