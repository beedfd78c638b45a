//! Just enough HTTP/1.x for scrapers and probes: a `GET` request line and headers read under a
//! size and time limit, and a complete response with `Connection: close`.
//!
//! Hand-written rather than an HTTP server crate: the exporter lives inside the host's process,
//! where an async runtime or a thread per connection is not ours to add, and its one reader
//! thread polls every connection's head at once (`reader.rs`), so 500 idle or slow clients cannot
//! starve a scrape (`tests/hostile_clients.rs`). A request head is all it parses; the fuzz target
//! `request_head` checks that it never panics.

use std::io::{self, Write};
use std::time::Duration;

/// A request head may not exceed this; a larger one is answered 431.
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;
/// The whole head must arrive within this; a slower client is cut off (408).
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    TooLarge,
    TimedOut,
    Malformed,
}

/// Where the head ends (the blank line), if it has arrived.
pub(crate) fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| bytes.windows(2).position(|w| w == b"\n\n"))
}

pub(crate) fn parse_head(head: &[u8]) -> Result<Request, HeadError> {
    if head.len() > MAX_HEAD_BYTES {
        return Err(HeadError::TooLarge);
    }
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let request_line = lines.next().ok_or(HeadError::Malformed)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed);
    };
    let valid_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !valid_method || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(HeadError::Malformed);
    }
    let mut authorization = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HeadError::Malformed)?;
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.trim().to_owned());
        }
    }
    let path = target.split(['?', '#']).next().unwrap_or(target).to_owned();
    Ok(Request {
        method: method.to_owned(),
        path,
        authorization,
    })
}

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) extra_headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            extra_headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra_headers.push((name, value.into()));
        self
    }

    /// Writes the response; for `HEAD` the headers only.
    pub(crate) fn write_to(&self, stream: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.extra_headers {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        stream.write_all(out.as_bytes())?;
        if !head_only {
            stream.write_all(&self.body)?;
        }
        stream.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Compares a presented credential with the expected one in time that depends only on their
/// lengths, so response timing reveals nothing about how much of a guess was right. `subtle`'s
/// `ct_eq` (not a hand-written loop, which the optimiser may turn back into an early exit); a
/// length mismatch answers at once, which reveals only the token's length.
pub(crate) fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    presented.ct_eq(expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_line_path_and_authorization() {
        let head = b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nauthorization:  Bearer s3cret \r\n";
        let request = parse_head(head).unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/metrics");
        assert_eq!(request.authorization.as_deref(), Some("Bearer s3cret"));
        assert_eq!(parse_head(b"GET /livez HTTP/1.0").unwrap().path, "/livez");
    }

    #[test]
    fn rejects_garbage() {
        for head in [
            &b"\x00\xff\xfe"[..],
            b"GET",
            b"get / HTTP/1.1",
            b"GET metrics HTTP/1.1",
            b"GET / SPDY/3",
            b"GET / HTTP/1.1\r\nno colon",
        ] {
            assert_eq!(parse_head(head), Err(HeadError::Malformed), "{head:?}");
        }
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"Bearer abc", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abd", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer ab", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abcd", b"Bearer abc"));
        assert!(!constant_time_eq(b"", b"Bearer abc"));
    }
}
