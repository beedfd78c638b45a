//! The `metrics` recorder the SDK installs: its storage, histogram, rendering, and installation,
//! and [`add_collector`], the extension point through which libraries refresh gauges of their
//! own at each scrape.
//!
//! Hand-written rather than `metrics-exporter-prometheus`'s recorder, for two measured reasons:
//! that one buffers every histogram sample until a scrape or an upkeep run (229 MB after 14
//! million unscraped calls in the first prototype; this one stays at 2.4 MB, BENCHMARKS.md
//! "Memory when nobody scrapes"), and it has no windowed summary (the guide's
//! `quantile="0.95"` over the last minute) in bounded memory. Here a series is a fixed set of
//! atomic counters: log-linear buckets in two windows, and striped count and sum.

mod atomic_f64;
pub(crate) mod callsite;
pub(crate) mod capture;
mod cells;
mod collectors;
mod exemplar;
mod format;
mod histogram;
mod label_text;
mod log_linear;
mod names;
mod native;
mod pages;
mod preload;
mod protobuf;
mod recent;
mod registry;
mod render;
mod series_map;
mod stripes;
mod template;
mod totals;

use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

pub(crate) use cells::CounterCell;
pub use collectors::{CollectorHandle, add_collector};
pub use format::{Escaping, Format};
pub(crate) use histogram::{HistogramCell, HistogramLayout};
pub(crate) use names::Kind;
pub(crate) use native::{
    DEFAULT_SCHEMA as DEFAULT_NATIVE_SCHEMA, MAX_SCHEMA as MAX_NATIVE_SCHEMA,
    MIN_SCHEMA as MIN_NATIVE_SCHEMA,
};
pub(crate) use registry::{Collector, Reader, Registry, RegistrySettings, Series};
pub(crate) use render::CONTENT_TYPE;

use crate::error::InitError;

/// How often the upkeep thread checks whether a summary window period is over.
const UPKEEP_TICK: Duration = Duration::from_secs(1);

static INSTALLED: OnceLock<Arc<Registry>> = OnceLock::new();

/// The `metrics` recorder: every handle it gives out points into one [`Registry`].
struct MoaiRecorder {
    registry: Arc<Registry>,
}

impl Recorder for MoaiRecorder {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.registry.describe(key.as_str(), &description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.registry.describe(key.as_str(), &description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.registry.describe(key.as_str(), &description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        self.registry
            .counter(key)
            .map_or_else(Counter::noop, Counter::from_arc)
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        self.registry
            .gauge(key)
            .map_or_else(Gauge::noop, Gauge::from_arc)
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        self.registry
            .histogram(key)
            .map_or_else(Histogram::noop, Histogram::from_arc)
    }
}

/// A handle on the installed recorder: renders what it holds. Cheap to clone.
#[derive(Clone)]
pub struct MetricsHandle {
    registry: Arc<Registry>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle").finish_non_exhaustive()
    }
}

impl MetricsHandle {
    /// The `Content-Type` of [`MetricsHandle::render`]'s output.
    pub const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    /// The handle of the recorder installed by [`crate::Config::install_recorder`] or
    /// [`crate::init`], if any.
    #[must_use]
    pub fn global() -> Option<MetricsHandle> {
        INSTALLED.get().map(|registry| MetricsHandle {
            registry: Arc::clone(registry),
        })
    }

    /// Every series in the Prometheus text exposition format (0.0.4): exactly what `GET /metrics`
    /// of the embedded exporter serves. Like a scrape, it first runs the
    /// [`Config::on_scrape`](crate::Config::on_scrape) collectors (a panicking one is skipped)
    /// and reads the `process_*` metrics, so a host that serves `/metrics` itself gets the same
    /// output as the exporter.
    #[must_use]
    pub fn render(&self) -> String {
        self.registry.collect();
        self.registry.rotate_if_due(Instant::now());
        render::render(&self.registry)
    }

    /// Every series in `format` (see [`Format::negotiate`] to choose it from an `Accept` header;
    /// [`Format::content_type`] names it): what `GET /metrics` serves a scraper that asks for
    /// it. Runs the collectors and reads the process metrics first, as [`MetricsHandle::render`].
    #[must_use]
    pub fn render_as(&self, format: Format) -> Vec<u8> {
        self.registry.collect();
        self.registry.rotate_if_due(Instant::now());
        match format {
            Format::Protobuf => protobuf::render(&self.registry),
            text => render::render_as(&self.registry, text).into_bytes(),
        }
    }

    /// The largest recent `q` quantile among the series of histogram `name`, with the label
    /// values of that series: e.g. the slowest query type's p95.
    #[must_use]
    pub fn worst_quantile(&self, name: &str, q: f64) -> Option<(String, f64)> {
        self.registry.worst_quantile(name, q)
    }

    /// [`MetricsHandle::worst_quantile`] among the series whose label values, joined with `,`,
    /// `keep` accepts.
    #[must_use]
    pub fn worst_quantile_among(
        &self,
        name: &str,
        q: f64,
        keep: impl Fn(&str) -> bool,
    ) -> Option<(String, f64)> {
        self.registry.worst_quantile_among(name, q, keep)
    }
}

/// A recorder built from `settings`, not yet installed: [`Prepared::install`] makes it the global
/// one. Building first lets `Config::build` start every thread and bind the port before the one
/// step that cannot be undone.
pub(crate) struct Prepared {
    registry: Arc<Registry>,
}

impl Prepared {
    pub(crate) fn new(
        settings: RegistrySettings,
        collectors: Vec<Collector>,
        readers: Vec<Reader>,
    ) -> Self {
        Prepared {
            registry: Arc::new(Registry::new(settings, collectors, readers)),
        }
    }

    /// The handle threads started before installation render through.
    pub(crate) fn handle(&self) -> MetricsHandle {
        MetricsHandle {
            registry: Arc::clone(&self.registry),
        }
    }

    /// Installs the recorder as the global `metrics` recorder, describes the catalog, registers
    /// the counters of every instrumented callsite at 0, and starts the window upkeep.
    pub(crate) fn install(self) -> Result<MetricsHandle, InitError> {
        if INSTALLED.get().is_some() {
            return Err(InitError::AlreadyInitialized);
        }
        let Prepared { registry } = self;
        // The upkeep thread holds a weak reference: after an error it ends by itself.
        spawn_upkeep(Arc::downgrade(&registry))?;
        metrics::set_global_recorder(MoaiRecorder {
            registry: Arc::clone(&registry),
        })
        .map_err(|_| match INSTALLED.get() {
            Some(_) => InitError::AlreadyInitialized,
            None => InitError::ForeignRecorder,
        })?;
        crate::clock::warm_up();
        preload::register_catalog(&registry);
        // Published last: callsites start caching handles only once everything above is in place.
        let _ = INSTALLED.set(Arc::clone(&registry));
        capture::set_installed();
        Ok(MetricsHandle { registry })
    }
}

/// A recorder that is not the global one, with the catalog described and claimed as at
/// installation: for tests that need a fresh registry per case ([`MetricsHandle::in_scope`]).
pub(crate) fn detached(settings: RegistrySettings, collectors: Vec<Collector>) -> MetricsHandle {
    let registry = Arc::new(Registry::new(settings, collectors, Vec::new()));
    preload::register_catalog(&registry);
    MetricsHandle { registry }
}

/// A registry for a capture: the installed recorder's settings (the defaults when none is
/// installed), the catalog described and claimed, nothing registered.
pub(crate) fn for_capture(default: impl FnOnce() -> RegistrySettings) -> MetricsHandle {
    let settings = installed().map_or_else(default, |registry| registry.settings.clone());
    let registry = Arc::new(Registry::new(settings, Vec::new(), Vec::new()));
    preload::describe_catalog(&registry);
    MetricsHandle { registry }
}

/// Test hooks on a handle, for `__test_support` and `testing` (benchmarks and tests): no public
/// type carries them.
impl MetricsHandle {
    /// The exposition alone, without the collectors and `/proc` reads of a render.
    pub(crate) fn exposition_only(&self) -> String {
        render::render(&self.registry)
    }

    /// Runs `f` with this handle's recorder as the current thread's `metrics` recorder.
    pub(crate) fn with_local<T>(&self, f: impl FnOnce() -> T) -> T {
        let recorder = MoaiRecorder {
            registry: Arc::clone(&self.registry),
        };
        metrics::with_local_recorder(&recorder, f)
    }

    /// Runs `f` with this thread's records, the macros' included, going to this handle's
    /// registry (`testing::capture`).
    pub(crate) fn capturing<T>(&self, f: impl FnOnce() -> T) -> T {
        capture::with(&self.registry, || self.with_local(f))
    }

    /// The series of `key`, if registered (`testing::Snapshot`).
    pub(crate) fn find(&self, key: &Key) -> Option<Series> {
        self.registry.find(key)
    }

    /// Starts a new summary window period now, as the upkeep thread does once per period.
    pub(crate) fn rotate_windows(&self) {
        self.registry.rotate_windows();
    }
}

/// The installed registry; `None` before installation, when the macros record nothing.
#[inline]
pub(crate) fn installed() -> Option<&'static Arc<Registry>> {
    INSTALLED.get()
}

/// Removes a series from the installed recorder's exposition (see [`Registry::remove`]); a no-op
/// before installation.
pub(crate) fn remove_series(key: &Key) {
    if let Some(registry) = installed() {
        registry.remove(key);
    }
}

/// Removes every series of metric `name` from the installed recorder's exposition (the family
/// keeps its name and kind); a no-op before installation.
pub(crate) fn remove_family_series(name: &str) {
    if let Some(registry) = installed() {
        registry.remove_family_series(name);
    }
}

/// Rotates summary windows on time even when nobody scrapes. Holds only a weak reference, so it
/// ends by itself if the registry goes away.
fn spawn_upkeep(registry: Weak<Registry>) -> Result<(), InitError> {
    std::thread::Builder::new()
        .name("moai-metrics-upkeep".into())
        .spawn(move || {
            while let Some(registry) = registry.upgrade() {
                registry.rotate_if_due(Instant::now());
                drop(registry);
                std::thread::sleep(UPKEEP_TICK);
            }
        })
        .map(drop)
        .map_err(|source| InitError::Thread {
            name: "moai-metrics-upkeep",
            source,
        })
}
