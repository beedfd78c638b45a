//! Connections kept alive between requests, as Prometheus keeps its scrape connection: several
//! requests on one connection, `Connection: close` and HTTP/1.0 honoured, and idle kept-alive
//! connections never keeping a new client out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use moai_test_support as common;

use common::temp_dir;
use moai_instrument::Config;

/// Reads one response from `reader`: status, head and body (by `Content-Length`).
fn response(reader: &mut BufReader<TcpStream>) -> (u16, String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the connection closed: {head}"
        );
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

#[test]
fn one_connection_carries_several_requests_until_the_client_closes_it() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(temp_dir("keep-alive")))
        .init()
        .unwrap();
    let addr = guard.metrics_addr().unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for path in ["/livez", "/metrics", "/readyz", "/metrics"] {
        write!(writer, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let (status, head, body) = response(&mut reader);
        assert_eq!(status, 200, "{path}: {head}{body}");
        assert!(head.contains("Connection: keep-alive"), "{head}");
    }
    // `Connection: close`: answered, then closed.
    write!(
        writer,
        "GET /livez HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (status, head, _) = response(&mut reader);
    assert_eq!(status, 200);
    assert!(head.contains("Connection: close"), "{head}");
    let mut rest = Vec::new();
    assert_eq!(
        reader.read_to_end(&mut rest).unwrap(),
        0,
        "closed after the answer"
    );

    // HTTP/1.0 closes unless it asks for keep-alive.
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (&stream).write_all(b"GET /livez HTTP/1.0\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let (_, head, _) = response(&mut reader);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn idle_kept_alive_connections_never_keep_a_new_client_out() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(temp_dir("keep-alive-idle")))
        .init()
        .unwrap();
    let addr = guard.metrics_addr().unwrap();
    // More idle kept-alive connections than the reader keeps waiting (1,024).
    let idle: Vec<BufReader<TcpStream>> = (0..1_100)
        .map(|_| {
            let stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            (&stream)
                .write_all(b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            let mut reader = BufReader::new(stream);
            assert_eq!(response(&mut reader).0, 200);
            reader
        })
        .collect();
    let started = std::time::Instant::now();
    let (status, body) = common::get(&addr.to_string(), "/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(idle);
}
