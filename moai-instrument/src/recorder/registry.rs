//! Every series the recorder holds, grouped by metric name, with the per-metric cardinality guard.
//!
//! Lookups take a read lock; only the first registration of a series takes the write lock. The
//! macros cache their handles per callsite, so the hot path never comes here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use metrics::{Key, Label};

use super::cells::{CounterCell, GaugeCell};
use super::histogram::{HistogramCell, HistogramLayout};
use super::label_text::labels_text;
use super::names::{self, Kind, LabelChange};
use super::series_map::SeriesMap;
use super::template::Template;
use crate::catalog::{FAMILIES_REFUSED_TOTAL, LABEL_OVERFLOW_TOTAL};

/// A callback run before each render of the exposition (`Config::on_scrape`).
pub(crate) type Collector = Arc<dyn Fn() + Send + Sync>;

/// A reading the registry takes into its own series before each render (the `process_*`
/// metrics, which need a fractional counter the `metrics` facade has no handle for).
pub(crate) type Reader = fn(&Registry);

/// The HELP text of a metric that host code recorded without describing it.
const UNDESCRIBED_HELP: &str =
    "Recorded by the application without a description (metrics::describe_* sets one)";

/// The value new label values are folded into once a metric reaches its series limit.
pub(crate) const OVERFLOW_LABEL_VALUE: &str = "other";

#[derive(Debug, Clone)]
pub(crate) struct RegistrySettings {
    pub(crate) layout: HistogramLayout,
    pub(crate) series_limit: usize,
    /// Distinct metric families (names) before new names are refused.
    pub(crate) family_limit: usize,
    pub(crate) window_period: Duration,
}

#[derive(Clone)]
pub(crate) enum Series {
    Counter(Arc<CounterCell>),
    /// A counter read from elsewhere as seconds, e.g. CPU time: fractional, set at scrape time.
    FloatCounter(Arc<GaugeCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

pub(crate) struct Family {
    pub(crate) kind: Kind,
    /// The name as the host first recorded it, when its characters had to be made valid
    /// (`jobs.done` for `jobs_done`): formats with UTF-8 names write it.
    pub(crate) recorded_name: Option<String>,
    /// Label keys likewise: (exposed key, the key as first recorded).
    pub(crate) recorded_keys: Vec<(String, String)>,
    /// Ordered by labels (every key of a family has its name), so the exposition is written in
    /// a stable order without sorting at each scrape.
    pub(crate) series: SeriesMap<Entry>,
    /// The HELP text given with `describe_*` (before or after the family's first series).
    pub(crate) help: Option<Box<str>>,
}

/// One series and its labels as the encoders write them: as text (see `label_text`) written at
/// registration, and as protobuf fields at the first protobuf scrape.
pub(crate) struct Entry {
    pub(crate) series: Series,
    pub(crate) labels: Box<str>,
    /// The labels as protobuf `LabelPair` fields, encoded at the first protobuf scrape.
    pub(crate) protobuf_labels: OnceLock<Box<[u8]>>,
}

impl Entry {
    fn new(key: &Key, series: Series) -> Self {
        Entry {
            series,
            labels: labels_text(key),
            protobuf_labels: OnceLock::new(),
        }
    }
}

pub(crate) struct Registry {
    pub(crate) settings: RegistrySettings,
    families: RwLock<Families>,
    /// Misuses already reported in a WARN line.
    warned: Mutex<HashSet<String>>,
    last_rotation: Mutex<Instant>,
    /// Run before each render, to refresh gauges from the application's state.
    collectors: Vec<Collector>,
    /// Run after the collectors, before each render.
    readers: Vec<Reader>,
    /// Bytes of the last exposition: the next render's buffer starts that large.
    last_render_len: AtomicUsize,
    /// Bumped by every change a scrape shows other than values (a series or family made or
    /// removed, a HELP text), always under the families' write lock.
    generation: AtomicU64,
    /// The compiled exposition of text 0.0.4 and of OpenMetrics (see `template`).
    templates: [Mutex<Option<Arc<Template>>>; 2],
}

impl Registry {
    pub(crate) fn new(
        settings: RegistrySettings,
        collectors: Vec<Collector>,
        readers: Vec<Reader>,
    ) -> Self {
        Registry {
            settings,
            families: RwLock::default(),
            warned: Mutex::default(),
            last_rotation: Mutex::new(Instant::now()),
            collectors,
            readers,
            last_render_len: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            templates: Default::default(),
        }
    }

    /// Runs the scrape-time collectors (this registry's, then those libraries added with
    /// [`add_collector`](super::add_collector)), then its readers (the process metrics): what
    /// every render of the exposition starts with.
    pub(crate) fn collect(&self) {
        for collector in &self.collectors {
            // A failing host callback must not take the scrape down: its gauges just stay stale.
            let _ = catch_unwind(AssertUnwindSafe(|| collector()));
        }
        super::collectors::run_all();
        for reader in &self.readers {
            reader(self);
        }
    }

    /// Sets the HELP text of `name` (as given or in its exposition form): kept for a family
    /// made later, and given to the family now if there is one.
    pub(crate) fn describe(&self, name: &str, help: &str) {
        let name = names::metric_name(name);
        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(family) = families.by_name.get_mut(name.as_ref()) {
            family.help = Some(help.into());
            self.changed();
        }
        families.help.insert(name.into_owned(), help.into());
    }

    /// Something a scrape shows changed (called with the families' write lock held).
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// The compiled exposition in `slot` (0: text 0.0.4, 1: OpenMetrics) for the families as
    /// they are now, built by `build` when there is none or the families changed since. Runs
    /// `f` with it, under the families' read lock.
    pub(crate) fn with_template<T>(
        &self,
        slot: usize,
        build: impl FnOnce(&BTreeMap<String, Family>, u64) -> Template,
        f: impl FnOnce(&Template) -> T,
    ) -> T {
        self.with_families(|families| {
            // Writers bump the generation under the write lock: it cannot move while we read.
            let generation = self.generation.load(Ordering::Relaxed);
            let cached = self.templates[slot]
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .filter(|template| template.generation == generation);
            let template = cached.unwrap_or_else(|| {
                let template = Arc::new(build(families, generation));
                *self.templates[slot]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&template));
                template
            });
            f(&template)
        })
    }

    pub(crate) fn last_render_len(&self) -> usize {
        self.last_render_len.load(Ordering::Relaxed)
    }

    pub(crate) fn set_last_render_len(&self, len: usize) {
        self.last_render_len.store(len, Ordering::Relaxed);
    }

    pub(crate) fn counter(&self, key: &Key) -> Option<Arc<CounterCell>> {
        match self.series(key, Kind::Counter, || self.new_series(Kind::Counter))? {
            Series::Counter(cell) => Some(cell),
            _ => None,
        }
    }

    pub(crate) fn gauge(&self, key: &Key) -> Option<Arc<GaugeCell>> {
        match self.series(key, Kind::Gauge, || self.new_series(Kind::Gauge))? {
            Series::Gauge(cell) => Some(cell),
            _ => None,
        }
    }

    /// A counter whose value is set from an outside reading (scrape-time collectors).
    pub(crate) fn float_counter(&self, key: &Key) -> Option<Arc<GaugeCell>> {
        let make = || Series::FloatCounter(Arc::new(GaugeCell::new()));
        match self.series(key, Kind::Counter, make)? {
            Series::FloatCounter(cell) => Some(cell),
            _ => None,
        }
    }

    pub(crate) fn histogram(&self, key: &Key) -> Option<Arc<HistogramCell>> {
        match self.series(key, Kind::Histogram, || self.new_series(Kind::Histogram))? {
            Series::Histogram(cell) => Some(cell),
            _ => None,
        }
    }

    /// Removes the series of `key`, if there is one: a gauge whose reading no longer exists (a
    /// check that no longer runs) leaves the exposition instead of repeating its last value.
    /// Handles still held keep working but are no longer exported; the next registration of the
    /// key starts a new series.
    pub(crate) fn remove(&self, key: &Key) {
        let names::Exposed { key, .. } = names::exposed(key);
        // Scrapes ask for absent series again and again: only a present one takes the write lock.
        let present = self
            .families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_name
            .get(key.name())
            .is_some_and(|family| family.series.contains_key(&key));
        if !present {
            return;
        }
        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(family) = families.by_name.get_mut(key.name()) {
            family.series.remove(&key);
            self.changed();
        }
    }

    /// Removes every series of the family `name` (as given or in its exposition form).
    pub(crate) fn remove_family_series(&self, name: &str) {
        let name = names::metric_name(name);
        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(family) = families.by_name.get_mut(name.as_ref())
            && !family.series.is_empty()
        {
            family.series.clear();
            self.changed();
        }
    }

    /// The series of `key` (in its exposition form), if registered; registers nothing.
    pub(crate) fn find(&self, key: &Key) -> Option<Series> {
        let names::Exposed { key, .. } = names::exposed(key);
        self.families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_name
            .get(key.name())?
            .series
            .get(&key)
            .map(|entry| entry.series.clone())
    }

    /// Runs `f` over the families, by name, while holding the read lock (for rendering).
    pub(crate) fn with_families<T>(&self, f: impl FnOnce(&BTreeMap<String, Family>) -> T) -> T {
        f(&self
            .families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_name)
    }

    /// Each family that has series, in name order (stable between scrapes), with its HELP text
    /// (every family has one: an undescribed host metric says so): what every encoder writes.
    pub(crate) fn for_each_family(&self, write: impl FnMut(&str, &Family, &str)) {
        self.with_families(|families| each_family(families, write));
    }

    /// The largest recent `q` quantile among the histogram series of `name` (the worst query
    /// type, for the query performance check), with its labels.
    pub(crate) fn worst_quantile(&self, name: &str, q: f64) -> Option<(String, f64)> {
        self.worst_quantile_among(name, q, |_| true)
    }

    /// [`Registry::worst_quantile`] among the series whose joined label values `keep` accepts.
    pub(crate) fn worst_quantile_among(
        &self,
        name: &str,
        q: f64,
        keep: impl Fn(&str) -> bool,
    ) -> Option<(String, f64)> {
        self.with_families(|families| {
            families
                .get(names::metric_name(name).as_ref())?
                .series
                .iter()
                .filter_map(|(key, entry)| match &entry.series {
                    Series::Histogram(cell) => {
                        let labels: Vec<String> =
                            key.labels().map(|l| l.value().to_owned()).collect();
                        let labels = labels.join(",");
                        if !keep(&labels) {
                            return None;
                        }
                        Some((labels, cell.quantile(q)?))
                    }
                    _ => None,
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
        })
    }

    /// Starts a new summary window period when the current one is over.
    pub(crate) fn rotate_if_due(&self, now: Instant) {
        let mut last = self
            .last_rotation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(*last) >= self.settings.window_period {
            *last = now;
            drop(last);
            self.rotate_windows();
        }
    }

    pub(crate) fn rotate_windows(&self) {
        self.with_families(|families| {
            for family in families.values().filter(|f| f.kind == Kind::Histogram) {
                for entry in family.series.values() {
                    if let Series::Histogram(cell) = &entry.series {
                        cell.rotate();
                    }
                }
            }
        });
    }

    /// The series of `key`, made by `make` if new. The key is first put in its exposition form
    /// (see `names`); a name keeps the kind it was first used with, and a name whose samples would
    /// collide with another family's is refused.
    fn series(&self, key: &Key, kind: Kind, make: impl FnOnce() -> Series) -> Option<Series> {
        let recorded = key;
        let names::Exposed {
            key,
            changes,
            renamed_keys,
        } = names::exposed(key);
        if !changes.is_empty() {
            self.warn_label_changes(key.name(), &changes);
        }
        {
            let families = self.families.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(family) = families.by_name.get(key.name())
                && family.kind == kind
                && let Some(entry) = family.series.get(&key)
            {
                return Some(entry.series.clone());
            }
        }
        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !families.by_name.contains_key(key.name())
            && families.by_name.len() >= self.settings.family_limit
        {
            if let Some(Series::Counter(cell)) = families
                .by_name
                .get(FAMILIES_REFUSED_TOTAL.name)
                .and_then(|family| family.series.values().next())
                .map(|entry| &entry.series)
            {
                metrics::CounterFn::increment(&**cell, 1);
            }
            drop(families);
            self.warn_once("family limit".to_owned(), || {
                tracing::warn!(
                    metric = key.name(),
                    limit = self.settings.family_limit,
                    "the recorder holds its limit of {} metric names; new names such as {} are \
                     refused (counted in {})",
                    self.settings.family_limit,
                    key.name(),
                    FAMILIES_REFUSED_TOTAL.name
                );
            });
            return None;
        }
        let family = match families.admit(key.name(), kind) {
            Ok(family) => family,
            Err(refusal) => {
                drop(families);
                self.warn_refusal(key.name(), kind, &refusal);
                return None;
            }
        };
        if family.recorded_name.is_none() && recorded.name() != key.name() {
            family.recorded_name = Some(recorded.name().to_owned());
        }
        for (exposed, as_recorded) in renamed_keys {
            if !family.recorded_keys.iter().any(|(k, _)| *k == exposed) {
                family.recorded_keys.push((exposed, as_recorded));
            }
        }
        if let Some(entry) = family.series.get(&key) {
            return Some(entry.series.clone());
        }
        let overflow = family.series.len() >= self.settings.series_limit && key.labels().len() > 0;
        let key = if overflow { folded(&key) } else { key };
        // A folded key may be there already: only a new series changes the exposition.
        if family
            .series
            .insert_with(key.clone(), || Entry::new(&key, make()))
        {
            self.changed();
        }
        let series = family.series.get(&key)?.series.clone();
        if overflow {
            let counter_key = Key::from_parts(
                LABEL_OVERFLOW_TOTAL.name,
                vec![Label::new("metric", key.name().to_owned())],
            );
            if let Ok(overflow_family) = families.admit(LABEL_OVERFLOW_TOTAL.name, Kind::Counter) {
                if overflow_family.series.insert_with(counter_key.clone(), || {
                    Entry::new(&counter_key, Series::Counter(Arc::new(CounterCell::new())))
                }) {
                    self.changed();
                }
                if let Some(Series::Counter(cell)) =
                    overflow_family.series.get(&counter_key).map(|e| &e.series)
                {
                    metrics::CounterFn::increment(&**cell, 1);
                }
            }
            drop(families);
            self.warn_once(format!("overflow {}", key.name()), || {
                tracing::warn!(
                    metric = key.name(),
                    limit = self.settings.series_limit,
                    "metric {} reached its limit of {} series; new label values are folded into \"{OVERFLOW_LABEL_VALUE}\"",
                    key.name(),
                    self.settings.series_limit
                );
            });
        }
        Some(series)
    }

    /// Claims `name` for a family of `kind` before anyone records into it (the catalog's
    /// metrics at installation), so that host code can never take the SDK's own names.
    pub(crate) fn reserve(&self, name: &str, kind: Kind) {
        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Err(refusal) = families.admit(name, kind) {
            drop(families);
            self.warn_refusal(name, kind, &refusal);
        }
    }

    fn warn_refusal(&self, name: &str, kind: Kind, refusal: &Refusal) {
        self.warn_once(format!("refused {name} {kind:?}"), || match refusal {
            Refusal::KindMismatch { first } => tracing::warn!(
                metric = name,
                "metric {name} is already a {first:?}; ignoring its use as a {kind:?}"
            ),
            Refusal::Collision {
                sample,
                owner,
                owner_kind,
            } => tracing::warn!(
                metric = name,
                "metric {name} ({kind:?}) is refused: its sample name {sample} is already written \
                 by the {owner_kind:?} {owner}; choose another name"
            ),
        });
    }

    fn warn_label_changes(&self, name: &str, changes: &[LabelChange]) {
        for change in changes {
            match change {
                LabelChange::Reserved { from, to } => {
                    self.warn_once(format!("reserved {name} {from}"), || {
                        tracing::warn!(
                            metric = name,
                            "metric {name}: label {from:?} is, or becomes once its characters \
                             are made valid, a key the exposition reserves; exported as {to:?}"
                        );
                    });
                }
                LabelChange::Empty { key } => {
                    self.warn_once(format!("empty {name} {key}"), || {
                        tracing::warn!(
                            metric = name,
                            "metric {name}: label {key:?} has an empty value, which Prometheus \
                             reads as no label; recorded without it"
                        );
                    });
                }
                LabelChange::Duplicate { key, dropped } => {
                    self.warn_once(format!("duplicate {name} {key}"), || {
                        tracing::warn!(
                            metric = name,
                            "metric {name}: two labels become {key:?} in the exposition; \
                             the first one's value is kept, {dropped:?} is dropped"
                        );
                    });
                }
            }
        }
    }

    fn new_series(&self, kind: Kind) -> Series {
        match kind {
            Kind::Counter => Series::Counter(Arc::new(CounterCell::new())),
            Kind::Gauge => Series::Gauge(Arc::new(GaugeCell::new())),
            Kind::Histogram => {
                Series::Histogram(Arc::new(HistogramCell::new(&self.settings.layout)))
            }
        }
    }

    /// Runs `warn` the first time `what` is seen, so a misuse is logged once, not per call.
    fn warn_once(&self, what: String, warn: impl FnOnce()) {
        let first = self
            .warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(what);
        if first {
            warn();
        }
    }
}

/// Every family by its exposition name, and which family claims each sample name.
#[derive(Default)]
pub(crate) struct Families {
    /// In name order, as every encoder writes them: a scrape neither sorts nor looks names up.
    pub(crate) by_name: BTreeMap<String, Family>,
    /// HELP texts by name, given with `describe_*`, for families made later.
    help: HashMap<String, Box<str>>,
    /// Sample name -> the family that writes it (see [`names::claims`]).
    claims: HashMap<String, String>,
}

/// Why a family cannot be used for a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The name is already a family of another kind.
    KindMismatch { first: Kind },
    /// One of the family's sample names is written by another family.
    Collision {
        sample: String,
        owner: String,
        owner_kind: Kind,
    },
}

impl Families {
    /// The family `name` of `kind`, created if new and no other family claims its sample names.
    pub(crate) fn admit(&mut self, name: &str, kind: Kind) -> Result<&mut Family, Refusal> {
        if let Some(family) = self.by_name.get(name) {
            if family.kind != kind {
                return Err(Refusal::KindMismatch { first: family.kind });
            }
        } else {
            let claims = names::claims(name, kind);
            for sample in &claims {
                if let Some(owner) = self.claims.get(sample) {
                    return Err(Refusal::Collision {
                        sample: sample.clone(),
                        owner: owner.clone(),
                        owner_kind: self.by_name[owner].kind,
                    });
                }
            }
            for sample in claims {
                self.claims.insert(sample, name.to_owned());
            }
        }
        let help = &self.help;
        Ok(self
            .by_name
            .entry(name.to_owned())
            .or_insert_with(|| Family {
                kind,
                recorded_name: None,
                recorded_keys: Vec::new(),
                series: SeriesMap::default(),
                help: help.get(name).cloned(),
            }))
    }
}

/// [`Registry::for_each_family`] over `families` (its read lock held by the caller).
pub(crate) fn each_family(
    families: &BTreeMap<String, Family>,
    mut write: impl FnMut(&str, &Family, &str),
) {
    // A `BTreeMap`: in name order with neither a sort nor a lookup per family.
    for (name, family) in families {
        if !family.series.is_empty() {
            write(
                name,
                family,
                family.help.as_deref().unwrap_or(UNDESCRIBED_HELP),
            );
        }
    }
}

fn folded(key: &Key) -> Key {
    let labels: Vec<Label> = key
        .labels()
        .map(|l| Label::new(l.key().to_owned(), OVERFLOW_LABEL_VALUE))
        .collect();
    Key::from_parts(key.name().to_owned(), labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(series_limit: usize) -> Registry {
        let settings = RegistrySettings {
            family_limit: 10_000,
            layout: HistogramLayout::Summary {
                quantiles: vec![0.5],
            },
            series_limit,
            window_period: Duration::from_secs(30),
        };
        Registry::new(settings, Vec::new(), Vec::new())
    }

    fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::from_static_parts(k, v))
            .collect();
        Key::from_parts(name, labels)
    }

    #[test]
    fn names_that_sanitise_alike_are_one_family_and_one_series() {
        let registry = registry(1);
        let a = registry.counter(&key("jobs.done", &[])).unwrap();
        let b = registry.counter(&key("jobs_done", &[])).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // The series limit counts series as Prometheus sees them: one, so nothing is folded.
        let x = registry
            .counter(&key("q_total", &[("kind.a", "x")]))
            .unwrap();
        let y = registry
            .counter(&key("q_total", &[("kind_a", "x"), ("kind-a", "y")]))
            .unwrap();
        assert!(Arc::ptr_eq(&x, &y));
        assert!(registry.with_families(|f| !f.contains_key(LABEL_OVERFLOW_TOTAL.name)));
    }

    #[test]
    fn a_name_keeps_its_first_kind() {
        let registry = registry(10);
        assert!(registry.counter(&key("jobs.done", &[])).is_some());
        assert!(registry.gauge(&key("jobs-done", &[])).is_none());
        assert!(registry.histogram(&key("jobs_done", &[])).is_none());
    }

    #[test]
    fn generated_sample_names_are_claimed_in_both_orders() {
        let registry = registry(10);
        assert!(registry.histogram(&key("h", &[])).is_some());
        for taken in ["h_count", "h_sum", "h_bucket"] {
            assert!(registry.gauge(&key(taken, &[])).is_none(), "{taken}");
            assert!(registry.counter(&key(taken, &[])).is_none(), "{taken}");
        }
        assert!(registry.gauge(&key("g_sum", &[])).is_some());
        assert!(registry.histogram(&key("g", &[])).is_none());

        assert!(registry.counter(&key("jobs", &[])).is_some());
        assert!(registry.counter(&key("jobs_total", &[])).is_none());
        assert!(registry.gauge(&key("jobs_total", &[])).is_none());
        assert!(registry.gauge(&key("done_total", &[])).is_some());
        assert!(registry.counter(&key("done", &[])).is_none());
        assert_eq!(registry.with_families(|f| f.len()), 4);
    }

    #[test]
    fn reserved_names_cannot_be_taken() {
        let registry = registry(10);
        registry.reserve("moai_flow_query_duration_seconds", Kind::Histogram);
        assert!(
            registry
                .gauge(&key("moai_flow_query_duration_seconds_count", &[]))
                .is_none()
        );
        assert!(
            registry
                .histogram(&key("moai_flow.query_duration_seconds", &[("q", "x")]))
                .is_some()
        );
    }
}
