//! External tools the tests run (`promtool`, `prometheus`, `amtool`, `logrotate`), shared by the
//! SDK's tests and the workspace's end-to-end tests.
#![allow(dead_code)]

use std::io::Write;

/// The path of an external tool such as `promtool`, or `None` after a loud skip message. With
/// `MOAI_REQUIRE_TOOLS=1` (as in CI) a missing tool fails the test instead.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        missing(name, "is not on PATH", "prometheus");
    }
    found
}

/// A PostgreSQL server program (`initdb`, `pg_ctl`, `psql`) of Debian's `postgresql` package,
/// which keeps them off PATH in `/usr/lib/postgresql/<major>/bin`; 15 first.
pub fn postgres_tool(name: &str) -> Option<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    dirs.sort_by_key(|d| !d.starts_with("/usr/lib/postgresql/15"));
    let found = dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file());
    if found.is_none() {
        missing(name, "is not in /usr/lib/postgresql/*/bin", "postgresql");
    }
    found
}

/// A missing tool: a failure under `MOAI_REQUIRE_TOOLS=1`, else a loud skip message.
fn missing(name: &str, where_: &str, package: &str) {
    if std::env::var("MOAI_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{name} is required (MOAI_REQUIRE_TOOLS=1) but {where_}");
    }
    eprintln!(
        "\n*** SKIPPED: {name} {where_}; install it (apt-get install {package}) to run this test ***\n"
    );
}

/// Runs `promtool check metrics` on `exposition`: `Ok` with its output, or `Err` with it.
pub fn promtool_check_metrics(
    promtool: &std::path::Path,
    exposition: &str,
) -> Result<String, String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write exposition");
    let output = child.wait_with_output().expect("promtool finishes");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}
