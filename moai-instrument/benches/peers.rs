//! The SDK's render and record beside its Rust peers, each with its own encoder on the same series,
//! in one run: measured 0.0.25 (text) and prometheus-client 0.26 (OpenMetrics text, the only
//! format it writes).
//!
//! - `counters_10000`: 10,000 counter series of one family with two labels.
//! - `histograms_1000`: 1,000 histograms of one family with 11 classic buckets, 20 values each.
//! - `small_app`: 100 counter series; for the SDK `render()` as `/metrics` runs it (collectors,
//!   the `/proc` reads of the process metrics, the SDK's own series, then the exposition), and
//!   `fixed_part`, the same with no host series.
//! - `families`: 100,000 single-series families against 100,000 series of one family (SDK), and
//!   the heap each takes (a counting allocator).
//! - `increment`: one registered counter's increment, beside one uncontended atomic add.
//! - The SDK's OpenMetrics and protobuf encoders on the 10,000 counters.
//!
//! `cargo bench -p moai-instrument --bench peers`; the figures are in BENCHMARKS.md.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use measured::metric::histogram::Thresholds;
use measured::text::BufferedTextEncoder;
use measured::{LabelGroup, MetricGroup};
use moai_instrument::__test_support::{detached_recorder, in_scope, render_exposition_only};
use moai_instrument::metrics::{counter, histogram};
use moai_instrument::recorder::Format;
use moai_instrument::{Config, HistogramMode, MetricsHandle};
use moai_test_support::heap::{Counting, heap_bytes};
use paracord::ParaCord;
use prometheus_client::encoding::EncodeLabelSet;

#[global_allocator]
static HEAP: Counting = Counting;

/// 11 classic bounds, as every library gets them.
const BOUNDS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(MetricGroup)]
struct MeasuredCounters {
    /// Events by type and agent.
    moai_flow_events_total: measured::CounterVec<MeasuredLabelsSet>,
}

#[derive(MetricGroup)]
struct MeasuredHistograms {
    /// Query durations.
    moai_flow_query_duration_seconds: measured::HistogramVec<MeasuredLabelsSet, 11>,
}

#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = MeasuredLabelsSet)]
struct MeasuredLabels<'a> {
    #[label(dynamic_with = ParaCord)]
    event_type: &'a str,
    #[label(dynamic_with = ParaCord)]
    agent: &'a str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    event_type: String,
    agent: String,
}

fn labels(i: usize) -> (String, String) {
    (format!("event_{i}"), format!("agent_{}", i % 10))
}

/// prometheus-client's registry with `n` counter series of one family.
fn client_counters(n: usize) -> prometheus_client::registry::Registry {
    let mut registry = prometheus_client::registry::Registry::default();
    let family = prometheus_client::metrics::family::Family::<
        ClientLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    registry.register(
        "moai_flow_events",
        "Events by type and agent",
        family.clone(),
    );
    for i in 0..n {
        let (event_type, agent) = labels(i);
        family
            .get_or_create(&ClientLabels { event_type, agent })
            .inc_by(i as u64);
    }
    registry
}

/// prometheus-client's encoder over `registry`, into a reused buffer.
fn bench_client(
    group: &mut BenchmarkGroup<'_, WallTime>,
    registry: &prometheus_client::registry::Registry,
) {
    group.bench_function("prometheus_client", |b| {
        let mut out = String::new();
        b.iter(|| {
            out.clear();
            prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
            black_box(out.len())
        })
    });
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    group
}

fn sdk(mode: HistogramMode) -> MetricsHandle {
    detached_recorder(
        Config::new()
            .series_limit(200_000)
            .family_limit(200_000)
            .histogram_mode(mode)
            .histogram_buckets(BOUNDS),
    )
    .expect("recorder")
}

fn counters(c: &mut Criterion) {
    let mut group = group(c, "counters_10000");
    let handle = sdk(HistogramMode::Summary);
    in_scope(&handle, || {
        for i in 0..10_000 {
            let (event, agent) = labels(i);
            counter!("moai_flow_events_total", "event_type" => event, "agent" => agent)
                .increment(i as u64);
        }
    });
    group.bench_function("moai_instrument", |b| {
        b.iter(|| black_box(render_exposition_only(&handle)))
    });
    for (name, format) in [
        (
            "moai_instrument_openmetrics",
            Format::OpenMetrics { v0_0_1: false },
        ),
        ("moai_instrument_protobuf", Format::Protobuf),
    ] {
        group.bench_function(name, |b| b.iter(|| black_box(handle.render_as(format))));
    }

    let measured = MeasuredCounters {
        moai_flow_events_total: measured::CounterVec::with_label_set(MeasuredLabelsSet {
            event_type: ParaCord::default(),
            agent: ParaCord::default(),
        }),
    };
    for i in 0..10_000 {
        let (event, agent) = labels(i);
        measured.moai_flow_events_total.inc_by(
            MeasuredLabels {
                event_type: &event,
                agent: &agent,
            },
            i as u64,
        );
    }
    let mut encoder = BufferedTextEncoder::new();
    group.bench_function("measured", |b| {
        b.iter(|| {
            measured.collect_group_into(&mut encoder).unwrap();
            black_box(encoder.finish())
        })
    });

    let registry = client_counters(10_000);
    bench_client(&mut group, &registry);
    group.finish();
}

fn histograms(c: &mut Criterion) {
    let mut group = group(c, "histograms_1000");
    let value = |i: usize, j: usize| (i * 20 + j) as f64 * 1e-4;
    let handle = sdk(HistogramMode::Buckets);
    in_scope(&handle, || {
        for i in 0..1_000 {
            let (event, agent) = labels(i);
            let h = histogram!("moai_flow_query_duration_seconds", "event_type" => event, "agent" => agent);
            for j in 0..20 {
                h.record(value(i, j));
            }
        }
    });
    group.bench_function("moai_instrument", |b| {
        b.iter(|| black_box(render_exposition_only(&handle)))
    });

    let measured = MeasuredHistograms {
        moai_flow_query_duration_seconds: measured::HistogramVec::with_label_set_and_metadata(
            MeasuredLabelsSet {
                event_type: ParaCord::default(),
                agent: ParaCord::default(),
            },
            Thresholds::with_buckets(BOUNDS),
        ),
    };
    for i in 0..1_000 {
        let (event, agent) = labels(i);
        for j in 0..20 {
            measured.moai_flow_query_duration_seconds.observe(
                MeasuredLabels {
                    event_type: &event,
                    agent: &agent,
                },
                value(i, j),
            );
        }
    }
    let mut encoder = BufferedTextEncoder::new();
    group.bench_function("measured", |b| {
        b.iter(|| {
            measured.collect_group_into(&mut encoder).unwrap();
            black_box(encoder.finish())
        })
    });

    let mut registry = prometheus_client::registry::Registry::default();
    let family = prometheus_client::metrics::family::Family::<
        ClientLabels,
        prometheus_client::metrics::histogram::Histogram,
    >::new_with_constructor(|| {
        prometheus_client::metrics::histogram::Histogram::new(BOUNDS)
    });
    registry.register(
        "moai_flow_query_duration_seconds",
        "Query durations",
        family.clone(),
    );
    for i in 0..1_000 {
        let (event_type, agent) = labels(i);
        let h = family.get_or_create(&ClientLabels { event_type, agent });
        for j in 0..20 {
            h.observe(value(i, j));
        }
    }
    bench_client(&mut group, &registry);
    group.finish();
}

/// A small app: the SDK installed as `init()` installs it (its own series, the process
/// metrics), then 100 host counters.
fn small_app(c: &mut Criterion) {
    let mut group = group(c, "small_app");
    let handle = Config::new()
        .install_recorder()
        .expect("the first install in this process");
    group.bench_function("fixed_part", |b| b.iter(|| black_box(handle.render())));
    for i in 0..100 {
        let (event, agent) = labels(i);
        counter!("moai_flow_events_total", "event_type" => event, "agent" => agent)
            .increment(i as u64);
    }
    group.bench_function("moai_instrument", |b| b.iter(|| black_box(handle.render())));

    let registry = client_counters(100);
    group.bench_function("prometheus_client", |b| {
        b.iter(|| {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
            black_box(out)
        })
    });
    group.finish();
}

fn families(c: &mut Criterion) {
    let mut group = c.benchmark_group("families_100000");
    group
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10);
    let one_family = sdk(HistogramMode::Summary);
    let before = heap_bytes();
    in_scope(&one_family, || {
        for i in 0..100_000 {
            counter!("moai_flow_events_total", "event_type" => format!("event_{i}")).increment(1);
        }
    });
    let registered = heap_bytes() - before;
    let before = heap_bytes();
    group.bench_function("series_of_one_family", |b| {
        b.iter(|| black_box(render_exposition_only(&one_family)))
    });
    eprintln!(
        "100,000 series of one family: {:.0} bytes per series registered, {:.0} more kept after \
         scraping (the compiled exposition)",
        registered as f64 / 1e5,
        (heap_bytes() - before) as f64 / 1e5
    );
    drop(one_family);
    let many = sdk(HistogramMode::Summary);
    let before = heap_bytes();
    in_scope(&many, || {
        for i in 0..100_000 {
            counter!(format!("host_metric_{i}_total"), "event_type" => "event").increment(1);
        }
    });
    let registered = heap_bytes() - before;
    let before = heap_bytes();
    group.bench_function("single_series_families", |b| {
        b.iter(|| black_box(render_exposition_only(&many)))
    });
    eprintln!(
        "100,000 single-series families: {:.0} bytes per family registered, {:.0} more kept \
         after scraping (the compiled exposition)",
        registered as f64 / 1e5,
        (heap_bytes() - before) as f64 / 1e5
    );
    group.finish();
}

fn increment(c: &mut Criterion) {
    let mut group = group(c, "increment");
    let handle = sdk(HistogramMode::Summary);
    let sdk_counter = in_scope(
        &handle,
        || counter!("moai_flow_events_total", "event_type" => "x"),
    );
    group.bench_function("moai_instrument", |b| b.iter(|| sdk_counter.increment(1)));
    let measured = measured::Counter::new();
    group.bench_function("measured", |b| b.iter(|| measured.inc()));
    let client = prometheus_client::metrics::counter::Counter::<u64>::default();
    group.bench_function("prometheus_client", |b| b.iter(|| client.inc()));
    // On the heap, as the libraries' counters are (an `Arc<AtomicU64>` in prometheus-client).
    let atomic = std::sync::Arc::new(AtomicU64::new(0));
    // Shaped as the others: nothing returned.
    group.bench_function("atomic_add", |b| {
        b.iter(|| {
            black_box(&*atomic).fetch_add(1, Ordering::Relaxed);
        })
    });
    group.finish();
}

criterion_group!(
    benches, counters, histograms, small_app, families, increment
);
criterion_main!(benches);
