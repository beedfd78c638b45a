//! The catalog at installation: its names described and claimed, `moai_flow_build_info` set, and
//! every instrumented callsite's series registered at 0, so `rate()` and the alerts work from the
//! first scrape.

use metrics::{Key, Label};

use super::callsite::{Callsite, callsites};
use super::{Kind, Registry};
use crate::catalog::{BUILD_INFO, CATALOG, FAMILIES_REFUSED_TOTAL, MetricKind};

/// Describes and claims the catalog (host code cannot take its names), sets
/// `moai_flow_build_info`, and registers every instrumented callsite's series at 0, so `rate()`
/// and the alerts work from the first scrape.
pub(super) fn register_catalog(registry: &Registry) {
    describe_catalog(registry);
    set_build_info_and_callsites(registry);
}

/// Describes and claims the catalog's names.
pub(super) fn describe_catalog(registry: &Registry) {
    for spec in CATALOG {
        registry.describe(spec.name, spec.help);
        registry.reserve(
            spec.name,
            match spec.kind {
                MetricKind::Counter => Kind::Counter,
                MetricKind::Gauge => Kind::Gauge,
                MetricKind::Histogram => Kind::Histogram,
            },
        );
    }
}

fn set_build_info_and_callsites(registry: &Registry) {
    // At 0 from the start, so `increase()` sees the first refusal.
    let _ = registry.counter(&Key::from_static_name(FAMILIES_REFUSED_TOTAL.name));
    let version = Key::from_parts(
        BUILD_INFO.name,
        vec![Label::from_static_parts(
            "version",
            env!("CARGO_PKG_VERSION"),
        )],
    );
    if let Some(gauge) = registry.gauge(&version) {
        metrics::GaugeFn::set(&*gauge, 1.0);
    }
    for callsite in callsites() {
        match callsite {
            Callsite::Query(query) => {
                let _ = registry.histogram(&query.duration_key());
                let _ = registry.counter(&query.errors_key());
            }
            Callsite::Event(event) => {
                let _ = registry.counter(&event.key());
            }
        }
    }
}
