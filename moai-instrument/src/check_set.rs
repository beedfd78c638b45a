//! The registered health checks, run for every caller (`/livez`, `/readyz`, `/healthz` and the
//! SDK's own periodic round) without pile-ups:
//!
//! - each check runs on a thread of its own, all at once, and a caller waits for them together
//!   at most [`DEADLINE`] (shorter than a kubelet's probe timeout);
//! - at most one run of a check at a time: a check still running (stuck on a database lock, say)
//!   is not started again; callers get its last result, marked stale, so threads stay bounded by
//!   the number of checks whatever the probes and the locks do;
//! - a result younger than [`FRESH`] is shared by every caller, so a flood of probe requests
//!   costs the database nothing extra.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::catalog::{HEALTH_CHECK_STATUS, RESOURCE_EXHAUSTED_TOTAL};
use crate::health::{CheckResult, Detail, HealthCheck, HealthReport, HealthStatus, Probe};

/// The longest a caller waits for the checks, all together.
pub(crate) const DEADLINE: Duration = Duration::from_secs(4);

/// A check running longer than this fails, whatever its last result said.
pub(crate) const STUCK: Duration = Duration::from_secs(30);

/// Results younger than this are served without running the check again.
pub(crate) const FRESH: Duration = Duration::from_secs(1);

pub(crate) struct CheckSet {
    slots: Vec<Arc<Slot>>,
}

/// A check and when it applies: always, or while `active` says so (the SwarmDB checks, while the
/// application has a database open). One that does not apply is neither run nor listed.
pub(crate) struct Registered {
    check: Arc<dyn HealthCheck>,
    active: Option<fn() -> bool>,
}

impl Registered {
    pub(crate) fn always(check: Arc<dyn HealthCheck>) -> Self {
        Registered {
            check,
            active: None,
        }
    }

    #[cfg_attr(not(feature = "swarmdb"), allow(dead_code))]
    pub(crate) fn when(check: Arc<dyn HealthCheck>, active: fn() -> bool) -> Self {
        Registered {
            check,
            active: Some(active),
        }
    }
}

struct Slot {
    check: Arc<dyn HealthCheck>,
    active: Option<fn() -> bool>,
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Default)]
struct State {
    last: Option<(Instant, CheckResult)>,
    running_since: Option<Instant>,
}

impl CheckSet {
    pub(crate) fn new(checks: Vec<Registered>) -> Self {
        CheckSet {
            slots: checks
                .into_iter()
                .map(|Registered { check, active }| {
                    Arc::new(Slot {
                        check,
                        active,
                        state: Mutex::new(State::default()),
                        finished: Condvar::new(),
                    })
                })
                .collect(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Runs (or shares the fresh results of) the checks that gate `probe`, all of them for
    /// `None`, and records each result in `moai_flow_health_check_status{check}`.
    pub(crate) fn run(&self, probe: Option<Probe>) -> HealthReport {
        let deadline = Instant::now() + DEADLINE;
        let (applying, resting): (Vec<&Arc<Slot>>, Vec<&Arc<Slot>>) = self
            .slots
            .iter()
            .partition(|s| s.active.is_none_or(|active| active()));
        // A check that does not apply now (no SwarmDB open) leaves the exposition rather than
        // repeating its last result.
        for slot in resting {
            crate::recorder::remove_series(&status_key(slot.check.name()));
        }
        let selected: Vec<&Arc<Slot>> = applying
            .into_iter()
            .filter(|s| match probe {
                None | Some(Probe::Readiness) => true,
                Some(Probe::Liveness) => s.check.probe() == Probe::Liveness,
            })
            .collect();
        let asked = Instant::now();
        for slot in &selected {
            slot.start_unless_fresh(asked);
        }
        let results = selected
            .iter()
            .map(|slot| {
                let result = slot.result_for(asked, deadline);
                let value = if result.is_healthy() { 1.0 } else { 0.0 };
                metrics::gauge!(HEALTH_CHECK_STATUS.name, "check" => slot.check.name().to_owned())
                    .set(value);
                (slot.check.name().to_owned(), result)
            })
            .collect();
        HealthReport { results }
    }
}

/// `moai_flow_health_check_status{check="<name>"}`.
fn status_key(name: &str) -> metrics::Key {
    metrics::Key::from_parts(
        HEALTH_CHECK_STATUS.name,
        vec![metrics::Label::new("check", name.to_owned())],
    )
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a run unless one is under way or the last result is fresh.
    fn start_unless_fresh(self: &Arc<Self>, asked: Instant) {
        let mut state = self.lock();
        let fresh = state
            .last
            .as_ref()
            .is_some_and(|(at, _)| asked.saturating_duration_since(*at) < FRESH);
        if fresh || state.running_since.is_some() {
            return;
        }
        let slot = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("moai-check-{}", self.check.name()))
            .spawn(move || slot.run_once());
        match spawned {
            Ok(_) => state.running_since = Some(Instant::now()),
            Err(error) => {
                metrics::counter!(RESOURCE_EXHAUSTED_TOTAL.name, "resource" => "threads")
                    .increment(1);
                state.last = Some((
                    Instant::now(),
                    CheckResult::new(
                        HealthStatus::Unhealthy,
                        format!("cannot start the check: {error}"),
                    ),
                ));
            }
        }
    }

    fn run_once(&self) {
        // A panicking check is a failing check, not a lost thread state.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.check.check()))
            .unwrap_or_else(|_| CheckResult::new(HealthStatus::Unhealthy, "the check panicked"));
        let mut state = self.lock();
        state.last = Some((Instant::now(), result));
        state.running_since = None;
        drop(state);
        self.finished.notify_all();
    }

    /// The result of a run finished after `asked` (or fresh then), waiting until `deadline`;
    /// past it, the last result marked stale, or a failure when there is none.
    fn result_for(&self, asked: Instant, deadline: Instant) -> CheckResult {
        let mut state = self.lock();
        loop {
            let current = state
                .last
                .as_ref()
                .filter(|(at, _)| *at >= asked || asked.saturating_duration_since(*at) < FRESH);
            if let Some((_, result)) = current {
                return result.clone();
            }
            let now = Instant::now();
            if now >= deadline || state.running_since.is_none() {
                break;
            }
            state = self
                .finished
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let running_for = state
            .running_since
            .map_or(Duration::ZERO, |t| t.elapsed())
            .as_secs_f64();
        match &state.last {
            // Stuck for long is a failure of its own, whatever the check last said.
            _ if running_for > STUCK.as_secs_f64() => CheckResult::new(
                HealthStatus::Unhealthy,
                format!(
                    "{} check stuck: running for {running_for:.1} s",
                    self.check.name()
                ),
            )
            .with_detail("stale", Detail::Flag(true)),
            Some((at, last)) => {
                let mut stale = last.clone();
                stale.message = format!(
                    "{} (stale: from {:.1} s ago; the check has been running for {running_for:.1} s)",
                    stale.message,
                    at.elapsed().as_secs_f64()
                );
                stale.with_detail("stale", Detail::Flag(true))
            }
            None => CheckResult::new(
                HealthStatus::Unhealthy,
                format!(
                    "{} check still running after {running_for:.1} s",
                    self.check.name()
                ),
            )
            .with_detail("stale", Detail::Flag(true)),
        }
    }
}
