//! `init()` inside a tokio runtime: no panic (the exporter runs on its own threads, so it neither
//! needs a runtime nor blocks the runtime's workers), and scrapes are answered while async tasks
//! record through the macros.

use moai_test_support as common;

use common::{http, sample, temp_dir};
use moai_instrument::{Config, timed_query};

#[timed_query(query_type = "tokio_query")]
async fn query(n: u64) -> Result<u64, String> {
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    if n.is_multiple_of(4) {
        Err(format!("task {n} failed"))
    } else {
        Ok(n)
    }
}

#[test]
fn init_and_scrape_inside_a_multi_threaded_runtime() {
    if !common::own_process() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let guard = Config::new()
            .metrics_addr("127.0.0.1:0")
            .log_dir(Some(temp_dir("tokio")))
            .init()
            .expect("init inside a runtime");
        let tasks: Vec<_> = (0..40).map(|n| tokio::spawn(query(n))).collect();
        for task in tasks {
            let _ = task.await.expect("task ran");
        }
        let addr = guard.metrics_addr().expect("the exporter listens");
        let body = tokio::task::spawn_blocking(move || http(addr, "GET", "/metrics", &[]).2)
            .await
            .unwrap();
        assert_eq!(
            sample(
                &body,
                r#"moai_flow_query_duration_seconds_count{query_type="tokio_query"}"#
            ),
            Some(40.0)
        );
        assert_eq!(
            sample(&body, r#"moai_flow_errors_total{operation="tokio_query"}"#),
            Some(10.0)
        );
        // Dropping the guard inside the runtime stops the exporter without blocking forever.
        drop(guard);
    });
}
