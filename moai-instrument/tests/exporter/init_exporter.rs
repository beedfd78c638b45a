//! `init()` end to end in one process: the exporter's endpoints over real HTTP on a port-0
//! loopback listener, scrape-time collectors, health probes, and the JSON lines in the log file.

use moai_test_support as common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use common::{http, promtool_check_metrics, sample, temp_dir, tool};
use moai_instrument::health::{CheckResult, HealthCheck, HealthStatus, Probe};
use moai_instrument::{Config, Guard, InitError, timed_query};
use serde_json::Value;

static READY: AtomicBool = AtomicBool::new(true);
static SCRAPES: AtomicU64 = AtomicU64::new(0);

struct Toggle;

impl HealthCheck for Toggle {
    fn name(&self) -> &str {
        "toggle"
    }
    fn check(&self) -> CheckResult {
        if READY.load(Ordering::SeqCst) {
            CheckResult::new(HealthStatus::Healthy, "ready")
        } else {
            CheckResult::new(HealthStatus::Unhealthy, "switched off by the test")
        }
    }
}

struct AlwaysAlive;

impl HealthCheck for AlwaysAlive {
    fn name(&self) -> &str {
        "alive"
    }
    fn probe(&self) -> Probe {
        Probe::Liveness
    }
    fn check(&self) -> CheckResult {
        CheckResult::new(HealthStatus::Degraded, "alive but slow")
            .with_detail("latency_ms", moai_instrument::health::Detail::Number(150.5))
    }
}

fn guard() -> &'static Guard {
    static GUARD: OnceLock<Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        Config::new()
            .metrics_addr("127.0.0.1:0")
            .log_dir(Some(temp_dir("init-exporter").join("logs")))
            .log_filter("debug")
            .on_scrape(|| {
                let n = SCRAPES.fetch_add(1, Ordering::SeqCst) + 1;
                moai_instrument::metrics::gauge!("moai_flow_agents_active").set(n as f64);
            })
            .health_check(Toggle)
            .health_check(AlwaysAlive)
            .init()
            .expect("init succeeds")
    })
}

#[timed_query(query_type = "exporter_query")]
fn query() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("disk \"full\""))
}

#[timed_query(query_type = "exporter_scraped_query")]
fn scraped_query() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("locked"))
}

#[test]
fn metrics_endpoint_serves_valid_exposition_with_process_metrics() {
    if !common::own_process() {
        return;
    }
    let addr = guard().metrics_addr().expect("the exporter listens");
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let _ = scraped_query();
    let (status, head, body) = http(addr, "GET", "/metrics", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert_eq!(
        sample(
            &body,
            r#"moai_flow_errors_total{operation="exporter_scraped_query"}"#
        ),
        Some(1.0)
    );
    let cpu = sample(&body, "process_cpu_seconds_total").expect("cpu seconds");
    assert!(cpu > 0.0, "{cpu}");
    assert!(body.contains("# TYPE process_cpu_seconds_total counter"));
    assert!(sample(&body, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(sample(&body, "process_open_fds").unwrap() >= 3.0);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(
            &body,
            &format!("moai_flow_build_info{{version=\"{version}\"}}")
        ),
        Some(1.0)
    );
    if let Some(promtool) = tool("promtool") {
        promtool_check_metrics(&promtool, &body)
            .unwrap_or_else(|e| panic!("promtool: {e}\n{body}"));
    }
    // HEAD gives the headers without the body.
    let (status, head, body) = http(addr, "HEAD", "/metrics", &[]);
    assert_eq!((status, body.as_str()), (200, ""), "{head}");
}

/// The sample lines of an exposition without their values: which series it holds.
fn series(exposition: &str) -> Vec<&str> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .collect()
}

#[test]
fn render_is_what_metrics_serves() {
    if !common::own_process() {
        return;
    }
    let addr = guard().metrics_addr().expect("the exporter listens");
    // The first round of health checks adds its status series once, at start-up: compare after.
    common::wait_for(
        "the first health round",
        std::time::Duration::from_secs(5),
        || {
            guard()
                .metrics()
                .render()
                .contains("moai_flow_health_check_status")
                .then_some(())
        },
    );
    let served = http(addr, "GET", "/metrics", &[]).2;
    let rendered = guard().metrics().render();
    let served_after = http(addr, "GET", "/metrics", &[]).2;
    // The same families, HELP and TYPE lines and series: one render path.
    let comments = |e: &str| -> Vec<String> {
        e.lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(comments(&rendered), comments(&served));
    assert_eq!(series(&rendered), series(&served));
    // `render()` ran the scrape-time collector (it counts its runs into the gauge) ...
    let agents = |e: &str| sample(e, "moai_flow_agents_active").unwrap();
    assert!(
        agents(&served) < agents(&rendered) && agents(&rendered) < agents(&served_after),
        "{} {} {}",
        agents(&served),
        agents(&rendered),
        agents(&served_after)
    );
    // ... and read the process metrics afresh.
    let cpu = |e: &str| sample(e, "process_cpu_seconds_total").unwrap();
    assert!(cpu(&served) <= cpu(&rendered) && cpu(&rendered) <= cpu(&served_after));
    let global = moai_instrument::MetricsHandle::global().expect("installed");
    assert_eq!(series(&global.render()), series(&rendered));
}

#[test]
fn collectors_refresh_gauges_on_every_scrape() {
    if !common::own_process() {
        return;
    }
    let addr = guard().metrics_addr().expect("the exporter listens");
    let first = sample(
        &http(addr, "GET", "/metrics", &[]).2,
        "moai_flow_agents_active",
    )
    .unwrap();
    let second = sample(
        &http(addr, "GET", "/metrics", &[]).2,
        "moai_flow_agents_active",
    )
    .unwrap();
    assert!(second > first, "{first} then {second}");
}

#[test]
fn unknown_paths_wrong_methods_and_bad_requests() {
    if !common::own_process() {
        return;
    }
    let addr = guard().metrics_addr().expect("the exporter listens");
    assert_eq!(http(addr, "GET", "/nope", &[]).0, 404);
    let (status, head, _) = http(addr, "POST", "/metrics", &[]);
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    assert_eq!(http(addr, "DELETE", "/healthz", &[]).0, 405);
    let long = "x".repeat(20_000);
    assert_eq!(http(addr, "GET", "/metrics", &[("X-Long", &long)]).0, 431);
    let raw = |bytes: &[u8]| {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(bytes).unwrap();
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out
    };
    assert!(raw(b"\x16\x03\x01 garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(raw(b"GET /livez HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200"));
}

#[test]
fn probes_follow_the_checks() {
    if !common::own_process() {
        return;
    }
    let addr = guard().metrics_addr().expect("the exporter listens");
    let (status, _, body) = http(addr, "GET", "/healthz", &[]);
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).expect("healthz is JSON");
    assert_eq!(report["status"], "degraded");
    assert_eq!(report["checks"]["alive"]["healthy"], true);
    assert_eq!(report["checks"]["alive"]["details"]["latency_ms"], 150.5);
    assert_eq!(report["checks"]["log_file"]["status"], "healthy");

    READY.store(false, Ordering::SeqCst);
    // Results are shared by all callers for a second (a flood of probes costs the checks nothing).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (status, _, body) = http(addr, "GET", "/readyz", &[]);
    assert_eq!((status, body.as_str()), (503, "unhealthy: toggle\n"));
    assert_eq!(
        http(addr, "GET", "/livez", &[]).0,
        200,
        "liveness ignores readiness checks"
    );
    let (status, _, body) = http(addr, "GET", "/healthz", &[]);
    assert_eq!(status, 503);
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        report["checks"]["toggle"]["message"],
        "switched off by the test"
    );
    let metrics = http(addr, "GET", "/metrics", &[]).2;
    assert_eq!(
        sample(&metrics, r#"moai_flow_health_check_status{check="toggle"}"#),
        Some(0.0)
    );
    READY.store(true, Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(http(addr, "GET", "/readyz", &[]).0, 200);
}

#[derive(Debug)]
struct Wrapped(std::io::Error);
impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed to insert event")
    }
}
impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[tracing::instrument(fields(agent_id = %agent, user_id = 42))]
fn spawn_agent(agent: &str) {
    tracing::info!(
        tasks = 3,
        ratio = 0.5,
        ok = true,
        "Agent spawned successfully"
    );
    let inner = tracing::info_span!("inner", agent_id = "inner-agent");
    inner.in_scope(|| tracing::warn!(note = "quote \" newline \n tab \t nul \u{0} end", "nested"));
    let error = Wrapped(std::io::Error::other("disk full"));
    tracing::error!(
        error = &error as &dyn std::error::Error,
        line = "user field",
        "insert failed"
    );
}

#[test]
fn json_lines_in_the_file_lift_agent_and_user_ids() {
    if !common::own_process() {
        return;
    }
    let guard = guard();
    spawn_agent("agent-7");
    tracing::info!(user_id = "u-1", "outside any span");
    let path = guard.log_file().expect("a log file").to_owned();
    guard.flush_logs();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}")))
        .collect();
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no line {message:?} in\n{text}"))
    };
    let spawned = find("Agent spawned successfully");
    assert_eq!(spawned["level"], "INFO");
    assert_eq!(spawned["agent_id"], "agent-7");
    assert_eq!(spawned["user_id"], 42);
    assert_eq!(spawned["tasks"], 3);
    assert_eq!(spawned["ratio"], 0.5);
    assert_eq!(spawned["ok"], true);
    assert_eq!(spawned["function"], "spawn_agent");
    assert_eq!(spawned["logger"], module_path!());
    assert_eq!(spawned["module"], module_path!());
    assert!(spawned["line"].as_u64().unwrap() > 0);
    let timestamp = spawned["timestamp"].as_str().unwrap();
    assert!(
        timestamp.len() == 27 && timestamp.ends_with('Z') && &timestamp[10..11] == "T",
        "{timestamp}"
    );
    assert!(
        spawned.get("span").is_none() && spawned.get("fields").is_none(),
        "flat, not nested: {spawned}"
    );

    let nested = find("nested");
    assert_eq!(nested["agent_id"], "inner-agent", "the innermost span wins");
    assert_eq!(nested["user_id"], 42, "user_id from the outer span");
    assert_eq!(nested["level"], "WARNING");
    assert_eq!(nested["note"], "quote \" newline \n tab \t nul \u{0} end");
    assert_eq!(nested["function"], "inner");

    let failed = find("insert failed");
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["exception"], "failed to insert event: disk full");
    assert_eq!(
        failed["fields.line"], "user field",
        "a field named like a key is renamed"
    );
    assert!(failed["line"].is_u64());

    let outside = find("outside any span");
    assert_eq!(outside["user_id"], "u-1");
    assert!(outside.get("agent_id").is_none());
    assert!(outside.get("function").is_none());

    // The query error logged by #[timed_query] carries the error as `exception`.
    let _ = query();
    guard.flush_logs();
    let text = std::fs::read_to_string(&path).unwrap();
    let failure: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "Failed to exporter_query: disk \"full\"")
        .expect("the query failure is logged");
    assert_eq!(failure["exception"], "disk \"full\"");
    assert_eq!(failure["query_type"], "exporter_query");
    // Located at the instrumented fn, not inside the SDK.
    assert_eq!(failure["module"], module_path!());
    assert_eq!(failure["function"], "query");
    let fn_line = include_str!("init_exporter.rs")
        .lines()
        .position(|l| l.starts_with("fn query()"))
        .unwrap()
        + 1;
    assert_eq!(failure["line"], fn_line);

    // No key appears twice in any line.
    for line in text.lines() {
        let object: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        let keys = line.matches("\":").count();
        assert!(object.len() <= keys, "{line}");
    }
}

#[test]
fn a_second_init_is_an_error() {
    if !common::own_process() {
        return;
    }
    guard();
    let err = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<&str>)
        .init()
        .unwrap_err();
    assert!(matches!(err, InitError::AlreadyInitialized), "{err}");
    assert!(moai_instrument::init().is_err());
    let _ = Arc::new(());
}
