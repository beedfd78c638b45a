//! Scrape-time collectors that libraries add and remove while the process runs (a store that
//! opens reports its gauges; once it closes, its series leave the exposition). Kept outside any
//! registry, so a library may add one before the host installs the recorder.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

type Collect = Arc<dyn Fn() + Send + Sync>;

struct Entry {
    id: u64,
    collect: Collect,
    /// Held (read) while the collector runs, taken (write) when its handle drops, so a run
    /// still under way ends before its series are removed and never sets them again after.
    removed: Arc<RwLock<bool>>,
}

static COLLECTORS: RwLock<Vec<Entry>> = RwLock::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Runs `collect` before every render of the exposition (each scrape of `/metrics`, each
/// [`MetricsHandle::render`](crate::MetricsHandle::render)) until the returned handle is
/// dropped; then the series named with [`CollectorHandle::owns`] leave the exposition. A
/// panicking collector is skipped for that scrape (its gauges keep their last values).
///
/// Works before and after the recorder is installed: collectors added earlier run from the first
/// scrape on. Libraries use it to export gauges of their own state, as `moai-swarmdb` does for
/// `moai_flow_agents_active`:
///
/// ```
/// use moai_instrument::recorder::add_collector;
///
/// let queue = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(3));
/// let depth = std::sync::Arc::clone(&queue);
/// let handle = add_collector(move || {
///     let n = depth.load(std::sync::atomic::Ordering::Relaxed);
///     moai_instrument::metrics::gauge!("my_store_queue_depth").set(n as f64);
/// })
/// .owns(["my_store_queue_depth"]);
/// // ... the store runs; every scrape reads the depth ...
/// drop(handle); // the store closed: `my_store_queue_depth` leaves /metrics
/// ```
pub fn add_collector(collect: impl Fn() + Send + Sync + 'static) -> CollectorHandle {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let removed = Arc::new(RwLock::new(false));
    COLLECTORS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Entry {
            id,
            collect: Arc::new(collect),
            removed: Arc::clone(&removed),
        });
    CollectorHandle {
        id,
        owned: Mutex::new(Vec::new()),
        removed,
    }
}

/// Keeps a collector of [`add_collector`] running; dropping it removes the collector and the
/// series it owns.
#[must_use = "dropping the handle removes the collector at once"]
pub struct CollectorHandle {
    id: u64,
    owned: Mutex<Vec<String>>,
    removed: Arc<RwLock<bool>>,
}

impl std::fmt::Debug for CollectorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl CollectorHandle {
    /// Names the metrics this collector sets: every series of theirs (any labels) leaves the
    /// exposition when the handle drops, instead of repeating its last value. Name only metrics
    /// the collector alone sets.
    pub fn owns<I, N>(self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.owned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(names.into_iter().map(Into::into));
        self
    }
}

impl Drop for CollectorHandle {
    fn drop(&mut self) {
        // Waits for a run of this collector under way (so drop no handle from inside its own
        // collector), and stops later ones.
        *self.removed.write().unwrap_or_else(PoisonError::into_inner) = true;
        COLLECTORS
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|entry| entry.id != self.id);
        for name in self
            .owned
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            super::remove_family_series(&name);
        }
    }
}

/// Runs every added collector once (a scrape is about to render).
pub(crate) fn run_all() {
    // Cloned out of the lock, so a collector may add or drop a collector without deadlock.
    let collectors: Vec<(Collect, Arc<RwLock<bool>>)> = COLLECTORS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|entry| (Arc::clone(&entry.collect), Arc::clone(&entry.removed)))
        .collect();
    for (collect, removed) in collectors {
        let removed = removed.read().unwrap_or_else(PoisonError::into_inner);
        if !*removed {
            let _ = catch_unwind(AssertUnwindSafe(|| collect()));
        }
    }
}
