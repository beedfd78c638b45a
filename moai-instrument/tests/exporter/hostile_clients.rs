//! Clients that misbehave cannot take the exporter down or starve a scrape: idle connections,
//! a megabyte of headers, garbage, HTTP/1.0, pipelining, clients that leave mid-response, and
//! slow heads, which are cut off after the time limit. Threads and memory stay bounded.

use moai_test_support as common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{http, resident_mb, temp_dir, thread_count};
use moai_instrument::{Config, Guard};

fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may close before reading everything (e.g. past the head limit): that is fine.
    let _ = stream.write_all(bytes);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn scrape_ok(addr: SocketAddr) {
    let started = Instant::now();
    let (status, _, body) = http(addr, "GET", "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(body.contains("moai_flow_build_info"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a scrape took {:?}",
        started.elapsed()
    );
}

fn start() -> Guard {
    Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(temp_dir("hostile")))
        .init()
        .expect("init")
}

#[test]
fn the_exporter_survives_hostile_clients() {
    if !common::own_process() {
        return;
    }
    let guard = start();
    let addr = guard.metrics_addr().expect("the exporter listens");
    scrape_ok(addr);
    // The first round of health checks has finished (its check threads end with it).
    assert_eq!(http(addr, "GET", "/healthz", &[]).0, 200);
    let threads_before = thread_count();
    let memory_before = resident_mb();

    // 500 idle connections: each costs a buffer, not a thread; scrapes go on.
    let idle: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    scrape_ok(addr);

    // A megabyte of headers: refused (431), the exporter stays up.
    let mut huge = b"GET /metrics HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..16_384 {
        huge.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(50)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    assert!(huge.len() > 1_000_000);
    let answer = raw(addr, &huge);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    scrape_ok(addr);

    // Garbage, a TLS hello, HTTP/1.0, and two pipelined requests.
    assert!(raw(addr, b"\x00\x01\x02garbage\xff\xfe\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(
        raw(
            addr,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"
        )
        .starts_with("HTTP/1.1 400")
    );
    let old = raw(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
    assert!(
        old.starts_with("HTTP/1.1 200") && old.contains("moai_flow_build_info"),
        "{old}"
    );
    let pipelined = raw(
        addr,
        b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(pipelined.starts_with("HTTP/1.1 200"), "{pipelined}");
    assert_eq!(
        pipelined.matches("HTTP/1.1 ").count(),
        1,
        "one answer, then Connection: close"
    );

    // Clients that leave before reading the answer.
    for _ in 0..50 {
        let mut stream = TcpStream::connect(addr).unwrap();
        let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        drop(stream);
    }
    scrape_ok(addr);

    // A slow client is cut off at the head time limit (5 s) with 408.
    let started = Instant::now();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = Vec::new();
    for byte in b"GET /metrics HTTP/1.1\r\n" {
        if slow.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(400));
        if started.elapsed() > Duration::from_secs(7) {
            break;
        }
    }
    let _ = slow.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(10),
        "cut off after {took:?}"
    );

    // The idle connections were closed by the same limit.
    for mut stream in idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        assert!(buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"));
    }
    scrape_ok(addr);
    // Check threads come and go with each health round; connections never add one.
    let threads_after = thread_count();
    assert!(
        threads_after <= threads_before,
        "no thread per connection: {threads_before} threads before, {threads_after} after"
    );
    let grown = resident_mb() - memory_before;
    assert!(grown < 32.0, "memory grew by {grown:.1} MB");
}
