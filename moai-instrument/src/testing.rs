//! Unit tests of a host without the global recorder: [`capture`] sends what a closure records on
//! the calling thread, the attribute macros included, to a [`Snapshot`] of its own, so tests that
//! run in parallel each read exactly their own calls.
//!
//! ```
//! use moai_instrument::{counted_event, testing};
//!
//! #[counted_event(event_type = "spawn")]
//! fn spawn_agent() {}
//!
//! let ((), snapshot) = testing::capture(|| {
//!     spawn_agent();
//!     spawn_agent();
//! });
//! assert_eq!(snapshot.counter("moai_flow_events_total", &[("event_type", "spawn")]), Some(2));
//! ```

use metrics::{Key, Label};

use crate::recorder::{self, MetricsHandle, Series};

/// Runs `f` with the calling thread's records going to a new [`Snapshot`] instead of the global
/// recorder: `#[timed_query]`, `#[counted_event]` and the `metrics` macros alike. Records of
/// other threads (including threads `f` spawns) are not captured; nested captures each see their
/// own. The snapshot uses the installed recorder's settings (histogram mode, limits), else the
/// defaults.
///
/// The capture belongs to the thread, so an `async fn` under test is driven to completion inside
/// `f` (`capture(|| runtime.block_on(work()))` with a current-thread runtime); a future returned
/// from `f` and awaited after it records outside the capture.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Snapshot) {
    let handle = recorder::for_capture(crate::config::default_registry_settings);
    let value = handle.capturing(f);
    (value, Snapshot { handle })
}

/// What one [`capture`] recorded. Names and labels are looked up as recorded (the exposition's
/// sanitising applies, so `jobs.done` finds `jobs_done`); label order does not matter.
pub struct Snapshot {
    handle: MetricsHandle,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl Snapshot {
    /// The value of counter `name{labels}`, `None` if it was never recorded.
    #[must_use]
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        match self.handle.find(&key(name, labels))? {
            Series::Counter(cell) => Some(cell.get()),
            Series::FloatCounter(cell) => Some(cell.get() as u64),
            _ => None,
        }
    }

    /// The value of gauge `name{labels}`, `None` if it was never set.
    #[must_use]
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.handle.find(&key(name, labels))? {
            Series::Gauge(cell) => Some(cell.get()),
            _ => None,
        }
    }

    /// How many observations histogram `name{labels}` got (for `#[timed_query]`: calls), `None`
    /// if it was never recorded.
    #[must_use]
    pub fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        match self.handle.find(&key(name, labels))? {
            Series::Histogram(cell) => Some(cell.count()),
            _ => None,
        }
    }

    /// Everything captured in the Prometheus text format (0.0.4), as `/metrics` would show it
    /// (without the process metrics and collectors, which a capture does not run).
    #[must_use]
    pub fn render(&self) -> String {
        self.handle.exposition_only()
    }
}

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let mut labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort_by(|a, b| a.key().cmp(b.key()));
    Key::from_parts(name.to_owned(), labels)
}
