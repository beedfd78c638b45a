//! The SDK runs the process's health checks itself, on a period (`MOAI_HEALTH_INTERVAL`), so that
//! `moai_flow_health_check_status{check}` is on `/metrics` and current whether or not anyone
//! requests `/livez`, `/readyz` or `/healthz`. A check added while it runs (a database opened
//! after start-up) is run at once, not at the next period. Scrapes only read the gauges: a slow
//! check delays the next round, never a scrape.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::check_set::CHECKS;

/// The thread that runs the checks; dropping it stops the thread after its current round.
pub(crate) struct HealthSchedule {
    flags: Arc<Flags>,
    thread: Option<JoinHandle<()>>,
}

struct Flags {
    released: AtomicBool,
    stop: AtomicBool,
}

impl HealthSchedule {
    /// Starts the thread, which waits for [`HealthSchedule::release`] (the recorder installed, so
    /// the first round's statuses are exported), then runs the checks at once and every
    /// `interval` (and whenever one is added) until dropped.
    pub(crate) fn start(interval: Duration) -> std::io::Result<HealthSchedule> {
        let flags = Arc::new(Flags {
            released: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let signal = Arc::clone(&flags);
        let thread = std::thread::Builder::new()
            .name("moai-health-checks".into())
            .spawn(move || {
                while !signal.released.load(Ordering::Acquire) {
                    if signal.stop.load(Ordering::Acquire) {
                        return;
                    }
                    std::thread::park_timeout(POLL);
                }
                run(interval, &signal.stop);
            })?;
        Ok(HealthSchedule {
            flags,
            thread: Some(thread),
        })
    }

    /// Lets the first round run now.
    pub(crate) fn release(&self) {
        self.flags.released.store(true, Ordering::Release);
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
    }
}

impl Drop for HealthSchedule {
    fn drop(&mut self) {
        self.flags.stop.store(true, Ordering::Release);
        CHECKS.wake_all();
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn run(interval: Duration, stop: &AtomicBool) {
    // The last outcome of each check by name, to log a change once rather than every round.
    let mut last: Vec<(String, bool)> = Vec::new();
    let mut seen = CHECKS.generation();
    loop {
        let started = Instant::now();
        // `CheckSet::run` sets `moai_flow_health_check_status{check}` for each check.
        let report = CHECKS.run(None);
        for (name, result) in &report.results {
            let healthy = result.is_healthy();
            let before = last.iter_mut().find(|(n, _)| n == name);
            match (before.as_ref().map(|(_, h)| *h), healthy) {
                (Some(true) | None, false) => tracing::warn!(
                    target: "moai_instrument",
                    check = %name,
                    reason = %result.message,
                    "Health check fails"
                ),
                (Some(false), true) => tracing::info!(
                    target: "moai_instrument",
                    check = %name,
                    reason = %result.message,
                    "Health check passes again"
                ),
                _ => {}
            }
            match before {
                Some(entry) => entry.1 = healthy,
                None => last.push((name.clone(), healthy)),
            }
        }
        let next = started.checked_add(interval).unwrap_or(started + POLL);
        loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let before = seen;
            CHECKS.wait_for_change(&mut seen, next.min(Instant::now() + POLL));
            if seen != before || Instant::now() >= next {
                break;
            }
        }
    }
}

/// How often a waiting round looks at its stop flag (the guard's drop also wakes it).
const POLL: Duration = Duration::from_millis(250);
