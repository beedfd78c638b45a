//! Per-callsite statics the macros emit. Each caches its handles on first use after the recorder
//! is installed, and never before: a handle taken earlier would be a no-op forever. While a
//! `testing::capture` runs on the calling thread, the callsite records into the capture's
//! registry instead, uncached.

use std::sync::{Arc, OnceLock};

use metrics::{Key, Label};

use super::{CounterCell, HistogramCell, capture};
use crate::catalog::{ERRORS_TOTAL, EVENTS_TOTAL, QUERY_DURATION_SECONDS};

/// Where an instrumented fn is, for the log lines it causes.
#[doc(hidden)]
pub struct Location {
    pub module: &'static str,
    pub function: &'static str,
    pub line: u32,
}

/// A `#[timed_query]` site.
pub struct QueryCallsite {
    pub(crate) query_type: &'static str,
    pub(crate) slow_ms: Option<u64>,
    pub(crate) location: Location,
    handles: OnceLock<QueryHandles>,
}

pub(crate) struct QueryHandles {
    pub(crate) duration: Option<Arc<HistogramCell>>,
    pub(crate) errors: Option<Arc<CounterCell>>,
}

/// A callsite's handles: cached for the installed recorder, or a capture's own.
pub(crate) enum Handles {
    /// The installed recorder's, cached in the callsite.
    Cached(&'static QueryHandles),
    /// A capture's, looked up for this call (boxed: tests only, and it keeps the guard small).
    Captured(Box<QueryHandles>),
}

impl std::ops::Deref for Handles {
    type Target = QueryHandles;

    #[inline]
    fn deref(&self) -> &QueryHandles {
        match self {
            Handles::Cached(handles) => handles,
            Handles::Captured(handles) => handles,
        }
    }
}

impl QueryCallsite {
    #[doc(hidden)]
    pub const fn new(query_type: &'static str, slow_ms: Option<u64>, location: Location) -> Self {
        QueryCallsite {
            query_type,
            slow_ms,
            location,
            handles: OnceLock::new(),
        }
    }

    pub(crate) fn duration_key(&self) -> Key {
        Key::from_parts(
            QUERY_DURATION_SECONDS.name,
            vec![Label::from_static_parts("query_type", self.query_type)],
        )
    }

    pub(crate) fn errors_key(&self) -> Key {
        Key::from_parts(
            ERRORS_TOTAL.name,
            vec![Label::from_static_parts("operation", self.query_type)],
        )
    }

    /// `None` until the recorder is installed (and outside a capture): without it the macros
    /// record nothing, for one atomic load. Once cached, that load and one for the handles.
    #[inline]
    pub(crate) fn handles(&'static self) -> Option<Handles> {
        match capture::mode() {
            0 => None,
            capture::INSTALLED => match self.handles.get() {
                Some(handles) => Some(Handles::Cached(handles)),
                None => self.first_handles(),
            },
            _ => self.captured_handles(),
        }
    }

    #[cold]
    fn captured_handles(&'static self) -> Option<Handles> {
        let Some(captured) = capture::current() else {
            return self
                .handles
                .get()
                .map(Handles::Cached)
                .or_else(|| self.first_handles());
        };
        Some(Handles::Captured(Box::new(QueryHandles {
            duration: captured.histogram(&self.duration_key()),
            errors: captured.counter(&self.errors_key()),
        })))
    }

    #[cold]
    fn first_handles(&'static self) -> Option<Handles> {
        let registry = super::installed()?;
        Some(Handles::Cached(self.handles.get_or_init(|| QueryHandles {
            duration: registry.histogram(&self.duration_key()),
            errors: striped(registry.counter(&self.errors_key())),
        })))
    }
}

/// A `#[counted_event]` site with a literal event type.
pub struct EventCallsite {
    event_type: &'static str,
    counter: OnceLock<Option<Arc<CounterCell>>>,
}

impl EventCallsite {
    #[doc(hidden)]
    pub const fn new(event_type: &'static str) -> Self {
        EventCallsite {
            event_type,
            counter: OnceLock::new(),
        }
    }

    pub(crate) fn key(&self) -> Key {
        Key::from_parts(
            EVENTS_TOTAL.name,
            vec![Label::from_static_parts("event_type", self.event_type)],
        )
    }

    /// One atomic load when nothing is installed; after, that load, the cached handle and one
    /// atomic add.
    #[doc(hidden)]
    #[inline]
    pub fn increment(&'static self) {
        match capture::mode() {
            0 => {}
            capture::INSTALLED => match self.counter.get() {
                Some(Some(counter)) => counter.increment_traced(1),
                Some(None) => {}
                None => self.increment_first(),
            },
            _ => self.increment_maybe_captured(),
        }
    }

    #[cold]
    fn increment_maybe_captured(&'static self) {
        match capture::current() {
            Some(captured) => {
                if let Some(counter) = captured.counter(&self.key()) {
                    counter.increment_traced(1);
                }
            }
            None => self.increment_first(),
        }
    }

    #[cold]
    fn increment_first(&'static self) {
        let Some(registry) = super::installed() else {
            return;
        };
        if let Some(counter) = self
            .counter
            .get_or_init(|| striped(registry.counter(&self.key())))
        {
            counter.increment_traced(1);
        }
    }
}

/// A callsite's counter, striped per thread: the callsite may run on many threads at once.
fn striped(counter: Option<Arc<CounterCell>>) -> Option<Arc<CounterCell>> {
    if let Some(counter) = &counter {
        counter.stripe();
    }
    counter
}

/// Counts an event whose type comes from the arguments: a registry lookup per call, bounded by
/// the series limit of `moai_flow_events_total`.
#[doc(hidden)]
pub fn count_event<S: AsRef<str> + ?Sized>(event_type: &S) {
    let captured = capture::current();
    let registry = match &captured {
        Some(registry) => registry,
        None => match super::installed() {
            Some(registry) => registry,
            None => return,
        },
    };
    let key = Key::from_parts(
        EVENTS_TOTAL.name,
        vec![Label::new("event_type", event_type.as_ref().to_owned())],
    );
    if let Some(counter) = registry.counter(&key) {
        counter.increment_traced(1);
    }
}

/// Every instrumented site of the program, collected at link time so that their series can be
/// registered at 0 when the recorder is installed.
#[doc(hidden)]
pub enum Callsite {
    Query(&'static QueryCallsite),
    Event(&'static EventCallsite),
}

inventory::collect!(Callsite);

pub(crate) fn callsites() -> impl Iterator<Item = &'static Callsite> {
    inventory::iter::<Callsite>.into_iter()
}
