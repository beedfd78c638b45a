//! Temp directories, free ports, polling, and child processes that end when the test does.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every file of `dir` read as text, one after another (a log directory with its rotated
/// files); empty when the directory cannot be read.
pub fn files_text(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .collect()
}

/// A fresh, empty directory under the system temp dir, named for the test and this process:
/// `moai-test-{name}-{pid}`. It outlives the test, for inspection after a failure, until the
/// same `name` is asked for again by a later process: directories of that name left by processes
/// that have ended are removed then, so repeated runs keep at most one per name.
pub fn temp_dir(name: &str) -> PathBuf {
    let prefix = format!("moai-test-{name}-");
    remove_left_over(&prefix);
    let dir = std::env::temp_dir().join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Removes the temp dir's `{prefix}{pid}` directories whose process has ended. Only an exact
/// `{prefix}{pid}` matches, so `db-` spares `db-faults-logs-…`. (A process in another PID
/// namespace that shares this temp dir looks ended; the tests do not run that way.)
fn remove_left_over(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && has_ended(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether no process `pid` exists: signal 0 answers `ESRCH` (`EPERM` means another user's).
fn has_ended(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    let answer = unsafe { libc::kill(pid, 0) };
    answer == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_keeps_one_directory_and_spares_longer_names_and_running_processes() {
        // Names of this process's own, so that concurrent runs do not share them.
        let name = format!("sweep{}", std::process::id());
        let root = std::env::temp_dir();
        let running = Reaped(
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("start sleep"),
        );
        // Above Linux's largest pid_max (2^22), so no process has it.
        let ended = root.join(format!("moai-test-{name}-4194305"));
        let longer = root.join(format!("moai-test-{name}-longer-4194305"));
        let alive = root.join(format!("moai-test-{name}-{}", running.0.id()));
        for dir in [&ended, &longer, &alive] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let dir = temp_dir(&name);
        assert!(dir.is_dir());
        assert!(!ended.exists(), "a directory of an ended process is left");
        assert!(longer.exists(), "another test's directory was removed");
        assert!(alive.exists(), "a running process's directory was removed");
        for dir in [&dir, &longer, &alive] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
