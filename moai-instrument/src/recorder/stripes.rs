//! Per-thread striping of the hot counters: two threads recording into one series would otherwise
//! bounce one cache line between their cores on every call. Each thread writes its own stripe (a
//! cache line of its own); readers sum the stripes, which only the scrape does.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Stripes per series: threads beyond this share stripes, round-robin.
pub(crate) const STRIPES: usize = 4;

/// A value on a cache line of its own (128 bytes: adjacent-line prefetch pairs 64-byte lines).
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// This thread's stripe: threads take stripes round-robin on first use and keep theirs.
#[inline]
pub(crate) fn this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|stripe| {
        let index = stripe.get();
        if index != usize::MAX {
            return index;
        }
        let index = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
        stripe.set(index);
        index
    })
}

/// Counters per [`Line`]: 16 of 8 bytes fill the 128 bytes that a `Padded` takes anyway.
pub(crate) const PER_LINE: usize = 16;

/// 16 counters on a cache line pair of their own.
pub(crate) type Line = Padded<[AtomicU64; PER_LINE]>;

/// `n` lines of zeroed counters.
pub(crate) fn zeroed_lines(n: usize) -> Box<[Line]> {
    (0..n)
        .map(|_| Padded(std::array::from_fn(|_| AtomicU64::new(0))))
        .collect()
}
