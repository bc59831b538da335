//! `/v1/topics`: register, read, list and remove topics.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dq_core::{Error, ErrorKind, Topic};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, JsonObject};

/// What `GET` showed in place of a secret before `secret_set`; a PUT that sends it back means
/// "keep the stored secret".
const MASKED_SECRET: &str = "***";

/// A topic as the API shows it: the secret is never returned (`secret_set` says whether there
/// is one), whole numbers are integers, and `updated_at` is in seconds like every other time in
/// the API.
fn view(topic: &Topic) -> Value {
    let mut value = serde_json::to_value(topic).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("secret");
        obj.insert("secret_set".into(), json!(topic.secret.is_some()));
        obj.insert("max_attempts".into(), json!(topic.max_attempts()));
        obj.insert("updated_at".into(), json!(topic.updated_at as f64 / 1000.0));
        for field in ["delay", "retry"] {
            if let Some(v) = obj.get_mut(field) {
                whole_numbers(v);
            }
        }
    }
    value
}

fn whole_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e15) {
                *value = json!(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        _ => {}
    }
}

fn unknown(name: &str) -> ApiError {
    Error::new(
        ErrorKind::UnknownTopic,
        format!("topic \"{name}\" is not registered: create it with PUT /v1/topics/{name}"),
    )
    .into()
}

pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let topics: Vec<Value> = state.registry.list().iter().map(view).collect();
    Json(json!({ "topics": topics }))
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let topic = state.registry.get(&name).ok_or_else(|| unknown(&name))?;
    Ok(Json(view(&topic)))
}

/// Registers or replaces a topic: 201 when new, 200 when replaced. A topic read with `GET` and
/// written back keeps its secret: `"secret_set": true` without a `secret`, or a `secret` of
/// `"***"` (what `GET` showed before `secret_set`), stand for the stored one.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonObject(fields): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let held = state.registry.get(&name);
    let topic = topic_from(&name, fields, held.as_ref())?;
    store(&state, topic, held.is_some()).await
}

/// Changes only the fields sent (`null` removes an optional one: `secret`, `max_attempts`,
/// `alert_webhook`, `concurrency`); 404 for a topic that is not registered.
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonObject(fields): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let held = state.registry.get(&name).ok_or_else(|| unknown(&name))?;
    let mut merged = match serde_json::to_value(&held) {
        Ok(Value::Object(map)) => map,
        _ => return Err(dq_core::Error::internal("cannot encode the stored topic").into()),
    };
    for (field, value) in fields {
        if value.is_null() {
            merged.remove(&field);
        } else {
            merged.insert(field, value);
        }
    }
    let topic = topic_from(&name, merged, Some(&held))?;
    store(&state, topic, true).await
}

/// The topic `fields` describe, named by the path; `held` is the stored definition, whose
/// secret a masked one stands for.
fn topic_from(
    name: &str,
    mut fields: serde_json::Map<String, Value>,
    held: Option<&Topic>,
) -> Result<Topic, ApiError> {
    dq_core::input::check_topic(name)?;
    match fields.get("name") {
        Some(Value::String(given)) if given != name => {
            return Err(ApiError::invalid(format!(
                "name \"{given}\" in the body differs from \"{name}\" in the path"
            )));
        }
        _ => {}
    }
    fields.insert("name".into(), Value::String(name.to_string()));
    fields.remove("updated_at");
    // GET's `secret_set: true` sent back without a secret keeps the stored one, like "***".
    let keep_secret = fields.remove("secret_set") == Some(Value::Bool(true));
    if keep_secret && !fields.contains_key("secret") {
        fields.insert("secret".into(), json!(MASKED_SECRET));
    }
    if fields.get("max_attempts").is_some_and(|v| v.is_number())
        && let Some(Value::Array(retry)) = fields.get("retry")
        && fields.get("max_attempts") == Some(&json!(retry.len() + 1))
    {
        // GET shows the default attempts; sent back unchanged it stays the default.
        if held.is_none_or(|t| t.max_attempts.is_none()) {
            fields.remove("max_attempts");
        }
    }
    if fields.get("secret").and_then(Value::as_str) == Some(MASKED_SECRET) {
        match held.and_then(|t| t.secret.clone()) {
            Some(secret) => {
                fields.insert("secret".into(), Value::String(secret));
            }
            None => {
                return Err(ApiError::invalid(format!(
                    "topic \"{name}\" has no stored secret to keep (secret \"{MASKED_SECRET}\" and secret_set: true stand for one): send the secret itself, or leave it out"
                )));
            }
        }
    }
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::invalid(format!("topic \"{name}\": {e}")))
}

async fn store(
    state: &AppState,
    topic: Topic,
    existed: bool,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = topic.name.clone();
    let stored = state.registry.put(topic).await?;
    tracing::info!(topic = %name, callback = %stored.callback, status = ?stored.status, "topic registered");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view(&stored))))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.registry.delete(&name).await? {
        tracing::info!(topic = %name, "topic removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(unknown(&name))
    }
}
