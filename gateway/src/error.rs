//! One API error type: a stable code and a clear message for the client, the details in the log.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use dq_core::{Error, ErrorKind};
use serde_json::{Map, Value, json};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: Error,
    /// Fields beside `error` in the body (`POST /v1/xa`: the transaction's `outcome`).
    extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: Error) -> Self {
        ApiError {
            status,
            error,
            extra: Map::new(),
        }
    }

    /// 403 `FORBIDDEN`: signed in, but not allowed this (a view-only session's change, a change
    /// without the session's CSRF token).
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            Error::new(ErrorKind::Unauthorized, message),
        )
    }

    /// The same error with `key` beside `error` in the body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// The same error with `context: ` in front of its message.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        ApiError {
            error: self.error.context(context),
            ..self
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message).into()
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::invalid(message).into()
    }
}

fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::UnknownTopic | ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Connection => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Backend => StatusCode::BAD_GATEWAY,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Rejected => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::LeaseLost | ErrorKind::Transaction => StatusCode::CONFLICT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::new(status_of(error.kind()), error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.error.kind();
        if matches!(
            kind,
            ErrorKind::Internal | ErrorKind::Backend | ErrorKind::Connection | ErrorKind::Timeout
        ) {
            tracing::warn!(code = kind.name(), error = %self.error, "request failed");
        }
        // Signed in but not allowed: no kind of dq's says it, the status does.
        let forbidden = self.status == StatusCode::FORBIDDEN;
        let code = if forbidden { "FORBIDDEN" } else { kind.name() };
        let mut body = Map::new();
        body.insert(
            "error".into(),
            json!({"code": code, "message": self.error.message()}),
        );
        body.extend(self.extra);
        let mut response = (self.status, Json(Value::Object(body))).into_response();
        if kind == ErrorKind::Unauthorized && !forbidden {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// A request body that must be a JSON object. Any content type is read as JSON, so that
/// `curl -d '{...}'` works without `-H 'Content-Type: application/json'`. A key given twice in
/// any object is refused (400), rather than one of the two being taken silently.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        JsonObject::parse(&body_bytes(req, state).await?)
    }
}

/// A JSON object as the request body, or an empty one when the body is empty (routes whose
/// fields are all optional: `POST /v1/topics/{topic}/reserve`).
pub struct OptionalJsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonObject(Map::new()));
        }
        JsonObject::parse(&bytes).map(|JsonObject(map)| OptionalJsonObject(map))
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::new(
                ErrorKind::PayloadTooLarge,
                "request body is over the gateway's request_limit",
            )
            .into()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                Error::invalid(format!("cannot read request body: {rejection}")),
            )
        }
    })
}

impl JsonObject {
    fn parse(bytes: &[u8]) -> Result<JsonObject, ApiError> {
        match dq_core::json::from_slice(bytes, "request body") {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(other) => Err(ApiError::invalid(format!(
                "request body is JSON {}, expected an object",
                match other {
                    Value::Array(_) => "array",
                    Value::String(_) => "string",
                    Value::Number(_) => "number",
                    Value::Bool(_) => "boolean",
                    _ => "null",
                }
            ))),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, e)),
        }
    }
}
