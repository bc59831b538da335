//! The HTTP routes, one file per resource.

mod dead;
mod exchanges;
mod health;
mod jobs;
mod messages;
mod topics;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/topics", get(topics::list))
        .route(
            "/v1/topics/{topic}",
            get(topics::show)
                .put(topics::put)
                .patch(topics::patch)
                .delete(topics::delete),
        )
        .route(
            "/v1/topics/{topic}/messages",
            axum::routing::post(messages::add),
        )
        .route(
            "/v1/topics/{topic}/messages/{id}",
            get(messages::show).delete(messages::delete),
        )
        .route("/v1/topics/{topic}/stats", get(messages::stats))
        .route(
            "/v1/topics/{topic}/reserve",
            axum::routing::post(jobs::reserve),
        )
        .route(
            "/v1/topics/{topic}/jobs/{lease}/ack",
            axum::routing::post(jobs::ack),
        )
        .route(
            "/v1/topics/{topic}/jobs/{lease}/retry",
            axum::routing::post(jobs::retry),
        )
        .route(
            "/v1/topics/{topic}/jobs/{lease}/fail",
            axum::routing::post(jobs::fail),
        )
        .route("/v1/topics/{topic}/dead", get(dead::list))
        .route(
            "/v1/topics/{topic}/dead/{id}",
            axum::routing::delete(dead::delete),
        )
        .route(
            "/v1/topics/{topic}/dead/{id}/requeue",
            axum::routing::post(dead::requeue),
        )
        .route(
            "/v1/exchanges/{exchange}/publish",
            axum::routing::post(exchanges::publish),
        )
        .route(
            "/v1/exchanges/{exchange}/call",
            axum::routing::post(exchanges::call),
        )
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::not_found(format!(
                "no route {uri}: see /v1/topics, /healthz, /metrics"
            ))
        })
}

/// Unix milliseconds as the float seconds of the API.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
