//! A tokio + axum service with its own `tracing` subscriber and its own router, adopting
//! moai-instrument without giving up either: the SDK's JSON lines go to stdout and the rotating
//! file beside the host's own `fmt` lines on stderr, and the SDK's `/metrics`, `/livez`,
//! `/readyz` and `/healthz` are served by the host's router on the host's one port.
//!
//! ```sh
//! cargo run --example axum_service -- --addr 127.0.0.1:8080 --seconds 60
//! curl localhost:8080/agents/7       # an agent
//! curl localhost:8080/agents/0       # 404: an expected error, not counted in moai_flow_errors_total
//! curl localhost:8080/metrics        # the SDK's exposition, on the host's port
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use moai_instrument::{Config, counted_event, timed_query};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug)]
enum LookupError {
    NotFound(u32),
    Unavailable,
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NotFound(id) => write!(f, "no agent {id}"),
            LookupError::Unavailable => f.write_str("the agent store is unavailable"),
        }
    }
}

impl std::error::Error for LookupError {}

/// A missing agent is an answer (404), not a failure of the service.
fn is_not_found(result: &Result<String, LookupError>) -> bool {
    matches!(result, Err(LookupError::NotFound(_)))
}

#[timed_query(query_type = "get_agent", ok_if = is_not_found)]
async fn find_agent(id: u32) -> Result<String, LookupError> {
    match id {
        0 => Err(LookupError::NotFound(id)),
        u32::MAX => Err(LookupError::Unavailable),
        id => Ok(format!("agent-{id}")),
    }
}

#[counted_event(event_type = "agent_lookup")]
async fn get_agent(Path(id): Path<u32>) -> Response {
    match find_agent(id).await {
        Ok(agent) => agent.into_response(),
        Err(error @ LookupError::NotFound(_)) => {
            (StatusCode::NOT_FOUND, error.to_string()).into_response()
        }
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

/// `--addr HOST:PORT` (default 127.0.0.1:8080) and `--seconds N` (default: until Ctrl-C).
fn args() -> Result<(SocketAddr, Option<u64>), String> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut seconds = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--seconds" => {
                seconds = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--seconds {value}: {e}"))?,
                );
            }
            _ => return Err(format!("unknown flag {flag}; expected --addr or --seconds")),
        }
    }
    Ok((addr, seconds))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, seconds) = args()?;
    // The SDK's parts, none installed: no port of its own (`none`), no global subscriber.
    let (json, guard) = Config::from_env()?.metrics_addr("none").build()?;
    // The host's own subscriber: its fmt layer on stderr, the SDK's JSON layer beside it.
    tracing_subscriber::registry()
        .with(json)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();

    let routes = guard.routes();
    let app = Router::new()
        .route("/agents/{id}", get(get_agent))
        // Everything else is the SDK's: /metrics, /livez, /readyz, /healthz (and its 404).
        .fallback(move |request: Request| {
            let routes = routes.clone();
            async move {
                // Rendering is CPU work: off the async workers.
                let answer =
                    tokio::task::spawn_blocking(move || routes.handle(&request).map(Body::from))
                        .await;
                answer.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    tracing::info!(addr = %listener.local_addr()?, "axum service started");
    let stop = async move {
        match seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await?;
    drop(guard); // flushes the log file
    Ok(())
}
