//! Prometheus metrics: HTTP requests, adds per topic, what the workers report (deliveries,
//! failures by reason, dead letters, leases lost and expired, deliveries in flight), and, at
//! each scrape, queue depths and Redis shard states; what the `xa` worker finished. Everything counted here also feeds the
//! periodic activity line (`activity`).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use dq_core::alert::{Alert, AlertObserver, Alerts, GivenUp, Origin};

use crate::activity::{Activity, SubscriptionOutcome};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub topic: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DepthLabels {
    pub topic: String,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RestartLabels {
    pub server: String,
    pub lost_data: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DatabaseLabels {
    pub database: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RelayedLabels {
    pub database: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    pub kind: String,
    pub outcome: &'static str,
}

/// What became of the alerts, per kind: `mailed`, `held` (the rate limit), `failed`.
#[derive(Clone, Default)]
pub struct AlertCounts(pub Family<AlertLabels, Counter>);

impl AlertCounts {
    fn count(&self, kind: &str, outcome: &'static str) {
        self.0
            .get_or_create(&AlertLabels {
                kind: kind.to_string(),
                outcome,
            })
            .inc();
    }
}

impl AlertObserver for AlertCounts {
    fn mailed(&self, kind: &str) {
        self.count(kind, "mailed");
    }
    fn held(&self, kind: &str) {
        self.count(kind, "held");
    }
    fn failed(&self, kind: &str) {
        self.count(kind, "failed");
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubscriptionLabels {
    pub subscription: String,
}

/// What the subscriptions' consumers did, per subscription.
pub struct SubscriptionMetrics {
    pub delivered: Family<SubscriptionLabels, Counter>,
    pub failed: Family<SubscriptionLabels, Counter>,
    pub dead: Family<SubscriptionLabels, Counter>,
    pub in_flight: Family<SubscriptionLabels, Gauge>,
    /// From publish (as the message says) to the endpoint's 2xx.
    pub lateness: HistogramFamily<SubscriptionLabels>,
    /// From taken off the queue to the endpoint's 2xx (retries in place included).
    pub delivery_seconds: HistogramFamily<SubscriptionLabels>,
}

impl SubscriptionMetrics {
    fn register(registry: &mut Registry) -> SubscriptionMetrics {
        let metrics = SubscriptionMetrics {
            delivered: Family::default(),
            failed: Family::default(),
            dead: Family::default(),
            in_flight: Family::default(),
            lateness: HistogramFamily::new_with_constructor(lag_histogram as fn() -> Histogram),
            delivery_seconds: HistogramFamily::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            ),
        };
        registry.register(
            "subscription_in_flight",
            "Messages of a subscription taken off its queue and not yet settled",
            metrics.in_flight.clone(),
        );
        registry.register(
            "subscription_lateness_seconds",
            "From a message's publish to its endpoint's 2xx, for messages that say when they were published (timestamp_in_ms header, else the timestamp property in whole seconds)",
            metrics.lateness.clone(),
        );
        registry.register(
            "subscription_delivery_seconds",
            "From a message taken off its queue to its endpoint's 2xx",
            metrics.delivery_seconds.clone(),
        );
        registry.register(
            "subscription_delivered",
            "Messages of a subscription its endpoint took (2xx)",
            metrics.delivered.clone(),
        );
        registry.register(
            "subscription_failed",
            "Failed attempts at delivering a subscription's messages (each is tried again)",
            metrics.failed.clone(),
        );
        registry.register(
            "subscription_dead",
            "Messages of a subscription given up to its dead-letter queue",
            metrics.dead.clone(),
        );
        metrics
    }
}

impl SubscriptionMetrics {
    fn count(family: &Family<SubscriptionLabels, Counter>, subscription: &str) {
        family.get_or_create(&labels(subscription)).inc();
    }
}

fn labels(subscription: &str) -> SubscriptionLabels {
    SubscriptionLabels {
        subscription: subscription.to_string(),
    }
}

impl dq_core::subscription::SubscriptionObserver for Metrics {
    fn taken(&self, subscription: &str) {
        self.subscriptions
            .in_flight
            .get_or_create(&labels(subscription))
            .inc();
    }

    fn settled(&self, subscription: &str) {
        self.subscriptions
            .in_flight
            .get_or_create(&labels(subscription))
            .dec();
    }

    fn delivered(
        &self,
        subscription: &str,
        _attempt: u32,
        took: Duration,
        since_published: Option<Duration>,
    ) {
        let s = &self.subscriptions;
        SubscriptionMetrics::count(&s.delivered, subscription);
        self.activity.subscription(SubscriptionOutcome::Delivered);
        s.delivery_seconds
            .get_or_create(&labels(subscription))
            .observe(took.as_secs_f64());
        if let Some(late) = since_published {
            s.lateness
                .get_or_create(&labels(subscription))
                .observe(late.as_secs_f64());
        }
    }

    fn failed(&self, subscription: &str, _status: Option<u16>, _error: &str) {
        SubscriptionMetrics::count(&self.subscriptions.failed, subscription);
        self.activity.subscription(SubscriptionOutcome::Failed);
    }

    fn dead(&self, subscription: &str, letter: &GivenUp<'_>) {
        SubscriptionMetrics::count(&self.subscriptions.dead, subscription);
        self.activity.subscription(SubscriptionOutcome::Dead);
        if let Some(alert) = Alert::dead_letter(Origin::Subscription, subscription, letter, &[]) {
            self.alert(alert);
        }
    }
}

/// The outbox relay's metrics, per database of `[outbox] databases`.
pub struct OutboxMetrics {
    pub relayed: Family<RelayedLabels, Counter>,
    pub refused: Family<DatabaseLabels, Counter>,
    pub backlog: Family<DatabaseLabels, Gauge>,
    pub oldest_unsent: Family<DatabaseLabels, Gauge<f64, AtomicU64>>,
    pub lag: HistogramFamily<DatabaseLabels>,
    pub backing_off: Family<DatabaseLabels, Gauge>,
    pub alerts: Family<DatabaseLabels, Counter>,
}

impl OutboxMetrics {
    fn register(registry: &mut Registry) -> OutboxMetrics {
        let metrics = OutboxMetrics {
            relayed: Family::default(),
            refused: Family::default(),
            backlog: Family::default(),
            oldest_unsent: Family::default(),
            // 1 ms to about 65 s.
            lag: HistogramFamily::new_with_constructor(lag_histogram as fn() -> Histogram),
            backing_off: Family::default(),
            alerts: Family::default(),
        };
        registry.register(
            "outbox_relayed",
            "Outbox rows relayed (published with a confirm, or added to the delay queue) per database and kind",
            metrics.relayed.clone(),
        );
        registry.register(
            "outbox_refused",
            "Outbox rows the broker refused on their own account (nack, missing exchange, unregistered topic); each is tried again later",
            metrics.refused.clone(),
        );
        registry.register(
            "outbox_backlog",
            "Unsent outbox rows (committed, not yet relayed), counted every second",
            metrics.backlog.clone(),
        );
        registry.register(
            "outbox_oldest_unsent_seconds",
            "Age of the oldest unsent outbox row (0 when there is none)",
            metrics.oldest_unsent.clone(),
        );
        registry.register(
            "outbox_relay_lag_seconds",
            "From a row's insert to its confirm",
            metrics.lag.clone(),
        );
        registry.register(
            "outbox_relay_backing_off",
            "1 while the relay backs off (MySQL, RabbitMQ or Redis away)",
            metrics.backing_off.clone(),
        );
        registry.register(
            "outbox_alerts",
            "Times the oldest unsent row grew older than outbox.alert_after",
            metrics.alerts.clone(),
        );
        metrics
    }
}

fn lag_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.1 ms to about 1.6 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_seconds: HistogramFamily<RouteLabels>,
    pub added: Family<TopicLabels, Counter>,
    pub delivered: Family<TopicLabels, Counter>,
    pub failed: Family<FailureLabels, Counter>,
    pub dead: Family<TopicLabels, Counter>,
    pub leases_lost: Family<TopicLabels, Counter>,
    pub leases_expired: Family<TopicLabels, Counter>,
    pub in_flight: Family<TopicLabels, Gauge>,
    pub lateness: Histogram,
    pub depth: Family<DepthLabels, Gauge>,
    pub redis_up: Family<ServerLabels, Gauge>,
    pub http_connections: Gauge,
    pub http_limit_hits: Family<LimitLabels, Counter>,
    pub registry_sync_failures: Counter,
    pub redis_restarts: Family<RestartLabels, Counter>,
    pub scrape_errors: Gauge,
    pub xa_recovered: Family<ActionLabels, Counter>,
    pub xa_in_doubt: Gauge,
    pub xa_recovery_errors: Counter,
    pub outbox: OutboxMetrics,
    pub subscriptions: SubscriptionMetrics,
    pub activity: Arc<Activity>,
    pub recent_lateness: RecentLateness,
    pub alert_counts: AlertCounts,
    /// The e-mail alerts, when `[alerts]` is set.
    alerts: std::sync::OnceLock<Alerts>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dq");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_seconds = HistogramFamily::<RouteLabels>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let added = Family::<TopicLabels, Counter>::default();
        let delivered = Family::<TopicLabels, Counter>::default();
        let failed = Family::<FailureLabels, Counter>::default();
        let dead = Family::<TopicLabels, Counter>::default();
        let leases_lost = Family::<TopicLabels, Counter>::default();
        let leases_expired = Family::<TopicLabels, Counter>::default();
        let in_flight = Family::<TopicLabels, Gauge>::default();
        let scrape_errors = Gauge::default();
        // 1 ms to about 65 s.
        let lateness = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        let depth = Family::<DepthLabels, Gauge>::default();
        let redis_up = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_seconds.clone(),
        );
        registry.register(
            "messages_added",
            "Messages accepted over this gateway's HTTP API per topic (adds from dq.so go straight to Redis)",
            added.clone(),
        );
        registry.register(
            "messages_delivered",
            "Callbacks that answered 2xx, per topic",
            delivered.clone(),
        );
        registry.register(
            "delivery_failures",
            "Failed delivery attempts per topic and reason (timeout, connect, gone, status_4xx, status_5xx, other)",
            failed.clone(),
        );
        registry.register("dead_letters", "Messages given up per topic", dead.clone());
        registry.register(
            "leases_lost",
            "Attempts that ended after their lease had passed on (expired while this gateway was frozen or cut off, or the message was deleted or replaced); not counted as failures",
            leases_lost.clone(),
        );
        registry.register(
            "leases_expired",
            "Expired leases the reaper returned to ready, per topic: messages delivered again because a gateway died or froze mid-delivery",
            leases_expired.clone(),
        );
        registry.register(
            "deliveries_in_flight",
            "Deliveries under way in this gateway per topic (slots in use)",
            in_flight.clone(),
        );
        registry.register(
            "delivery_lateness_seconds",
            "Time from a message's due time to its delivery",
            lateness.clone(),
        );
        registry.register(
            "queue_messages",
            "Messages per topic and state, at scrape time",
            depth.clone(),
        );
        let http_connections = Gauge::default();
        registry.register(
            "http_connections",
            "HTTP connections open now",
            http_connections.clone(),
        );
        let http_limit_hits = Family::<LimitLabels, Counter>::default();
        registry.register(
            "http_limit_hits",
            "Times an HTTP server limit was hit: max_connections, descriptors, header_read_timeout, idle_timeout",
            http_limit_hits.clone(),
        );
        let registry_sync_failures = Counter::default();
        registry.register(
            "registry_sync_failures",
            "Topic registry syncs that failed on some Redis shard",
            registry_sync_failures.clone(),
        );
        let redis_restarts = Family::<RestartLabels, Counter>::default();
        registry.register(
            "redis_restarts",
            "Redis restarts noticed (a new run id), and whether dq's data was lost with them",
            redis_restarts.clone(),
        );
        registry.register(
            "redis_up",
            "1 if the Redis shard answered PING at scrape time",
            redis_up.clone(),
        );
        registry.register(
            "scrape_redis_errors",
            "Redis reads of the last scrape (PING, queue depths of a topic) that failed or missed the scrape's deadline; their values are the last known",
            scrape_errors.clone(),
        );
        let xa_recovered = Family::<ActionLabels, Counter>::default();
        registry.register(
            "xa_recovered",
            "Prepared XA branches the xa worker finished (committed, rolled_back) or could not finish this time (failed: retried next pass)",
            xa_recovered.clone(),
        );
        let xa_in_doubt = Gauge::default();
        registry.register(
            "xa_in_doubt",
            "Prepared XA branches the xa worker's last pass left prepared: waiting for a decision (younger than xa_timeout) or whose decision failed to apply",
            xa_in_doubt.clone(),
        );
        let xa_recovery_errors = Counter::default();
        registry.register(
            "xa_recovery_errors",
            "Servers of [databases] the xa worker could not look at (XA RECOVER failed), counted per pass",
            xa_recovery_errors.clone(),
        );
        let outbox = OutboxMetrics::register(&mut registry);
        let subscriptions = SubscriptionMetrics::register(&mut registry);
        let alert_counts = AlertCounts::default();
        registry.register(
            "alerts",
            "E-mail alerts per kind (dead_letter, backend_down, backend_up, outbox_backlog, xa_in_doubt) and outcome: mailed, held (the rate limit: summed up in the next mail), failed",
            alert_counts.0.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_seconds,
            added,
            delivered,
            failed,
            dead,
            leases_lost,
            leases_expired,
            in_flight,
            lateness,
            depth,
            redis_up,
            http_connections,
            http_limit_hits,
            registry_sync_failures,
            redis_restarts,
            scrape_errors,
            xa_recovered,
            xa_in_doubt,
            xa_recovery_errors,
            outbox,
            subscriptions,
            activity: Arc::new(Activity::default()),
            recent_lateness: RecentLateness::default(),
            alert_counts,
            alerts: std::sync::OnceLock::new(),
        }
    }
}

impl Metrics {
    /// Mails the alerts raised from now on (once; later calls are ignored).
    pub fn set_alerts(&self, alerts: Alerts) {
        let _ = self.alerts.set(alerts);
    }

    /// Hands `alert` to the e-mail alerts, when they are on.
    pub fn alert(&self, alert: Alert) {
        if let Some(alerts) = self.alerts.get() {
            alerts.raise(alert);
        }
    }

    /// Whether e-mail alerts are on.
    pub fn alerting(&self) -> bool {
        self.alerts.get().is_some()
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        text
    }
}

/// The last lateness samples of each topic, for the dashboard's p50 and p99.
#[derive(Default)]
pub struct RecentLateness {
    by_topic: std::sync::Mutex<std::collections::HashMap<String, std::collections::VecDeque<u32>>>,
}

/// Samples kept per topic.
const RECENT: usize = 512;

impl RecentLateness {
    fn note(&self, topic: &str, lateness: Duration) {
        let ms = u32::try_from(lateness.as_millis()).unwrap_or(u32::MAX);
        let Ok(mut all) = self.by_topic.lock() else {
            return;
        };
        let samples = all.entry(topic.to_string()).or_default();
        if samples.len() == RECENT {
            samples.pop_front();
        }
        samples.push_back(ms);
    }

    /// `(p50, p99)` in ms of the topic's last deliveries; `None` before the first.
    pub fn quantiles(&self, topic: &str) -> Option<(u32, u32)> {
        let all = self.by_topic.lock().ok()?;
        let mut samples: Vec<u32> = all.get(topic)?.iter().copied().collect();
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        (!samples.is_empty()).then(|| (at(0.5), at(0.99)))
    }
}

/// What the dashboard shows of a topic's counters since start.
pub struct TopicCounts {
    pub delivered: u64,
    pub failed: u64,
    pub dead: u64,
}

/// What the dashboard shows of a subscription's counters since start.
pub struct SubscriptionCounts {
    pub delivered: u64,
    pub failed: u64,
    pub dead: u64,
}

impl Metrics {
    /// A topic's deliveries, failed attempts (every reason) and dead letters since start.
    pub fn topic_counts(&self, topic: &str) -> TopicCounts {
        let labels = topic_labels(topic);
        let failed = dq_core::Failure::ALL
            .iter()
            .filter_map(|reason| {
                self.failed
                    .get(&FailureLabels {
                        topic: topic.to_string(),
                        reason: reason.as_str(),
                    })
                    .map(|c| c.get())
            })
            .sum();
        TopicCounts {
            delivered: self.delivered.get(&labels).map_or(0, |c| c.get()),
            failed,
            dead: self.dead.get(&labels).map_or(0, |c| c.get()),
        }
    }

    /// A subscription's messages taken and not yet settled here (`dq_subscription_in_flight`).
    pub fn subscription_in_flight(&self, subscription: &str) -> i64 {
        self.subscriptions
            .in_flight
            .get(&labels(subscription))
            .map_or(0, |g| g.get())
    }

    /// A subscription's deliveries, failed attempts and dead letters since start.
    pub fn subscription_counts(&self, subscription: &str) -> SubscriptionCounts {
        let s = &self.subscriptions;
        let count = |family: &Family<SubscriptionLabels, Counter>| {
            family.get(&labels(subscription)).map_or(0, |c| c.get())
        };
        SubscriptionCounts {
            delivered: count(&s.delivered),
            failed: count(&s.failed),
            dead: count(&s.dead),
        }
    }
}

fn topic_labels(topic: &str) -> TopicLabels {
    TopicLabels {
        topic: topic.to_string(),
    }
}

impl dq_core::Observer for Metrics {
    fn delivered(&self, topic: &str, lateness: Duration) {
        self.delivered.get_or_create(&topic_labels(topic)).inc();
        self.lateness.observe(lateness.as_secs_f64());
        self.recent_lateness.note(topic, lateness);
        self.activity.delivered(lateness);
    }

    fn failed(&self, topic: &str, reason: dq_core::Failure) {
        self.failed
            .get_or_create(&FailureLabels {
                topic: topic.to_string(),
                reason: reason.as_str(),
            })
            .inc();
        self.activity.failed(reason);
    }

    fn dead(&self, topic: &dq_core::Topic, letter: &GivenUp<'_>) {
        self.dead.get_or_create(&topic_labels(&topic.name)).inc();
        self.activity.dead();
        if let Some(alert) =
            Alert::dead_letter(Origin::Topic, &topic.name, letter, &topic.alert_email)
        {
            self.alert(alert);
        }
    }

    fn lease_lost(&self, topic: &str) {
        self.leases_lost.get_or_create(&topic_labels(topic)).inc();
        self.activity.lease_lost();
    }

    fn leases_expired(&self, topic: &str, count: usize) {
        self.leases_expired
            .get_or_create(&topic_labels(topic))
            .inc_by(count as u64);
        self.activity.leases_expired(count);
    }

    fn in_flight(&self, topic: &str, count: usize) {
        self.in_flight
            .get_or_create(&topic_labels(topic))
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

impl crate::server::ServerEvents for Metrics {
    fn connections(&self, open: usize) {
        self.http_connections
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    fn limit_hit(&self, limit: crate::server::Limit) {
        self.http_limit_hits
            .get_or_create(&LimitLabels {
                limit: limit.name(),
            })
            .inc();
    }
}

impl dq_core::RegistryObserver for Metrics {
    fn sync_failed(&self) {
        self.registry_sync_failures.inc();
    }

    fn server_restarted(&self, server: &str, lost_data: bool) {
        self.redis_restarts
            .get_or_create(&RestartLabels {
                server: server.to_string(),
                lost_data,
            })
            .inc();
    }
}
