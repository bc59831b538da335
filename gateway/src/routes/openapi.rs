//! `/openapi.json`: the API described in OpenAPI 3.1. The document is written by hand in
//! `gateway/openapi.json` and embedded; `tests/it/openapi.rs` checks it against [`super::operations`].

use axum::http::header;
use axum::response::IntoResponse;

/// The OpenAPI document, as committed.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
