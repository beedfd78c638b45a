//! One thread accepts connections and reads request heads from all of them at once with
//! `poll(2)`, so idle or slow clients cost a buffer each, not a thread: 500 idle connections
//! cannot starve a scrape. A complete head goes to the workers (probes to their own queue, so
//! that no number of scrapers delays `/livez` or `/readyz`); a head that is too large, too slow
//! or garbage is answered here and the connection closed. Past [`MAX_PENDING`] connections
//! waiting for their head, the oldest is closed to make room: a flood of idle connections
//! cannot keep a new probe out. A connection kept alive comes back here from its worker and
//! waits for its next request like a new one ([`IDLE_TIMEOUT`] for the first byte, then the usual
//! head deadline); idle ones are the first closed when too many wait. With TLS on (`MOAI_WEB_CONFIG`), the handshake runs in the same
//! loop (`conn.rs`), under the same deadline; each accepted connection takes the web config as it
//! is then, so a new certificate serves the next connection.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::http::{self, HEAD_TIMEOUT, HeadError, MAX_HEAD_BYTES, Request};
use super::web_config::WebConfigWatch;

/// Connections waiting for their head at once; past it the oldest is closed.
pub(crate) const MAX_PENDING: usize = 1024;
/// How often the loop wakes without traffic, to expire slow heads and see the shutdown flag.
const TICK: Duration = Duration::from_millis(100);

/// A request ready for a worker (or a head error to answer).
pub(crate) struct Job {
    pub(crate) conn: Conn,
    pub(crate) head: Result<Request, HeadError>,
    /// When the head arrived: a probe's deadline runs from here.
    pub(crate) arrived: Instant,
    /// Whether the connection may carry another request after this one (HTTP/1.1 without
    /// `Connection: close`, no body, nothing sent ahead).
    pub(crate) keep_alive: bool,
}

/// Where workers hand back a kept-alive connection after answering, and how they wake the
/// reader to wait for its next request.
pub(crate) struct Returns {
    pub(crate) conns: Receiver<Conn>,
    pub(crate) wake: UnixStream,
}

/// How long a kept-alive connection may wait for its next request (longer than the one-minute
/// scrape intervals that are common; Go's servers keep idle connections as long).
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where complete heads go: liveness probes, readiness and health probes, and the rest
/// (scrapes, errors) each to workers of their own, so that no number of scrapes delays a probe
/// and readiness checks that wait out their deadline never delay `/livez`.
pub(crate) struct Queues {
    pub(crate) requests: SyncSender<Job>,
    pub(crate) readiness: SyncSender<Job>,
    pub(crate) liveness: SyncSender<Job>,
}

struct Pending {
    conn: Conn,
    head: Vec<u8>,
    deadline: Instant,
    /// A kept-alive connection that has not begun its next request: closed quietly at its
    /// deadline, and the first to go when too many connections wait.
    idle: bool,
    /// Bytes came after the head (a body, or a request sent ahead): the connection is closed
    /// after the answer rather than read from the middle of something.
    trailing: bool,
}

pub(crate) fn run(
    listener: TcpListener,
    queues: Queues,
    returns: Returns,
    web: Option<Arc<WebConfigWatch>>,
    shutdown: Arc<AtomicBool>,
) {
    if listener.set_nonblocking(true).is_err() || returns.wake.set_nonblocking(true).is_err() {
        return;
    }
    let mut pending: Vec<Pending> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut exhausted = Exhausted::default();
    while !shutdown.load(Ordering::Acquire) {
        fds.clear();
        // While accepting is paused the listener is left out of the poll (a negative fd is
        // ignored): a connection waiting in the backlog would wake it at once, again and again.
        let listening = exhausted.paused_until.is_none_or(|t| Instant::now() >= t);
        fds.push(pollfd(
            if listening { listener.as_raw_fd() } else { -1 },
            libc::POLLIN,
        ));
        fds.push(pollfd(returns.wake.as_raw_fd(), libc::POLLIN));
        fds.extend(
            pending
                .iter()
                .map(|p| pollfd(p.conn.fd(), p.conn.poll_events())),
        );
        let now = Instant::now();
        let wait = pending
            .iter()
            .map(|p| p.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(TICK)
            .min(TICK);
        // SAFETY: `fds` is a valid, initialized array of `fds.len()` pollfd structs that lives
        // across the call; `poll` only writes their `revents` fields.
        let ready = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis() as libc::c_int,
            )
        };
        if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
        // Read what arrived; `fds[i + 2]` belongs to `pending[i]`.
        let now = Instant::now();
        let mut finished = Vec::new();
        for (i, conn) in pending.iter_mut().enumerate() {
            let outcome = if fds[i + 2].revents != 0 {
                read_more(conn)
            } else {
                None
            };
            if outcome.is_none() && conn.idle && !conn.head.is_empty() {
                // The next request has begun: its head gets the usual time.
                conn.idle = false;
                conn.deadline = now + HEAD_TIMEOUT;
            }
            let timed_out = if conn.idle {
                None // an idle connection ends quietly
            } else {
                Some(Err(HeadError::TimedOut))
            };
            let outcome = outcome.or_else(|| (now >= conn.deadline).then_some(timed_out));
            if let Some(outcome) = outcome {
                finished.push((i, outcome));
            }
        }
        // From the highest index down, so that `swap_remove` only moves connections not listed.
        for (i, outcome) in finished.into_iter().rev() {
            let conn = pending.swap_remove(i);
            if let Some(job) = outcome {
                dispatch(&queues, conn.conn, job, conn.trailing);
            }
        }
        if fds[1].revents != 0 {
            take_returned(&returns, &mut pending);
        }
        if fds[0].revents != 0
            && let Err(error) = accept_all(&listener, &mut pending, &queues, web.as_deref())
        {
            exhausted.back_off(&error);
        }
    }
}

/// The connections workers handed back: each waits for its next request.
fn take_returned(returns: &Returns, pending: &mut Vec<Pending>) {
    let mut drain = [0u8; 64];
    while matches!((&returns.wake).read(&mut drain), Ok(n) if n > 0) {}
    while let Ok(conn) = returns.conns.try_recv() {
        make_room(pending);
        pending.push(Pending {
            conn,
            head: Vec::new(),
            deadline: Instant::now() + IDLE_TIMEOUT,
            idle: true,
            trailing: false,
        });
    }
}

/// Past [`MAX_PENDING`] waiting connections, closes one: an idle kept-alive one first, else the
/// one waiting longest for its head. Memory stays bounded, and new clients still get in.
fn make_room(pending: &mut Vec<Pending>) {
    if pending.len() < MAX_PENDING {
        return;
    }
    if let Some(victim) = pending
        .iter()
        .enumerate()
        .min_by_key(|(_, p)| (!p.idle, p.deadline))
        .map(|(i, _)| i)
    {
        pending.swap_remove(victim);
    }
}

fn pollfd(fd: std::os::fd::RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Reads what the client sent. `None`: keep waiting; `Some(None)`: the client went away;
/// `Some(Some(job))`: a complete head or an error to answer.
fn read_more(conn: &mut Pending) -> Option<Option<Result<Request, HeadError>>> {
    if conn.conn.is_plain_text_on_tls() {
        return Some(Some(Err(HeadError::PlainTextOnTls)));
    }
    let mut chunk = [0u8; 4096];
    loop {
        match conn.conn.read(&mut chunk) {
            Ok(0) => return Some(None),
            Ok(n) => {
                let scan_from = conn.head.len().saturating_sub(3);
                conn.head.extend_from_slice(&chunk[..n]);
                if let Some(end) = http::find_head_end(&conn.head[scan_from..]) {
                    let head_end = scan_from + end;
                    let blank = if conn.head[head_end..].starts_with(b"\r\n\r\n") {
                        4
                    } else {
                        2
                    };
                    conn.trailing = conn.head.len() > head_end + blank;
                    return Some(Some(http::parse_head(&conn.head[..head_end])));
                }
                if conn.head.len() > MAX_HEAD_BYTES {
                    return Some(Some(Err(HeadError::TooLarge)));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(None),
        }
    }
}

/// Accepting failed for want of a resource (file descriptors, memory): the loop stops accepting
/// for a [`TICK`], counts it in `moai_instrument_resource_exhausted_total{resource}` and logs at
/// most once a minute, instead of spinning on a listener that stays readable.
#[derive(Default)]
struct Exhausted {
    paused_until: Option<Instant>,
    last_logged: Option<Instant>,
}

impl Exhausted {
    fn back_off(&mut self, error: &io::Error) {
        let now = Instant::now();
        self.paused_until = Some(now + TICK);
        let resource = match error.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => "file_descriptors",
            Some(libc::ENOMEM | libc::ENOBUFS) => "memory",
            _ => "other",
        };
        metrics::counter!(crate::catalog::RESOURCE_EXHAUSTED_TOTAL.name, "resource" => resource)
            .increment(1);
        if self
            .last_logged
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            self.last_logged = Some(now);
            tracing::error!(
                target: "moai_instrument::exporter",
                resource,
                error = error as &dyn std::error::Error,
                "The exporter cannot accept connections; retrying every 100 ms"
            );
        }
    }
}

/// Connections accepted in one round of the loop: past it the loop polls again, so a stream of
/// new connections never keeps it from the shutdown flag and the waiting heads.
const ACCEPT_PER_ROUND: usize = 256;

/// Accepts what waits (up to [`ACCEPT_PER_ROUND`]). A head that has already arrived (a probe
/// or a scrape sends it with the connection) is dispatched at once; only connections still
/// waiting for theirs join `pending`.
fn accept_all(
    listener: &TcpListener,
    pending: &mut Vec<Pending>,
    queues: &Queues,
    web: Option<&WebConfigWatch>,
) -> io::Result<()> {
    for _ in 0..ACCEPT_PER_ROUND {
        match listener.accept() {
            Ok((stream, _)) => {
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                // The web config as it is now, for each connection: a handshake answered within
                // this round may have let a client change the files and connect again.
                let tls = web.and_then(|web| web.current().tls.clone());
                let Some(conn) = Conn::new(stream, tls.as_ref()) else {
                    continue;
                };
                let mut conn = Pending {
                    conn,
                    head: Vec::new(),
                    deadline: Instant::now() + HEAD_TIMEOUT,
                    idle: false,
                    trailing: false,
                };
                match read_more(&mut conn) {
                    Some(Some(job)) => dispatch(queues, conn.conn, job, conn.trailing),
                    Some(None) => {}
                    None => {
                        make_room(pending);
                        pending.push(conn);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            // Out of file descriptors or memory, or a connection reset before it was accepted.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Hands a complete head to its queue: probes to the probe workers, the rest to the workers.
/// A head in error (too large, too slow, garbage) is answered here at once: a few bytes that
/// fit the socket's buffer, so that a burst of them (500 idle connections timing out together)
/// never fills the workers' queue.
fn dispatch(queues: &Queues, stream: Conn, job: Result<Request, HeadError>, trailing: bool) {
    let (queue, keep_alive) = match job {
        Err(error) => return answer_now(stream, error),
        Ok(ref request) => (
            match request.uri().path() {
                "/livez" => &queues.liveness,
                "/readyz" | "/healthz" => &queues.readiness,
                _ => &queues.requests,
            },
            !trailing && http::wants_keep_alive(request),
        ),
    };
    send(
        queue,
        Job {
            conn: stream,
            head: job,
            arrived: Instant::now(),
            keep_alive,
        },
    );
}

fn answer_now(mut stream: Conn, error: HeadError) {
    use ::http::StatusCode;
    let (status, text) = match error {
        // In plain text, which is what the client speaks (as Go's servers answer it).
        HeadError::PlainTextOnTls => {
            let mut out = Vec::new();
            let plain = super::routes::text(
                StatusCode::BAD_REQUEST,
                "client sent an HTTP request to an HTTPS server\n",
            );
            let _ = http::write_response(&mut out, &plain, false, false);
            let mut tcp = stream.tcp();
            let _ = tcp.write(&out);
            let _ = tcp.shutdown(std::net::Shutdown::Write);
            return;
        }
        HeadError::TooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request head too large\n",
        ),
        HeadError::TimedOut => (StatusCode::REQUEST_TIMEOUT, "request head too slow\n"),
        HeadError::Malformed => (StatusCode::BAD_REQUEST, "malformed request\n"),
    };
    let mut out = Vec::new();
    let _ = http::write_response(&mut out, &super::routes::text(status, text), false, false);
    // A TLS session still in its handshake cannot carry an answer: it is only closed.
    if !stream.is_tls() || matches!(error, HeadError::TooLarge | HeadError::Malformed) {
        let _ = stream.write(&out);
        let _ = stream.flush();
    }
    stream.close();
}

fn send(jobs: &SyncSender<Job>, job: Job) {
    match jobs.try_send(job) {
        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        // Every worker busy and the queue full: say so without waiting on this client.
        Err(TrySendError::Full(Job {
            conn: mut stream, ..
        })) => {
            let mut out = Vec::new();
            let busy = super::routes::text(::http::StatusCode::SERVICE_UNAVAILABLE, "busy\n");
            let _ = http::write_response(&mut out, &busy, false, false);
            let _ = stream.write(&out);
            let _ = stream.flush();
            stream.close();
        }
    }
}
