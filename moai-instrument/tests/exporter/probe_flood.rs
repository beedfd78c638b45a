//! Probes keep their capacity: while 2,000 clients scrape `/metrics` as fast as they can, every
//! `/livez` and `/readyz` answers 200 within a second. Probes have their own queue and workers,
//! the accept queue is long enough for the burst, and past the bound of connections waiting for
//! their head the oldest is dropped, never the new probe.

use moai_test_support as common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{http, temp_dir};
use moai_instrument::Config;

const SCRAPERS: usize = 2_000;

/// Sockets for the scrapers, the exporter's side of them and the rest of the process.
fn raise_file_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, initialized struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        assert!(
            limit.rlim_max >= needed,
            "this test needs {needed} file descriptors; the hard limit is {} (raise it: ulimit -Hn)",
            limit.rlim_max
        );
        limit.rlim_cur = limit.rlim_cur.max(needed);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// One scrape, to its end: whether it was answered (200, or 503 busy when the queue is full).
fn scrape(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn probes_answer_within_a_second_under_two_thousand_scrapers() {
    if !common::own_process() {
        return;
    }
    raise_file_limit(3 * SCRAPERS as u64 + 256);
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(temp_dir("probe-flood")))
        .init()
        .expect("init");
    let addr = guard.metrics_addr().expect("the exporter listens");
    // A scrape with some weight: 500 series.
    for i in 0..500 {
        moai_instrument::metrics::counter!("flood_series_total", "n" => i.to_string()).increment(1);
    }
    assert_eq!(http(addr, "GET", "/readyz", &[]).0, 200);

    let stop = Arc::new(AtomicBool::new(false));
    // The scrapers end when the test does, pass or fail.
    let _stop_on_exit = StopOnDrop(Arc::clone(&stop));
    let answered = Arc::new(AtomicU64::new(0));
    let scrapers: Vec<_> = (0..SCRAPERS)
        .map(|_| {
            let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if scrape(addr).is_some() {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .expect("a scraper thread")
        })
        .collect();

    // Probes every 100 ms for 8 s, each timed from connect to the end of the answer.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut probes = 0;
    while started.elapsed() < Duration::from_secs(8) {
        for path in ["/livez", "/readyz"] {
            let asked = Instant::now();
            let (status, _, body) = http(addr, "GET", path, &[]);
            let took = asked.elapsed();
            assert_eq!(status, 200, "{path} under the flood: {body}");
            slowest = slowest.max(took);
            probes += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for scraper in scrapers {
        scraper.join().expect("a scraper");
    }
    assert!(
        slowest < Duration::from_secs(1),
        "the slowest of {probes} probes took {slowest:?}"
    );
    assert!(probes >= 20, "only {probes} probes in 8 s");
    assert!(
        answered.load(Ordering::Relaxed) >= SCRAPERS as u64,
        "the scrapers were answered {} times",
        answered.load(Ordering::Relaxed)
    );
    println!(
        "{probes} probes under {SCRAPERS} scrapers: slowest {slowest:?}; {} scrapes answered",
        answered.load(Ordering::Relaxed)
    );
}
