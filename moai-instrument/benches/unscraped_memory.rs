//! Memory when nobody scrapes: 28 million timed calls over 8 query types, then the growth of the
//! resident set and its peak (bound: 64 MB), from 1 thread and then 2 (the thread stripes of the
//! counters and buckets are allocated as threads first use them). The stock exporter's histogram buffers every sample until a scrape (229 MB for
//! 14 M records in the prototype); the SDK's is a fixed set of counters.
//!
//! `cargo bench -p moai-instrument --bench unscraped_memory` (`MOAI_HISTOGRAM=buckets` or
//! `native` for the other histogram modes)

use std::hint::black_box;
use std::time::Instant;

use moai_instrument::{Config, timed_query};

const CALLS: u64 = 28_000_000;

/// The peak resident set so far (`VmHWM`).
fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

macro_rules! queries {
    ($($name:ident),*) => {
        $(
            #[timed_query]
            fn $name(x: u64) -> u64 {
                black_box(x)
            }
        )*
        const QUERIES: &[fn(u64) -> u64] = &[$($name),*];
    };
}

queries!(q0, q1, q2, q3, q4, q5, q6, q7);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a quick smoke check.
    let calls = if std::env::args().any(|a| a == "--bench") {
        CALLS
    } else {
        100_000
    };
    // The environment picks the histogram mode: `MOAI_HISTOGRAM=native cargo bench ...`.
    let handle = Config::from_env()
        .expect("MOAI_* settings")
        .install_recorder()
        .expect("install");
    let before = resident_bytes();
    let started = Instant::now();
    // Half on this thread, half on two threads at once.
    for i in 0..calls / 2 {
        black_box(QUERIES[(i % 8) as usize](i));
    }
    std::thread::scope(|s| {
        for t in 0..2 {
            s.spawn(move || {
                for i in (calls / 2 + t..calls).step_by(2) {
                    black_box(QUERIES[(i % 8) as usize](i));
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let after = resident_bytes();
    let exposition = handle.render();
    let recorded: u64 = exposition
        .lines()
        .filter(|l| l.starts_with("moai_flow_query_duration_seconds_count{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum();
    assert_eq!(recorded, calls, "every call is counted");
    let peak = peak_resident_bytes();
    println!(
        "unscraped_memory: {calls} timed calls in {:.2} s ({:.1} ns/call), resident set {:.1} MB -> {:.1} MB (+{:.2} MB), peak {:.1} MB",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / calls as f64,
        before as f64 / 1e6,
        after as f64 / 1e6,
        after.saturating_sub(before) as f64 / 1e6,
        peak as f64 / 1e6,
    );
    assert!(
        peak <= 64 << 20,
        "peak resident set {peak} bytes is over 64 MB"
    );
}
