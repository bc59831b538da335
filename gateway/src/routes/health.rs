//! `/healthz` and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use dq_core::{ShardHealth, Stats};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::AppState;
use crate::metrics::{DepthLabels, Metrics, ServerLabels};

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

/// The longest a scrape waits for Redis: a hung Redis must not hang the scraper as well.
const SCRAPE_DEADLINE: Duration = Duration::from_secs(1);

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
/// the deadline. Returns how many reads failed or came late. The shards answer PING in one
/// round, so when it is late every shard is marked down.
async fn read_redis(state: &Arc<AppState>) -> usize {
    let mut reads = JoinSet::new();
    let pinging = state.clone();
    reads.spawn(async move { Reading::Shards(pinging.queue.ping().await) });
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
    let mut pinged = false;
    loop {
        tokio::select! {
            next = reads.join_next() => match next {
                None => break,
                Some(Ok(Reading::Shards(shards))) => {
                    pinged = true;
                    errors += record_shards(&state.metrics, shards);
                }
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
    if !pinged {
        state.metrics.mark_servers_down();
    }
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
