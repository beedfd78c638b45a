//! The clock of `#[timed_query]`: two `Instant::now()` calls cost about 65 ns on the VMs this was
//! measured on, the TSC read through `quanta` a fraction of that.

use std::sync::OnceLock;

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Calibrates the clock now rather than inside the first timed call.
pub(crate) fn warm_up() {
    let _ = clock();
}

/// A raw reading, only meaningful to [`nanos_since`].
#[inline]
pub(crate) fn raw() -> u64 {
    clock().raw()
}

/// Nanoseconds elapsed since the raw reading `start`.
#[inline]
pub(crate) fn nanos_since(start: u64) -> u64 {
    let clock = clock();
    clock.delta_as_nanos(start, clock.raw())
}
