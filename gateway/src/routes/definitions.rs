//! `/v1/topics` and `/v1/subscriptions`: register, read, change, list and remove the definitions
//! of a registry. Both kinds are shown and taken the same way ([`Shown`]): the secret is never
//! returned, a definition read with `GET` can be written back as it is, and `PATCH` changes only
//! the fields sent.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dq_core::subscription::Subscription;
use dq_core::{Definition, Error, ErrorKind, Registry, Topic};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, JsonObject};

/// A definition as the API handles it.
pub trait Shown: Definition {
    /// Its path: `/v1/topics`.
    const PATH: &'static str;
    /// Its list's key in `GET PATH`: `topics`.
    const LIST: &'static str;
    /// The registry of this gateway that holds it.
    fn registry(state: &AppState) -> &Registry<Self>;
    fn secret(&self) -> Option<&str>;
    /// Attempts in all, as shown.
    fn attempts(&self) -> u32;
    /// Whether `max_attempts` was given (else it is the default, one more than the ladder).
    fn attempts_given(&self) -> bool;
    /// The error for a name that is not registered.
    fn unknown(name: &str) -> ApiError {
        ApiError::not_found(format!(
            "{} \"{name}\" is not registered: create it with PUT {}/{name}",
            Self::KIND,
            Self::PATH
        ))
    }
}

impl Shown for Topic {
    const PATH: &'static str = "/v1/topics";
    const LIST: &'static str = "topics";
    fn registry(state: &AppState) -> &Registry<Topic> {
        &state.registry
    }
    fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }
    fn attempts(&self) -> u32 {
        self.max_attempts()
    }
    fn attempts_given(&self) -> bool {
        self.max_attempts.is_some()
    }
    fn unknown(name: &str) -> ApiError {
        Error::new(
            ErrorKind::UnknownTopic,
            format!("topic \"{name}\" is not registered: create it with PUT /v1/topics/{name}"),
        )
        .into()
    }
}

impl Shown for Subscription {
    const PATH: &'static str = "/v1/subscriptions";
    const LIST: &'static str = "subscriptions";
    fn registry(state: &AppState) -> &Registry<Subscription> {
        &state.subscriptions.registry
    }
    fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }
    fn attempts(&self) -> u32 {
        self.max_attempts()
    }
    fn attempts_given(&self) -> bool {
        self.max_attempts.is_some()
    }
}

/// What `GET` showed in place of a secret before `secret_set`; a PUT that sends it back means
/// "keep the stored secret".
const MASKED_SECRET: &str = "***";

/// A definition as the API shows it: the secret is never returned (`secret_set` says whether
/// there is one), whole numbers are integers, and `updated_at` is in seconds like every other
/// time in the API.
pub fn view<T: Shown>(definition: &T) -> Value {
    let mut value = serde_json::to_value(definition).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("secret");
        obj.insert("secret_set".into(), json!(definition.secret().is_some()));
        obj.insert("max_attempts".into(), json!(definition.attempts()));
        obj.insert(
            "updated_at".into(),
            json!(definition.updated_at() as f64 / 1000.0),
        );
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

/// The definition `name`, or 404.
pub fn held<T: Shown>(state: &AppState, name: &str) -> Result<T, ApiError> {
    T::registry(state).get(name).ok_or_else(|| T::unknown(name))
}

pub async fn list<T: Shown>(State(state): State<Arc<AppState>>) -> Json<Value> {
    let shown: Vec<Value> = T::registry(&state).list().iter().map(view).collect();
    let mut body = serde_json::Map::new();
    body.insert(T::LIST.to_string(), Value::Array(shown));
    Json(Value::Object(body))
}

pub async fn show<T: Shown>(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&held::<T>(&state, &name)?)))
}

/// Registers or replaces a definition: 201 when new, 200 when replaced. One read with `GET`
/// and written back keeps its secret: `"secret_set": true` without a `secret`, or a `secret`
/// of `"***"` (what `GET` showed before `secret_set`), stand for the stored one.
pub async fn put<T: Shown>(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonObject(fields): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let held = T::registry(&state).get(&name);
    let definition = from_fields(&name, fields, held.as_ref())?;
    store(&state, definition, held.is_some()).await
}

/// Changes only the fields sent (`null` removes an optional one: `secret`, `max_attempts`,
/// `alert_webhook`, `concurrency`, ...); 404 for a name that is not registered.
pub async fn patch<T: Shown>(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonObject(fields): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let held = held::<T>(&state, &name)?;
    let mut merged = match serde_json::to_value(&held) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(
                dq_core::Error::internal(format!("cannot encode the stored {}", T::KIND)).into(),
            );
        }
    };
    for (field, value) in fields {
        if value.is_null() {
            merged.remove(&field);
        } else {
            merged.insert(field, value);
        }
    }
    let definition = from_fields(&name, merged, Some(&held))?;
    store(&state, definition, true).await
}

/// The definition `fields` describe, named by the path; `held` is the stored one, whose
/// secret a masked one stands for.
fn from_fields<T: Shown>(
    name: &str,
    mut fields: serde_json::Map<String, Value>,
    held: Option<&T>,
) -> Result<T, ApiError> {
    T::check_name(name)?;
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
        if held.is_none_or(|t| !t.attempts_given()) {
            fields.remove("max_attempts");
        }
    }
    if fields.get("secret").and_then(Value::as_str) == Some(MASKED_SECRET) {
        match held.and_then(|t| t.secret()) {
            Some(secret) => {
                fields.insert("secret".into(), Value::String(secret.to_string()));
            }
            None => {
                return Err(ApiError::invalid(format!(
                    "{} \"{name}\" has no stored secret to keep (secret \"{MASKED_SECRET}\" and secret_set: true stand for one): send the secret itself, or leave it out",
                    T::KIND
                )));
            }
        }
    }
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::invalid(format!("{} \"{name}\": {e}", T::KIND)))
}

async fn store<T: Shown>(
    state: &AppState,
    definition: T,
    existed: bool,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let stored = T::registry(state).put(definition).await?;
    tracing::info!(kind = T::KIND, name = %stored.name(), "{} registered", T::KIND);
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view(&stored))))
}

pub async fn delete<T: Shown>(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if T::registry(&state).delete(&name).await? {
        tracing::info!(kind = T::KIND, name = %name, "{} removed", T::KIND);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(T::unknown(&name))
    }
}
