//! Dead letters: `/v1/topics/{topic}/dead` (in Redis) and `/v1/subscriptions/{name}/dead` (the
//! subscription's dead-letter queue in RabbitMQ): list, requeue and remove.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use dq_core::subscription::{DeadLetter, Subscription};
use dq_core::{DeadQuery, StatusFilter};
use serde::Deserialize;
use serde_json::{Value, json};

use super::definitions::held;
use super::seconds;
use crate::AppState;
use crate::error::{ApiError, OptionalJsonObject};

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
    /// Text in the id, the body or the last error (case-insensitive).
    #[serde(default)]
    q: Option<String>,
    /// The last answer: `503`, `4xx`, `5xx`, `none`.
    #[serde(default)]
    status: Option<String>,
}

/// The longest `?q=` text.
const MAX_TEXT: usize = 1000;

fn default_limit() -> usize {
    100
}

impl Page {
    fn checked(self) -> Result<Page, ApiError> {
        if let Some(q) = &self.q
            && q.chars().count() > MAX_TEXT
        {
            return Err(ApiError::invalid(format!(
                "q is {} characters long: at most {MAX_TEXT}",
                q.chars().count()
            )));
        }
        if self.limit == 0 || self.limit > 1000 {
            return Err(ApiError::invalid(format!(
                "limit {} is out of range: expected 1 to 1000",
                self.limit
            )));
        }
        Ok(self)
    }
}

/// Newest first: `{"dead": [...], "total": n, "offset": o}`; `?offset=&limit=` page through
/// them at any depth, `?q=` (text in the id, body or last error) and `?status=` (`503`, `4xx`,
/// `none`) filter them, `total` then counting those that match.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(topic): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let page = page.checked()?;
    let status = match page.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(StatusFilter::parse(s)?),
        None => None,
    };
    let query = DeadQuery {
        offset: page.offset,
        limit: page.limit,
        text: page.q.clone().filter(|q| !q.is_empty()),
        status,
    };
    let found = state.queue.dead_page(&topic, &query).await?;
    let dead: Vec<Value> = found
        .letters
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
        json!({ "dead": dead, "total": found.total, "offset": page.offset }),
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

/// The most dead letters of a subscription a listing reads (each is read from the queue).
const LISTED: usize = 10_000;

/// A subscription's dead letters, oldest first: `{"dead": [...], "total": n, "offset": o,
/// "queue": q}`; `?offset=&limit=` page through the first 10,000 (a queue is read from its
/// front), `?q=` and `?status=` filter the first 100,000. Each letter stays in the queue.
pub async fn subscription_list(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let page = page.checked()?;
    let status = match page.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(StatusFilter::parse(s)?),
        None => None,
    };
    let text = page
        .q
        .as_deref()
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    let filtered = status.is_some() || text.is_some();
    let matches = move |letter: &DeadLetter| {
        status.is_none_or(|s| s.matches(letter.last_status))
            && text.as_deref().is_none_or(|text| {
                letter.id.to_lowercase().contains(text)
                    || String::from_utf8_lossy(&letter.body)
                        .to_lowercase()
                        .contains(text)
                    || letter
                        .last_error
                        .as_deref()
                        .is_some_and(|e| e.to_lowercase().contains(text))
            })
    };
    if page.offset.saturating_add(page.limit) > LISTED {
        return Err(ApiError::invalid(format!(
            "offset {} + limit {} is over {LISTED}: a listing reaches the first {LISTED} dead letters; requeue or remove some to see further",
            page.offset, page.limit
        )));
    }
    let subscription = held::<Subscription>(&state, &name)?;
    let letters = state.subscriptions.dead_letters(&subscription);
    let found = letters
        .list_matching(
            page.offset,
            page.limit,
            if filtered { Some(&matches) } else { None },
        )
        .await?;
    let dead: Vec<Value> = found.letters.iter().map(shown).collect();
    Ok(Json(json!({
        "dead": dead,
        "total": found.total,
        "offset": page.offset,
        "queue": state.subscriptions.dead_queue(&subscription),
    })))
}

/// A subscription's dead letter as the API shows it: the body as text when it is UTF-8, else
/// as `body_base64`.
fn shown(letter: &DeadLetter) -> Value {
    let mut value = json!({
        "id": letter.id,
        "properties": letter.properties,
        "exchange": letter.exchange,
        "routing_key": letter.routing_key,
        "attempts": letter.attempts,
        "last_status": letter.last_status,
        "last_error": letter.last_error,
        "died_at": letter.died_at_ms.map(seconds),
    });
    match std::str::from_utf8(&letter.body) {
        Ok(text) => value["body"] = json!(text),
        Err(_) => value["body_base64"] = json!(dq_core::json::base64(&letter.body)),
    }
    value
}

/// Sends dead letters back to the subscription's queue, attempts counted from zero: those of
/// `{"ids": [...]}`, or all of them without a body. `{"requeued": n}`; 404 when none of the ids
/// named is a dead letter.
pub async fn subscription_requeue_all(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    OptionalJsonObject(fields): OptionalJsonObject,
) -> Result<Json<Value>, ApiError> {
    let subscription = held::<Subscription>(&state, &name)?;
    let ids = requeue_ids(fields)?;
    let requeued = state
        .subscriptions
        .dead_letters(&subscription)
        .requeue(ids.as_ref())
        .await?;
    if let Some(ids) = &ids
        && requeued == 0
    {
        return Err(ApiError::not_found(format!(
            "none of {} is a dead letter of subscription \"{name}\"",
            ids.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    tracing::info!(subscription = %name, requeued, "dead letters requeued");
    Ok(Json(json!({ "requeued": requeued })))
}

/// The ids of `{"ids": [...]}`; `None` (every letter) for an empty body.
fn requeue_ids(
    mut fields: serde_json::Map<String, Value>,
) -> Result<Option<BTreeSet<String>>, ApiError> {
    let ids = fields.remove("ids");
    if let Some(field) = fields.keys().next() {
        return Err(ApiError::invalid(format!(
            "unknown field \"{field}\": expected only \"ids\" (or no body, for every dead letter)"
        )));
    }
    match ids {
        None => Ok(None),
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= 1000 => items
            .into_iter()
            .map(|id| match id {
                Value::String(id) if !id.is_empty() => Ok(id),
                other => Err(ApiError::invalid(format!(
                    "ids holds {other}: expected dead-letter ids (strings)"
                ))),
            })
            .collect::<Result<BTreeSet<String>, ApiError>>()
            .map(Some),
        Some(other) => Err(ApiError::invalid(format!(
            "ids is {}: expected an array of 1 to 1000 dead-letter ids",
            dq_core::json::kind(&other)
        ))),
    }
}

/// Sends one dead letter back to the subscription's queue.
pub async fn subscription_requeue(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let subscription = held::<Subscription>(&state, &name)?;
    let ids = BTreeSet::from([id.clone()]);
    let requeued = state
        .subscriptions
        .dead_letters(&subscription)
        .requeue(Some(&ids))
        .await?;
    if requeued == 0 {
        return Err(not_dead_in(&name, &id));
    }
    tracing::info!(subscription = %name, id = %id, "dead letter requeued");
    Ok(Json(json!({ "requeued": true, "id": id })))
}

pub async fn subscription_delete(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let subscription = held::<Subscription>(&state, &name)?;
    if state
        .subscriptions
        .dead_letters(&subscription)
        .delete(&id)
        .await?
    {
        tracing::info!(subscription = %name, id = %id, "dead letter removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_dead_in(&name, &id))
    }
}

fn not_dead_in(subscription: &str, id: &str) -> ApiError {
    ApiError::not_found(format!(
        "\"{id}\" is not a dead letter of subscription \"{subscription}\""
    ))
}
