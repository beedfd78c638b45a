//! `moai-health --url` asks a running app (this test process, with `init()`) for its own report:
//! the guide's lines and exit 0 while its checks pass, the failing check and exit 1 when one
//! fails, `/livez` for `--live`, the app's JSON with `--json`, and exit 1 naming the URL when
//! nothing answers there.

use moai_test_support as common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Switch, temp_dir};
use moai_instrument::Config;
use moai_instrument::health::{CheckResult, HealthCheck, HealthStatus, Probe};

static READY: AtomicBool = AtomicBool::new(true);

struct Alive;

impl HealthCheck for Alive {
    fn name(&self) -> &str {
        "alive"
    }
    fn probe(&self) -> Probe {
        Probe::Liveness
    }
    fn check(&self) -> CheckResult {
        CheckResult::new(HealthStatus::Healthy, "ticking")
    }
}

fn moai_health(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_moai-health"))
        .args(args)
        .output()
        .expect("moai-health runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn url_mode_reports_the_running_apps_own_checks() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(Some(temp_dir("moai-health-url").join("logs")))
        .health_check(Switch {
            name: "queue",
            on: &READY,
        })
        .health_check(Alive)
        .init()
        .expect("init succeeds");
    let url = format!(
        "http://{}",
        guard.metrics_addr().expect("the exporter listens")
    );

    let (code, text) = moai_health(&["--url", &url, "--ready"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("✅ queue: on"), "{text}");
    assert!(text.contains("✅ alive: ticking"), "{text}");
    assert!(text.contains("✅ All health checks passed"), "{text}");
    let (code, text) = moai_health(&["--url", &url]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("✅ Healthy - "), "{text}");

    READY.store(false, Ordering::SeqCst);
    // Check results are shared by every caller for a second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, text) = moai_health(&["--url", &url, "--ready"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("❌ queue: switched off by the test"),
        "{text}"
    );
    assert!(text.contains("Details: {'switched_off': True}"), "{text}");
    let (code, text) = moai_health(&["--url", &url]);
    assert_eq!(
        (code, text.trim()),
        (
            Some(1),
            format!("❌ Unhealthy - {url}: failing: queue").as_str()
        )
    );
    let (code, json) = moai_health(&["--url", &url, "--json"]);
    assert_eq!(code, Some(1), "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["status"], "unhealthy");
    assert_eq!(json["checks"]["queue"]["details"]["switched_off"], true);
    // Liveness is the alive check only: the app lives although it is not ready.
    let (code, text) = moai_health(&["--url", &url, "--live"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with(&format!("✅ Live - {url}/livez: ok")),
        "{text}"
    );
    // As JSON too (a probe written with --json must not restart a pod that is only not ready).
    for mode in ["--live", "--startup"] {
        let (code, json) = moai_health(&["--url", &url, mode, "--json"]);
        assert_eq!(code, Some(0), "{mode}: {json}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["status"], "healthy", "{json}");
        assert_eq!(json["checks"].as_object().unwrap().len(), 1, "{json}");
        assert_eq!(json["checks"]["livez"]["healthy"], true, "{json}");
    }
    READY.store(true, Ordering::SeqCst);

    drop(guard);
    let (code, text) = moai_health(&["--url", &url, "--ready"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.starts_with(&format!("❌ Unhealthy - cannot reach {url}/healthz")),
        "{text}"
    );
    let (code, _) = moai_health(&["--url", "localhost:9090"]);
    assert_eq!(code, Some(2), "a URL without http:// is a usage error");
    let (code, _) = moai_health(&["--prometheus", "http://localhost:9091"]);
    assert_eq!(code, Some(2), "--prometheus goes with --diagnose");
}
