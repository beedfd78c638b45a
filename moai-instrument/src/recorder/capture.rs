//! Records of one thread redirected into a registry of their own (`testing::capture`), macros
//! included. The hot path reads one byte, [`mode`]: whether the recorder is installed and
//! whether a capture runs anywhere, so a callsite costs one load before installation (as it did
//! before captures existed) and one more for its cached handle after, and asks [`current`] only
//! while a capture runs somewhere.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Registry;

/// [`mode`] bit: the recorder is installed.
pub(crate) const INSTALLED: usize = 1;
/// What one running capture adds to [`mode`]: the bits above [`INSTALLED`] count the captures
/// running on any thread, so the count and the installed bit change in one atomic step.
const ONE_CAPTURE: usize = 2;

static MODE: AtomicUsize = AtomicUsize::new(0);

/// [`INSTALLED`], plus [`ONE_CAPTURE`] per running capture: `0` before installation,
/// `INSTALLED` in production.
#[inline]
pub(crate) fn mode() -> usize {
    MODE.load(Ordering::Acquire)
}

/// Sets the [`INSTALLED`] bit (the recorder was just published).
pub(crate) fn set_installed() {
    MODE.fetch_or(INSTALLED, Ordering::Release);
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Registry>>> = const { RefCell::new(None) };
}

/// The registry this thread records into instead of the installed one, if a capture runs here.
#[inline]
pub(crate) fn current() -> Option<Arc<Registry>> {
    if mode() < ONE_CAPTURE {
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
            MODE.fetch_sub(ONE_CAPTURE, Ordering::AcqRel);
        }
    }
    MODE.fetch_add(ONE_CAPTURE, Ordering::AcqRel);
    let previous = CURRENT.with_borrow_mut(|current| current.replace(Arc::clone(registry)));
    let _restore = Restore(previous);
    f()
}
