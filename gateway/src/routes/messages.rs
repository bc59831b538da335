//! `/v1/topics/{topic}/messages` and `/stats`: the delay queue.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use dq_core::{DeliverNow, Message};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::seconds;
use crate::AppState;
use crate::error::{ApiError, JsonObject};
use crate::metrics::TopicLabels;

/// A message as `GET` shows it (the same fields as `Dq\Client::get`).
#[derive(Serialize)]
struct MessageView<'a> {
    topic: &'a str,
    id: &'a str,
    body: &'a RawValue,
    due_at: f64,
    attempts: u32,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<&'a str>,
}

/// Adds a message: 201 with its id, due time and state.
pub async fn add(
    State(state): State<Arc<AppState>>,
    Path(topic): Path<String>,
    JsonObject(fields): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let message = state.queue.parse_message(&fields, state.live().time_zone)?;
    let added = state.queue.add(&topic, &message).await?;
    state
        .metrics
        .added
        .get_or_create(&TopicLabels {
            topic: topic.clone(),
        })
        .inc();
    state.metrics.activity.added();
    tracing::debug!(topic = %topic, id = %added.id, due_at_ms = added.due_at_ms, state = added.state.as_str(), "added");
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": added.id, "due_at": seconds(added.due_at_ms), "state": added.state.as_str()}),
        ),
    ))
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    Path((topic, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let message = state
        .queue
        .get(&topic, &id)
        .await?
        .ok_or_else(|| not_found(&topic, &id))?;
    render(&message)
}

fn render(message: &Message) -> Result<Response, ApiError> {
    let body: &RawValue = serde_json::from_str(&message.body)
        .map_err(|e| dq_core::Error::internal(format!("stored body is not JSON: {e}")))?;
    let view = MessageView {
        topic: &message.topic,
        id: &message.id,
        body,
        due_at: seconds(message.due_at_ms),
        attempts: message.attempts,
        state: message.state.as_str(),
        last_status: message.last_status,
        last_error: message.last_error.as_deref(),
    };
    let text = serde_json::to_string(&view)
        .map_err(|e| dq_core::Error::internal(format!("cannot encode message: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path((topic, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if state.queue.del(&topic, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&topic, &id))
    }
}

/// Makes a waiting message due now, in one step (its attempts and body unchanged): 200
/// `{"id", "state": "ready"}`; 409 when it is being delivered or is a dead letter; 404 when
/// there is none.
pub async fn deliver_now(
    State(state): State<Arc<AppState>>,
    Path((topic, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let conflict = |message: String| {
        ApiError::new(
            StatusCode::CONFLICT,
            dq_core::Error::new(dq_core::ErrorKind::Rejected, message),
        )
    };
    match state.queue.deliver_now(&topic, &id).await? {
        DeliverNow::Due => {
            tracing::info!(topic = %topic, id = %id, "message made due now");
            Ok(Json(json!({"id": id, "state": "ready"})))
        }
        DeliverNow::InFlight => Err(conflict(format!(
            "message \"{id}\" of topic \"{topic}\" is being delivered now"
        ))),
        DeliverNow::Dead => Err(conflict(format!(
            "message \"{id}\" of topic \"{topic}\" is a dead letter: requeue it with POST /v1/topics/{topic}/dead/{id}/requeue"
        ))),
        DeliverNow::Missing => Err(not_found(&topic, &id)),
    }
}

pub async fn stats(
    State(state): State<Arc<AppState>>,
    Path(topic): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = state.queue.stats(&topic).await?;
    Ok(Json(
        json!({"delayed": s.delayed, "ready": s.ready, "inflight": s.inflight, "dead": s.dead}),
    ))
}

fn not_found(topic: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("message \"{id}\" is not in topic \"{topic}\""))
}
