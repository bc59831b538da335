//! `/v1/topics`: register, read, list and remove topics.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dq_core::{Error, ErrorKind, Topic};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, JsonObject};

/// A topic as the API shows it: the secret is never echoed, whole numbers are integers, and
/// `updated_at` is in seconds like every other time in the API.
fn view(topic: &Topic) -> Value {
    let mut value = serde_json::to_value(topic).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        if obj.contains_key("secret") {
            obj.insert("secret".into(), json!("***"));
        }
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

/// Registers or replaces a topic: 201 when new, 200 when replaced.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonObject(mut fields): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    dq_core::input::check_topic(&name)?;
    match fields.get("name") {
        Some(Value::String(given)) if *given != name => {
            return Err(ApiError::invalid(format!(
                "name \"{given}\" in the body differs from \"{name}\" in the path"
            )));
        }
        _ => {}
    }
    fields.insert("name".into(), Value::String(name.clone()));
    fields.remove("updated_at");
    let topic: Topic = serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::invalid(format!("topic \"{name}\": {e}")))?;
    let existed = state.registry.get(&name).is_some();
    let stored = state.registry.put(topic).await?;
    tracing::info!(topic = %name, callback = %stored.callback, "topic registered");
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
