//! Scrape load: while 2 threads record through the macros at full speed, 64 concurrent clients
//! scrape `/metrics` for 10 s. No scrape fails, every body is valid exposition, counters never go
//! backwards between scrapes, and the final counts are exact. The slowdown of the recording
//! threads under that load is printed (RELIABILITY.md keeps the figure).

use moai_test_support as common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{http, promtool_check_metrics, sample, temp_dir, tool};
use moai_instrument::{Config, counted_event, timed_query};

#[counted_event(event_type = "load_event")]
#[timed_query(query_type = "load_query")]
fn record() {}

const EVENTS: &str = r#"moai_flow_events_total{event_type="load_event"}"#;

/// Calls `record` on 2 threads until `stop`; returns the calls made.
fn record_until(stop: &AtomicBool) -> u64 {
    let total = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..1000 {
                        record();
                    }
                    n += 1000;
                }
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    total.into_inner()
}

/// Every sample line is `name{labels} value` with a number Prometheus would parse.
fn well_formed(body: &str) -> bool {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .all(|line| {
            line.rsplit_once(' ').is_some_and(|(series, value)| {
                !series.is_empty()
                    && (value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value))
            })
        })
}

#[test]
fn sixty_four_scrapers_and_two_recorders_for_ten_seconds() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(temp_dir("load")))
        .init()
        .expect("init");
    let addr = guard.metrics_addr().expect("the exporter listens");

    // Baseline: recording alone for 2 s.
    let stop = AtomicBool::new(false);
    let baseline = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_secs(2));
            stop.store(true, Ordering::Relaxed);
        });
        record_until(&stop)
    }) as f64
        / 2.0;

    // Under load: 64 scrapers for 10 s while the same 2 threads record.
    let stop = AtomicBool::new(false);
    let scrapes = AtomicU64::new(0);
    let started = Instant::now();
    let (under_load, samples) = std::thread::scope(|s| {
        let scrapers: Vec<_> = (0..64)
            .map(|_| {
                s.spawn(|| {
                    let mut last = 0.0;
                    let mut kept = Vec::new();
                    while started.elapsed() < Duration::from_secs(10) {
                        let (status, _, body) = http(addr, "GET", "/metrics", &[]);
                        assert_eq!(status, 200, "a scrape failed");
                        assert!(well_formed(&body), "malformed exposition:\n{body}");
                        let events = sample(&body, EVENTS).unwrap_or(0.0);
                        assert!(events >= last, "counter went back from {last} to {events}");
                        last = events;
                        scrapes.fetch_add(1, Ordering::Relaxed);
                        if kept.len() < 2 {
                            kept.push(body);
                        }
                    }
                    kept
                })
            })
            .collect();
        let recorder = s.spawn(|| record_until(&stop));
        let samples: Vec<String> = scrapers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        stop.store(true, Ordering::Relaxed);
        (recorder.join().unwrap(), samples)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let rate_under_load = under_load as f64 / elapsed;

    // Exact final count: every call of both phases.
    let body = http(addr, "GET", "/metrics", &[]).2;
    let calls = sample(
        &body,
        r#"moai_flow_query_duration_seconds_count{query_type="load_query"}"#,
    )
    .unwrap();
    assert_eq!(sample(&body, EVENTS), Some(calls));
    assert!(
        calls >= (baseline * 2.0).floor() + under_load as f64 - 1.0,
        "{calls}"
    );
    if let Some(promtool) = tool("promtool") {
        for body in samples.iter().step_by(16) {
            promtool_check_metrics(&promtool, body).unwrap_or_else(|e| panic!("promtool: {e}"));
        }
    }
    println!(
        "scrape load: {} scrapes in {elapsed:.1} s ({:.0}/s); recording {:.2} M calls/s alone, {:.2} M calls/s under load ({:.0}% of alone)",
        scrapes.load(Ordering::Relaxed),
        scrapes.load(Ordering::Relaxed) as f64 / elapsed,
        baseline / 1e6,
        rate_under_load / 1e6,
        rate_under_load / baseline * 100.0
    );
}
