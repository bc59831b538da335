//! `/v1/topics/{topic}/dead`: list, requeue and remove dead letters.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::seconds;
use crate::AppState;
use crate::error::ApiError;

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

/// Newest first: `{"dead": [...], "total": n}`; `?offset=&limit=` page through them.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(topic): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    if page.limit == 0 || page.limit > 1000 {
        return Err(ApiError::invalid(format!(
            "limit {} is out of range: expected 1 to 1000",
            page.limit
        )));
    }
    let letters = state
        .queue
        .dead_letters(&topic, page.offset, page.limit)
        .await?;
    let total = state.queue.stats(&topic).await?.dead;
    let dead: Vec<Value> = letters
        .iter()
        .map(|d| {
            let body: Value = serde_json::from_str(&d.body).unwrap_or(Value::Null);
            json!({
                "id": d.id,
                "body": body,
                "attempts": d.attempts,
                "last_status": d.last_status,
                "last_error": d.last_error,
                "due_at": seconds(d.due_at_ms),
                "died_at": seconds(d.died_at_ms),
            })
        })
        .collect();
    Ok(Json(
        json!({ "dead": dead, "total": total, "offset": page.offset }),
    ))
}

/// Delivers a dead letter again, attempts counted from zero.
pub async fn requeue(
    State(state): State<Arc<AppState>>,
    Path((topic, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    if state.queue.requeue(&topic, &id).await? {
        tracing::info!(topic = %topic, id = %id, "dead letter requeued");
        Ok(Json(json!({ "requeued": true, "id": id })))
    } else {
        Err(not_dead(&topic, &id))
    }
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path((topic, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if state.queue.delete_dead(&topic, &id).await? {
        tracing::info!(topic = %topic, id = %id, "dead letter removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_dead(&topic, &id))
    }
}

fn not_dead(topic: &str, id: &str) -> ApiError {
    ApiError::not_found(format!(
        "\"{id}\" is not a dead letter of topic \"{topic}\""
    ))
}
