//! dq-gateway: the delay queue and the topic registry over HTTP.
//!
//! - `config`: the TOML file and `DQ_*` environment ([`GatewayConfig`]).
//! - `routes`: the handlers, one file per resource, and the one list of operations that [`app`]
//!   puts in a router ([`api_routes`]) and `/openapi.json` describes (`gateway/openapi.json`).
//! - `error`: the JSON error body every route returns.
//! - `logging`: the log filter (the `log` setting or `DQ_LOG`, over dq's defaults).
//! - `metrics`: Prometheus metrics; `activity`: the periodic INFO line of what happened.
//! - [`reload`]: SIGHUP: the configuration applied again where it can change live.
//! - `server`: the HTTP server's limits (timeouts, connection cap) under the router.
//! - `xa`: transactions over `[databases]` ([`Coordinator`]) and the `xa` worker
//!   ([`XaRecovery`]) that finishes those left prepared.
//! - [`run`]: serves the API on a listener until a shutdown future completes.

mod activity;
mod alerts;
pub mod config;
mod error;
pub mod logging;
mod metrics;
mod middleware;
mod outbox;
pub mod reload;
mod routes;
pub mod server;
mod subscriptions;
pub mod systemd;
mod ui;
mod xa;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use dq_core::alert::Alerts;
use dq_core::amqp::Producer;
use dq_core::{DelayQueue, Registry, Tz};
use tokio::net::TcpListener;

pub use config::GatewayConfig;
use metrics::Metrics;
pub use outbox::Outboxes;
pub use subscriptions::Subscriptions;
pub use xa::{Coordinator, XaRecovery};

/// What every handler shares.
pub struct AppState {
    pub queue: Arc<DelayQueue>,
    /// RabbitMQ, connected on first use.
    pub producer: Producer,
    pub registry: Arc<Registry>,
    /// What SIGHUP may change.
    live: RwLock<Arc<Live>>,
    pub started: Instant,
    metrics: Arc<Metrics>,
    /// RabbitMQ is configured, or was used since start: `/healthz` checks it.
    amqp_in_use: AtomicBool,
    /// XA over `[databases]`, when it and `mysql` are set.
    xa: Option<Arc<Coordinator>>,
    /// The outbox relays of `[outbox] databases`, when it names any.
    outbox: Option<Arc<Outboxes>>,
    /// The subscriptions' registry and this gateway's consumers.
    pub subscriptions: Arc<Subscriptions>,
    /// This gateway runs workers (not `--no-workers`).
    workers: AtomicBool,
    /// The address it listens on (the admin UI without a token only on loopback).
    pub listen: String,
}

impl AppState {
    pub fn new(
        queue: Arc<DelayQueue>,
        registry: Arc<Registry>,
        config: &GatewayConfig,
    ) -> Arc<AppState> {
        // Adds through this gateway ask its own registry first, not Redis's copy of it.
        let source: Weak<dyn dq_core::TopicSource> = Arc::downgrade(&registry) as _;
        queue.set_topic_source(source);
        let metrics = Arc::new(Metrics::default());
        if let Some(alerts) = &config.alerts {
            match Alerts::start(alerts.clone(), Some(Arc::new(metrics.alert_counts.clone()))) {
                Ok(alerts) => metrics.set_alerts(alerts),
                Err(e) => tracing::error!(error = %e, "e-mail alerts are off"),
            }
        }
        Arc::new(AppState {
            producer: Producer::new(config.amqp.clone(), true),
            queue: queue.clone(),
            registry,
            live: RwLock::new(Arc::new(Live::from(config))),
            started: Instant::now(),
            outbox: Outboxes::new(config, metrics.clone()).map(Arc::new),
            subscriptions: Arc::new(Subscriptions::new(queue.clone(), config, metrics.clone())),
            workers: AtomicBool::new(false),
            listen: config.listen.clone(),
            metrics,
            amqp_in_use: AtomicBool::new(config.amqp_configured),
            xa: Coordinator::new(config).map(Arc::new),
        })
    }

    /// Watches the backends for e-mail alerts (down, up again) until `shutdown` turns true;
    /// returns at once when `[alerts]` is not set.
    pub fn watch_backends(
        self: &Arc<Self>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(alerts::watch_backends(self.clone(), shutdown))
    }

    /// The settings SIGHUP may change, as of now.
    pub fn live(&self) -> Arc<Live> {
        self.live
            .read()
            .map_or_else(|p| p.into_inner().clone(), |l| l.clone())
    }

    /// Takes the token and time zone of a reloaded configuration.
    pub fn set_live(&self, config: &GatewayConfig) {
        if let Ok(mut live) = self.live.write() {
            *live = Arc::new(Live::from(config));
        }
    }

    /// Whether RabbitMQ is configured, was used since start, has subscriptions consuming or
    /// topics publishing to it.
    pub fn amqp_in_use(&self) -> bool {
        self.amqp_in_use.load(Ordering::Relaxed) || !self.subscriptions.registry.list().is_empty()
    }

    /// Notes that RabbitMQ is in use (a publish or a call came in).
    pub fn using_amqp(&self) {
        self.amqp_in_use.store(true, Ordering::Relaxed);
    }

    /// What the registry's upkeep reports to (the metrics).
    pub fn registry_observer(&self) -> Arc<dyn dq_core::RegistryObserver> {
        self.metrics.clone()
    }

    /// What the workers report deliveries to (the metrics).
    pub fn observer(&self) -> Arc<dyn dq_core::Observer> {
        self.metrics.clone()
    }

    /// The `xa` worker, when XA is configured: run it with [`XaRecovery::run`].
    pub fn xa_recovery(&self) -> Option<XaRecovery> {
        let coordinator = self.xa.clone()?;
        Some(XaRecovery::new(coordinator, self.metrics.clone()))
    }

    /// Starts the outbox relays, when `[outbox] databases` names any; each runs until
    /// `shutdown` turns true.
    pub fn start_outbox_relays(
        &self,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        match &self.outbox {
            Some(outbox) => outbox.start(self.queue.clone(), shutdown),
            None => Vec::new(),
        }
    }

    /// Runs a consumer per active subscription (those of `[[subscription]]` and of the API),
    /// following the registry, until `shutdown` turns true; then deliveries under way get the
    /// shutdown grace.
    pub fn start_subscriptions(
        &self,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        self.workers.store(true, Ordering::Relaxed);
        tokio::spawn(self.subscriptions.clone().run(shutdown))
    }

    /// Whether this gateway runs workers (subscriptions' consumers among them).
    pub fn runs_workers(&self) -> bool {
        self.workers.load(Ordering::Relaxed)
    }

    /// Logs one INFO line per `every` of what happened (adds, deliveries, failures, ...), when
    /// anything did; per-message lines are at DEBUG. Runs until dropped.
    pub fn log_activity(&self, every: Duration) -> impl Future<Output = ()> + Send + 'static {
        activity::log_every(self.metrics.activity.clone(), every)
    }
}

/// `registry` with its record in dq's MySQL database when `mysql` is set (topics and
/// subscriptions are then kept there, every gateway reading them); as it is otherwise.
pub fn with_record<T: dq_core::Definition>(
    registry: dq_core::Registry<T>,
    config: &GatewayConfig,
) -> dq_core::Registry<T> {
    match &config.mysql {
        Some(url) => registry.recorded(dq_core::Record::new(
            url.clone(),
            config.queue.timeout.max(Duration::from_secs(2)),
        )),
        None => registry,
    }
}

/// The settings of a running gateway that a reload may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub token: Option<String>,
    pub ui_readonly_token: Option<String>,
    pub time_zone: Tz,
}

impl From<&GatewayConfig> for Live {
    fn from(config: &GatewayConfig) -> Live {
        Live {
            token: config.token.clone(),
            ui_readonly_token: config.ui_readonly_token.clone(),
            time_zone: config.time_zone,
        }
    }
}

/// The method and path template of every operation the API serves, as the router has them.
pub fn api_routes() -> Vec<(axum::http::Method, &'static str)> {
    routes::operations()
        .into_iter()
        .map(|op| (op.method, op.path))
        .collect()
}

/// The HTTP API, without a socket: tests drive it with `oneshot`.
pub fn app(state: Arc<AppState>, request_limit: usize) -> Router {
    routes::router()
        .merge(ui::router())
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
