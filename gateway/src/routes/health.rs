//! `/healthz` and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::AppState;
use crate::metrics::{DepthLabels, ServerLabels};

/// 200 when every Redis shard answers, 503 otherwise; each shard's state either way.
pub async fn healthz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let shards = state.queue.ping().await;
    let all_up = shards.iter().all(|s| s.result.is_ok());
    let redis: Vec<Value> = shards
        .iter()
        .map(|s| match &s.result {
            Ok(rtt) => {
                json!({"server": s.server, "state": "up", "latency_ms": rtt.as_secs_f64() * 1000.0})
            }
            Err(e) => json!({"server": s.server, "state": "down", "error": e.message()}),
        })
        .collect();
    let status = if all_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all_up { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "redis": redis,
        "topics": state.registry.list().len(),
    });
    (status, Json(body))
}

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
