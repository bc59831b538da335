//! Prometheus metrics: HTTP requests, adds per topic, and, at each scrape, queue depths and
//! Redis shard states.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
pub struct DepthLabels {
    pub topic: String,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub server: String,
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
    pub failed: Family<TopicLabels, Counter>,
    pub dead: Family<TopicLabels, Counter>,
    pub lateness: Histogram,
    pub depth: Family<DepthLabels, Gauge>,
    pub redis_up: Family<ServerLabels, Gauge>,
    pub scrape_errors: Gauge,
    /// The Redis shards, as `redis_up` names them.
    servers: Vec<String>,
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
        let failed = Family::<TopicLabels, Counter>::default();
        let dead = Family::<TopicLabels, Counter>::default();
        // 1 ms to about 65 s.
        let lateness = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        let depth = Family::<DepthLabels, Gauge>::default();
        let redis_up = Family::<ServerLabels, Gauge>::default();
        let scrape_errors = Gauge::default();
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
            "Failed delivery attempts per topic",
            failed.clone(),
        );
        registry.register("dead_letters", "Messages given up per topic", dead.clone());
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
        Metrics {
            registry,
            http_requests,
            http_seconds,
            added,
            delivered,
            failed,
            dead,
            lateness,
            depth,
            redis_up,
            scrape_errors,
            servers: Vec::new(),
        }
    }
}

impl Metrics {
    /// Metrics of a gateway on the Redis `servers` (their display names).
    pub fn new(servers: Vec<String>) -> Metrics {
        Metrics {
            servers,
            ..Metrics::default()
        }
    }

    /// Every shard down: none answered within a scrape's deadline.
    pub fn mark_servers_down(&self) {
        for server in &self.servers {
            self.redis_up
                .get_or_create(&ServerLabels {
                    server: server.clone(),
                })
                .set(0);
        }
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

impl dq_core::Observer for Metrics {
    fn delivered(&self, topic: &str, lateness: std::time::Duration) {
        self.delivered
            .get_or_create(&TopicLabels {
                topic: topic.to_string(),
            })
            .inc();
        self.lateness.observe(lateness.as_secs_f64());
    }

    fn failed(&self, topic: &str, _status: Option<u16>) {
        self.failed
            .get_or_create(&TopicLabels {
                topic: topic.to_string(),
            })
            .inc();
    }

    fn dead(&self, topic: &str) {
        self.dead
            .get_or_create(&TopicLabels {
                topic: topic.to_string(),
            })
            .inc();
    }
}
