//! Calling a topic's callback: one pooled keep-alive HTTP(S) client, the request exactly as the
//! contract says (POST JSON or GET query, `X-Dq-*` headers, HMAC signature), and what the answer
//! means for the message.

use std::time::Duration;

use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method as HttpMethod, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::value::RawValue;

use super::Failure;
use crate::config::percent_encode;
use crate::error::{Error, Result};
use crate::registry::{Method, Topic};

/// At most this much of a callback's answer is read (and thrown away) so the connection can be
/// reused; a longer answer is cut off, which is still a success if the status was 2xx.
pub(crate) const ANSWER_LIMIT: usize = 64 * 1024;
const ALERT_TIMEOUT: Duration = Duration::from_secs(10);

/// A message handed to a worker for delivery.
#[derive(Debug, Clone)]
pub(crate) struct Leased {
    pub topic: String,
    pub id: String,
    /// JSON text.
    pub body: String,
    pub attempt: u32,
    pub due_at_ms: i64,
    /// Proves this worker still owns the message when it reports the outcome.
    pub lease: String,
}

/// What a delivery attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// 2xx within the timeout (the status; none when published to RabbitMQ): the message is
    /// done.
    Delivered(Option<u16>),
    /// 410 Gone: the receiver wants no more of it; dead letter at once.
    Gone,
    /// Anything else: another attempt later, or a dead letter after the last one.
    Failed {
        reason: Failure,
        status: Option<u16>,
        error: String,
    },
}

/// Delivers `message` of a topic with an `exchange`: published to `exchange` with
/// `routing_key` (`mandatory`, so that a message no queue takes is a failed attempt) and a
/// confirm, within the topic's timeout. The body is the message's body (JSON text) as added;
/// `message_id` is its id; headers `x-dq-topic`, `x-dq-attempt`, `x-dq-due-at` (unix ms). A
/// broker that is down, a nack or an unroutable message is a failed attempt, retried on the
/// topic's ladder.
pub(crate) async fn publish(
    broker: Option<&crate::amqp::Producer>,
    topic: &Topic,
    exchange: &str,
    routing_key: &str,
    message: &Leased,
) -> Outcome {
    let failed = |reason: Failure, error: String| Outcome::Failed {
        reason,
        status: None,
        error,
    };
    let Some(broker) = broker else {
        return failed(
            Failure::Connect,
            "this gateway has no RabbitMQ to publish to (its workers were started without one)"
                .to_string(),
        );
    };
    let properties = serde_json::json!({
        "message_id": message.id,
        "content_type": "application/json",
        "headers": {
            "x-dq-topic": message.topic,
            "x-dq-attempt": message.attempt,
            "x-dq-due-at": message.due_at_ms,
        },
        "mandatory": true,
    });
    let outgoing = match properties
        .as_object()
        .map(|p| crate::amqp::OutgoingMessage::new(message.body.as_bytes().to_vec(), p))
    {
        Some(Ok(outgoing)) => outgoing,
        Some(Err(e)) => return failed(Failure::Other, e.to_string()),
        None => return failed(Failure::Other, "no properties".to_string()),
    };
    let timeout = Duration::from_millis(topic.timeout_ms);
    match tokio::time::timeout(timeout, broker.publish(exchange, routing_key, &outgoing)).await {
        Ok(Ok(())) => Outcome::Delivered(None),
        Ok(Err(e)) => {
            let reason = match e.kind() {
                crate::ErrorKind::Connection => Failure::Connect,
                crate::ErrorKind::Timeout => Failure::Timeout,
                _ => Failure::Other,
            };
            failed(reason, e.to_string())
        }
        Err(_) => failed(
            Failure::Timeout,
            format!("RabbitMQ did not confirm within {} ms", topic.timeout_ms),
        ),
    }
}

/// The fields every delivery carries, as JSON (POST) or query parameters (GET).
#[derive(Serialize)]
struct Notification<'a> {
    topic: &'a str,
    id: &'a str,
    body: &'a RawValue,
    attempt: u32,
    due_at: f64,
}

/// The HTTP(S) client of callbacks and webhooks.
pub struct Callbacks {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Callbacks {
    /// A client keeping up to `pool` idle connections per host.
    pub fn new(pool: usize) -> Result<Callbacks> {
        // The provider is named, not taken from the process default, which is ambiguous when
        // a dependency compiles in a second one.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| {
                Error::internal(format!(
                    "cannot load the system's TLS root certificates: {e}"
                ))
            })?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(pool)
            .build(https);
        Ok(Callbacks { client })
    }

    /// Delivers `message` to its topic's callback within the topic's timeout.
    pub(crate) async fn deliver(&self, topic: &Topic, message: &Leased) -> Outcome {
        let request = match build_request(topic, message) {
            Ok(request) => request,
            Err(e) => {
                return Outcome::Failed {
                    reason: Failure::Other,
                    status: None,
                    error: e.to_string(),
                };
            }
        };
        let timeout = Duration::from_millis(topic.timeout_ms);
        match tokio::time::timeout(timeout, self.send(request)).await {
            Err(_) => Outcome::Failed {
                reason: Failure::Timeout,
                status: None,
                error: format!("no answer within {} ms", topic.timeout_ms),
            },
            Ok(Err(error)) => Outcome::Failed {
                reason: Failure::Connect,
                status: None,
                error,
            },
            Ok(Ok(status)) if status.is_success() => Outcome::Delivered(Some(status.as_u16())),
            Ok(Ok(StatusCode::GONE)) => Outcome::Gone,
            Ok(Ok(status)) => Outcome::Failed {
                reason: Failure::of_status(status.as_u16()),
                status: Some(status.as_u16()),
                error: format!("HTTP {status}"),
            },
        }
    }

    /// POSTs a dead letter to the topic's alert webhook, signed like deliveries when the topic
    /// has a secret; failures are only logged.
    pub(crate) async fn alert(&self, topic: &Topic, url: &str, dead_letter: &serde_json::Value) {
        let payload = dead_letter.to_string();
        let mut headers = vec![(
            "X-Dq-Topic",
            header_value(&topic.name).unwrap_or(HeaderValue::from_static("")),
        )];
        if let Some(secret) = &topic.secret
            && let Ok(signature) =
                HeaderValue::from_str(&format!("sha256={}", sign(secret, payload.as_bytes())))
        {
            headers.push(("X-Dq-Signature", signature));
        }
        if let Err(error) = self.post_json(url, payload, headers).await {
            tracing::warn!(url, error, "alert webhook failed");
        }
    }

    /// POSTs `payload` (JSON text) to `url` within 10 s; a status other than 2xx is an error.
    pub async fn post_json(
        &self,
        url: &str,
        payload: String,
        headers: Vec<(&'static str, HeaderValue)>,
    ) -> std::result::Result<(), String> {
        let mut request = Request::post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, user_agent());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| format!("not a valid request target: {e}"))?;
        match tokio::time::timeout(ALERT_TIMEOUT, self.send(request)).await {
            Ok(Ok(status)) if status.is_success() => Ok(()),
            Ok(Ok(status)) => Err(format!("answered {status}")),
            Ok(Err(error)) => Err(error),
            Err(_) => Err("no answer within 10 s".to_string()),
        }
    }

    /// Sends a request and reads its answer (up to `ANSWER_LIMIT`) so the connection is reused.
    async fn send(&self, request: Request<Full<Bytes>>) -> std::result::Result<StatusCode, String> {
        self.call(request, ANSWER_LIMIT)
            .await
            .map(|answered| answered.status)
    }

    /// Sends a request and reads its answer, keeping up to `limit` bytes of its body (a longer
    /// body is cut there); the error is a short reason (refused, DNS, TLS, reset).
    pub(crate) async fn call(
        &self,
        request: Request<Full<Bytes>>,
        limit: usize,
    ) -> std::result::Result<Answered, String> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(describe_client_error)?;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header(hyper::header::RETRY_AFTER);
        let content_type = header(CONTENT_TYPE);
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok(Answered {
            status,
            retry_after,
            content_type,
            body,
        })
    }
}

/// An HTTP answer: its status, its `Retry-After`, and (the start of) its body.
pub(crate) struct Answered {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

pub(crate) fn user_agent() -> HeaderValue {
    HeaderValue::from_static(concat!("dq/", env!("CARGO_PKG_VERSION")))
}

/// The request for one attempt: POST with the JSON notification, or GET with its fields as
/// query parameters; signed over the raw body (POST) or the raw query string (GET).
fn build_request(topic: &Topic, message: &Leased) -> Result<Request<Full<Bytes>>> {
    let body = RawValue::from_string(message.body.clone()).map_err(|e| {
        Error::internal(format!(
            "stored body of {}/{} is not JSON: {e}",
            message.topic, message.id
        ))
    })?;
    let notification = Notification {
        topic: &message.topic,
        id: &message.id,
        body: &body,
        attempt: message.attempt,
        due_at: message.due_at_ms as f64 / 1000.0,
    };
    let (method, uri, payload, signed) = match topic.method {
        Method::Post => {
            let json = serde_json::to_string(&notification)
                .map_err(|e| Error::internal(format!("cannot encode the notification: {e}")))?;
            (HttpMethod::POST, topic.callback.clone(), json.clone(), json)
        }
        Method::Get => {
            let (uri, signed) = with_query(&topic.callback, &query_string(&notification));
            (HttpMethod::GET, uri, String::new(), signed)
        }
    };
    let uri: Uri = uri.parse().map_err(|e| {
        Error::invalid(format!(
            "callback {} is not a valid URL: {e}",
            topic.callback
        ))
    })?;
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(USER_AGENT, user_agent())
        .header("X-Dq-Topic", header_value(&message.topic)?)
        .header("X-Dq-Id", header_value(&message.id)?)
        .header("X-Dq-Attempt", message.attempt);
    if topic.method == Method::Post {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    if let Some(secret) = &topic.secret {
        request = request.header(
            "X-Dq-Signature",
            format!("sha256={}", sign(secret, signed.as_bytes())),
        );
    }
    request
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| Error::internal(format!("cannot build the request: {e}")))
}

/// `callback` with `query` appended (after its own parameters, if any), and the query string
/// the receiver gets, which is what a GET's signature covers (its own parameters too).
pub(crate) fn with_query(callback: &str, query: &str) -> (String, String) {
    let separator = if callback.contains('?') { '&' } else { '?' };
    let uri = format!("{callback}{separator}{query}");
    let signed = uri
        .split_once('?')
        .map_or_else(|| query.to_string(), |(_, q)| q.to_string());
    (uri, signed)
}

/// Ids are any UTF-8 without control characters; headers must be visible ASCII, so others
/// are percent-encoded there (the body and query carry the exact id).
pub(crate) fn header_value(text: &str) -> Result<HeaderValue> {
    let visible = text.bytes().all(|b| (0x20..0x7f).contains(&b));
    let value = if visible {
        text.to_string()
    } else {
        percent_encode(text)
    };
    HeaderValue::from_str(&value)
        .map_err(|e| Error::internal(format!("header value {value:?}: {e}")))
}

/// `topic=..&id=..&body=..&attempt=..&due_at=..`, each value percent-encoded; `body` is the JSON text.
fn query_string(n: &Notification<'_>) -> String {
    format!(
        "topic={}&id={}&body={}&attempt={}&due_at={}",
        percent_encode(n.topic),
        percent_encode(n.id),
        percent_encode(n.body.get()),
        n.attempt,
        n.due_at
    )
}

/// Hex HMAC-SHA256 of `payload` with `secret`: what `X-Dq-Signature: sha256=...` carries.
pub fn sign(secret: &str, payload: &[u8]) -> String {
    // HMAC takes keys of any length, so this never fails.
    let Ok(mut mac) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
    else {
        return String::new();
    };
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// A short reason for a failed request: refused, DNS, TLS, reset.
fn describe_client_error(err: hyper_util::client::legacy::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leased() -> Leased {
        Leased {
            topic: "pay".into(),
            id: "o/1 ü".into(),
            body: r#"{"a":[1,2]}"#.into(),
            attempt: 2,
            due_at_ms: 1_800_000_000_500,
            lease: "w:1".into(),
        }
    }

    #[test]
    fn post_request_is_signed_json() {
        let mut topic = Topic::new("pay", "http://127.0.0.1:1/hook");
        topic.secret = Some("k".into());
        let request = build_request(&topic, &leased()).unwrap();
        assert_eq!(request.method(), HttpMethod::POST);
        assert_eq!(request.headers()["X-Dq-Attempt"], "2");
        assert_eq!(request.headers()["X-Dq-Id"], "o%2F1%20%C3%BC");
        let expected =
            r#"{"topic":"pay","id":"o/1 ü","body":{"a":[1,2]},"attempt":2,"due_at":1800000000.5}"#;
        assert_eq!(
            request.headers()["X-Dq-Signature"],
            format!("sha256={}", sign("k", expected.as_bytes())).as_str()
        );
    }

    #[test]
    fn get_request_carries_the_fields_in_the_query() {
        let mut topic = Topic::new("pay", "http://127.0.0.1:1/hook?x=1");
        topic.method = Method::Get;
        let request = build_request(&topic, &leased()).unwrap();
        let query = "x=1&topic=pay&id=o%2F1%20%C3%BC&body=%7B%22a%22%3A%5B1%2C2%5D%7D&attempt=2&due_at=1800000000.5";
        assert_eq!(
            request.uri().to_string(),
            format!("http://127.0.0.1:1/hook?{query}")
        );
        assert!(request.headers().get("X-Dq-Signature").is_none());
        topic.secret = Some("k".into());
        let request = build_request(&topic, &leased()).unwrap();
        assert_eq!(
            request.headers()["X-Dq-Signature"],
            format!("sha256={}", sign("k", query.as_bytes())).as_str(),
            "signed over the whole query, the callback's own parameters included"
        );
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
