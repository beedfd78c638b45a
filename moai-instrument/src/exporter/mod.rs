//! The embedded exporter: `/metrics`, `/livez`, `/readyz` and `/healthz` on one port, and
//! [`Routes`], the same endpoints for a host's own router.
//!
//! Plain threads, not an async runtime: it works the same in hosts with no runtime and inside a
//! tokio one, and rendering never runs on the host's async workers. One thread accepts and reads
//! every request head with `poll(2)` (`reader`); a fixed pool of workers answers, then hands a
//! kept-alive connection back to the reader for its next request; probes have workers and queues of their own (`/readyz` and `/healthz`; `/livez`
//! apart from those), so that probes never wait behind scrapes, nor liveness behind readiness
//! checks that wait out their deadline. A probe's deadline runs from its arrival. When every worker is busy and its queue
//! is full, new requests get a quick 503 instead of piling up, so memory and threads stay
//! bounded whatever clients do.

mod conn;
mod http;
mod reader;
mod routes;
pub mod web_config;

pub(crate) use http::parse_head;
pub use routes::Routes;

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::InitError;
use crate::health::check_set::DEADLINE;
use conn::Conn;
use web_config::WebConfigWatch;

const WORKERS: usize = 4;
/// Requests waiting for a worker; more get a quick 503.
const QUEUE: usize = 256;
/// Readiness and health probe workers: they mostly wait for the shared check results.
const READINESS_WORKERS: usize = 4;
/// Liveness probe workers.
const LIVENESS_WORKERS: usize = 2;
/// Probes waiting for a probe worker, per queue; more get a quick 503.
const PROBE_QUEUE: usize = 64;
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Exporter {
    addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Exporter {
    pub(crate) fn start(
        listener: TcpListener,
        routes: Routes,
        web: Option<Arc<WebConfigWatch>>,
    ) -> Result<Exporter, InitError> {
        let addr = listener
            .local_addr()
            .map_err(|source| InitError::bind("the bound socket", source))?;
        let mut exporter = Exporter {
            addr,
            shutdown: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        raise_backlog(&listener);
        let routes = Arc::new(routes);
        let (requests, waiting) = sync_channel::<reader::Job>(QUEUE);
        let (readiness, waiting_readiness) = sync_channel::<reader::Job>(PROBE_QUEUE);
        let (liveness, waiting_liveness) = sync_channel::<reader::Job>(PROBE_QUEUE);
        let pools = [
            ("moai-exporter", WORKERS, waiting),
            ("moai-ready", READINESS_WORKERS, waiting_readiness),
            ("moai-live", LIVENESS_WORKERS, waiting_liveness),
        ];
        // Kept-alive connections go back to the reader, which a byte on this socket wakes.
        let (returned, returned_conns) = channel::<Conn>();
        let (wake_reader, reader_wakes) =
            UnixStream::pair().map_err(|source| InitError::Thread {
                name: "moai-exporter",
                source,
            })?;
        wake_reader
            .set_nonblocking(true)
            .map_err(|source| InitError::Thread {
                name: "moai-exporter",
                source,
            })?;
        for (name, count, queue) in pools {
            let queue = Arc::new(Mutex::new(queue));
            for n in 0..count {
                let (routes, queue) = (Arc::clone(&routes), Arc::clone(&queue));
                let back = HandBack {
                    conns: returned.clone(),
                    wake: wake_reader
                        .try_clone()
                        .map_err(|source| InitError::Thread {
                            name: "moai-exporter",
                            source,
                        })?,
                };
                exporter.spawn(format!("{name}-{n}"), move || work(&queue, &routes, &back))?;
            }
        }
        let returns = reader::Returns {
            conns: returned_conns,
            wake: reader_wakes,
        };
        let shutdown = Arc::clone(&exporter.shutdown);
        // Dropping the listener frees the port; dropping the queues ends the workers.
        let queues = reader::Queues {
            requests,
            readiness,
            liveness,
        };
        exporter.spawn("moai-exporter-accept".into(), move || {
            reader::run(listener, queues, returns, web, shutdown)
        })?;
        Ok(exporter)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn spawn(
        &mut self,
        name: String,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<(), InitError> {
        match std::thread::Builder::new().name(name).spawn(body) {
            Ok(handle) => {
                self.threads.push(handle);
                Ok(())
            }
            // `self` is dropped by the caller's `?`, which stops the threads already started.
            Err(source) => Err(InitError::Thread {
                name: "moai-exporter",
                source,
            }),
        }
    }

    /// Stops accepting, lets the workers finish their current request, and frees the port.
    fn stop(&mut self) {
        // The reader sees the flag within its tick, drops the listener and the job queue.
        self.shutdown.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Connections the kernel queues before the reader accepts them. The standard library listens
/// with 128: a burst of scrapers beyond that drops new connections (a probe's among them), whose
/// clients retry a second later. Listening again changes the queue's length; the kernel caps it
/// at `net.core.somaxconn`.
const BACKLOG: libc::c_int = 4096;

fn raise_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: `listen` on the listener's own, open socket; it changes only the queue length.
    // A failure leaves the queue as it was, which still works.
    let _ = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
}

fn work(waiting: &Mutex<Receiver<reader::Job>>, routes: &Routes, back: &HandBack) {
    loop {
        let next = waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = next else {
            return;
        };
        let mut stream = job.conn;
        // The reader used non-blocking reads; the answer is written with a plain time limit.
        let _ = stream.tcp().set_nonblocking(false);
        let _ = stream.tcp().set_write_timeout(Some(WRITE_TIMEOUT));
        // Heads in error are answered by the reader; what comes here parsed.
        let Ok(request) = job.head else { continue };
        let response = routes.handle_until(&request, job.arrived + DEADLINE);
        let head_only = request.method() == ::http::Method::HEAD;
        let written = http::write_response(&mut stream, &response, head_only, job.keep_alive);
        if job.keep_alive && written.is_ok() {
            back.hand_back(stream);
        } else {
            stream.close();
        }
    }
}

/// A worker's way back to the reader for a kept-alive connection.
struct HandBack {
    conns: Sender<Conn>,
    wake: UnixStream,
}

impl HandBack {
    /// Gives `conn` back to the reader to wait for its next request, and wakes the reader.
    fn hand_back(&self, conn: Conn) {
        if conn.tcp().set_nonblocking(true).is_err() {
            return conn.close();
        }
        match self.conns.send(conn) {
            // A full wake-up pipe means the reader is being woken already.
            Ok(()) => drop((&self.wake).write(&[1])),
            // The reader has stopped: nobody will read the next request.
            Err(returned) => returned.0.close(),
        }
    }
}
