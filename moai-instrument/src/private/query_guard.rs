//! The drop guard of `#[timed_query]`: it records in `Drop`, so early `return`, `?`, panics and
//! futures dropped mid-await are all measured, exactly once.

use std::error::Error;
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock;
use crate::recorder::callsite::{Handles, QueryCallsite};

/// The slow-query threshold for sites without `slow_ms`, in nanoseconds (set by the config).
static DEFAULT_SLOW_NS: AtomicU64 = AtomicU64::new(100_000_000);

pub(crate) fn set_default_slow_query(threshold: std::time::Duration) {
    let nanos = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
    DEFAULT_SLOW_NS.store(nanos, Ordering::Relaxed);
}

const TARGET: &str = "moai_instrument::query";

#[doc(hidden)]
pub struct QueryGuard {
    active: Option<Active>,
}

struct Active {
    callsite: &'static QueryCallsite,
    handles: Handles,
    start: u64,
}

impl QueryGuard {
    /// Takes the start time, unless nothing is installed: then the guard is inert and the clock is
    /// never read.
    #[inline]
    pub fn start(callsite: &'static QueryCallsite) -> Self {
        let active = callsite.handles().map(|handles| Active {
            callsite,
            handles,
            start: clock::raw(),
        });
        QueryGuard { active }
    }

    /// An `Err` whose type is a `std::error::Error`: logged with its source chain.
    pub fn note_error(&self, error: &(dyn Error + 'static)) {
        self.fail(error);
    }

    /// An `Err` that only implements `Display`.
    pub fn note_display(&self, error: &dyn Display) {
        if self.active.is_some() {
            self.fail(&TextError(crate::error::display_or_placeholder(error)));
        }
    }

    /// An `Err` whose type cannot be printed: logged by its type name.
    pub fn note_opaque(&self, type_name: &'static str) {
        if self.active.is_some() {
            self.fail(&TextError(format!("an error of type {type_name}")));
        }
    }

    /// A return value that the fn's `error_if` judge called a failure (and that is no `Err`):
    /// counted and logged like an error, naming the judge.
    pub fn note_judged_failure(&self, judge: &'static str) {
        if self.active.is_some() {
            self.fail(&TextError(format!(
                "the result was judged a failure by {judge}"
            )));
        }
    }

    /// Counts the failure and logs it at ERROR, located at the instrumented fn.
    fn fail(&self, error: &(dyn Error + 'static)) {
        if let Some(active) = self.count_error() {
            let (query_type, at) = (active.callsite.query_type, &active.callsite.location);
            tracing::error!(
                target: TARGET,
                query_type,
                error,
                code.module = at.module,
                code.function = at.function,
                code.line = at.line,
                "Failed to {query_type}: {error}"
            );
        }
    }

    fn count_error(&self) -> Option<&Active> {
        let active = self.active.as_ref()?;
        if let Some(errors) = &active.handles.errors {
            // With the span's trace as the exemplar: it leads to the ERROR line logged next.
            errors.increment_traced(1);
        }
        Some(active)
    }
}

impl Drop for QueryGuard {
    #[inline]
    fn drop(&mut self) {
        let Some(active) = &self.active else { return };
        let nanos = clock::nanos_since(active.start);
        if let Some(duration) = &active.handles.duration {
            duration.record_traced(nanos as f64 * 1e-9);
        }
        let threshold = match active.callsite.slow_ms {
            Some(ms) => ms.saturating_mul(1_000_000),
            None => DEFAULT_SLOW_NS.load(Ordering::Relaxed),
        };
        if nanos > threshold {
            warn_slow(active.callsite, nanos, threshold);
        }
    }
}

#[cold]
fn warn_slow(callsite: &QueryCallsite, nanos: u64, threshold: u64) {
    let (query_type, at) = (callsite.query_type, &callsite.location);
    let duration_ms = nanos as f64 / 1e6;
    let threshold_ms = threshold as f64 / 1e6;
    tracing::warn!(
        target: TARGET,
        query_type,
        duration_ms,
        threshold_ms,
        code.module = at.module,
        code.function = at.function,
        code.line = at.line,
        "Query took {duration_ms:.1}ms (expected <{threshold_ms}ms)"
    );
}

/// The text of an error that is not a `std::error::Error`, so that every failure is logged the
/// same way.
#[derive(Debug)]
struct TextError(String);

impl Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for TextError {}
