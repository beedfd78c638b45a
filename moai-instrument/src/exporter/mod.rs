//! The embedded exporter: `/metrics`, `/livez`, `/readyz` and `/healthz` on one port, and
//! [`Routes`], the same endpoints for a host's own router.
//!
//! Plain threads, not an async runtime: it works the same in hosts with no runtime and inside a
//! tokio one, and rendering never runs on the host's async workers. One thread accepts and reads
//! every request head with `poll(2)` (`reader`); a fixed pool of workers answers, one request per
//! connection. When every worker is busy and the queue is full, new requests get a quick 503
//! instead of piling up, so memory and threads stay bounded whatever clients do.

mod http;
mod reader;
mod routes;

pub(crate) use http::parse_head;
pub use routes::Routes;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use ::http::StatusCode;
use http::HeadError;

use crate::error::InitError;

const WORKERS: usize = 4;
/// Requests waiting for a worker; more get a quick 503.
const QUEUE: usize = 256;
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Exporter {
    addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Exporter {
    pub(crate) fn start(listener: TcpListener, routes: Routes) -> Result<Exporter, InitError> {
        let addr = listener
            .local_addr()
            .map_err(|source| InitError::bind("the bound socket", source))?;
        let mut exporter = Exporter {
            addr,
            shutdown: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        let routes = Arc::new(routes);
        let (jobs, waiting) = sync_channel::<reader::Job>(QUEUE);
        let waiting = Arc::new(Mutex::new(waiting));
        for n in 0..WORKERS {
            let (routes, waiting) = (Arc::clone(&routes), Arc::clone(&waiting));
            exporter.spawn(format!("moai-exporter-{n}"), move || {
                work(&waiting, &routes)
            })?;
        }
        let shutdown = Arc::clone(&exporter.shutdown);
        // Dropping the listener frees the port; dropping `jobs` ends the workers.
        exporter.spawn("moai-exporter-accept".into(), move || {
            reader::run(listener, jobs, shutdown)
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

fn work(waiting: &Mutex<Receiver<reader::Job>>, routes: &Routes) {
    loop {
        let next = waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok((mut stream, head)) = next else { return };
        // The reader used non-blocking reads; the answer is written with a plain time limit.
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let (response, head_only) = match head {
            Ok(request) => (
                routes.handle(&request),
                request.method() == ::http::Method::HEAD,
            ),
            Err(HeadError::TooLarge) => (
                routes::text(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "request head too large\n",
                ),
                false,
            ),
            Err(HeadError::TimedOut) => (
                routes::text(StatusCode::REQUEST_TIMEOUT, "request head too slow\n"),
                false,
            ),
            Err(HeadError::Malformed) => (
                routes::text(StatusCode::BAD_REQUEST, "malformed request\n"),
                false,
            ),
        };
        let _ = http::write_response(&mut stream, &response, head_only);
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
}
