//! Scrape render time for 1, 100, 1,000 and 10,000 series, and JSON log lines per second beside
//! tracing-subscriber's own JSON formatter on the same events. Two render groups: `render` is
//! `MetricsHandle::render()`, all that `/metrics` does (scrape-time collectors and the `/proc`
//! reads of the process metrics, then the exposition); `render_exposition` is the exposition
//! alone, in the same run.
//!
//! `cargo bench -p moai-instrument --bench exporter`, or `-- render` for both render groups. Python's `generate_latest()` on the same
//! series is measured by `benches/generate_latest.py`; both figures are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use moai_instrument::Config;
use moai_instrument::catalog::EVENTS_TOTAL;
use moai_instrument::metrics::counter;

fn render(c: &mut Criterion) {
    let handle = Config::new()
        .series_limit(20_000)
        .install_recorder()
        .expect("install");
    let mut group = c.benchmark_group("render");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let mut series = 0;
    for target in [1usize, 100, 1_000, 10_000] {
        // Series accumulate: each step adds counters up to `target` distinct event types, the
        // same shape as `benches/generate_latest.py` builds in Python.
        while series < target {
            counter!(EVENTS_TOTAL.name, "event_type" => format!("event_{series}"))
                .increment(series as u64);
            series += 1;
        }
        group.throughput(Throughput::Elements(target as u64));
        group.bench_with_input(BenchmarkId::new("full", target), &target, |b, _| {
            b.iter(|| black_box(handle.render()))
        });
        group.bench_with_input(
            BenchmarkId::new("exposition_only", target),
            &target,
            |b, _| {
                b.iter(|| {
                    black_box(moai_instrument::__test_support::render_exposition_only(
                        &handle,
                    ))
                })
            },
        );
    }
    group.finish();
}

fn json_logs(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_log_line");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    let event = || {
        let span = tracing::info_span!(
            "spawn_agent",
            agent_id = "agent-7",
            user_id = 42,
            request_id = "req-1"
        );
        let _entered = span.enter();
        tracing::info!(
            tasks = 3,
            ratio = 0.5,
            note = "quote \" and newline \n",
            "Agent spawned successfully"
        );
    };
    let ours = moai_instrument::__test_support::json_subscriber(|line| {
        black_box(line);
    });
    tracing::subscriber::with_default(ours, || {
        group.bench_function("moai_instrument", |b| b.iter(event))
    });
    let stock = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(stock, || {
        group.bench_function("tracing_subscriber_json", |b| b.iter(event))
    });
    group.finish();
}

criterion_group!(benches, render, json_logs);
criterion_main!(benches);
