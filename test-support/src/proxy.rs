//! A TCP proxy on loopback between a client and a server, for network faults: it forwards as
//! is, adds a delay to every chunk, or drops everything (a partition: connections stay open,
//! nothing gets through, no reset). Its threads and sockets end when it is dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with the bytes it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Forwards at once.
    Up,
    /// Forwards each chunk after this delay (each way).
    Delayed(Duration),
    /// Forwards nothing and closes nothing.
    Dropped,
}

struct State {
    /// 0: up; u64::MAX: dropped; else the delay in microseconds.
    link: AtomicU64,
    stop: AtomicBool,
    sockets: Mutex<Vec<TcpStream>>,
}

/// A running proxy to one server.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(State {
            link: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            sockets: Mutex::new(Vec::new()),
        });
        let shared = Arc::clone(&state);
        let accept = std::thread::spawn(move || {
            while !shared.stop.load(Ordering::Acquire) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let mut sockets = shared.sockets.lock().unwrap();
                // A partition lets the connection open (the proxy's kernel answers) and then
                // carries nothing: held here, never forwarded.
                if shared.link.load(Ordering::Acquire) == u64::MAX {
                    sockets.push(client);
                    continue;
                }
                // A server that is down is a refused upstream: the client is closed.
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (from, to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    let state = Arc::clone(&shared);
                    std::thread::spawn(move || pump(from, to, &state));
                }
                sockets.push(client);
                sockets.push(server);
            }
        });
        Proxy {
            addr,
            state,
            accept: Some(accept),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes what the link does, for the connections open and those to come.
    pub fn set(&self, link: Link) {
        let value = match link {
            Link::Up => 0,
            Link::Delayed(d) => (d.as_micros() as u64).clamp(1, u64::MAX - 1),
            Link::Dropped => u64::MAX,
        };
        self.state.link.store(value, Ordering::Release);
    }

    /// Closes every connection through the proxy (both sides), as a restarted middlebox would.
    pub fn reset_connections(&self) {
        for socket in self.state.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, state: &State) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match state.link.load(Ordering::Acquire) {
            0 => {}
            u64::MAX => continue,
            micros => std::thread::sleep(Duration::from_micros(micros)),
        }
        // Dropped while this chunk waited: it is lost too.
        if state.link.load(Ordering::Acquire) == u64::MAX {
            continue;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
        self.reset_connections();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}
