//! A client's connection, plain or TLS, as the reader and the workers use it.
//!
//! TLS is rustls driven by hand (`read_tls` / `process_new_packets` / `write_tls`) on the
//! reader's non-blocking socket: a handshake is a few more round trips in the same `poll(2)`
//! loop, under the same head deadline and size limit as a plain request, so a client that stalls
//! mid-handshake costs a buffer, not a thread. Once the head is in, a worker writes the answer
//! through the same session in blocking mode, with a time limit.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

/// A TLS record that starts a handshake begins with this byte.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsConn>),
}

pub(crate) struct TlsConn {
    tcp: TcpStream,
    tls: rustls::ServerConnection,
    /// Whether the first byte was seen to be TLS (a plain HTTP request is answered in words).
    first_byte_checked: bool,
}

impl Conn {
    /// A new connection; TLS when `tls` is given. `None` when rustls cannot start a session.
    pub(crate) fn new(tcp: TcpStream, tls: Option<&Arc<rustls::ServerConfig>>) -> Option<Conn> {
        match tls {
            None => Some(Conn::Plain(tcp)),
            Some(config) => {
                let tls = rustls::ServerConnection::new(Arc::clone(config)).ok()?;
                Some(Conn::Tls(Box::new(TlsConn {
                    tcp,
                    tls,
                    first_byte_checked: false,
                })))
            }
        }
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(tcp) => tcp,
            Conn::Tls(conn) => &conn.tcp,
        }
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }

    /// The `poll(2)` events to wait for: input, and output while handshake bytes wait to go out
    /// (the socket's buffer was full).
    pub(crate) fn poll_events(&self) -> libc::c_short {
        match self {
            Conn::Tls(conn) if conn.tls.wants_write() => libc::POLLIN | libc::POLLOUT,
            _ => libc::POLLIN,
        }
    }

    /// Whether a TLS connection's client began with plain text instead of a handshake: an HTTP
    /// request sent to the TLS port. `false` while nothing has arrived.
    pub(crate) fn is_plain_text_on_tls(&mut self) -> bool {
        let Conn::Tls(conn) = self else { return false };
        if conn.first_byte_checked {
            return false;
        }
        let mut first = [0u8; 1];
        match conn.tcp.peek(&mut first) {
            Ok(1) => {
                conn.first_byte_checked = true;
                first[0] != TLS_HANDSHAKE_RECORD && first[0].is_ascii_alphabetic()
            }
            _ => false,
        }
    }

    /// Whether this connection is TLS.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }

    /// Sends what TLS has to send (handshake messages, alerts) without waiting.
    fn flush_tls(conn: &mut TlsConn) -> io::Result<()> {
        while conn.tls.wants_write() {
            match conn.tls.write_tls(&mut conn.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ends the connection after an answer: TLS's `close_notify`, then no more writing.
    pub(crate) fn close(mut self) {
        if let Conn::Tls(conn) = &mut self {
            conn.tls.send_close_notify();
            let _ = Conn::flush_tls(conn);
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Write);
    }
}

/// Plain bytes in: for TLS, what was decrypted, driving the handshake on the way. On the
/// reader's non-blocking socket, `WouldBlock` means "nothing more yet".
impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let conn = match self {
            Conn::Plain(tcp) => return tcp.read(buf),
            Conn::Tls(conn) => conn,
        };
        loop {
            match conn.tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            Conn::flush_tls(conn)?;
            if conn.tls.read_tls(&mut conn.tcp)? == 0 {
                return Ok(0);
            }
            if let Err(error) = conn.tls.process_new_packets() {
                // The alert that says why, if the socket takes it.
                let _ = Conn::flush_tls(conn);
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
            Conn::flush_tls(conn)?;
        }
    }
}

/// Plain bytes out: for TLS, encrypted on the way.
impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.write(buf),
            Conn::Tls(conn) => rustls::Stream::new(&mut conn.tls, &mut conn.tcp).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(tcp) => tcp.flush(),
            Conn::Tls(conn) => rustls::Stream::new(&mut conn.tls, &mut conn.tcp).flush(),
        }
    }
}
