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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::{CheckResult, Detail, HealthCheck, HealthReport, HealthStatus, Probe};
use crate::catalog::{HEALTH_CHECK_STATUS, RESOURCE_EXHAUSTED_TOTAL};

/// The longest a caller waits for the checks, all together.
pub(crate) const DEADLINE: Duration = Duration::from_secs(4);

/// A check running longer than this fails, whatever its last result said.
pub(crate) const STUCK: Duration = Duration::from_secs(30);

/// Results younger than this are served without running the check again.
pub(crate) const FRESH: Duration = Duration::from_secs(1);

/// The checks of this process: the SDK's, the host's and those libraries add, in the order
/// added. One per process, so a library may add its checks before or after `init()`.
pub(crate) static CHECKS: CheckSet = CheckSet {
    slots: RwLock::new(Vec::new()),
    changed: (Mutex::new(0), Condvar::new()),
};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct CheckSet {
    slots: RwLock<Vec<Arc<Slot>>>,
    /// Bumped when a check is added, so the periodic round runs the new one at once.
    changed: (Mutex<u64>, Condvar),
}

/// Why [`add_check`] refused a check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The check's name is empty (an empty `check` label reads as no label in Prometheus).
    #[error("a health check needs a name (its `check` label and its key in /healthz)")]
    EmptyName,
    /// Another check of the process already has this name.
    #[error("a health check named {name:?} is already registered; each check needs its own name")]
    NameTaken {
        /// The name asked for.
        name: String,
    },
}

/// Adds `check` to the process's checks: from now on `/livez` (for [`Probe::Liveness`] checks),
/// `/readyz`, `/healthz`, [`Routes`](crate::exporter::Routes) and the SDK's periodic round run it,
/// and `moai_flow_health_check_status{check}` follows it (within a second of adding it when the
/// SDK runs). Dropping the returned handle removes the check and its status series.
///
/// Works before and after `init()`. Libraries use it for checks of their own state, as
/// `moai-swarmdb` does for the guide's database checks:
///
/// ```
/// use moai_instrument::health::{CheckResult, HealthCheck, HealthStatus, Probe, add_check};
///
/// struct QueueNotFull;
/// impl HealthCheck for QueueNotFull {
///     fn name(&self) -> &str { "my_store_queue" }
///     fn probe(&self) -> Probe { Probe::Readiness }
///     fn check(&self) -> CheckResult { CheckResult::new(HealthStatus::Healthy, "queue 3/100") }
/// }
///
/// let handle = add_check(QueueNotFull)?;
/// // ... the store runs; /readyz runs the check ...
/// drop(handle); // the store closed: the check and its status series are gone
/// # Ok::<(), moai_instrument::health::CheckError>(())
/// ```
///
/// # Errors
/// [`CheckError::EmptyName`] for a blank name, [`CheckError::NameTaken`] when a check of that
/// name is already registered (the SDK's own included: `progress`, `log_file`, `memory`,
/// `query_performance`).
pub fn add_check(check: impl HealthCheck) -> Result<CheckHandle, CheckError> {
    CHECKS.add(Arc::new(check))
}

/// Keeps a check of [`add_check`] registered; dropping it removes the check and its
/// `moai_flow_health_check_status` series.
#[must_use = "dropping the handle removes the check at once"]
#[derive(Debug)]
pub struct CheckHandle {
    id: u64,
    name: String,
}

impl CheckHandle {
    /// The check's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for CheckHandle {
    fn drop(&mut self) {
        CHECKS.remove(self.id);
        crate::recorder::remove_series(&status_key(&self.name));
    }
}

impl CheckSet {
    pub(crate) fn add(&self, check: Arc<dyn HealthCheck>) -> Result<CheckHandle, CheckError> {
        let name = check.name().to_owned();
        if name.trim().is_empty() {
            return Err(CheckError::EmptyName);
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        {
            let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
            if slots.iter().any(|slot| slot.check.name() == name) {
                return Err(CheckError::NameTaken { name });
            }
            slots.push(Arc::new(Slot {
                id,
                check,
                state: Mutex::new(State::default()),
                finished: Condvar::new(),
            }));
        }
        let (generation, wake) = &self.changed;
        *generation.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        wake.notify_all();
        Ok(CheckHandle { id, name })
    }

    /// Unregisters a check; the caller removes its status series afterwards (see `run`).
    fn remove(&self, id: u64) {
        self.slots
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|slot| slot.id != id);
    }

    /// Waits until a check is added (the generation moves past `seen`, which is updated) or
    /// `until` passes, whichever is first.
    pub(crate) fn wait_for_change(&self, seen: &mut u64, until: Instant) {
        let (generation, wake) = &self.changed;
        let mut current = generation.lock().unwrap_or_else(PoisonError::into_inner);
        while *current == *seen {
            let now = Instant::now();
            if now >= until {
                return;
            }
            current = wake
                .wait_timeout(current, until - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *seen = *current;
    }

    /// Wakes [`CheckSet::wait_for_change`] callers (the schedule stopping).
    pub(crate) fn wake_all(&self) {
        self.changed.1.notify_all();
    }

    pub(crate) fn generation(&self) -> u64 {
        *self
            .changed
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs (or shares the fresh results of) the checks that gate `probe`, all of them for
    /// `None`, and records each result in `moai_flow_health_check_status{check}`.
    pub(crate) fn run(&self, probe: Option<Probe>) -> HealthReport {
        self.run_until(probe, Instant::now() + DEADLINE)
    }

    /// [`CheckSet::run`], answering by `deadline` (a probe's arrival plus [`DEADLINE`]: the time
    /// it waited in a queue counts).
    pub(crate) fn run_until(&self, probe: Option<Probe>, deadline: Instant) -> HealthReport {
        let selected: Vec<Arc<Slot>> = self
            .slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| match probe {
                None | Some(Probe::Readiness) => true,
                Some(Probe::Liveness) => s.check.probe() == Probe::Liveness,
            })
            .cloned()
            .collect();
        let asked = Instant::now();
        for slot in &selected {
            slot.start_unless_fresh(asked);
        }
        let results: Vec<(String, CheckResult)> = selected
            .iter()
            .map(|slot| {
                (
                    slot.check.name().to_owned(),
                    slot.result_for(asked, deadline),
                )
            })
            .collect();
        // Under the read lock, and only for checks still registered: a check removed meanwhile
        // (its handle dropped, which then removes its series) never gets its status back.
        let registered = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        for (slot, (name, result)) in selected.iter().zip(&results) {
            if registered.iter().any(|s| s.id == slot.id) {
                let value = if result.is_healthy() { 1.0 } else { 0.0 };
                metrics::gauge!(HEALTH_CHECK_STATUS.name, "check" => name.clone()).set(value);
            }
        }
        drop(registered);
        HealthReport { results }
    }
}

struct Slot {
    id: u64,
    check: Arc<dyn HealthCheck>,
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Default)]
struct State {
    last: Option<(Instant, CheckResult)>,
    running_since: Option<Instant>,
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
