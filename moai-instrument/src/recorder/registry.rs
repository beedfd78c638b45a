//! Every series the recorder holds, grouped by metric name, with the per-metric cardinality guard.
//!
//! Lookups take a read lock; only the first registration of a series takes the write lock. The
//! macros cache their handles per callsite, so the hot path never comes here.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use metrics::{Key, Label};

use super::cells::{CounterCell, GaugeCell};
use super::histogram::{HistogramCell, HistogramLayout};
use crate::catalog::LABEL_OVERFLOW_TOTAL;

/// The value new label values are folded into once a metric reaches its series limit.
pub(crate) const OVERFLOW_LABEL_VALUE: &str = "other";

#[derive(Debug, Clone)]
pub(crate) struct RegistrySettings {
    pub(crate) layout: HistogramLayout,
    pub(crate) series_limit: usize,
    pub(crate) window_period: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
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
    pub(crate) series: HashMap<Key, Series>,
}

pub(crate) struct Registry {
    pub(crate) settings: RegistrySettings,
    families: RwLock<HashMap<String, Family>>,
    help: RwLock<HashMap<String, String>>,
    /// Metric names already reported in a WARN line, so a misuse is logged once, not per call.
    warned: Mutex<HashSet<String>>,
    last_rotation: Mutex<Instant>,
}

impl Registry {
    pub(crate) fn new(settings: RegistrySettings) -> Self {
        Registry {
            settings,
            families: RwLock::default(),
            help: RwLock::default(),
            warned: Mutex::default(),
            last_rotation: Mutex::new(Instant::now()),
        }
    }

    pub(crate) fn describe(&self, name: &str, help: &str) {
        let mut all = self.help.write().unwrap_or_else(PoisonError::into_inner);
        all.insert(name.to_owned(), help.to_owned());
    }

    pub(crate) fn help(&self, name: &str) -> Option<String> {
        self.help
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
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

    /// Runs `f` over the families while holding the read lock (for rendering).
    pub(crate) fn with_families<T>(&self, f: impl FnOnce(&HashMap<String, Family>) -> T) -> T {
        f(&self.families.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The largest recent `q` quantile among the histogram series of `name` (the worst query
    /// type, for the query performance check), with its labels.
    pub(crate) fn worst_quantile(&self, name: &str, q: f64) -> Option<(String, f64)> {
        self.with_families(|families| {
            families
                .get(name)?
                .series
                .iter()
                .filter_map(|(key, series)| match series {
                    Series::Histogram(cell) => {
                        let labels: Vec<String> =
                            key.labels().map(|l| l.value().to_owned()).collect();
                        Some((labels.join(","), cell.quantile(q)?))
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
                for series in family.series.values() {
                    if let Series::Histogram(cell) = series {
                        cell.rotate();
                    }
                }
            }
        });
    }

    /// The series of `key`, made by `make` if new. A name keeps the kind it was first used with.
    fn series(&self, key: &Key, kind: Kind, make: impl FnOnce() -> Series) -> Option<Series> {
        let key = normalized(key);
        {
            let families = self.families.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(family) = families.get(key.name())
                && family.kind == kind
                && let Some(series) = family.series.get(&key)
            {
                return Some(series.clone());
            }
        }
        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let family = family_mut(&mut families, key.name(), kind);
        if family.kind != kind {
            let first = family.kind;
            drop(families);
            self.warn_once(key.name(), || {
                tracing::warn!(
                    metric = key.name(),
                    "metric {} is already a {first:?}; ignoring its use as a {kind:?}",
                    key.name()
                );
            });
            return None;
        }
        if let Some(series) = family.series.get(&key) {
            return Some(series.clone());
        }
        let overflow = family.series.len() >= self.settings.series_limit && key.labels().len() > 0;
        let key = if overflow { folded(&key) } else { key };
        let series = family
            .series
            .entry(key.clone())
            .or_insert_with(make)
            .clone();
        if overflow {
            let counter_key = Key::from_parts(
                LABEL_OVERFLOW_TOTAL.name,
                vec![Label::new("metric", key.name().to_owned())],
            );
            let overflow_family =
                family_mut(&mut families, LABEL_OVERFLOW_TOTAL.name, Kind::Counter);
            if let Series::Counter(cell) = overflow_family
                .series
                .entry(counter_key)
                .or_insert_with(|| Series::Counter(Arc::new(CounterCell::new())))
            {
                metrics::CounterFn::increment(&**cell, 1);
            }
            drop(families);
            self.warn_once(key.name(), || {
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

    fn new_series(&self, kind: Kind) -> Series {
        match kind {
            Kind::Counter => Series::Counter(Arc::new(CounterCell::new())),
            Kind::Gauge => Series::Gauge(Arc::new(GaugeCell::new())),
            Kind::Histogram => {
                Series::Histogram(Arc::new(HistogramCell::new(&self.settings.layout)))
            }
        }
    }

    fn warn_once(&self, name: &str, warn: impl FnOnce()) {
        let first = self
            .warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned());
        if first {
            warn();
        }
    }
}

/// The family of `name`, created with `kind` if new (an existing one keeps its kind).
fn family_mut<'a>(
    families: &'a mut HashMap<String, Family>,
    name: &str,
    kind: Kind,
) -> &'a mut Family {
    families.entry(name.to_owned()).or_insert_with(|| Family {
        kind,
        series: HashMap::new(),
    })
}

/// The key with its labels sorted by name and repeated names dropped (the first wins): label order
/// must not make two series of one Prometheus time series, nor a name appear twice in a line.
fn normalized(key: &Key) -> Key {
    let labels: Vec<&Label> = key.labels().collect();
    let ordered = labels.windows(2).all(|pair| pair[0].key() < pair[1].key());
    if ordered {
        return key.clone();
    }
    let mut sorted: Vec<Label> = Vec::with_capacity(labels.len());
    for label in labels {
        if !sorted.iter().any(|l| l.key() == label.key()) {
            sorted.push(label.clone());
        }
    }
    sorted.sort_by(|a, b| a.key().cmp(b.key()));
    Key::from_parts(key.name().to_owned(), sorted)
}

fn folded(key: &Key) -> Key {
    let labels: Vec<Label> = key
        .labels()
        .map(|l| Label::new(l.key().to_owned(), OVERFLOW_LABEL_VALUE))
        .collect();
    Key::from_parts(key.name().to_owned(), labels)
}
