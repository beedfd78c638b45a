//! Counter and gauge storage behind the `metrics` handles.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{CounterFn, GaugeFn};

use super::atomic_f64::AtomicF64;
use super::exemplar::{self, Exemplar};
use super::stripes::{self, Padded, STRIPES};

/// A counter. One atomic, unless a callsite of the macros asks for stripes ([`CounterCell::stripe`]):
/// then each thread increments its own stripe (see `stripes`) and the value is `base` plus their
/// sum. Counters that host code records stay one cache line, so a scrape of many of them reads
/// one line each.
pub(crate) struct CounterCell {
    base: AtomicU64,
    stripes: OnceLock<Box<[Padded<AtomicU64>; STRIPES]>>,
    /// The latest exemplar, from increments made inside a span by the macros.
    exemplar: exemplar::Slots,
}

impl CounterCell {
    pub(crate) fn new() -> Self {
        CounterCell {
            base: AtomicU64::new(0),
            stripes: OnceLock::new(),
            exemplar: exemplar::Slots::default(),
        }
    }

    /// Adds `value`, with the current span's trace as the counter's exemplar.
    #[inline]
    pub(crate) fn increment_traced(&self, value: u64) {
        self.increment(value);
        if let Some(exemplar) = Exemplar::here(value as f64) {
            self.exemplar.offer(1, 0, exemplar);
        }
    }

    /// The latest exemplar, if an increment was made inside a span.
    pub(crate) fn exemplar(&self) -> Option<Exemplar> {
        self.exemplar.get(0)
    }

    /// Gives the counter per-thread stripes from now on (for the macros' hot path).
    pub(crate) fn stripe(&self) {
        self.stripes
            .get_or_init(|| Box::new(std::array::from_fn(|_| Padded(AtomicU64::new(0)))));
    }

    pub(crate) fn get(&self) -> u64 {
        self.base
            .load(Ordering::Relaxed)
            .wrapping_add(self.striped())
    }

    fn striped(&self) -> u64 {
        self.stripes.get().map_or(0, |stripes| {
            stripes
                .iter()
                .fold(0u64, |sum, s| sum.wrapping_add(s.0.load(Ordering::Relaxed)))
        })
    }
}

impl CounterFn for CounterCell {
    #[inline]
    fn increment(&self, value: u64) {
        match self.stripes.get() {
            Some(stripes) => stripes[stripes::this_thread()]
                .0
                .fetch_add(value, Ordering::Relaxed),
            None => self.base.fetch_add(value, Ordering::Relaxed),
        };
    }

    fn absolute(&self, value: u64) {
        // Raises the total to `value`, never lowers it: `base` only grows, by compare-and-swap,
        // so racing callers never add twice; increments racing in only make it larger.
        let mut base = self.base.load(Ordering::Relaxed);
        loop {
            let striped = self.striped();
            if value <= base.wrapping_add(striped) {
                return;
            }
            match self.base.compare_exchange_weak(
                base,
                value - striped,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => base = now,
            }
        }
    }
}

pub(crate) struct GaugeCell(AtomicF64);

impl GaugeCell {
    pub(crate) fn new() -> Self {
        GaugeCell(AtomicF64::new(0.0))
    }

    pub(crate) fn get(&self) -> f64 {
        self.0.load()
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.0.add(value);
    }

    fn decrement(&self, value: f64) {
        self.0.add(-value);
    }

    fn set(&self, value: f64) {
        self.0.store(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_counts_from_many_threads_add_up_exactly() {
        let cell = CounterCell::new();
        cell.increment(10);
        cell.stripe();
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        cell.increment(1);
                    }
                });
            }
        });
        assert_eq!(cell.get(), 60_010);
    }

    #[test]
    fn absolute_raises_but_never_lowers_and_increments_add_on_top() {
        let cell = CounterCell::new();
        cell.stripe();
        cell.increment(5);
        cell.absolute(3);
        assert_eq!(cell.get(), 5);
        cell.absolute(100);
        assert_eq!(cell.get(), 100);
        cell.increment(2);
        assert_eq!(cell.get(), 102);
        cell.absolute(101);
        assert_eq!(cell.get(), 102);
    }
}
