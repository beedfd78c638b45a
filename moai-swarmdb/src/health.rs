//! SwarmDB's health checks: the guide's `HealthChecker` (`database`, `disk_space`, `memory`,
//! `query_performance` and `agents`, each `{healthy, status, message, details}` with the Key
//! Metrics thresholds, each run under a time limit so that a locked or hung database cannot hang
//! a probe), for the guide's scripts and `moai-health`; and the checks that monitoring adds to
//! the SDK while an application has a database open (`database`, `disk_space`, `agents`, and
//! the liveness check `swarmdb`; the SDK runs `memory` and `query_performance` itself).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use moai_instrument::catalog::{DB_VOLUME_AVAIL_BYTES, DB_VOLUME_SIZE_BYTES};
use moai_instrument::health::{
    CheckResult, Detail, HealthReport, HealthStatus, Thresholds, Usage, check_memory, disk_usage,
    format_bytes, judge_query_p95, judge_usage, recorded_query_p95,
};

use crate::{OpenOptions, SwarmDb};

/// The five checks, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// SwarmDB opens, takes a write, and is below the size threshold.
    Database,
    /// The filesystem holding SwarmDB has room.
    DiskSpace,
    /// The container (or machine) has memory left.
    Memory,
    /// Query latency within target: in an application, the highest p95 among the query types
    /// of `moai_flow_query_duration_seconds` this process recorded (over the summary window, 30
    /// to 60 s, in summary mode; from the cumulative buckets in bucket mode); in a process that
    /// recorded none (a probe), the slowest of five `count_active_agents` calls timed now.
    /// (In an application the SDK runs its own `query_performance` check, on the query types
    /// the host names.)
    QueryPerformance,
    /// Active agents, and whether any are stale.
    Agents,
}

impl CheckKind {
    /// All five, in the guide's order.
    pub const ALL: [CheckKind; 5] = [
        CheckKind::Database,
        CheckKind::DiskSpace,
        CheckKind::Memory,
        CheckKind::QueryPerformance,
        CheckKind::Agents,
    ];

    /// Whether the check reads the database (or its disk); `memory` and `query_performance` do
    /// not need one open.
    #[must_use]
    pub fn needs_database(self) -> bool {
        matches!(
            self,
            CheckKind::Database | CheckKind::DiskSpace | CheckKind::Agents
        )
    }

    /// `database`, `disk_space`, `memory`, `query_performance`, `agents`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Database => "database",
            CheckKind::DiskSpace => "disk_space",
            CheckKind::Memory => "memory",
            CheckKind::QueryPerformance => "query_performance",
            CheckKind::Agents => "agents",
        }
    }
}

/// The name of the liveness check, on `/livez` and in `moai-health --live`: in an application, the
/// store needs no reopen (see [`SwarmDb::must_reopen`]); from `moai-health`, SwarmDB opens and
/// answers a read.
pub const LIVENESS_CHECK: &str = "swarmdb";

/// Where the checker finds SwarmDB: an open handle shared with the application, or a path (or
/// PostgreSQL URL) it opens on each check (the probe binary), with a short busy timeout.
#[derive(Clone)]
enum Source {
    Shared(SwarmDb),
    Path(PathBuf),
    #[cfg(feature = "postgres")]
    Url(String),
}

/// Runs the guide's health checks against one SwarmDB.
#[derive(Clone)]
pub struct HealthChecker {
    source: Source,
    thresholds: Arc<Thresholds>,
}

impl std::fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthChecker")
            .field("db", &self.db_path())
            .field("postgres", &self.is_postgres())
            .field("thresholds", &self.thresholds)
            .finish()
    }
}

impl HealthChecker {
    /// Checks the application's own open SwarmDB, through a clone of its handle. (`init()`
    /// already runs these checks on the database the application opened; this is for running
    /// them by hand, as the guide's scripts do.)
    #[must_use]
    pub fn new(db: &SwarmDb) -> Self {
        HealthChecker {
            source: Source::Shared(db.clone()),
            thresholds: Arc::new(Thresholds::default()),
        }
    }

    /// Checks the SwarmDB at `path`, opening it for each check (as a separate probe process does).
    #[must_use]
    pub fn for_path(path: impl Into<PathBuf>) -> Self {
        HealthChecker {
            source: Source::Path(path.into()),
            thresholds: Arc::new(Thresholds::default()),
        }
    }

    /// Checks SwarmDB on the PostgreSQL server at `url`, connecting for each check (as a
    /// separate probe process does); never creates the schema.
    #[cfg(feature = "postgres")]
    #[must_use]
    pub fn for_url(url: impl Into<String>) -> Self {
        HealthChecker {
            source: Source::Url(url.into()),
            thresholds: Arc::new(Thresholds::default()),
        }
    }

    /// Other thresholds (tests, or stricter targets).
    #[must_use]
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = Arc::new(thresholds);
        self
    }

    /// The database file checked; `None` for SwarmDB on PostgreSQL.
    #[must_use]
    pub fn db_path(&self) -> Option<&Path> {
        match &self.source {
            Source::Shared(db) => db.path(),
            Source::Path(path) => Some(path),
            #[cfg(feature = "postgres")]
            Source::Url(_) => None,
        }
    }

    fn is_postgres(&self) -> bool {
        self.db_path().is_none()
    }

    /// The file, or on PostgreSQL the working directory (its logs): the disk this process needs.
    fn disk_path(&self) -> &Path {
        self.db_path().unwrap_or(Path::new("."))
    }

    /// Runs one check under the time limit.
    #[must_use]
    pub fn check(&self, kind: CheckKind) -> CheckResult {
        let checker = self.clone();
        run_limited(kind.name(), self.thresholds.check_timeout, move || {
            checker.check_now(kind)
        })
    }

    /// Runs all five checks at once, each under its time limit: the whole run takes at most about
    /// one time limit. The report lists them in the guide's order ([`CheckKind::ALL`]).
    /// On PostgreSQL the run opens one connection and the checks share it.
    #[must_use]
    pub fn check_all(&self) -> HealthReport {
        #[cfg(feature = "postgres")]
        if let Source::Url(url) = &self.source {
            // Opened once for the run; when it fails, each check reports the failure itself.
            if let Ok(db) = self.open_probe_url(url) {
                let shared = HealthChecker {
                    source: Source::Shared(db),
                    thresholds: Arc::clone(&self.thresholds),
                };
                return shared.check_each();
            }
        }
        self.check_each()
    }

    fn check_each(&self) -> HealthReport {
        std::thread::scope(|scope| {
            let running: Vec<_> = CheckKind::ALL
                .iter()
                .map(|&kind| (kind.name(), scope.spawn(move || self.check(kind))))
                .collect();
            let results = running
                .into_iter()
                .map(|(name, handle)| {
                    let result = handle.join().unwrap_or_else(|_| {
                        CheckResult::new(HealthStatus::Unhealthy, format!("{name} check panicked"))
                    });
                    (name.to_owned(), result)
                })
                .collect();
            HealthReport { results }
        })
    }

    /// SwarmDB opens and answers a read, under the time limit: the liveness probe.
    #[must_use]
    pub fn check_opens(&self) -> CheckResult {
        let checker = self.clone();
        run_limited(LIVENESS_CHECK, self.thresholds.check_timeout, move || {
            checker.opens_now()
        })
    }

    /// SwarmDB opens and answers a read, on this thread. On a PostgreSQL server that is
    /// unavailable (down, silent, locked, out of connection slots), live all the same: a restart
    /// of the app cures none of that (readiness fails for it).
    fn opens_now(&self) -> CheckResult {
        #[cfg(feature = "postgres")]
        if let Source::Url(url) = &self.source {
            let answered = self
                .open_probe_url(url)
                .and_then(|db| db.count_active_agents());
            return match answered {
                Ok(_) => CheckResult::new(HealthStatus::Healthy, "SwarmDB opens and answers"),
                Err(e) if e.kind().is_some_and(crate::ErrorKind::is_unavailable) => {
                    CheckResult::new(
                        HealthStatus::Healthy,
                        format!(
                            "SwarmDB's server is unavailable, which a restart does not cure (readiness fails for it): {}",
                            error_text(&e)
                        ),
                    )
                    .with_detail("server_unavailable", Detail::Flag(true))
                }
                Err(e) => CheckResult::new(HealthStatus::Unhealthy, error_text(&e)),
            };
        }
        // One open: a probe's open may wait for a lock, and the check has one time limit.
        let outcome = self.with_db(|db| match db.must_reopen() {
            Some(reason) => Ok(Some(reason)),
            None => db
                .count_active_agents()
                .map(|_| None)
                .map_err(|e| error_text(&e)),
        });
        match outcome {
            Ok(None) => CheckResult::new(HealthStatus::Healthy, "SwarmDB opens and answers"),
            Ok(Some(reason)) => CheckResult::new(
                HealthStatus::Unhealthy,
                format!("SwarmDB must be reopened (a restart does it): {reason}"),
            )
            .with_detail("must_reopen", Detail::Flag(true)),
            Err(e) => CheckResult::new(HealthStatus::Unhealthy, e),
        }
    }

    /// The guide's basic check script: SwarmDB opens, reports its size and lists the active
    /// agents, under the time limit. The message is `N active agents`, or the error.
    #[must_use]
    pub fn check_basic(&self) -> CheckResult {
        let checker = self.clone();
        run_limited("basic", self.thresholds.check_timeout, move || {
            let active = checker.with_db(|db| {
                db.get_database_size().map_err(|e| error_text(&e))?;
                db.get_active_agents()
                    .map(|a| a.len())
                    .map_err(|e| error_text(&e))
            });
            match active {
                Ok(n) => CheckResult::new(HealthStatus::Healthy, format!("{n} active agents"))
                    .with_detail("active", Detail::Integer(n as i64)),
                Err(e) => CheckResult::new(HealthStatus::Unhealthy, e),
            }
        })
    }

    pub(crate) fn check_now(&self, kind: CheckKind) -> CheckResult {
        let t = &self.thresholds;
        match kind {
            // It opens, reports its size, and takes a write (not read-only, not out of space).
            CheckKind::Database => match self.with_db(|db| {
                let size = db.get_database_size().map_err(|e| error_text(&e))?;
                db.write_probe().map_err(|e| error_text(&e))?;
                // The app's own writes failing for want of space (or worse) is the truth, even
                // when the small probe still fits.
                if let Some((ago, failure)) = db
                    .last_storage_failure()
                    .filter(|(ago, _)| *ago < RECENT_STORAGE_FAILURE)
                {
                    return Err(format!("{failure} ({:.0} s ago)", ago.as_secs_f64()));
                }
                // Connections this process needs and cannot open (the server's slots taken, or
                // it went away) fail readiness even while a pooled one still answers.
                if let Some((ago, _, cause)) = db
                    .connection_trouble()
                    .filter(|(ago, _, _)| *ago < RECENT_STORAGE_FAILURE)
                {
                    return Err(format!(
                        "cannot open a connection ({:.0} s ago): {cause}",
                        ago.as_secs_f64()
                    ));
                }
                Ok(size)
            }) {
                Ok(size) => self.with_where(judge_database(size, t)),
                Err(e) => self.with_where(CheckResult::new(
                    HealthStatus::Unhealthy,
                    format!("Database error: {e}"),
                )),
            },
            CheckKind::DiskSpace => match disk_usage(self.disk_path()) {
                Ok(usage) => {
                    // On PostgreSQL the database's volume is the server's, not this disk.
                    if !self.is_postgres() {
                        record_volume(&usage);
                    }
                    judge_usage("Disk", &usage, t.disk_warn, t.disk_fail)
                }
                Err(e) => CheckResult::new(
                    HealthStatus::Unhealthy,
                    format!("Cannot read disk usage: {e}"),
                ),
            },
            CheckKind::Memory => check_memory(t),
            CheckKind::QueryPerformance => self.query_performance(),
            CheckKind::Agents => match self.with_db(|db| {
                let active = db.count_active_agents().map_err(|e| error_text(&e))?;
                let stale = db
                    .count_stale_agents(t.stale_agent_after)
                    .map_err(|e| error_text(&e))?;
                Ok((active, stale))
            }) {
                Ok((active, stale)) => judge_agents(active, stale, t),
                Err(e) => {
                    CheckResult::new(HealthStatus::Unhealthy, format!("Cannot count agents: {e}"))
                }
            },
        }
    }

    fn query_performance(&self) -> CheckResult {
        if let Some(recorded) = recorded_query_p95(&self.thresholds, None) {
            return recorded;
        }
        let probed = self.with_db(|db| {
            // One untimed call first: on PostgreSQL it waits for the pool's first connection,
            // which is the server's connection set-up, not a query's latency.
            db.count_active_agents().map_err(|e| error_text(&e))?;
            let mut samples = Vec::with_capacity(5);
            for _ in 0..5 {
                let started = Instant::now();
                db.count_active_agents().map_err(|e| error_text(&e))?;
                samples.push(started.elapsed());
            }
            samples.sort();
            Ok(samples[samples.len() - 1])
        });
        match probed {
            Ok(p95) => judge_query_p95(p95, &self.thresholds)
                .with_detail("source", Detail::Text("probe".into())),
            Err(e) => {
                CheckResult::new(HealthStatus::Unhealthy, format!("Cannot time a query: {e}"))
            }
        }
    }

    /// The `path` detail of the database check (on PostgreSQL, `backend` says so instead).
    fn with_where(&self, result: CheckResult) -> CheckResult {
        match self.db_path() {
            Some(path) => result.with_detail("path", Detail::Text(path.display().to_string())),
            None => result.with_detail("backend", Detail::Text("postgres".into())),
        }
    }

    /// The server at `url` as a probe opens it: existing schema only, one connection, waiting
    /// for it a little less than the check's own limit.
    #[cfg(feature = "postgres")]
    fn open_probe_url(&self, url: &str) -> Result<SwarmDb, crate::SwarmDbError> {
        OpenOptions::new()
            .busy_timeout(self.thresholds.check_timeout.mul_f64(0.75))
            .existing_only()
            .open_url(url)
    }

    fn with_db<T>(&self, f: impl FnOnce(&SwarmDb) -> Result<T, String>) -> Result<T, String> {
        match &self.source {
            Source::Shared(db) => f(db),
            #[cfg(feature = "postgres")]
            Source::Url(url) => {
                let db = self.open_probe_url(url).map_err(|e| error_text(&e))?;
                f(&db)
            }
            Source::Path(path) => {
                // Wait for a lock at most a little less than the check's own limit; open only an
                // existing database, writing nothing at open: a probe never creates one.
                let busy = self.thresholds.check_timeout.mul_f64(0.75);
                let db = OpenOptions::new()
                    .busy_timeout(busy)
                    .existing_only()
                    .open(path)
                    .map_err(|e| error_text(&e))?;
                f(&db)
            }
        }
    }
}

/// How long a storage failure of the app's own calls keeps the `database` check failing.
const RECENT_STORAGE_FAILURE: Duration = Duration::from_secs(60);

/// Runs `check` on its own thread and gives up after `limit`: the thread ends by itself when its
/// call returns; the probe answers now.
fn run_limited(
    name: &str,
    limit: Duration,
    check: impl FnOnce() -> CheckResult + Send + 'static,
) -> CheckResult {
    let (done, result) = mpsc::channel();
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name(format!("moai-check-{name}"))
        .spawn(move || {
            let _ = done.send(check());
        });
    if let Err(e) = spawned {
        return CheckResult::new(
            HealthStatus::Unhealthy,
            format!("cannot start the check: {e}"),
        );
    }
    result.recv_timeout(limit).unwrap_or_else(|_| {
        CheckResult::new(
            HealthStatus::Unhealthy,
            format!(
                "{name} check timed out after {:.1} s",
                started.elapsed().as_secs_f64()
            ),
        )
        .with_detail("timeout_ms", Detail::Integer(limit.as_millis() as i64))
    })
}

/// Exports the `disk_space` reading as `moai_flow_db_volume_size_bytes` and
/// `moai_flow_db_volume_avail_bytes`, so the database-disk alerts need no join to node-exporter
/// (whose instance is the node, not the pod). A no-op without an installed recorder (the probe
/// binary).
fn record_volume(usage: &Usage) {
    moai_instrument::metrics::gauge!(DB_VOLUME_SIZE_BYTES.name).set(usage.total as f64);
    moai_instrument::metrics::gauge!(DB_VOLUME_AVAIL_BYTES.name)
        .set(usage.total.saturating_sub(usage.used) as f64);
}

fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    moai_instrument::error_chain(error)
}

/// Degraded past the size threshold (the guide's `DatabaseSizeGrowing`).
#[must_use]
pub fn judge_database(size_bytes: u64, t: &Thresholds) -> CheckResult {
    let (status, message) = if size_bytes > t.database_warn_bytes {
        (
            HealthStatus::Degraded,
            format!(
                "Database size {} exceeds {}",
                format_bytes(size_bytes),
                format_bytes(t.database_warn_bytes)
            ),
        )
    } else {
        (
            HealthStatus::Healthy,
            format!("Database OK ({})", format_bytes(size_bytes)),
        )
    };
    CheckResult::new(status, message).with_detail("size_bytes", Detail::Integer(size_bytes as i64))
}

/// Healthy with no stale agents, degraded with some.
#[must_use]
pub fn judge_agents(active: u64, stale: u64, t: &Thresholds) -> CheckResult {
    let (status, message) = if stale > 0 {
        let hours = t.stale_agent_after.as_secs_f64() / 3600.0;
        (
            HealthStatus::Degraded,
            format!("{active} active agents, {stale} stale (no update for {hours:.1} h)"),
        )
    } else {
        (HealthStatus::Healthy, format!("{active} active agents"))
    };
    CheckResult::new(status, message)
        .with_detail("active", Detail::Integer(active as i64))
        .with_detail("stale", Detail::Integer(stale as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_and_agents_states() {
        let t = Thresholds::default();
        assert_eq!(judge_database(1 << 20, &t).message, "Database OK (1.0 MB)");
        let big = judge_database(11 * 1024 * 1024 * 1024, &t);
        assert_eq!(
            (big.status, big.is_healthy()),
            (HealthStatus::Degraded, true)
        );
        assert_eq!(big.message, "Database size 11.0 GB exceeds 10.0 GB");
        assert_eq!(judge_agents(4, 0, &t).message, "4 active agents");
        assert_eq!(judge_agents(4, 1, &t).status, HealthStatus::Degraded);
    }
}
