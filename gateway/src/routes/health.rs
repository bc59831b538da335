//! `/healthz` and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::AppState;
use crate::metrics::{DepthLabels, ServerLabels};

/// Each backend the gateway uses, and what would lose messages: 200 `ok` when all answer,
/// 200 `warn` when a Redis keeps nothing on disk (or only snapshots), 503 `degraded` when a
/// Redis shard, or RabbitMQ once it is in use, does not answer.
pub async fn healthz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let amqp_in_use = state.amqp_in_use();
    let (servers, broker) = tokio::join!(state.queue.servers(), async {
        if amqp_in_use {
            Some(state.producer.check(BROKER_CHECK).await)
        } else {
            None
        }
    });
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
                down = true;
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
    let (status, word) = if down {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded")
    } else if !warnings.is_empty() {
        (StatusCode::OK, "warn")
    } else {
        (StatusCode::OK, "ok")
    };
    let body = json!({
        "status": word,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "redis": redis,
        "rabbitmq": rabbitmq,
        "warnings": warnings,
        "topics": state.registry.list().len(),
    });
    (status, Json(body))
}

/// How long `/healthz` waits for RabbitMQ.
const BROKER_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Prometheus (OpenMetrics) text; queue depths and shard states are read at scrape time.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let metrics = &state.metrics;
    for shard in state.queue.ping().await {
        metrics
            .redis_up
            .get_or_create(&ServerLabels {
                server: shard.server,
            })
            .set(i64::from(shard.result.is_ok()));
    }
    for topic in state.registry.list() {
        let Ok(stats) = state.queue.stats(&topic.name).await else {
            continue;
        };
        for (name, count) in [
            ("delayed", stats.delayed),
            ("ready", stats.ready),
            ("inflight", stats.inflight),
            ("dead", stats.dead),
        ] {
            metrics
                .depth
                .get_or_create(&DepthLabels {
                    topic: topic.name.clone(),
                    state: name,
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}
