//! Each exposition format's encoder beside text 0.0.4, on the same registry: 10,000 counter
//! series and 1,000 histograms of 11 classic buckets (bucket mode, so every format writes
//! buckets), plus the SDK's own series; 1,000 native histograms in protobuf and text. And gzip at flate2's fastest level, the level `/metrics`
//! uses when the scraper accepts gzip, on the text 0.0.4 body.
//!
//! `cargo bench -p moai-instrument --bench formats`; the figures are in BENCHMARKS.md.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use moai_instrument::__test_support::{detached_recorder, in_scope};
use moai_instrument::catalog::{EVENTS_TOTAL, QUERY_DURATION_SECONDS};
use moai_instrument::metrics::{counter, histogram};
use moai_instrument::recorder::{Escaping, Format};
use moai_instrument::{Config, HistogramMode};

fn formats(c: &mut Criterion) {
    let handle = Config::new()
        .series_limit(20_000)
        .histogram_mode(HistogramMode::Buckets)
        .install_recorder()
        .expect("install");
    for i in 0..10_000u64 {
        counter!(EVENTS_TOTAL.name, "event_type" => format!("event_{i}")).increment(i);
    }
    for i in 0..1_000u64 {
        let h = histogram!(QUERY_DURATION_SECONDS.name, "query_type" => format!("query_{i}"));
        for j in 0..20u64 {
            h.record((i * 20 + j) as f64 * 1e-4);
        }
    }
    let mut group = c.benchmark_group("formats");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    for (name, format) in [
        ("text_0.0.4", Format::Text004),
        (
            "text_1.0.0_allow_utf8",
            Format::Text100(Escaping::AllowUtf8),
        ),
        ("text_1.0.0_dots", Format::Text100(Escaping::Dots)),
        ("openmetrics_1.0.0", Format::OpenMetrics { v0_0_1: false }),
        ("protobuf", Format::Protobuf),
    ] {
        group.bench_function(name, |b| b.iter(|| black_box(handle.render_as(format))));
    }
    let body = handle.render_as(Format::Text004);
    eprintln!(
        "text 0.0.4: {} bytes; protobuf: {} bytes; gzip of text: {} bytes",
        body.len(),
        handle.render_as(Format::Protobuf).len(),
        gzip(&body).len()
    );
    group.bench_function("gzip_fast_of_text_0.0.4", |b| {
        b.iter(|| black_box(gzip(&body)))
    });

    // 1,000 native histograms (with their classic buckets), 100 latencies each from 1 ms to 1 s:
    // protobuf writes both, text the classic ones.
    let native = detached_recorder(
        Config::new()
            .series_limit(2_000)
            .histogram_mode(HistogramMode::Native),
    )
    .expect("recorder");
    in_scope(&native, || {
        for i in 0..1_000u64 {
            let h = histogram!(QUERY_DURATION_SECONDS.name, "query_type" => format!("query_{i}"));
            for j in 0..100 {
                h.record(0.001 * 1000f64.powf(f64::from(j) / 99.0));
            }
        }
    });
    eprintln!(
        "1,000 native histograms: protobuf {} bytes, text 0.0.4 {} bytes",
        native.render_as(Format::Protobuf).len(),
        native.render_as(Format::Text004).len()
    );
    for (name, format) in [
        ("native_1000_histograms/text_0.0.4", Format::Text004),
        ("native_1000_histograms/protobuf", Format::Protobuf),
    ] {
        group.bench_function(name, |b| b.iter(|| black_box(native.render_as(format))));
    }
    group.finish();
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

criterion_group!(benches, formats);
criterion_main!(benches);
