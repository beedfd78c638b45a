//! Every misconfiguration is an `InitError` naming the setting and the value, and leaves nothing
//! running: a correct `init()` afterwards succeeds. Dropping the guard frees the port and leaves
//! every line in the file.

use moai_test_support as common;

use std::net::TcpListener;

use common::{http, temp_dir, thread_count};
use moai_instrument::{Config, InitError};

fn config(dir: &std::path::Path) -> Config {
    Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(dir.join("logs")))
}

#[test]
fn misconfigurations_are_clear_errors_and_leak_nothing() {
    if !common::own_process() {
        return;
    }
    let dir = temp_dir("errors");
    let threads_before = thread_count();

    // A port in use.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = config(&dir)
        .metrics_addr(format!("127.0.0.1:{port}"))
        .init()
        .unwrap_err();
    // `Display` alone says where, which setting and why, in words a person can act on.
    let message = err.to_string();
    assert!(matches!(err, InitError::Bind { .. }), "{message}");
    assert!(
        message.starts_with(&format!(
            "cannot listen on 127.0.0.1:{port} (MOAI_METRICS_ADDR): address already in use"
        )),
        "{message}"
    );
    assert!(message.contains("port 0"), "says what to do: {message}");
    // The operating system's error stays the source, for error reporters that walk the chain.
    let source = std::error::Error::source(&err).expect("the io::Error is the source");
    assert_eq!(
        source
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind),
        Some(std::io::ErrorKind::AddrInUse)
    );
    drop(taken);

    // A bad address.
    let err = config(&dir)
        .metrics_addr("not an address")
        .init()
        .unwrap_err();
    assert_eq!(
        err.to_string().split(':').next(),
        Some("invalid value \"not an address\" for MOAI_METRICS_ADDR"),
        "{err}"
    );

    // An unwritable log directory (a path below a regular file; root ignores permissions).
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let err = config(&dir)
        .log_dir(Some(file.join("logs")))
        .init()
        .unwrap_err();
    assert!(matches!(err, InitError::LogFile { .. }), "{err}");
    assert!(
        err.to_string().contains("a-file/logs/moai-flow.log")
            && err.to_string().contains("MOAI_LOG_DIR"),
        "{err}"
    );

    // Bad values from the environment.
    for (var, value) in [
        ("RUST_LOG", "info,=nonsense=="),
        ("MOAI_LOG_FORMAT", "xml"),
        ("MOAI_HISTOGRAM", "tdigest"),
        ("MOAI_SLOW_QUERY_MS", "-5"),
    ] {
        let err = match Config::new().with_env(common::env_of(&[(var, value)])) {
            Err(err) => err,
            Ok(config) => config
                .metrics_addr("127.0.0.1:0")
                .log_dir(Some(dir.join("logs")))
                .init()
                .unwrap_err(),
        };
        let text = err.to_string();
        assert!(
            text.contains(var) && text.contains(value),
            "{var}={value}: {text}"
        );
    }
    let err = config(&dir).metrics_token("  ").init().unwrap_err();
    assert!(
        err.to_string().contains("MOAI_METRICS_TOKEN") && !err.to_string().contains("  "),
        "{err}"
    );

    // Nothing was left running by the failures.
    let threads_after = thread_count();
    assert_eq!(threads_before, threads_after, "no thread leaked");

    // A correct init now works, on a port that another listener can take once the guard drops.
    let guard = config(&dir).init().expect("init after failed attempts");
    let addr = guard.metrics_addr().expect("the exporter listens");
    assert_eq!(http(addr, "GET", "/livez", &[]).0, 200);
    tracing::info!(marker = "before-drop", "last line before the guard drops");
    let log_file = guard.log_file().unwrap().to_owned();
    assert_eq!(log_file, dir.join("logs").join(Config::LOG_FILE_NAME));
    drop(guard);
    TcpListener::bind(addr).expect("the port is free once the guard is dropped");
    let text = std::fs::read_to_string(&log_file).unwrap();
    assert!(text.contains("\"marker\":\"before-drop\""), "{text}");
    assert!(matches!(
        config(&dir).init(),
        Err(InitError::AlreadyInitialized)
    ));
}
