//! One histogram record in each `HistogramMode` (the summary's log-linear window, classic `le`
//! buckets, native buckets beside classic ones), on a registered handle with latencies spread
//! over 1 ms to 1 s; and the memory of 1,000 series in each mode after the same values, from a
//! counting allocator (the heap the series hold, not the resident set).
//!
//! `cargo bench -p moai-instrument --bench histograms`; the figures are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use moai_instrument::__test_support::{detached_recorder, in_scope};
use moai_instrument::catalog::QUERY_DURATION_SECONDS;
use moai_instrument::metrics::histogram;
use moai_instrument::{Config, HistogramMode};
use moai_test_support::heap::{Counting, heap_bytes};

#[global_allocator]
static HEAP: Counting = Counting;

const MODES: [(&str, HistogramMode); 3] = [
    ("summary", HistogramMode::Summary),
    ("buckets", HistogramMode::Buckets),
    ("native", HistogramMode::Native),
];

/// 1,024 latencies, log-uniform from 1 ms to 1 s.
fn latencies() -> Vec<f64> {
    (0..1024)
        .map(|i| 0.001 * 1000f64.powf(f64::from(i) / 1023.0))
        .collect()
}

fn record(c: &mut Criterion) {
    let values = latencies();
    let mut group = c.benchmark_group("histogram_record");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, mode) in MODES {
        let handle = detached_recorder(Config::new().histogram_mode(mode)).expect("recorder");
        let h = in_scope(
            &handle,
            || histogram!(QUERY_DURATION_SECONDS.name, "query_type" => "bench"),
        );
        group.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                h.record(black_box(values[i & 1023]));
                i += 1;
            })
        });
    }
    group.finish();

    // Memory: 1,000 series per mode, each given every latency.
    for (name, mode) in MODES {
        let handle = detached_recorder(Config::new().histogram_mode(mode)).expect("recorder");
        let before = heap_bytes();
        in_scope(&handle, || {
            for series in 0..1_000 {
                let h =
                    histogram!(QUERY_DURATION_SECONDS.name, "query_type" => format!("q{series}"));
                for &v in &values {
                    h.record(v);
                }
            }
        });
        let bytes = heap_bytes() - before;
        eprintln!(
            "histogram memory, {name}: {:.1} KiB per series (1,000 series, 1 ms to 1 s, one thread)",
            bytes as f64 / 1000.0 / 1024.0
        );
        drop(black_box(handle));
    }
}

criterion_group!(benches, record);
criterion_main!(benches);
