//! The SDK is a library a host adds to its own dependency tree: its normal dependencies pull no
//! SQLite, PostgreSQL, HTTP client, argument parser or OpenSSL, nothing of SwarmDB, and no exact version
//! pin but its own macros crate (whose expansion names `::moai_instrument::__private`).

use std::process::Command;

#[test]
fn the_sdks_default_build_pulls_no_database_http_client_or_argument_parser() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "-p",
            "moai-instrument",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"moai-instrument"), "{tree}");
    for unwanted in [
        "rusqlite",
        "libsqlite3-sys",
        "postgres",
        "tokio-postgres",
        "r2d2",
        "ureq",
        "reqwest",
        "hyper",
        "lexopt",
        "clap",
        "moai-swarmdb",
        "uuid",
        // TLS is rustls on ring (MOAI_WEB_CONFIG): no OpenSSL, no aws-lc.
        "openssl",
        "openssl-sys",
        "aws-lc-rs",
        "aws-lc-sys",
    ] {
        assert!(
            !crates.contains(&unwanted),
            "moai-instrument pulls {unwanted}:\n{tree}"
        );
    }
}

#[test]
fn no_exact_version_pin_but_the_macros_crate() {
    let manifests = [
        "Cargo.toml",
        "moai-instrument/Cargo.toml",
        "moai-swarmdb/Cargo.toml",
    ];
    for manifest in manifests {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest);
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| l.contains("version = \"=")) {
            assert!(
                line.starts_with("moai-instrument-macros"),
                "{manifest}: an exact pin makes `cargo add` fail in a host: {line}"
            );
        }
    }
}
