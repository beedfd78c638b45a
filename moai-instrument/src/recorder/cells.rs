//! Counter and gauge storage behind the `metrics` handles.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{CounterFn, GaugeFn};

use super::atomic_f64::AtomicF64;

pub(crate) struct CounterCell(AtomicU64);

impl CounterCell {
    pub(crate) fn new() -> Self {
        CounterCell(AtomicU64::new(0))
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        // Never goes backwards, whatever order racing callers arrive in.
        self.0.fetch_max(value, Ordering::Relaxed);
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
