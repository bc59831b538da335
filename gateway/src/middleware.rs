//! Bearer-token check and per-request metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dq_core::{Error, ErrorKind};

use crate::AppState;
use crate::error::ApiError;
use crate::metrics::{HttpLabels, RouteLabels};

/// With a token configured, every route but `/healthz` needs `Authorization: Bearer <token>`.
/// A request with more than one `Authorization` header is refused, token or not: which one
/// counts would depend on who reads it (this gateway, a proxy in front of it).
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .count();
    if given > 1 {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            Error::invalid(format!(
                "request has {given} Authorization headers: send at most one"
            )),
        )
        .into_response();
    }
    let Some(token) = state.token.as_deref() else {
        return next.run(request).await;
    };
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if constant_time_eq(given.trim().as_bytes(), token.as_bytes()) => {
            next.run(request).await
        }
        Some(_) => ApiError::from(Error::new(ErrorKind::Unauthorized, "bearer token is wrong"))
            .into_response(),
        None => ApiError::from(Error::new(
            ErrorKind::Unauthorized,
            "this gateway needs a token: send Authorization: Bearer <token>",
        ))
        .into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts requests by route template and status, and times them.
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .http_seconds
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}
