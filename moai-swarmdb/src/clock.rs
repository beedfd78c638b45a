//! The time retention counts from. `cleanup_old_events(days)` and the stale-agent cut-off are
//! "now minus an age" on the wall clock, which steps: a VM restored from a snapshot or an NTP
//! mistake can put it days ahead, and "older than 7 days" would then mean every row. So "now"
//! is the wall clock only while it agrees with the time really elapsed since this process first
//! asked (the monotonic clock); when it runs ahead by more than [`TOLERANCE`], the elapsed time
//! wins and the step is logged once. A clock behind only makes retention keep more.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
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

/// Now for retention: the wall clock, unless it is ahead of the time elapsed since the first
/// call by more than [`TOLERANCE`].
pub(crate) fn trusted_now() -> SystemTime {
    static ANCHOR: OnceLock<(SystemTime, Instant)> = OnceLock::new();
    let (anchor_wall, anchor_mono) = *ANCHOR.get_or_init(|| (wall(), Instant::now()));
    let now = wall();
    let elapsed = anchor_wall + anchor_mono.elapsed();
    match now.duration_since(elapsed) {
        Ok(ahead) if ahead > TOLERANCE => {
            if !REPORTED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    target: "moai_swarmdb",
                    ahead_secs = ahead.as_secs(),
                    "The wall clock is {} s ahead of the time elapsed in this process; retention \
                     and stale-agent cut-offs count from the elapsed time",
                    ahead.as_secs()
                );
            }
            elapsed
        }
        _ => {
            REPORTED.store(false, Ordering::Relaxed);
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
