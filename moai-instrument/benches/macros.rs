//! Added cost per call of the attributes: a bare fn against the same fn with `#[counted_event]`
//! and with `#[timed_query]`, before the recorder is installed and after, on 1 and 2 threads.
//!
//! `cargo bench -p moai-instrument --bench macros` (`MOAI_HISTOGRAM=buckets` or `native` for the
//! other histogram modes). The "without recorder" group must run first:
//! installation is once per process and cannot be undone.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use moai_instrument::{Config, counted_event, timed_query};

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
#[counted_event(event_type = "bench_event")]
fn counted(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
#[timed_query(query_type = "bench_query")]
fn timed(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// Wall time for `iters` calls on each of `threads` threads running at once: the per-call
/// latency each thread sees, contention included.
fn on_threads(threads: usize, iters: u64, f: fn(u64) -> u64) -> Duration {
    if threads == 1 {
        let start = Instant::now();
        for i in 0..iters {
            black_box(f(i));
        }
        return start.elapsed();
    }
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                for i in 0..iters {
                    black_box(f(i));
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins every thread before returning.
        start
    })
    .elapsed()
}

fn group(c: &mut Criterion, name: &str) {
    let mut group = c.benchmark_group(name);
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for threads in [1, 2] {
        add(&mut group, "bare", threads, bare);
        add(&mut group, "counted_event", threads, counted);
        add(&mut group, "timed_query", threads, timed);
    }
    group.finish();
}

fn add(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, threads: usize, f: fn(u64) -> u64) {
    group.bench_function(format!("{name}/{threads}_thread"), |b| {
        b.iter_custom(|iters| on_threads(threads, iters, f))
    });
}

fn without_recorder(c: &mut Criterion) {
    group(c, "without_recorder");
}

fn with_recorder(c: &mut Criterion) {
    // The environment picks the histogram mode: `MOAI_HISTOGRAM=native cargo bench ...`.
    let config = Config::from_env().expect("MOAI_* settings");
    let _ = config.install_recorder();
    group(c, "with_recorder");
}

criterion_group!(benches, without_recorder, with_recorder);
criterion_main!(benches);
