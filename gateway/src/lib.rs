//! dq-gateway: the delay queue and the topic registry over HTTP.
//!
//! - `config`: the TOML file and `DQ_*` environment ([`GatewayConfig`]).
//! - `routes`: the handlers, one file per resource; [`app`] puts them in a router.
//! - `error`: the JSON error body every route returns.
//! - `metrics`: Prometheus metrics.
//! - `server`: the HTTP server's limits (timeouts, connection cap) under the router.
//! - [`run`]: serves the API on a listener until a shutdown future completes.

pub mod config;
mod error;
mod metrics;
mod middleware;
mod routes;
pub mod server;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use dq_core::amqp::Producer;
use dq_core::{DelayQueue, Registry, Tz};
use tokio::net::TcpListener;

pub use config::GatewayConfig;
use metrics::Metrics;

/// What every handler shares.
pub struct AppState {
    pub queue: Arc<DelayQueue>,
    /// RabbitMQ, connected on first use.
    pub producer: Producer,
    pub registry: Arc<Registry>,
    pub time_zone: Tz,
    pub token: Option<String>,
    pub started: Instant,
    metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(
        queue: Arc<DelayQueue>,
        registry: Arc<Registry>,
        config: &GatewayConfig,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            producer: Producer::new(config.amqp.clone(), true),
            queue,
            registry,
            time_zone: config.time_zone,
            token: config.token.clone(),
            started: Instant::now(),
            metrics: Arc::new(Metrics::default()),
        })
    }

    /// What the workers report deliveries to (the metrics).
    pub fn observer(&self) -> Arc<dyn dq_core::Observer> {
        self.metrics.clone()
    }
}

/// The HTTP API, without a socket: tests drive it with `oneshot`.
pub fn app(state: Arc<AppState>, request_limit: usize) -> Router {
    routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::track,
        ))
        .layer(DefaultBodyLimit::max(request_limit))
        .layer(axum::middleware::from_fn(move |request, next| {
            middleware::json_errors(request_limit, request, next)
        }))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, within the `[http]` limits, then
/// lets requests under way finish for at most the shutdown grace.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    config: &GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Every delivery slot may keep a callback connection open: leave descriptors for them.
    let cap = server::connection_cap(config.http.max_connections, config.workers.concurrency);
    tracing::info!(
        max_connections = cap,
        header_read_timeout_s = config.http.header_read_timeout.as_secs_f64(),
        idle_timeout_s = config.http.idle_timeout.as_secs_f64(),
        "HTTP limits"
    );
    let events = state.metrics.clone();
    server::serve(
        listener,
        app(state, config.request_limit),
        config.http.clone(),
        cap,
        events,
        shutdown,
    )
    .await
}

/// Republishes the registry to every shard every `interval`, logging only changes of health.
pub async fn sync_registry(registry: Arc<Registry>, interval: Duration) {
    let mut failing = false;
    loop {
        tokio::time::sleep(interval).await;
        match registry.sync().await {
            Ok(()) if failing => {
                tracing::info!("registry sync works again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %e, "registry sync failed; retrying every {:?}", interval);
                failing = true;
            }
            Err(_) => {}
        }
    }
}
