//! The SDK runs the registered health checks itself, on a period (`MOAI_HEALTH_INTERVAL`), so
//! that `moai_flow_health_check_status{check}` is on `/metrics` and current whether or not anyone
//! requests `/livez`, `/readyz` or `/healthz`. Scrapes only read the gauges: a slow check delays
//! the next round, never a scrape.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::check_set::CheckSet;
use crate::error::InitError;

/// The thread that runs the checks; dropping it stops the thread after its current round.
pub(crate) struct HealthSchedule {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl HealthSchedule {
    /// Runs `checks` now and then every `interval` until dropped. No thread for no checks.
    pub(crate) fn start(
        checks: Arc<CheckSet>,
        interval: Duration,
    ) -> Result<HealthSchedule, InitError> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        if checks.is_empty() {
            return Ok(HealthSchedule { stop, thread: None });
        }
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("moai-health-checks".into())
            .spawn(move || run(&checks, interval, &signal))
            .map_err(|source| InitError::Thread {
                name: "moai-health-checks",
                source,
            })?;
        Ok(HealthSchedule {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for HealthSchedule {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(checks: &CheckSet, interval: Duration, stop: &(Mutex<bool>, Condvar)) {
    let (stopped, wake) = stop;
    // The last outcome of each check, to log a change once rather than every round.
    let mut last: Vec<Option<bool>> = Vec::new();
    loop {
        let started = Instant::now();
        // `CheckSet::run` sets `moai_flow_health_check_status{check}` for each check.
        let report = checks.run(None);
        last.resize(report.results.len(), None);
        for ((name, result), seen) in report.results.iter().zip(last.iter_mut()) {
            match (*seen, result.is_healthy()) {
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
            *seen = Some(result.is_healthy());
        }
        let next = started + interval;
        let mut guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *guard {
                return;
            }
            let now = Instant::now();
            if now >= next {
                break;
            }
            guard = wake
                .wait_timeout(guard, next - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}
