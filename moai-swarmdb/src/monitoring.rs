//! The SwarmDB the SDK monitors without being told: the first one the application opened that is
//! still open. The first database to open adds a scrape-time collector (the guide's
//! `update_metrics()`) and the database checks through the SDK's public extension points; when
//! the last one closes, dropping their handles removes them and their series (see
//! [Monitoring](crate#monitoring)).
//!
//! The list holds weak references in the order opened, so monitoring never keeps a database open
//! that the application has closed.

use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Instant;

use moai_instrument::catalog::{
    AGENTS_ACTIVE, DB_COLLECT_AGE_SECONDS, DB_SIZE_BYTES, DB_VOLUME_AVAIL_BYTES,
    DB_VOLUME_SIZE_BYTES,
};
use moai_instrument::health::{
    CheckHandle, CheckResult, Detail, HealthCheck, HealthStatus, Probe, add_check, thresholds,
};
use moai_instrument::recorder::{CollectorHandle, add_collector};

use super::{Shared, SwarmDb};
use crate::health::{CheckKind, HealthChecker, LIVENESS_CHECK};

/// The databases the application opened, oldest first, and the extension points they hold
/// while any is open.
static MONITOR: Mutex<Monitor> = Mutex::new(Monitor {
    opened: Vec::new(),
    registration: None,
});

struct Monitor {
    opened: Vec<Weak<Shared>>,
    registration: Option<Registration>,
}

/// What the SDK runs for SwarmDB while a database is open; dropping it removes all of it.
struct Registration {
    _collector: CollectorHandle,
    _checks: Vec<CheckHandle>,
    /// The thread that reads the gauges from the database; it ends when this drops.
    _refresher: Refresher,
}

/// Notes an application's database (not a probe's), and plugs monitoring in when it is the only
/// one open.
/// While an application's first connection to its server is under way (up to
/// `connect_timeout`), readiness fails with `database` "connecting": the probes never report
/// ready before the database checks exist. `None` when a database is already monitored.
/// (Only a server is connected to: the SQLite backend opens a file.)
#[cfg(feature = "postgres")]
pub(crate) fn connecting(db: String) -> Option<CheckHandle> {
    struct Connecting(String);
    impl HealthCheck for Connecting {
        fn name(&self) -> &str {
            CheckKind::Database.name()
        }
        fn probe(&self) -> Probe {
            Probe::Readiness
        }
        fn check(&self) -> CheckResult {
            CheckResult::new(
                HealthStatus::Unhealthy,
                format!("connecting to SwarmDB at {}", self.0),
            )
        }
    }
    add_check(Connecting(db)).ok()
}

pub(super) fn opened(db: &SwarmDb) {
    let mut monitor = MONITOR.lock().unwrap_or_else(PoisonError::into_inner);
    monitor.opened.retain(|weak| weak.strong_count() > 0);
    monitor.opened.push(Arc::downgrade(&db.shared));
    if monitor.registration.is_none() {
        monitor.registration = Some(register());
    }
}

/// A monitored database closed (its last clone dropped): with none left open, monitoring is
/// unplugged and the database's series leave the exposition.
pub(super) fn closed() {
    let mut monitor = MONITOR.lock().unwrap_or_else(PoisonError::into_inner);
    monitor.opened.retain(|weak| weak.strong_count() > 0);
    if monitor.opened.is_empty() {
        // Dropped under the lock, so a database opening meanwhile registers afresh only after
        // the old checks are gone (their names free). Safe: removing a check or a collector takes
        // only the check set's, the collectors' and the registry's locks, whose holders never
        // wait for this one.
        drop(monitor.registration.take());
    }
}

fn register() -> Registration {
    let refresher = Refresher::start();
    let readings = Arc::clone(&refresher.readings);
    let collector = add_collector(move || export_gauges(&readings)).owns([
        AGENTS_ACTIVE.name,
        DB_SIZE_BYTES.name,
        DB_COLLECT_AGE_SECONDS.name,
        DB_VOLUME_SIZE_BYTES.name,
        DB_VOLUME_AVAIL_BYTES.name,
    ]);
    let checks = monitored_checks()
        .into_iter()
        .filter_map(|check| match add_check(check) {
            Ok(handle) => Some(handle),
            Err(error) => {
                // A host check of the same name came first: it stays, and this one is left out.
                tracing::warn!(
                    target: "moai_swarmdb",
                    error = &error as &dyn std::error::Error,
                    "SwarmDB health check not added"
                );
                None
            }
        })
        .collect();
    Registration {
        _collector: collector,
        _checks: checks,
        _refresher: refresher,
    }
}

/// The database the SDK monitors: the first one opened that is still open.
pub(crate) fn monitored() -> Option<SwarmDb> {
    MONITOR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .opened
        .iter()
        .find_map(Weak::upgrade)
        .map(|shared| SwarmDb { shared })
}

/// How long a scrape waits for the read it asked before serving the last values.
const FRESH_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// The last values read from the database, and when.
#[derive(Default)]
struct Readings {
    active: Option<u64>,
    size: Option<u64>,
    /// When the values served were read (a read that failed changes neither).
    read_at: Option<Instant>,
    /// Reads finished (successful or not), for a scrape waiting briefly for the one it asked.
    reads: u64,
    /// A scrape asked for fresh values since the last read.
    wanted: bool,
    /// When the read under way started.
    reading_since: Option<Instant>,
    stop: bool,
}

type SharedReadings = Arc<(Mutex<Readings>, Condvar)>;

/// The thread that reads `moai_flow_agents_active` and `moai_flow_db_size_bytes` from the
/// monitored database, off the scrape path: a scrape asks for a read and serves the last values
/// at once, whatever the database does (locked, slow, partitioned); each read has the database's
/// own deadline (its busy timeout, on PostgreSQL its statement and connection timeouts).
struct Refresher {
    readings: SharedReadings,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Refresher {
    fn start() -> Refresher {
        let readings: SharedReadings = Arc::default();
        let shared = Arc::clone(&readings);
        let thread = std::thread::Builder::new()
            .name("moai-swarmdb-gauges".into())
            .spawn(move || refresh(&shared))
            .inspect_err(|error| {
                tracing::warn!(
                    target: "moai_swarmdb",
                    %error,
                    "Cannot start the thread that reads the database gauges; they stay absent"
                );
            })
            .ok();
        Refresher { readings, thread }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        let (state, wake) = &*self.readings;
        state.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        wake.notify_all();
        // Not joined: a read stuck on the database ends on its own deadline, and must not hold
        // the close of the database (which is what drops this) until then.
        drop(self.thread.take());
    }
}

/// Reads the gauges at start and whenever a scrape asks, one read at a time.
fn refresh(readings: &SharedReadings) {
    let (state, wake) = &**readings;
    loop {
        {
            let mut current = state.lock().unwrap_or_else(PoisonError::into_inner);
            if current.stop {
                return;
            }
            // The first read at once; every later one when a scrape asks.
            if current.reads > 0 {
                while !current.wanted && !current.stop {
                    current = wake.wait(current).unwrap_or_else(PoisonError::into_inner);
                }
                if current.stop {
                    return;
                }
            }
            current.wanted = false;
            current.reading_since = Some(Instant::now());
        }
        let Some(db) = monitored() else {
            return;
        };
        let active = db.count_active_agents();
        let size = db.get_database_size();
        drop(db);
        for (what, err) in [
            (
                "count active agents for moai_flow_agents_active",
                active.as_ref().err(),
            ),
            (
                "read the database size for moai_flow_db_size_bytes",
                size.as_ref().err(),
            ),
        ] {
            if let Some(err) = err {
                tracing::error!(
                    target: "moai_swarmdb",
                    error = err as &dyn std::error::Error,
                    "Cannot {what}"
                );
            }
        }
        let mut current = state.lock().unwrap_or_else(PoisonError::into_inner);
        current.reads += 1;
        current.reading_since = None;
        wake.notify_all();
        // The age is that of the values served: a failed read leaves it growing.
        if let (Ok(active), Ok(size)) = (active, size) {
            current.active = Some(active);
            current.size = Some(size);
            current.read_at = Some(Instant::now());
        }
    }
}

/// The guide's `update_metrics()`, a scrape-time collector that never touches the database: it
/// asks the refresher for a read, waits for it at most [`FRESH_WAIT`], then sets
/// `moai_flow_agents_active` and `moai_flow_db_size_bytes` from the last values read and
/// `moai_flow_db_collect_age_seconds` to their age.
/// A read that fails is logged (and counts in `moai_flow_errors_total`), and the gauges keep the
/// last values, growing older.
fn export_gauges(readings: &SharedReadings) {
    let (state, wake) = &**readings;
    let mut current = state.lock().unwrap_or_else(PoisonError::into_inner);
    current.wanted = true;
    wake.notify_all();
    // A healthy database answers in well under a millisecond: wait that briefly for the read
    // just asked, so the values are of this scrape; a database that does not answer costs the
    // scrape at most this, and it serves the last values.
    // A read already running longer than that is stuck on the database: no scrape waits on it
    // (64 scrapers at once would otherwise each hold an exporter worker for the wait).
    let stuck = current
        .reading_since
        .is_some_and(|since| since.elapsed() >= FRESH_WAIT);
    let asked = current.reads;
    let until = Instant::now() + FRESH_WAIT;
    while current.reads <= asked && !current.stop && !stuck {
        let now = Instant::now();
        if now >= until {
            break;
        }
        current = wake
            .wait_timeout(current, until - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    if let Some(active) = current.active {
        moai_instrument::metrics::gauge!(AGENTS_ACTIVE.name).set(active as f64);
    }
    if let Some(size) = current.size {
        moai_instrument::metrics::gauge!(DB_SIZE_BYTES.name).set(size as f64);
    }
    if let Some(at) = current.read_at {
        moai_instrument::metrics::gauge!(DB_COLLECT_AGE_SECONDS.name)
            .set(at.elapsed().as_secs_f64());
    }
}

/// The checks monitoring adds while an application has a database open: `database`,
/// `disk_space`, `agents` (readiness) and `swarmdb` (liveness).
pub(crate) fn monitored_checks() -> Vec<MonitoredCheck> {
    [
        Some(CheckKind::Database),
        Some(CheckKind::DiskSpace),
        Some(CheckKind::Agents),
        None,
    ]
    .into_iter()
    .map(|kind| MonitoredCheck { kind })
    .collect()
}

/// One of the monitored database's checks (`kind`, or the liveness check for `None`): each run
/// looks up the database the SDK monitors once and checks that one, so a run never mixes two
/// databases. The thresholds are the process's (`moai_instrument::Config::thresholds`).
pub(crate) struct MonitoredCheck {
    kind: Option<CheckKind>,
}

impl HealthCheck for MonitoredCheck {
    fn name(&self) -> &str {
        self.kind.map_or(LIVENESS_CHECK, CheckKind::name)
    }

    fn probe(&self) -> Probe {
        match self.kind {
            None => Probe::Liveness,
            Some(_) => Probe::Readiness,
        }
    }

    fn check(&self) -> CheckResult {
        // The SDK's check set gives each run its own thread and deadline, and never starts a
        // second run of a check still running: no time-limit thread of its own here.
        let Some(db) = monitored() else {
            return CheckResult::new(
                HealthStatus::Unhealthy,
                "no SwarmDB is open in this process",
            );
        };
        let checker = HealthChecker::new(&db).with_thresholds((*thresholds()).clone());
        match self.kind {
            Some(kind) => checker.check_now(kind),
            // Liveness fails only for what a restart cures: a store that must be reopened. A
            // locked file or a server that is down or slow is readiness (`database`).
            None => match db.must_reopen() {
                Some(reason) => CheckResult::new(
                    HealthStatus::Unhealthy,
                    format!("SwarmDB must be reopened (a restart does it): {reason}"),
                )
                .with_detail("must_reopen", Detail::Flag(true)),
                None => CheckResult::new(
                    HealthStatus::Healthy,
                    "SwarmDB needs no reopen (whether it answers is readiness: database)",
                ),
            },
        }
    }
}
