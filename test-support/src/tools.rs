//! External tools the tests run (`promtool`, `prometheus`, `amtool`, `logrotate`), shared by the
//! SDK's tests and the workspace's end-to-end tests.
#![allow(dead_code)]

use std::io::Write;

/// The path of an external tool such as `promtool`: on PATH, else in `/usr/sbin` or `/sbin`
/// (where Debian keeps `logrotate`, and which a user's PATH often lacks). A missing tool fails
/// the test with the command that installs it; never `None` (the `Option` keeps the callers'
/// `let Some(..) else` unchanged).
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    match found {
        Some(path) => Some(path),
        None => missing(
            name,
            "is not on PATH, in /usr/sbin or in /sbin",
            package_of(name),
        ),
    }
}

/// A PostgreSQL server program (`initdb`, `pg_ctl`, `psql`) of Debian's `postgresql` package,
/// which keeps them off PATH in `/usr/lib/postgresql/<major>/bin`; 15 first. A missing program
/// fails the test with the command that installs it; never `None`.
pub fn postgres_tool(name: &str) -> Option<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    dirs.sort_by_key(|d| !d.starts_with("/usr/lib/postgresql/15"));
    match dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file()) {
        Some(path) => Some(path),
        None => missing(name, "is not in /usr/lib/postgresql/*/bin", "postgresql"),
    }
}

/// The Debian package that installs the tool `name`, as `.ci/install-test-tools` maps it.
fn package_of(name: &str) -> &str {
    match name {
        "promtool" => "prometheus",
        "amtool" => "prometheus-alertmanager",
        "prlimit" | "runuser" => "util-linux",
        "chattr" => "e2fsprogs",
        other => other,
    }
}

/// Fails the test for a missing tool, with the commands that install it: a test that cannot run
/// must not pass.
fn missing(name: &str, where_: &str, package: &str) -> ! {
    panic!(
        "{name} {where_}: this test needs it. Install what the tests need with \
         `.ci/install-test-tools` (from the repository's root), or this tool alone with \
         `sudo apt-get install -y {package}`"
    );
}

/// Starts `prometheus` (the path from [`tool`]) with `dir/prometheus.yml`, its data in
/// `dir/tsdb`, serving on `listen`; its log goes to `log`. The caller ends it.
pub fn spawn_prometheus(
    binary: &std::path::Path,
    dir: &std::path::Path,
    listen: &str,
    features: &[&str],
    log: std::process::Stdio,
) -> std::process::Child {
    std::process::Command::new(binary)
        .args(features.iter().map(|f| format!("--enable-feature={f}")))
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus")
}

/// Runs `promtool check metrics` on `exposition`: `Ok` with its output, or `Err` with it.
pub fn promtool_check_metrics(
    promtool: &std::path::Path,
    exposition: &str,
) -> Result<String, String> {
    let (code, out, err) = run_with_stdin(promtool, &["check", "metrics"], exposition);
    let text = out + &err;
    if code == Some(0) { Ok(text) } else { Err(text) }
}

/// What `promtool check metrics` thinks of `exposition`: `Ok` with its lint findings (one
/// `<metric> <problem>` line each; exit status 0 or 3), `Err` when it cannot parse it at all
/// (status 1: a second TYPE line, a repeated label, a syntax error).
pub fn promtool_lint(promtool: &std::path::Path, exposition: &str) -> Result<Vec<String>, String> {
    match run_with_stdin(promtool, &["check", "metrics"], exposition) {
        (Some(0 | 3), out, err) => Ok((out + &err).lines().map(str::to_owned).collect()),
        (_, out, err) => Err(out + &err),
    }
}

/// Runs `program args` with `input` on its stdin: its exit code, stdout and stderr.
pub fn run_with_stdin(
    program: &std::path::Path,
    args: &[&str],
    input: &str,
) -> (Option<i32>, String, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} starts: {e}", program.display()));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    // Written from a thread: a large input would otherwise fill the pipe while the child waits
    // for us to read its output.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("the program finishes");
    writer
        .join()
        .expect("the writer thread")
        .expect("write to stdin");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `python3` with the Prometheus project's Python client (`prometheus_client`). Either missing
/// fails the test with the command that installs it; never `None`.
pub fn python_with_client() -> Option<std::path::PathBuf> {
    let python = tool("python3")?;
    let ok = std::process::Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import prometheus_client: this test needs it. Install what the tests need \
         with `.ci/install-test-tools` (from the repository's root), or this package alone with \
         `python3 -m pip install prometheus_client`",
        python.display()
    );
    Some(python)
}
