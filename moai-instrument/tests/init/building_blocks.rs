//! The building blocks for a host with its own subscriber, router and checks: `Config::build`
//! hands over the `JsonLayer` and installs no subscriber; `metrics_addr("none")` binds nothing and
//! `Routes` serves exactly the exporter's answers; a failed `init()` leaves nothing installed;
//! `InitError`'s `Debug` says what is wrong; libraries add and remove checks and collectors while
//! the app runs; the query performance check judges the query types the host names.

use moai_test_support as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{http, sample, temp_dir};
use moai_instrument::health::{CheckResult, HealthCheck, HealthStatus, Probe, add_check};
use moai_instrument::recorder::add_collector;
use moai_instrument::{Config, InitError, MetricsHandle, timed_query};
use tracing_subscriber::layer::SubscriberExt;

fn get(
    routes: &moai_instrument::exporter::Routes,
    path: &str,
    auth: Option<&str>,
) -> (u16, String) {
    let mut request = moai_instrument::http::Request::get(path);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let response = routes.handle(&request.body(()).unwrap());
    (
        response.status().as_u16(),
        String::from_utf8(response.into_body()).unwrap(),
    )
}

#[test]
fn build_hands_over_the_layer_and_routes_without_a_port_or_a_global_subscriber() {
    if !common::own_process() {
        return;
    }
    let dir = temp_dir("build-layer");
    let (json, guard) = Config::new()
        .metrics_addr("none")
        .metrics_token("s3cret")
        .log_dir(Some(&dir))
        .log_filter("warn")
        .build()
        .expect("build");
    assert_eq!(guard.metrics_addr(), None, "`none` binds no port");
    assert!(
        !tracing::dispatcher::has_been_set(),
        "build() installs no global subscriber"
    );

    // The host's subscriber: its own layer sees INFO, the SDK's layer writes WARN and above only.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let host = {
        let seen = Arc::clone(&seen);
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || HostWriter(Arc::clone(&seen)))
    };
    let subscriber = tracing_subscriber::registry().with(json).with(host);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", request_id = "r-1", agent_id = "agent-9");
        let _entered = span.enter();
        tracing::info!("host info line");
        tracing::warn!(queue = 3, "host warning line");
    });
    guard.flush_logs();
    let text = std::fs::read_to_string(dir.join("moai-flow.log")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "the SDK's filter applies to its layer only: {text}"
    );
    assert_eq!(lines[0]["message"], "host warning line");
    assert_eq!(lines[0]["level"], "WARNING");
    assert_eq!(lines[0]["agent_id"], "agent-9");
    assert_eq!(lines[0]["request_id"], "r-1");
    assert_eq!(lines[0]["queue"], 3);
    let host_text = seen.lock().unwrap().concat();
    assert!(
        host_text.contains("host info line") && host_text.contains("host warning line"),
        "the host's layer keeps its own filter: {host_text}"
    );

    // Routes: the exporter's answers, token and all.
    let routes = guard.routes();
    assert_eq!(get(&routes, "/metrics", None).0, 401);
    let (status, body) = get(&routes, "/metrics", Some("bearer s3cret"));
    assert_eq!(status, 200, "the bearer scheme in any case");
    assert!(body.contains("moai_flow_build_info"), "{body}");
    assert_eq!(get(&routes, "/livez", None).0, 200);
    let (status, body) = get(&routes, "/readyz", None);
    assert_eq!((status, body.as_str()), (200, "ok (4 checks)\n"));
    assert_eq!(get(&routes, "/other", None).0, 404);
    let post = moai_instrument::http::Request::post("/metrics")
        .body(())
        .unwrap();
    assert_eq!(routes.handle(&post).status(), 405);
    assert!(
        MetricsHandle::global().is_some(),
        "the recorder is installed"
    );
}

struct HostWriter(Arc<std::sync::Mutex<Vec<String>>>);

impl std::io::Write for HostWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_init_leaves_nothing_installed_running_or_bound() {
    if !common::own_process() {
        return;
    }
    // The host's own global subscriber came first.
    tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
    let port = common::free_port();
    let dir = temp_dir("failed-init");
    let err = Config::new()
        .metrics_addr(format!("127.0.0.1:{port}"))
        .log_dir(Some(&dir))
        .init()
        .unwrap_err();
    assert!(matches!(err, InitError::Subscriber { .. }), "{err}");
    assert!(
        err.to_string().contains("Config::build()"),
        "the error says what to do instead: {err}"
    );
    assert!(MetricsHandle::global().is_none(), "no recorder installed");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    // The fallback works: nothing of the failed attempt is in the way.
    let (_json, guard) = Config::new()
        .metrics_addr(format!("127.0.0.1:{port}"))
        .log_dir(Some(&dir))
        .build()
        .expect("build after the failed init");
    assert_eq!(guard.metrics_addr().unwrap().port(), port);
}

#[test]
fn init_error_debug_reads_like_display_with_its_causes() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Config::new()
        .metrics_addr(addr.to_string())
        .log_dir(None::<&str>)
        .init()
        .unwrap_err();
    let debug = format!("{err:?}");
    assert!(
        debug.starts_with(&format!("cannot listen on {addr} (MOAI_METRICS_ADDR)")),
        "{debug}"
    );
    assert!(debug.contains("(os error"), "the cause follows: {debug}");
    assert!(!debug.contains("Bind {"), "no struct dump: {debug}");
    let bad = Config::new()
        .with_env(|name| (name == "MOAI_HISTOGRAM").then(|| "tdigest".into()))
        .unwrap_err();
    assert_eq!(format!("{bad:?}"), bad.to_string());
}

struct Toggle {
    name: &'static str,
    probe: Probe,
    healthy: Arc<AtomicBool>,
}

impl HealthCheck for Toggle {
    fn name(&self) -> &str {
        self.name
    }
    fn probe(&self) -> Probe {
        self.probe
    }
    fn check(&self) -> CheckResult {
        if self.healthy.load(Ordering::Relaxed) {
            CheckResult::new(HealthStatus::Healthy, "fine")
        } else {
            CheckResult::new(HealthStatus::Unhealthy, "broken")
        }
    }
}

/// Waits up to `limit` for `render()` to satisfy `done`; the elapsed time.
fn until(metrics: &MetricsHandle, limit: Duration, done: impl Fn(&str) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if done(&metrics.render()) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "not within {limit:?}:\n{}",
            metrics.render()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn libraries_add_and_remove_checks_and_collectors_while_the_app_runs() {
    if !common::own_process() {
        return;
    }
    let healthy = Arc::new(AtomicBool::new(true));
    // Added before the SDK starts: runs from the first round on.
    let early = add_check(Toggle {
        name: "store_early",
        probe: Probe::Readiness,
        healthy: Arc::clone(&healthy),
    })
    .unwrap();
    let (_json, guard) = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<&str>)
        .health_interval(Duration::from_secs(3600))
        .build()
        .expect("build");
    let metrics = guard.metrics().clone();
    let addr = guard.metrics_addr().unwrap();
    until(&metrics, Duration::from_secs(2), |m| {
        sample(m, r#"moai_flow_health_check_status{check="store_early"}"#) == Some(1.0)
    });
    // Added while running, with a period of an hour: its status is there within a second.
    let live = add_check(Toggle {
        name: "store_live",
        probe: Probe::Liveness,
        healthy: Arc::clone(&healthy),
    })
    .unwrap();
    let took = until(&metrics, Duration::from_secs(2), |m| {
        sample(m, r#"moai_flow_health_check_status{check="store_live"}"#) == Some(1.0)
    });
    assert!(took < Duration::from_secs(1), "status after {took:?}");
    // A name taken is refused, naming it.
    let taken = add_check(Toggle {
        name: "memory",
        probe: Probe::Readiness,
        healthy: Arc::clone(&healthy),
    })
    .unwrap_err();
    assert!(taken.to_string().contains("\"memory\""), "{taken}");
    // The liveness check gates /livez, the readiness one only /readyz.
    healthy.store(false, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1100)); // past the shared-result window
    let (status, _, body) = http(addr, "GET", "/livez", &[]);
    assert_eq!((status, body.as_str()), (503, "unhealthy: store_live\n"));
    let (status, _, body) = http(addr, "GET", "/readyz", &[]);
    assert_eq!(
        (status, body.as_str()),
        (503, "unhealthy: store_early, store_live\n")
    );
    // Removed: gone from the probes and the exposition.
    drop(live);
    drop(early);
    let (status, _, _) = http(addr, "GET", "/readyz", &[]);
    assert_eq!(status, 200);
    let exposition = metrics.render();
    assert!(
        !exposition.contains("store_early") && !exposition.contains("store_live"),
        "{exposition}"
    );

    // A collector refreshes its gauge at each scrape; dropped, its series leave.
    let depth = Arc::new(std::sync::atomic::AtomicU64::new(7));
    let reading = Arc::clone(&depth);
    let collector = add_collector(move || {
        moai_instrument::metrics::gauge!("store_queue_depth")
            .set(reading.load(Ordering::Relaxed) as f64);
        moai_instrument::metrics::gauge!("store_queue_items", "queue" => "a").set(1.0);
    })
    .owns(["store_queue_depth", "store_queue_items"]);
    assert_eq!(sample(&metrics.render(), "store_queue_depth"), Some(7.0));
    depth.store(9, Ordering::Relaxed);
    let (_, _, body) = http(addr, "GET", "/metrics", &[]);
    assert_eq!(
        sample(&body, "store_queue_depth"),
        Some(9.0),
        "each scrape collects"
    );
    assert_eq!(sample(&body, r#"store_queue_items{queue="a"}"#), Some(1.0));
    drop(collector);
    let exposition = metrics.render();
    assert_eq!(sample(&exposition, "store_queue_depth"), None);
    assert_eq!(
        sample(&exposition, r#"store_queue_items{queue="a"}"#),
        None,
        "labelled series of an owned metric leave too"
    );
}

#[timed_query(query_type = "blocks_export")]
fn slow_export() {
    std::thread::sleep(Duration::from_millis(120));
}

#[timed_query(query_type = "blocks_get")]
fn fast_get() {}

#[test]
fn query_performance_judges_the_named_query_types_with_the_configured_thresholds() {
    if !common::own_process() {
        return;
    }
    let vars = [
        ("MOAI_QUERY_P95_FAIL_MS", "100"),
        ("MOAI_QUERY_P95_WARN_MS", "50"),
    ];
    let (_json, guard) = Config::new()
        .with_env(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
        .metrics_addr("none")
        .log_dir(None::<&str>)
        .query_performance_types(["blocks_get"])
        .build()
        .expect("build");
    let thresholds = moai_instrument::health::thresholds();
    assert_eq!(thresholds.query_p95_fail, Duration::from_millis(100));
    let routes = guard.routes();
    let (_, report) = get(&routes, "/healthz", None);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["checks"]["query_performance"]["healthy"], true);
    assert!(
        report["checks"]["query_performance"]["message"]
            .as_str()
            .unwrap()
            .contains("No call of the judged query types (blocks_get)"),
        "the message says what was judged: {report}"
    );
    for _ in 0..3 {
        slow_export();
    }
    for _ in 0..50 {
        fast_get();
    }
    std::thread::sleep(Duration::from_millis(1100));
    let (status, report) = get(&routes, "/readyz", None);
    assert_eq!(
        status, 200,
        "a slow query type the host did not name fails nothing: {report}"
    );
    let (_, report) = get(&routes, "/healthz", None);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        report["checks"]["query_performance"]["details"]["slowest_query_type"],
        "blocks_get"
    );
}
