//! Temp directories, free ports, polling, and child processes that end when the test does.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A fresh, empty directory under the system temp dir, named for the test and this process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moai-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A [`temp_dir`] removed with everything in it when dropped: for benchmarks, whose runs would
/// otherwise leave a database each behind (tests keep theirs for inspection after a failure).
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A fresh, empty directory named for `name` and this process.
    pub fn new(name: &str) -> ScratchDir {
        ScratchDir(temp_dir(name))
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// Polls `probe` every 250 ms until it returns `Some`, failing after `limit` with `what`.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A child process that is killed (by its PID) and reaped when dropped, whatever the test's
/// outcome.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
