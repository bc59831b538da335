//! `/healthz` and `/metrics`.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use dq_core::{ShardHealth, Stats};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::metrics::{DepthLabels, Metrics, ServerLabels};
use crate::{AppState, Coordinator};

/// Each backend the gateway uses, and what would lose messages: 200 `ok` when all answer,
/// 200 `warn` when a Redis keeps nothing on disk (or only snapshots) or the last XA recovery
/// pass met an error, an outbox relay backs off or has rows older than its alert bound, or a
/// subscription cannot consume, or a Redis Cluster node it can do without does not answer;
/// 503 `degraded` when a Redis shard (a cluster's master), or RabbitMQ once it is in use, does
/// not answer.
pub async fn healthz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let (status, body) = report(&state).await;
    (status, Json(body))
}

/// The health report and its status, as `/healthz` answers them.
pub async fn report(state: &AppState) -> (StatusCode, Value) {
    let (servers, broker) = probe(state, BROKER_CHECK).await;
    let mut down = false;
    let mut warnings = Vec::new();
    let redis: Vec<Value> = servers
        .iter()
        .map(|report| match &report.result {
            Ok(facts) => {
                if let Some(warning) = facts.persistence_warning() {
                    warnings.push(format!("Redis at {}: {warning}", report.server));
                }
                json!({
                    "server": report.server,
                    "state": "up",
                    "latency_ms": facts.latency.as_secs_f64() * 1000.0,
                    "run_id": facts.run_id,
                    "persistence": {
                        "appendonly": facts.appendonly,
                        "save": facts.save,
                        "durable": facts.durable(),
                    },
                })
            }
            Err(e) => {
                if report.needed {
                    down = true;
                } else {
                    warnings.push(format!(
                        "Redis at {}: does not answer; the cluster does without it: {}",
                        report.server,
                        e.message()
                    ));
                }
                json!({"server": report.server, "state": "down", "error": e.message()})
            }
        })
        .collect();
    let server = &state.producer.config().display;
    let rabbitmq = match broker {
        None => json!({
            "server": server,
            "state": "unused",
            "note": "not checked until the gateway publishes or `amqp` is set",
        }),
        Some(Ok(rtt)) => {
            json!({"server": server, "state": "up", "latency_ms": rtt.as_secs_f64() * 1000.0})
        }
        Some(Err(e)) => {
            down = true;
            json!({"server": server, "state": "down", "error": e.message()})
        }
    };
    let xa = state.xa.as_ref().map(|xa| xa_health(xa, &mut warnings));
    let outbox = state.outbox.as_ref().map(|o| o.health(&mut warnings));
    let subscriptions = state
        .subscriptions
        .health(state.runs_workers(), &mut warnings);
    let (status, word) = if down {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded")
    } else if !warnings.is_empty() {
        (StatusCode::OK, "warn")
    } else {
        (StatusCode::OK, "ok")
    };
    let mut body = json!({
        "status": word,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "redis": redis,
        "rabbitmq": rabbitmq,
        "warnings": warnings,
        "topics": state.registry.list().len(),
    });
    if let Some(xa) = xa {
        body["xa"] = xa;
    }
    if let Some(outbox) = outbox {
        body["outbox"] = outbox;
    }
    if subscriptions.as_object().is_some_and(|s| !s.is_empty()) {
        body["subscriptions"] = subscriptions;
    }
    (status, body)
}

/// Every Redis shard's answer, and RabbitMQ's round trip (within `broker_timeout`) when it is
/// in use (`None` when not), asked at once: `/healthz` and the alerts' watch of the backends.
pub(crate) async fn probe(
    state: &AppState,
    broker_timeout: Duration,
) -> (
    Vec<dq_core::ServerReport>,
    Option<dq_core::Result<Duration>>,
) {
    let amqp_in_use = state.amqp_in_use();
    tokio::join!(state.queue.servers(), async {
        if amqp_in_use {
            Some(state.producer.check(broker_timeout).await)
        } else {
            None
        }
    })
}

/// What the `xa` worker's last pass found (MySQL is not asked here); its error is a warning.
fn xa_health(xa: &Coordinator, warnings: &mut Vec<String>) -> Value {
    let last = xa.last_pass();
    if let Some(error) = last.as_ref().and_then(|l| l.error.as_ref()) {
        warnings.push(format!("XA recovery: {error}"));
    }
    json!({
        "databases": xa.databases().names().collect::<Vec<_>>(),
        "recovery": if xa.recovering() { "running" } else { "off" },
        "in_doubt": last.as_ref().map(|l| l.in_doubt),
        "last_pass_at": last.as_ref().map(|l| {
            l.at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
        }),
        "last_error": last.and_then(|l| l.error),
    })
}

/// How long `/healthz` waits for RabbitMQ.
const BROKER_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// The longest a scrape waits for Redis: a hung Redis must not hang the scraper as well.
const SCRAPE_DEADLINE: Duration = Duration::from_secs(1);
/// What the PINGs leave of the deadline for their answers to be recorded.
const PING_MARGIN: Duration = Duration::from_millis(100);

/// Prometheus (OpenMetrics) text. Queue depths and shard states are read from Redis at scrape
/// time, all at once and within `SCRAPE_DEADLINE`; what fails or comes late keeps its last
/// value and is counted in `dq_scrape_redis_errors`.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let errors = read_redis(&state).await;
    state
        .metrics
        .scrape_errors
        .set(i64::try_from(errors).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// What one read of the scrape found.
enum Reading {
    Shards(Vec<ShardHealth>),
    Depths(String, dq_core::Result<Stats>),
}

/// Pings the shards and reads every topic's depths in parallel, recording what comes within
/// the deadline (a shard that does not answer its PING in time is marked down). Returns how
/// many reads failed or came late.
async fn read_redis(state: &Arc<AppState>) -> usize {
    let mut reads = JoinSet::new();
    let pinging = state.clone();
    // Each shard answers or times out a little before the deadline, so none is left unknown.
    let within = SCRAPE_DEADLINE.saturating_sub(PING_MARGIN);
    reads.spawn(async move { Reading::Shards(pinging.queue.ping(within).await) });
    for topic in state.registry.list() {
        let reading = state.clone();
        reads.spawn(async move {
            let stats = reading.queue.stats(&topic.name).await;
            Reading::Depths(topic.name, stats)
        });
    }
    let deadline = tokio::time::sleep(SCRAPE_DEADLINE);
    tokio::pin!(deadline);
    let mut errors = 0;
    loop {
        tokio::select! {
            next = reads.join_next() => match next {
                None => break,
                Some(Ok(Reading::Shards(shards))) => errors += record_shards(&state.metrics, shards),
                Some(Ok(Reading::Depths(topic, Ok(stats)))) => record_depths(&state.metrics, topic, &stats),
                Some(Ok(Reading::Depths(_, Err(_))) | Err(_)) => errors += 1,
            },
            () = &mut deadline => {
                errors += reads.len();
                break;
            }
        }
    }
    // Dropping the set stops the reads that are late.
    drop(reads);
    errors
}

fn record_shards(metrics: &Metrics, shards: Vec<ShardHealth>) -> usize {
    let mut errors = 0;
    for shard in shards {
        errors += usize::from(shard.result.is_err());
        metrics
            .redis_up
            .get_or_create(&ServerLabels {
                server: shard.server,
            })
            .set(i64::from(shard.result.is_ok()));
    }
    errors
}

fn record_depths(metrics: &Metrics, topic: String, stats: &Stats) {
    for (state, count) in [
        ("delayed", stats.delayed),
        ("ready", stats.ready),
        ("inflight", stats.inflight),
        ("dead", stats.dead),
    ] {
        metrics
            .depth
            .get_or_create(&DepthLabels {
                topic: topic.clone(),
                state,
            })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}
