//! A real PostgreSQL server for a test: `initdb` and `pg_ctl` of Debian's `postgresql` package in
//! a temporary directory, listening on a free loopback port only, stopped and removed when the
//! guard drops, pass or fail. The server refuses to run as root: when the tests run as root it
//! runs as the unprivileged user `moai-pg` (`MOAI_PG_USER` to change; `.ci/install-test-tools` creates it).
//! Shared by the SDK's tests and the workspace's end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::tools::postgres_tool;

/// The superuser's name (password authentication over TCP, as in production).
pub const USER: &str = "moai";
/// The superuser's password.
pub const PASSWORD: &str = "moai-test-pw";

/// A running server, stopped (by its PID) and its directory removed when dropped.
pub struct Postgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    run_as: Option<String>,
    max_connections: std::sync::atomic::AtomicU32,
}

impl Postgres {
    /// Starts a new server; a missing PostgreSQL fails the test with the command that installs
    /// it (never `None`).
    pub fn start(name: &str) -> Option<Postgres> {
        let initdb = postgres_tool("initdb")?;
        let bin = initdb.parent().expect("bin dir").to_owned();
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "moai-pg-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY: geteuid has no preconditions.
        let run_as = (unsafe { libc::geteuid() } == 0)
            .then(|| std::env::var("MOAI_PG_USER").unwrap_or_else(|_| "moai-pg".into()));
        let pg = Postgres {
            dir,
            port: free_port(),
            bin,
            run_as,
            max_connections: std::sync::atomic::AtomicU32::new(100),
        };
        std::fs::write(pg.dir.join("pwfile"), PASSWORD).unwrap();
        if let Some(user) = &pg.run_as {
            let chown = Command::new("chown")
                .args(["-R", user])
                .arg(&pg.dir)
                .output()
                .expect("chown runs");
            assert!(
                chown.status.success(),
                "cannot give {} to the user {user} (create it: useradd --system --no-create-home {user}; .ci/install-test-tools does): {}",
                pg.dir.display(),
                String::from_utf8_lossy(&chown.stderr)
            );
        }
        let data = pg.data();
        let init = pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                USER,
                "--pwfile",
                pg.dir.join("pwfile").to_str().unwrap(),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        assert!(init.status.success(), "initdb failed: {}", text(&init));
        pg.start_server();
        Some(pg)
    }

    /// The loopback port it listens on (the same across [`Postgres::stop`] and
    /// [`Postgres::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://moai:PASSWORD@127.0.0.1:PORT/dbname`.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{dbname}",
            self.port
        )
    }

    /// A new, empty database; its URL.
    pub fn create_database(&self, dbname: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{dbname}\""));
        self.url(dbname)
    }

    /// Runs SQL in `dbname` with `psql`; its output (unaligned, tuples only).
    pub fn psql(&self, dbname: &str, sql: &str) -> String {
        let out = self.psql_command(dbname, sql).output().expect("psql runs");
        assert!(out.status.success(), "psql {sql:?} failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The `psql` command that runs `sql` in `dbname` (for a session the test holds open, such
    /// as one holding a lock: spawn it, and end it by its PID).
    pub fn psql_command(&self, dbname: &str, sql: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", dbname, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "5");
        command
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`, like a crash: the next start
    /// recovers from the WAL).
    pub fn stop(&self) {
        let data = self.data();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "-t",
                "10",
                "stop",
            ],
        );
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) with a PID read from the server's own pid file.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    /// Starts the stopped server again: same data directory, same port.
    pub fn restart(&self) {
        self.start_server();
    }

    /// Stops the server and starts it again with `max_connections` set to `n` (100 at first).
    pub fn restart_with_max_connections(&self, n: u32) {
        self.stop();
        self.max_connections
            .store(n, std::sync::atomic::Ordering::Relaxed);
        self.start_server();
    }

    /// The postmaster's PID, from its pid file, while it runs.
    pub fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        let pid: i32 = text.lines().next()?.trim().parse().ok()?;
        // SAFETY: signal 0 only checks that the process exists.
        (unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn start_server(&self) {
        let data = self.data();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections={}",
            self.port,
            self.dir.display(),
            self.max_connections
                .load(std::sync::atomic::Ordering::Relaxed)
        );
        let log = self.dir.join("server.log");
        let started = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            started.status.success(),
            "pg_ctl start failed: {}\n{}",
            text(&started),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        command
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    }

    /// The server's directory (data, socket, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
