//! `/v1/exchanges/{exchange}`: publishing to RabbitMQ (with a confirm) and RPC.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dq_core::Error;
use dq_core::amqp::{MAX_DELAY, OutgoingMessage};
use dq_core::input::delay_from_json;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::{ApiError, JsonObject};

/// The default exchange has no name; the API calls it `amq.default`, as RabbitMQ's UI does.
fn exchange_name(exchange: &str) -> &str {
    if exchange == "amq.default" {
        ""
    } else {
        exchange
    }
}

/// `routing_key`, `body` (a string is sent as is, anything else as JSON) and `properties`.
fn message(fields: &Map<String, Value>) -> Result<(String, OutgoingMessage), ApiError> {
    let routing_key = match fields.get("routing_key") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(key)) => key.clone(),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "routing_key {other} is invalid: expected a string"
            )));
        }
    };
    let mut properties = match fields.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "properties {other} is invalid: expected an object"
            )));
        }
    };
    let body = match fields.get("body") {
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(value) => {
            properties
                .entry("content_type")
                .or_insert_with(|| Value::String("application/json".into()));
            value.to_string().into_bytes()
        }
        None => return Err(ApiError::invalid("body is missing")),
    };
    Ok((
        routing_key,
        OutgoingMessage::new(body, &properties).map_err(|e: Error| e.context("properties"))?,
    ))
}

pub(super) fn known_fields(fields: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::invalid(format!(
            "unknown field {unknown:?}: expected {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Publishes and answers after the broker's confirm: `{"confirmed": true}`. With `delay`
/// (seconds), the message reaches the exchange after that long.
pub async fn publish(
    State(state): State<Arc<AppState>>,
    Path(exchange): Path<String>,
    JsonObject(fields): JsonObject,
) -> Result<Json<Value>, ApiError> {
    refuse_delay_ms(&fields)?;
    known_fields(&fields, &["routing_key", "body", "properties", "delay"])?;
    let delay = match fields.get("delay") {
        None | Some(Value::Null) => None,
        Some(seconds) => Some(publish_delay(seconds)?),
    };
    let (routing_key, message) = message(&fields)?;
    state.using_amqp();
    let exchange = exchange_name(&exchange);
    match delay {
        None => {
            state
                .producer
                .publish(exchange, &routing_key, &message)
                .await?
        }
        Some(delay) => {
            state
                .producer
                .publish_delayed(exchange, &routing_key, &message, delay)
                .await?
        }
    }
    Ok(Json(json!({ "confirmed": true })))
}

/// `delay` in seconds: not a number is a malformed request (400), a number out of range 422.
fn publish_delay(seconds: &Value) -> Result<Duration, ApiError> {
    delay_from_json("delay", seconds, MAX_DELAY).map_err(|e| match seconds {
        Value::Number(_) => e.into(),
        _ => ApiError::new(StatusCode::BAD_REQUEST, e),
    })
}

/// `delay_ms` was the wave-1 field: refused with what to send instead, rather than read as
/// seconds (a thousand times too long) or dropped.
fn refuse_delay_ms(fields: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(ms) = fields.get("delay_ms") else {
        return Ok(());
    };
    let example = match ms.as_f64().filter(|ms| (0.0..1e15).contains(ms)) {
        Some(number) => format!("delay_ms {ms} = \"delay\": {}", number / 1000.0),
        None => "delay_ms 1500 = \"delay\": 1.5".to_string(),
    };
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        Error::invalid(format!(
            "delay_ms is no longer accepted: send \"delay\" in seconds ({example})"
        )),
    ))
}

/// Sends a request and answers with the reply: `{"body": ...}` (JSON when the reply is JSON,
/// otherwise its text), or 504 when none comes within `timeout_ms` (default 5000).
pub async fn call(
    State(state): State<Arc<AppState>>,
    Path(exchange): Path<String>,
    JsonObject(fields): JsonObject,
) -> Result<Json<Value>, ApiError> {
    known_fields(
        &fields,
        &["routing_key", "body", "properties", "timeout_ms"],
    )?;
    let (routing_key, message) = message(&fields)?;
    state.using_amqp();
    let wait = match fields.get("timeout_ms") {
        None | Some(Value::Null) => Duration::from_secs(5),
        Some(ms) => ms
            .as_u64()
            .filter(|ms| (1..=3_600_000).contains(ms))
            .map(Duration::from_millis)
            .ok_or_else(|| {
                ApiError::invalid(format!("timeout_ms {ms} is invalid: expected 1 to 3600000"))
            })?,
    };
    let reply = state
        .producer
        .call(exchange_name(&exchange), &routing_key, message, wait)
        .await?;
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    let json = reply
        .properties
        .content_type()
        .as_ref()
        .is_some_and(|t| t.as_str().starts_with("application/json"));
    let body = if json {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    } else {
        Value::String(text)
    };
    Ok(Json(json!({ "body": body })))
}
