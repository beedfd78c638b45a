//! Receivers for the alert chain test, on loopback: an HTTP sink that takes the Slack webhook's
//! POSTs, and an SMTP sink that takes the email route's messages. Each keeps what it received and
//! stops its thread when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A loopback server that hands each connection to a handler and keeps what it returns.
pub struct Sink {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sink {
    fn start(handle: impl Fn(TcpStream) -> std::io::Result<Vec<String>> + Send + 'static) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, stopped) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                if let Ok(items) = handle(stream) {
                    kept.lock().unwrap().extend(items);
                }
            }
        });
        Sink {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// An HTTP server answering every POST with 200 `ok`; it keeps each request's body.
    pub fn http() -> Sink {
        Sink::start(|stream| {
            let (_, body, mut stream) = read_request(stream)?;
            stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            )?;
            Ok(vec![body])
        })
    }

    /// A stand-in for Grafana's HTTP API (no Grafana package exists in Debian): `/api/health`
    /// answers as Grafana does, `/api/datasources` with `datasources` (a JSON array), anything
    /// else 404. It keeps each request's path.
    pub fn grafana(datasources: &str) -> Sink {
        let datasources = datasources.to_owned();
        Sink::start(move |stream| {
            let (path, _, mut stream) = read_request(stream)?;
            let (status, body) = match path.as_str() {
                "/api/health" => (
                    "200 OK",
                    r#"{"commit":"stand-in","database":"ok","version":"10.4.0"}"#.to_owned(),
                ),
                "/api/datasources" => ("200 OK", datasources.clone()),
                _ => ("404 Not Found", r#"{"message":"Not found"}"#.to_owned()),
            };
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )?;
            Ok(vec![path])
        })
    }

    /// An SMTP server (RFC 5321's minimal command set, no TLS, no AUTH) accepting every message;
    /// it keeps each message's DATA, headers and body.
    pub fn smtp() -> Sink {
        Sink::start(|stream| {
            let mut writer = stream.try_clone()?;
            let mut reader = BufReader::new(stream);
            let mut messages = Vec::new();
            writer.write_all(b"220 sink.test ESMTP\r\n")?;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(messages);
                }
                let verb = line.trim_end().to_ascii_uppercase();
                let reply: &[u8] = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                    b"250 sink.test\r\n"
                } else if verb == "DATA" {
                    writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                    let mut message = String::new();
                    loop {
                        let mut data = String::new();
                        if reader.read_line(&mut data)? == 0 {
                            return Ok(messages);
                        }
                        if data.trim_end_matches(['\r', '\n']) == "." {
                            break;
                        }
                        message.push_str(&data);
                    }
                    messages.push(message);
                    b"250 queued\r\n"
                } else if verb == "QUIT" {
                    writer.write_all(b"221 bye\r\n")?;
                    return Ok(messages);
                } else {
                    // MAIL FROM, RCPT TO, RSET, NOOP: accepted.
                    b"250 ok\r\n"
                };
                writer.write_all(reply)?;
            }
        })
    }

    /// `host:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request: its path, its body (by Content-Length), and the stream to answer.
fn read_request(stream: TcpStream) -> std::io::Result<(String, String, TcpStream)> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((
        path,
        String::from_utf8_lossy(&body).into_owned(),
        reader.into_inner(),
    ))
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Decodes a quoted-printable email body (RFC 2045): soft line breaks and `=XX` escapes.
pub fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if bytes[i] == b'='
            && let Some(byte) = escaped
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
