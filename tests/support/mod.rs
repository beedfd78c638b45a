//! The workspace's end-to-end helpers that name its own binaries and files (`moai-flow`,
//! `moai-health`, `deploy/`); everything else comes from the shared `moai-test-support` crate.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

pub(crate) mod replica;

pub(crate) use moai_test_support::servers::*;
pub(crate) use moai_test_support::sinks;
pub(crate) use moai_test_support::*;

/// The `moai-health` binary that `cargo test --workspace` builds beside `moai-flow` (a binary of
/// another package, which `CARGO_BIN_EXE_*` does not name).
pub(crate) fn moai_health() -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_moai-flow")).with_file_name("moai-health");
    assert!(
        path.exists(),
        "build the workspace first (cargo test --workspace builds moai-health): {}",
        path.display()
    );
    path
}

/// Starts `moai-flow` with `args`, its exporter on `addr` (`127.0.0.1:0` for any free port), its
/// database and logs in `dir`: the running app (killed when dropped) and the address it serves.
pub(crate) fn start_app(dir: &std::path::Path, addr: &str, args: &[&str]) -> (Reaped, String) {
    start_app_with(dir, addr, args, &[])
}

/// [`start_app`] with more environment variables (`MOAI_DB_URL` for SwarmDB on PostgreSQL,
/// which the app takes over the file).
pub(crate) fn start_app_with(
    dir: &std::path::Path,
    addr: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Reaped, String) {
    use std::io::{BufRead, BufReader};
    let mut app = std::process::Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(args)
        .env("MOAI_METRICS_ADDR", addr)
        .env("MOAI_LOG_DIR", dir.join("logs"))
        .env("MOAI_DB_PATH", dir.join("swarm.db"))
        .env("RUST_LOG", "warn,moai_instrument=info")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start moai-flow");
    let mut lines = BufReader::new(app.stdout.take().unwrap()).lines();
    let app = Reaped(app);
    let served = lines
        .by_ref()
        .find_map(|l| {
            serde_json::from_str::<Value>(&l.ok()?).ok()?["metrics_addr"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("the app names its address");
    // Keep reading stdout so that the app never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (app, served)
}

/// Stops the app with SIGTERM, as a service manager would, and waits for a clean exit.
pub(crate) fn stop_app(app: &mut Reaped) {
    // SAFETY: signalling our own child process by its pid.
    unsafe { libc::kill(app.0.id() as libc::pid_t, libc::SIGTERM) };
    assert!(app.0.wait().unwrap().success(), "the app exits cleanly");
}

/// The shipped `deploy/` file `name`.
pub(crate) fn deploy_file(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

/// Runs `deploy/alertmanager-preflight.sh` on `config` with the secrets in `secrets_dir`, writing
/// `out`: its exit code and what it printed.
pub(crate) fn preflight(
    config: &std::path::Path,
    secrets_dir: &std::path::Path,
    out: &std::path::Path,
) -> (Option<i32>, String) {
    let output = std::process::Command::new("bash")
        .arg(deploy_file("alertmanager-preflight.sh"))
        .arg(config)
        .env("ALERTMANAGER_SECRETS_DIR", secrets_dir)
        .env("ALERTMANAGER_CONFIG_OUT", out)
        .output()
        .expect("bash runs the preflight script");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// The example `name`, built now: `cargo test` builds examples only as test harnesses, so the
/// binary a user runs (`target/<profile>/examples/<name>`) is built here, by the cargo that runs
/// this test, into the same target directory.
pub(crate) fn example(name: &str) -> PathBuf {
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "--example", name]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --example {name} failed");
    let deps = std::env::current_exe().expect("the test's path");
    let path = deps
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .join("examples")
        .join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}
