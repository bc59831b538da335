//! Bearer-token check, per-request metrics, and JSON bodies for every error.

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

/// With a token configured, every route but `/healthz` needs `Authorization: Bearer <token>`,
/// or the session cookie of the admin UI (see `ui`: CSRF header on changes, view-only sessions
/// change nothing).
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
    let live = state.live();
    let Some(token) = live.token.as_deref() else {
        return next.run(request).await;
    };
    // The UI's files and its sign-in check what they need themselves.
    let path = request.uri().path();
    if path == "/healthz" || path == "/ui" || path.starts_with("/ui/") {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_none()
        && let Some(allowed) = crate::ui::session_check(&state, request.method(), request.headers())
    {
        return match allowed {
            Ok(()) => next.run(request).await,
            Err(refusal) => refusal.into_response(),
        };
    }
    match given {
        Some(given) if crate::ui::constant_time_eq(given.trim().as_bytes(), token.as_bytes()) => {
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

/// Refuses a body announced over `request_limit` before reading it (so `Expect: 100-continue`
/// gets a 413, not a 100), and gives every error the API's JSON body: those produced below the
/// handlers (405 from the router, a path that is not UTF-8, ...) come with an empty or text one.
pub async fn json_errors(request_limit: usize, request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(length) = announced.filter(|&n| n > request_limit as u64) {
        return ApiError::from(Error::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "request body of {length} bytes is over the gateway's request_limit of {request_limit}"
            ),
        ))
        .into_response();
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if status == axum::http::StatusCode::METHOD_NOT_ALLOWED {
        // The router adds the Allow header after this layer has run.
        format!("method {method} is not allowed on {path}: the Allow header lists those that are")
    } else if text.is_empty() {
        format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        )
    } else {
        text
    };
    let kind = match status.as_u16() {
        401 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        413 | 414 | 431 => ErrorKind::PayloadTooLarge,
        503 => ErrorKind::Connection,
        504 => ErrorKind::Timeout,
        500..=599 => ErrorKind::Internal,
        _ => ErrorKind::InvalidArgument,
    };
    let mut json = ApiError::new(status, Error::new(kind, message)).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}
