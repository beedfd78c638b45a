//! A histogram's `_count` and `_sum`, striped by thread: every call updates both, so with one
//! shared pair two threads timing the same query would fight over one cache line on each call.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::atomic_f64::AtomicF64;

const STRIPES: usize = 4;

/// One cache line per stripe, so stripes never share one.
#[repr(align(64))]
struct Stripe {
    count: AtomicU64,
    sum: AtomicF64,
}

pub(crate) struct Totals {
    stripes: [Stripe; STRIPES],
}

impl Totals {
    pub(crate) fn new() -> Self {
        Totals {
            stripes: std::array::from_fn(|_| Stripe {
                count: AtomicU64::new(0),
                sum: AtomicF64::new(0.0),
            }),
        }
    }

    #[inline]
    pub(crate) fn add(&self, value: f64, n: u64) {
        let stripe = &self.stripes[stripe_of_this_thread()];
        stripe.sum.add(value * n as f64);
        stripe.count.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.count.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn sum(&self) -> f64 {
        self.stripes.iter().map(|s| s.sum.load()).sum()
    }
}

/// Threads take stripes round-robin on first use and keep theirs.
#[inline]
fn stripe_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|stripe| {
        let mut index = stripe.get();
        if index == usize::MAX {
            index = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            stripe.set(index);
        }
        index
    })
}
