//! The HTTP routes, one file per resource. [`operations`] is the one list of what the API
//! serves: the router is built from it, and the OpenAPI document (`gateway/openapi.json`,
//! served at `/openapi.json`) is checked against it by `tests/it/openapi.rs`.

mod dead;
mod definitions;
mod exchanges;
pub(crate) mod health;
mod jobs;
mod messages;
mod openapi;
mod overview;
mod xa;

use std::sync::Arc;

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use dq_core::Topic;
use dq_core::subscription::Subscription;

use crate::AppState;
use crate::error::ApiError;

/// One method on one path template, and the handler that serves it.
pub struct Operation {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    handler: MethodRouter<Arc<AppState>>,
}

impl Operation {
    fn new<H, T>(method: Method, filter: MethodFilter, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        Operation {
            method,
            path,
            handler: on(filter, handler),
        }
    }

    fn get<H: Handler<T, Arc<AppState>>, T: 'static>(path: &'static str, handler: H) -> Self {
        Operation::new(Method::GET, MethodFilter::GET, path, handler)
    }

    fn put<H: Handler<T, Arc<AppState>>, T: 'static>(path: &'static str, handler: H) -> Self {
        Operation::new(Method::PUT, MethodFilter::PUT, path, handler)
    }

    fn patch<H: Handler<T, Arc<AppState>>, T: 'static>(path: &'static str, handler: H) -> Self {
        Operation::new(Method::PATCH, MethodFilter::PATCH, path, handler)
    }

    fn post<H: Handler<T, Arc<AppState>>, T: 'static>(path: &'static str, handler: H) -> Self {
        Operation::new(Method::POST, MethodFilter::POST, path, handler)
    }

    fn delete<H: Handler<T, Arc<AppState>>, T: 'static>(path: &'static str, handler: H) -> Self {
        Operation::new(Method::DELETE, MethodFilter::DELETE, path, handler)
    }
}

/// Every operation of the API. A new route goes here and into `gateway/openapi.json`; the
/// test of the document fails until both name it.
pub fn operations() -> Vec<Operation> {
    type Op = Operation;
    vec![
        Op::get("/v1/topics", definitions::list::<Topic>),
        Op::get("/v1/topics/{topic}", definitions::show::<Topic>),
        Op::put("/v1/topics/{topic}", definitions::put::<Topic>),
        Op::patch("/v1/topics/{topic}", definitions::patch::<Topic>),
        Op::delete("/v1/topics/{topic}", definitions::delete::<Topic>),
        Op::post("/v1/topics/{topic}/messages", messages::add),
        Op::get("/v1/topics/{topic}/messages/{id}", messages::show),
        Op::delete("/v1/topics/{topic}/messages/{id}", messages::delete),
        Op::post(
            "/v1/topics/{topic}/messages/{id}/deliver",
            messages::deliver_now,
        ),
        Op::get("/v1/topics/{topic}/stats", messages::stats),
        Op::post("/v1/topics/{topic}/reserve", jobs::reserve),
        Op::post("/v1/topics/{topic}/jobs/{lease}/ack", jobs::ack),
        Op::post("/v1/topics/{topic}/jobs/{lease}/retry", jobs::retry),
        Op::post("/v1/topics/{topic}/jobs/{lease}/fail", jobs::fail),
        Op::get("/v1/topics/{topic}/dead", dead::list),
        Op::delete("/v1/topics/{topic}/dead/{id}", dead::delete),
        Op::post("/v1/topics/{topic}/dead/{id}/requeue", dead::requeue),
        Op::get("/v1/subscriptions", definitions::list::<Subscription>),
        Op::get(
            "/v1/subscriptions/{subscription}",
            definitions::show::<Subscription>,
        ),
        Op::put(
            "/v1/subscriptions/{subscription}",
            definitions::put::<Subscription>,
        ),
        Op::patch(
            "/v1/subscriptions/{subscription}",
            definitions::patch::<Subscription>,
        ),
        Op::delete(
            "/v1/subscriptions/{subscription}",
            definitions::delete::<Subscription>,
        ),
        Op::get(
            "/v1/subscriptions/{subscription}/dead",
            dead::subscription_list,
        ),
        Op::post(
            "/v1/subscriptions/{subscription}/dead/requeue",
            dead::subscription_requeue_all,
        ),
        Op::delete(
            "/v1/subscriptions/{subscription}/dead/{id}",
            dead::subscription_delete,
        ),
        Op::post(
            "/v1/subscriptions/{subscription}/dead/{id}/requeue",
            dead::subscription_requeue,
        ),
        Op::post("/v1/exchanges/{exchange}/publish", exchanges::publish),
        Op::post("/v1/exchanges/{exchange}/call", exchanges::call),
        Op::post("/v1/xa", xa::run),
        Op::get("/v1/xa", xa::list),
        Op::post("/v1/xa/{transaction}/commit", xa::commit),
        Op::post("/v1/xa/{transaction}/rollback", xa::rollback),
        Op::get("/v1/overview", overview::overview),
        Op::get("/healthz", health::healthz),
        Op::get("/metrics", health::metrics),
        Op::get("/openapi.json", openapi::document),
    ]
}

pub fn router() -> Router<Arc<AppState>> {
    operations()
        .into_iter()
        // Operations on one path merge into one method router (axum panics on a repeated method).
        .fold(Router::new(), |router, op| {
            router.route(op.path, op.handler)
        })
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::not_found(format!(
                "no route {uri}: see /v1/topics, /v1/subscriptions, /v1/xa, /healthz, /metrics, /openapi.json"
            ))
        })
}

/// Unix milliseconds as the float seconds of the API.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
