//! Records of one thread redirected into a registry of their own (`testing::capture`), macros
//! included: the hot path asks [`current`] only while some capture runs somewhere, so hosts that
//! never capture pay one relaxed load of [`ACTIVE`].

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Registry;

/// Captures running on any thread; 0 in production.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static CURRENT: RefCell<Option<Arc<Registry>>> = const { RefCell::new(None) };
}

/// Whether a capture runs on any thread (then [`current`] says whether on this one).
#[inline]
pub(crate) fn any_active() -> bool {
    ACTIVE.load(Ordering::Relaxed) != 0
}

/// The registry this thread records into instead of the installed one, if a capture runs here.
#[inline]
pub(crate) fn current() -> Option<Arc<Registry>> {
    if !any_active() {
        return None;
    }
    current_slow()
}

#[cold]
fn current_slow() -> Option<Arc<Registry>> {
    CURRENT.with_borrow(Option::clone)
}

/// Runs `f` with `registry` as this thread's capture (nested captures see only the innermost).
pub(crate) fn with<T>(registry: &Arc<Registry>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Arc<Registry>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with_borrow_mut(|current| *current = previous);
            ACTIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
    ACTIVE.fetch_add(1, Ordering::Relaxed);
    let previous = CURRENT.with_borrow_mut(|current| current.replace(Arc::clone(registry)));
    let _restore = Restore(previous);
    f()
}
