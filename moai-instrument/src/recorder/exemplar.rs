//! Exemplars: the trace behind a recorded value. When a `#[timed_query]` or `#[counted_event]`
//! records inside a span, the span's W3C ids go with the value: per histogram bucket and per
//! counter, the latest one is kept (OpenMetrics' and protobuf's one exemplar per bucket or
//! counter) with its value and wall-clock time, for OpenMetrics and protobuf scrapes.
//!
//! Kept where nothing waits: a slot is written only if its lock is free at once (two threads
//! recording into one bucket at the same instant keep one of their exemplars, which is all a
//! slot holds anyway), and slots exist only for series that recorded inside a span.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::trace_context::{self, TraceContext};

/// One exemplar: the trace, the value recorded, and when (seconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace: TraceContext,
    pub(crate) value: f64,
    pub(crate) unix_seconds: f64,
}

impl Exemplar {
    /// An exemplar of `value` from the span this thread is in; `None` outside spans.
    #[inline]
    pub(crate) fn here(value: f64) -> Option<Exemplar> {
        let trace = trace_context::current()?;
        let unix_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Some(Exemplar {
            trace,
            value,
            unix_seconds,
        })
    }
}

/// The latest exemplar of each of `n` slots (buckets), made on first use.
#[derive(Default)]
pub(crate) struct Slots(OnceLock<Box<[Mutex<Option<Exemplar>>]>>);

impl Slots {
    /// Keeps `exemplar` in slot `index` of `n`, unless another thread is writing it right now.
    pub(crate) fn offer(&self, n: usize, index: usize, exemplar: Exemplar) {
        let slots = self
            .0
            .get_or_init(|| (0..n).map(|_| Mutex::new(None)).collect());
        if let Some(Ok(mut slot)) = slots.get(index).map(Mutex::try_lock) {
            *slot = Some(exemplar);
        }
    }

    /// The latest exemplar of slot `index`, if one was kept.
    pub(crate) fn get(&self, index: usize) -> Option<Exemplar> {
        let slot = self.0.get()?.get(index)?;
        *slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
