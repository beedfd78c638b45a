//! The examples say what went wrong in words a person can act on: a port in use gives the
//! address, the setting and the cause (the error's `Display`, never its `Debug` form), and the
//! example exits with a failure status.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

/// The example `name`, built now: `cargo test` builds examples only as test harnesses, so the
/// binary a user runs (`target/<profile>/examples/<name>`) is built here, by the cargo that runs
/// this test, into the same target directory.
fn example(name: &str) -> PathBuf {
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

#[test]
fn a_port_in_use_is_reported_with_its_address_setting_and_cause() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let output = Command::new(example("metrics_exporter"))
        .args(["--seconds", "1"])
        .env("MOAI_METRICS_ADDR", addr.to_string())
        .env("MOAI_LOG_DIR", "none")
        .output()
        .expect("run the example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "metrics_exporter: cannot listen on {addr} (MOAI_METRICS_ADDR): address already in use"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Bind {") && !stderr.contains("Os {"),
        "Display, not Debug: {stderr}"
    );
}

#[test]
fn a_bad_setting_is_reported_with_display() {
    let output = Command::new(example("json_logging"))
        .env("MOAI_LOG_FORMAT", "xml")
        .output()
        .expect("run the example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("json_logging: invalid value \"xml\" for MOAI_LOG_FORMAT"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("InvalidSetting"),
        "Display, not Debug: {stderr}"
    );
}
