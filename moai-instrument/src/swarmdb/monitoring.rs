//! The SwarmDB the SDK monitors without being told: the first one the application opened that is
//! still open. `init()` reads its gauges at every scrape and runs its checks; nothing else needs
//! wiring (see [Monitoring](super#monitoring)).
//!
//! The list holds weak references in the order opened, so monitoring never keeps a database open
//! that the application has closed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, Weak};

use super::{Shared, SwarmDb};
use crate::catalog::{AGENTS_ACTIVE, DB_SIZE_BYTES, DB_VOLUME_AVAIL_BYTES, DB_VOLUME_SIZE_BYTES};

/// Whether a scrape exported a monitored database's gauges since the last one closed (so the
/// first scrape after it closes removes them).
static EXPORTED: AtomicBool = AtomicBool::new(false);

/// The databases the application opened, oldest first (dead ones are pruned when one opens).
static OPENED: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Notes an application's database (not a probe's).
pub(super) fn opened(db: &SwarmDb) {
    let mut opened = OPENED.lock().unwrap_or_else(PoisonError::into_inner);
    opened.retain(|weak| weak.strong_count() > 0);
    opened.push(std::sync::Arc::downgrade(&db.shared));
}

/// The database the SDK monitors: the first one opened that is still open.
pub(crate) fn monitored() -> Option<SwarmDb> {
    OPENED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find_map(Weak::upgrade)
        .map(|shared| SwarmDb { shared })
}

/// Whether the application has a SwarmDB open (the database checks run only then).
pub(crate) fn is_open() -> bool {
    OPENED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .any(|weak| weak.strong_count() > 0)
}

/// The guide's `update_metrics()`, a scrape-time collector: `moai_flow_agents_active` and
/// `moai_flow_db_size_bytes` from the monitored database. With none open, the database's gauges
/// (these two and the volume's) are absent, not their last values. A failed read is logged and
/// leaves the gauge as it was; the operation's error also counts in `moai_flow_errors_total`.
pub(crate) fn export_gauges() {
    let Some(db) = monitored() else {
        // Only what this collector set: a host that sets the gauges itself keeps its values.
        if EXPORTED.swap(false, Ordering::Relaxed) {
            for spec in [
                AGENTS_ACTIVE,
                DB_SIZE_BYTES,
                DB_VOLUME_SIZE_BYTES,
                DB_VOLUME_AVAIL_BYTES,
            ] {
                crate::recorder::remove_series(&metrics::Key::from_name(spec.name));
            }
        }
        return;
    };
    EXPORTED.store(true, Ordering::Relaxed);
    match db.count_active_agents() {
        Ok(active) => metrics::gauge!(AGENTS_ACTIVE.name).set(active as f64),
        Err(err) => tracing::error!(
            target: "moai_instrument",
            error = &err as &dyn std::error::Error,
            "Cannot count active agents for moai_flow_agents_active"
        ),
    }
    match db.get_database_size() {
        Ok(bytes) => metrics::gauge!(DB_SIZE_BYTES.name).set(bytes as f64),
        Err(err) => tracing::error!(
            target: "moai_instrument",
            error = &err as &dyn std::error::Error,
            "Cannot read the database size for moai_flow_db_size_bytes"
        ),
    }
}
