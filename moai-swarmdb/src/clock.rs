//! The time retention counts from. `cleanup_old_events(days)` and the stale-agent cut-off are
//! "now minus an age" on the wall clock, which steps: a VM restored from a snapshot or an NTP
//! mistake can put it days ahead, and "older than 7 days" would then mean every row. So "now"
//! is the wall clock only while it agrees with the time really elapsed (the monotonic clock) since
//! the clocks were last reconciled; when it runs ahead by more than [`TOLERANCE`], the elapsed
//! time wins and the step is logged once, until the step has lasted [`PERSIST`] (a correction,
//! which is then believed). A clock behind only makes retention keep more.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A wall clock ahead of elapsed time by less than this is believed (NTP slews, leap seconds).
const TOLERANCE: Duration = Duration::from_secs(60);

/// Seconds added to the wall clock: a test seam standing for a clock step (0 in production).
static STEP: AtomicI64 = AtomicI64::new(0);

/// Whether the current step ahead has been logged.
static REPORTED: AtomicBool = AtomicBool::new(false);

/// The wall clock (with the test seam's step).
pub(crate) fn wall() -> SystemTime {
    let step = STEP.load(Ordering::Relaxed);
    let now = SystemTime::now();
    if step >= 0 {
        now + Duration::from_secs(step.unsigned_abs())
    } else {
        now.checked_sub(Duration::from_secs(step.unsigned_abs()))
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// How long the wall clock may stay ahead of elapsed time before it is believed: a correction
/// that lasts (the clock was behind when the process started, NTP set it right) is accepted;
/// a mistake that is reverted within this never deletes anything.
const PERSIST: Duration = Duration::from_secs(15 * 60);

struct Anchor {
    wall: SystemTime,
    mono: Instant,
    /// Since when the wall clock has been ahead of elapsed time by more than [`TOLERANCE`].
    ahead_since: Option<Instant>,
}

static ANCHOR: Mutex<Option<Anchor>> = Mutex::new(None);

/// Now for retention: the wall clock, unless it has been ahead of the time elapsed since the
/// anchor (the first call, or the last time the clocks were reconciled) by more than
/// [`TOLERANCE`] for less than [`PERSIST`]: then the elapsed time. A wall clock behind only keeps
/// more, and becomes the new anchor.
pub(crate) fn trusted_now() -> SystemTime {
    let now = wall();
    let mono = Instant::now();
    let mut anchor = ANCHOR.lock().unwrap_or_else(PoisonError::into_inner);
    let current = anchor.get_or_insert(Anchor {
        wall: now,
        mono,
        ahead_since: None,
    });
    let elapsed = current.wall + mono.saturating_duration_since(current.mono);
    match now.duration_since(elapsed) {
        Ok(ahead) if ahead > TOLERANCE => {
            let since = *current.ahead_since.get_or_insert(mono);
            if mono.saturating_duration_since(since) < PERSIST {
                if !REPORTED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "moai_swarmdb",
                        ahead_secs = ahead.as_secs(),
                        "The wall clock is {} s ahead of the time elapsed in this process; \
                         retention and stale-agent cut-offs count from the elapsed time until it \
                         has stayed so for {} minutes",
                        ahead.as_secs(),
                        PERSIST.as_secs() / 60
                    );
                }
                return elapsed;
            }
            // A lasting correction: believe the wall clock from now on.
            *current = Anchor {
                wall: now,
                mono,
                ahead_since: None,
            };
            REPORTED.store(false, Ordering::Relaxed);
            now
        }
        Ok(_) => {
            current.ahead_since = None;
            REPORTED.store(false, Ordering::Relaxed);
            now
        }
        Err(_) => {
            // Behind elapsed time (a step back): safe for retention, and the new reference.
            *current = Anchor {
                wall: now,
                mono,
                ahead_since: None,
            };
            now
        }
    }
}

/// `now - age` for retention, no earlier than the epoch.
pub(crate) fn ago(age: Duration) -> SystemTime {
    trusted_now()
        .checked_sub(age)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Steps the wall clock SwarmDB reads by `secs` (negative: back), as an NTP mistake would.
pub(crate) fn step_wall_clock(secs: i64) {
    STEP.fetch_add(secs, Ordering::Relaxed);
}
