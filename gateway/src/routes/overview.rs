//! `GET /v1/overview`: what the admin UI's dashboard shows, in one request: every topic with its
//! counts per state, its counters since the gateway started and the lateness of its last
//! deliveries; every subscription with what its consumer here is doing and its counters; and
//! the health report. Rates are the difference of two overviews over the time between them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::health::report;
use crate::AppState;
use crate::error::ApiError;

/// Topics whose counts are asked of Redis at once.
const AT_ONCE: usize = 64;

/// Each subscription's dead letters now (its dead-letter queue's depth), asked of RabbitMQ at
/// once; `None` for one it did not tell.
async fn dead_counts(
    state: &Arc<AppState>,
    subscriptions: &[dq_core::subscription::Subscription],
) -> Vec<Option<u32>> {
    let mut asked = tokio::task::JoinSet::new();
    for (i, subscription) in subscriptions.iter().enumerate() {
        let (state, subscription) = (state.clone(), subscription.clone());
        asked.spawn(async move {
            let count = state
                .subscriptions
                .dead_letters(&subscription)
                .count()
                .await
                .ok();
            (i, count)
        });
    }
    let mut counts = asked.join_all().await;
    counts.sort_by_key(|(i, _)| *i);
    counts.into_iter().map(|(_, count)| count).collect()
}

pub async fn overview(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let topics = state.registry.list();
    let mut stats = Vec::with_capacity(topics.len());
    for chunk in topics.chunks(AT_ONCE) {
        let mut asked = tokio::task::JoinSet::new();
        for (i, topic) in chunk.iter().enumerate() {
            let (queue, name) = (state.queue.clone(), topic.name.clone());
            asked.spawn(async move { (i, queue.stats(&name).await) });
        }
        let mut answers: Vec<_> = asked.join_all().await;
        answers.sort_by_key(|(i, _)| *i);
        stats.extend(answers.into_iter().map(|(_, s)| s));
    }
    let metrics = &state.metrics;
    let topics: Vec<Value> = topics
        .iter()
        .zip(stats)
        .map(|(topic, stats)| {
            let counts = metrics.topic_counts(&topic.name);
            let lateness = metrics.recent_lateness.quantiles(&topic.name);
            let mut entry = json!({
                "name": topic.name,
                "mode": topic.mode.as_str(),
                "status": topic.status,
                "delivered_total": counts.delivered,
                "failed_total": counts.failed,
                "dead_total": counts.dead,
                "lateness_p50_ms": lateness.map(|l| l.0),
                "lateness_p99_ms": lateness.map(|l| l.1),
            });
            match stats {
                Ok(s) => {
                    entry["delayed"] = json!(s.delayed);
                    entry["ready"] = json!(s.ready);
                    entry["inflight"] = json!(s.inflight);
                    entry["dead"] = json!(s.dead);
                }
                Err(e) => entry["error"] = json!(e.message()),
            }
            entry
        })
        .collect();
    let (_, health) = report(&state).await;
    let states = health
        .get("subscriptions")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let defined = state.subscriptions.registry.list();
    let dead = dead_counts(&state, &defined).await;
    let subscriptions: Vec<Value> = defined
        .iter()
        .zip(dead)
        .map(|(subscription, dead)| {
            let counts = metrics.subscription_counts(&subscription.name);
            let here = &states[&subscription.name];
            let mut entry = json!({
                "name": subscription.name,
                "status": subscription.status,
                "queue": subscription.queue,
                "state": here["status"],
                "in_flight": here["in_flight"].as_u64().unwrap_or(0),
                "delivered_total": counts.delivered,
                "failed_total": counts.failed,
                "dead_total": counts.dead,
                "dead": dead,
            });
            if let Some(error) = here.get("error") {
                entry["error"] = error.clone();
            }
            entry
        })
        .collect();
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Ok(Json(json!({
        "at": at,
        "topics": topics,
        "subscriptions": subscriptions,
        "health": health,
    })))
}
