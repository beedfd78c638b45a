//! Just enough HTTP/1.x for scrapers and probes: a request line and headers read under a size and
//! time limit into an `http::Request`, and an `http::Response` written whole, the connection kept
//! alive for the next request when the client asks for that (HTTP/1.1's default).
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

/// A parsed request head: the `http` crate's request with no body.
pub(crate) type Request = http::Request<()>;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    TooLarge,
    TimedOut,
    Malformed,
    /// Plain text on a TLS port: an `http://` request to an `https://` exporter.
    PlainTextOnTls,
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
    let mut request =
        http::Request::builder()
            .method(method)
            .uri(target)
            .version(if version == "HTTP/1.0" {
                http::Version::HTTP_10
            } else {
                http::Version::HTTP_11
            });
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HeadError::Malformed)?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| HeadError::Malformed)?;
        let value = http::HeaderValue::from_str(value.trim()).map_err(|_| HeadError::Malformed)?;
        request = request.header(name, value);
    }
    request.body(()).map_err(|_| HeadError::Malformed)
}

/// Whether the client lets the connection carry another request after this one: HTTP/1.1 unless
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`; never after a request with
/// a body (the exporter reads none).
pub(crate) fn wants_keep_alive(request: &Request) -> bool {
    let headers = request.headers();
    if headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
    {
        return false;
    }
    let says = |token: &str| {
        headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    match request.version() {
        http::Version::HTTP_10 => says("keep-alive"),
        _ => !says("close"),
    }
}

/// Writes `response` as HTTP/1.1, with `Connection: keep-alive` or `close`; for `HEAD` the
/// headers only.
pub(crate) fn write_response(
    stream: &mut impl Write,
    response: &http::Response<Vec<u8>>,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let status = response.status();
    // A HEAD answer carries the GET's length without its body.
    let length = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(response.body().len());
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Unknown"),
        length,
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (name, value) in response.headers() {
        if name == http::header::CONTENT_LENGTH || name == http::header::CONNECTION {
            continue;
        }
        push_title_case(&mut out, name.as_str());
        out.push_str(": ");
        out.push_str(&String::from_utf8_lossy(value.as_bytes()));
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())?;
    if !head_only {
        stream.write_all(response.body())?;
    }
    stream.flush()
}

/// Appends a header name as HTTP/1.1 peers usually write it, `Content-Type` (the `http` crate
/// keeps names in lower case; they are case-insensitive, but people and some tools read them).
fn push_title_case(out: &mut String, name: &str) {
    if name == "www-authenticate" {
        out.push_str("WWW-Authenticate");
        return;
    }
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
}

/// The credentials of an `Authorization` value (`presented`) in `scheme` (lower case, e.g.
/// `bearer`), the scheme matched in any case (RFC 9110) and the credentials trimmed; `None` for
/// another scheme.
pub(crate) fn credentials<'a>(presented: &'a [u8], scheme: &str) -> Option<&'a [u8]> {
    let (given, rest) = presented.split_at_checked(scheme.len())?;
    let rest = rest.strip_prefix(b" ")?;
    given
        .eq_ignore_ascii_case(scheme.as_bytes())
        .then(|| rest.trim_ascii())
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
        assert_eq!(request.method(), "GET");
        assert_eq!(request.uri().path(), "/metrics");
        assert_eq!(
            request.headers()[http::header::AUTHORIZATION],
            "Bearer s3cret"
        );
        let old = parse_head(b"GET /livez HTTP/1.0").unwrap();
        assert_eq!(old.uri().path(), "/livez");
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
            assert_eq!(
                parse_head(head).map(drop),
                Err(HeadError::Malformed),
                "{head:?}"
            );
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
