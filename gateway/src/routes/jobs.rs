//! Pull mode over HTTP: `POST /v1/topics/{topic}/reserve` leases a pull topic's next due job,
//! and `POST /v1/topics/{topic}/jobs/{lease}/ack|retry|fail` settles it.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dq_core::{MAX_RESERVE_WAIT, Retried};
use serde_json::{Map, Value, json};

use super::exchanges::known_fields;
use super::seconds;
use crate::AppState;
use crate::error::{ApiError, JsonObject, OptionalJsonObject};

/// How long `reserve` waits for a job when the request does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);
/// The longest `reason` or `error` kept with a job.
const MAX_REASON: usize = 4096;

/// Reserves the next due job: 200 with the job, 204 when none came within `timeout` seconds.
pub async fn reserve(
    State(state): State<Arc<AppState>>,
    Path(topic): Path<String>,
    OptionalJsonObject(fields): OptionalJsonObject,
) -> Result<Response, ApiError> {
    known_fields(&fields, &["timeout"])?;
    let wait = seconds_field(&fields, "timeout", MAX_RESERVE_WAIT)?.unwrap_or(DEFAULT_WAIT);
    match state.queue.reserve(&topic, wait).await? {
        Some(job) => {
            tracing::debug!(topic = %job.topic, id = %job.id, attempt = job.attempt, "reserved");
            Ok((StatusCode::OK, Json(job.to_json()?)).into_response())
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Removes a reserved job: 204. 409 when the lease is no longer held.
pub async fn ack(
    State(state): State<Arc<AppState>>,
    Path((topic, lease)): Path<(String, String)>,
    OptionalJsonObject(fields): OptionalJsonObject,
) -> Result<StatusCode, ApiError> {
    known_fields(&fields, &[])?;
    state.queue.ack(&topic, &lease).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Schedules a reserved job again: after `delay` seconds, or the topic's ladder. 200 with
/// `{"state": "delayed", "due_at"}`, or `{"state": "dead"}` after the topic's last attempt.
pub async fn retry(
    State(state): State<Arc<AppState>>,
    Path((topic, lease)): Path<(String, String)>,
    OptionalJsonObject(fields): OptionalJsonObject,
) -> Result<Json<Value>, ApiError> {
    known_fields(&fields, &["delay", "error"])?;
    let delay = seconds_field(&fields, "delay", dq_core::input::MAX_ADD_DELAY)?;
    let error = text_field(&fields, "error")?.unwrap_or("retry asked by the worker");
    Ok(Json(
        match state.queue.retry(&topic, &lease, delay, error).await? {
            Retried::Scheduled(due) => json!({"state": "delayed", "due_at": seconds(due)}),
            Retried::Dead => json!({"state": "dead"}),
        },
    ))
}

/// Makes a reserved job a dead letter with `reason` as its last error: 204.
pub async fn fail(
    State(state): State<Arc<AppState>>,
    Path((topic, lease)): Path<(String, String)>,
    JsonObject(fields): JsonObject,
) -> Result<StatusCode, ApiError> {
    known_fields(&fields, &["reason"])?;
    let reason = text_field(&fields, "reason")?
        .ok_or_else(|| ApiError::invalid("reason is missing: say why the job failed"))?;
    state.queue.fail(&topic, &lease, reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An optional number of seconds from 0 to `max`.
fn seconds_field(
    fields: &Map<String, Value>,
    name: &str,
    max: Duration,
) -> Result<Option<Duration>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => Ok(Some(dq_core::input::delay_from_json(name, value, max)?)),
    }
}

/// An optional string of at most `MAX_REASON` bytes.
fn text_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.len() <= MAX_REASON => Ok(Some(text)),
        Some(Value::String(text)) => Err(ApiError::invalid(format!(
            "{name} is {} bytes: expected at most {MAX_REASON}",
            text.len()
        ))),
        Some(other) => Err(ApiError::invalid(format!("{name} {other} is not a string"))),
    }
}
