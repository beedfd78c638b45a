//! The SwarmDB the SDK monitors without being told: the first one the application opened that is
//! still open. The first database to open adds a scrape-time collector (the guide's
//! `update_metrics()`) and the database checks through the SDK's public extension points; when
//! the last one closes, dropping their handles removes them and their series (see
//! [Monitoring](crate#monitoring)).
//!
//! The list holds weak references in the order opened, so monitoring never keeps a database open
//! that the application has closed.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use moai_instrument::catalog::{
    AGENTS_ACTIVE, DB_SIZE_BYTES, DB_VOLUME_AVAIL_BYTES, DB_VOLUME_SIZE_BYTES,
};
use moai_instrument::health::{
    CheckHandle, CheckResult, HealthCheck, HealthStatus, Probe, add_check, thresholds,
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
}

/// Notes an application's database (not a probe's), and plugs monitoring in when it is the only
/// one open.
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
    let collector = add_collector(export_gauges).owns([
        AGENTS_ACTIVE.name,
        DB_SIZE_BYTES.name,
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

/// The guide's `update_metrics()`, a scrape-time collector: `moai_flow_agents_active` and
/// `moai_flow_db_size_bytes` from the monitored database. A failed read is logged and leaves
/// the gauge as it was; the operation's error also counts in `moai_flow_errors_total`.
fn export_gauges() {
    let Some(db) = monitored() else {
        return;
    };
    match db.count_active_agents() {
        Ok(active) => moai_instrument::metrics::gauge!(AGENTS_ACTIVE.name).set(active as f64),
        Err(err) => tracing::error!(
            target: "moai_swarmdb",
            error = &err as &dyn std::error::Error,
            "Cannot count active agents for moai_flow_agents_active"
        ),
    }
    match db.get_database_size() {
        Ok(bytes) => moai_instrument::metrics::gauge!(DB_SIZE_BYTES.name).set(bytes as f64),
        Err(err) => tracing::error!(
            target: "moai_swarmdb",
            error = &err as &dyn std::error::Error,
            "Cannot read the database size for moai_flow_db_size_bytes"
        ),
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
            None => checker.opens_now(),
        }
    }
}
