//! dq-gateway: the delay queue and the topic registry over HTTP.
//!
//! - `config`: the TOML file and `DQ_*` environment ([`GatewayConfig`]).
//! - `routes`: the handlers, one file per resource; [`app`] puts them in a router.
//! - `error`: the JSON error body every route returns.
//! - `logging`: the log filter (`DQ_LOG` over dq's defaults).
//! - `metrics`: Prometheus metrics; `activity`: the periodic INFO line of what happened.
//! - [`run`]: serves a router on a listener until a shutdown future completes.

mod activity;
pub mod config;
mod error;
pub mod logging;
mod metrics;
mod middleware;
mod routes;

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
            metrics: Arc::new(Metrics::new(
                config
                    .queue
                    .redis
                    .iter()
                    .map(|s| s.display.clone())
                    .collect(),
            )),
        })
    }

    /// What the workers report deliveries to (the metrics).
    pub fn observer(&self) -> Arc<dyn dq_core::Observer> {
        self.metrics.clone()
    }

    /// Logs one INFO line per `every` of what happened (adds, deliveries, failures, ...), when
    /// anything did; per-message lines are at DEBUG. Runs until dropped.
    pub fn log_activity(&self, every: Duration) -> impl Future<Output = ()> + Send + 'static {
        activity::log_every(self.metrics.activity.clone(), every)
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
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for at most `grace`.
pub async fn run(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signal = stopping.clone();
    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        signal.notify_one();
    });
    let deadline = async {
        stopping.notified().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = serve => served,
        () = deadline => {
            tracing::warn!(grace_s = grace.as_secs_f64(), "requests still in flight after the grace period; stopping anyway");
            Ok(())
        }
    }
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
