//! Plain HTTP/1.1 on loopback, one request per fresh connection, as a scraper or a kubelet asks.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One request: `(status, head, body)`. Panics (fails the test) when the server does not answer
/// with a complete response within 10 s.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let response = exchange(&addr.to_string(), method, path, headers)
        .unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    (status_of(head), head.to_owned(), body.to_owned())
}

/// `GET path` on `addr` (`host:port`): `(status, body)`, or the connection's error (for polling
/// a server that may not be up yet).
pub fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let response = exchange(addr, "GET", path, &[])?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((status_of(head), body.to_owned()))
}

fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8(response).map_err(std::io::Error::other)?;
    Ok(dechunked(response))
}

/// The response with a `Transfer-Encoding: chunked` body (Go's servers send one for a large
/// answer to HTTP/1.1) joined into a plain one; any other response as it is.
fn dechunked(response: String) -> String {
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return response;
    };
    let chunked = head.lines().any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("transfer-encoding:") && lower.contains("chunked")
    });
    if !chunked {
        return response;
    }
    let mut joined = String::with_capacity(body.len());
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16);
        let Ok(size) = size else { break };
        if size == 0 || after.len() < size {
            break;
        }
        joined.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    format!("{head}\r\n\r\n{joined}")
}

/// The status code of a response head; 0 when it has none.
fn status_of(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Percent-encodes a query string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6\r\npedia \r\n0\r\n\r\n";
        assert_eq!(
            dechunked(response.to_owned()),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nWikipedia "
        );
        let plain = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_owned();
        assert_eq!(dechunked(plain.clone()), plain);
    }
}
