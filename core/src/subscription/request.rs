//! The HTTP request one attempt at a subscription's message makes (DESIGN.md "Subscriptions"):
//! POST with the body as sent and its `content_type` (GET: the body as the `body` query
//! parameter), `X-Dq-Subscription`, `X-Dq-Message-Id`, `X-Dq-Correlation-Id`,
//! `X-Dq-Routing-Key`, `X-Dq-Exchange`, `X-Dq-Attempt`, `X-Dq-Redelivered`, each AMQP header as
//! `X-Dq-Header-<name>`, and `X-Dq-Signature: sha256=<HMAC>` of what was sent (the body; for
//! GET the query string) when the subscription has a secret.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method as HttpMethod, Request, Uri};
use lapin::BasicProperties;
use lapin::types::AMQPValue;

use super::Subscription;
use super::verdict::{OWN_HEADERS, origin};
use crate::config::percent_encode;
use crate::error::{Error, Result};
use crate::registry::Method;
use crate::worker::{header_value, sign, user_agent, with_query};

/// A message taken from a subscription's queue, as its delivery needs it.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    pub body: &'a [u8],
    pub properties: &'a BasicProperties,
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub redelivered: bool,
}

/// The request for attempt number `attempt` (1 for the first) at delivering `message`.
pub fn request(
    subscription: &Subscription,
    message: &Delivered<'_>,
    attempt: u32,
) -> Result<Request<Full<Bytes>>> {
    let (method, uri, payload, signed) = match subscription.method {
        Method::Post => (
            HttpMethod::POST,
            subscription.callback.clone(),
            Bytes::copy_from_slice(message.body),
            Bytes::copy_from_slice(message.body),
        ),
        Method::Get => {
            let query = format!("body={}", percent_encode(message.body));
            let (uri, signed) = with_query(&subscription.callback, &query);
            (HttpMethod::GET, uri, Bytes::new(), Bytes::from(signed))
        }
    };
    let uri: Uri = uri.parse().map_err(|e| {
        Error::invalid(format!(
            "callback {} is not a valid URL: {e}",
            subscription.callback
        ))
    })?;
    let properties = message.properties;
    // A copy dq made to retry the message comes back through the default exchange: the
    // callback is shown where the message first came from.
    let (exchange, routing_key) = origin(message);
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(USER_AGENT, user_agent())
        .header("X-Dq-Subscription", header_value(&subscription.name)?)
        .header("X-Dq-Routing-Key", header_value(&routing_key)?)
        .header("X-Dq-Exchange", header_value(&exchange)?)
        .header("X-Dq-Attempt", attempt)
        .header(
            "X-Dq-Redelivered",
            if message.redelivered { "true" } else { "false" },
        );
    if let Some(id) = properties.message_id() {
        request = request.header("X-Dq-Message-Id", header_value(id.as_str())?);
    }
    if let Some(id) = properties.correlation_id() {
        request = request.header("X-Dq-Correlation-Id", header_value(id.as_str())?);
    }
    if subscription.method == Method::Post {
        let content_type = properties
            .content_type()
            .as_ref()
            .and_then(|t| HeaderValue::from_str(t.as_str()).ok())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        request = request.header(CONTENT_TYPE, content_type);
    }
    if let Some(headers) = properties.headers() {
        for (name, value) in headers.inner() {
            if OWN_HEADERS.contains(&name.as_str()) {
                continue;
            }
            request = request.header(header_name(name.as_str())?, amqp_header_value(value)?);
        }
    }
    if let Some(secret) = &subscription.secret {
        request = request.header(
            "X-Dq-Signature",
            format!("sha256={}", sign(secret, &signed)),
        );
    }
    request
        .body(Full::new(payload))
        .map_err(|e| Error::internal(format!("cannot build the request: {e}")))
}

/// `X-Dq-Header-<name>`; bytes of the name that an HTTP header name cannot hold are
/// percent-encoded (`%` is allowed in a header name).
fn header_name(name: &str) -> Result<HeaderName> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b);
    let mut out = String::from("X-Dq-Header-");
    for b in name.bytes() {
        if token(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderName::from_bytes(out.as_bytes())
        .map_err(|e| Error::internal(format!("header name {out:?}: {e}")))
}

/// A string as it is (percent-encoded when it is not visible ASCII), anything else as JSON.
fn amqp_header_value(value: &AMQPValue) -> Result<HeaderValue> {
    let text = match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_string(),
        other => {
            let mut table = lapin::types::FieldTable::default();
            table.insert("v".into(), other.clone());
            crate::amqp::table_json(&table)["v"].to_string()
        }
    };
    header_value(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::OutgoingMessage;
    use serde_json::json;

    fn message(properties: serde_json::Value) -> OutgoingMessage {
        OutgoingMessage::new(b"\x00\xff body".to_vec(), properties.as_object().unwrap()).unwrap()
    }

    #[test]
    fn post_carries_the_body_as_sent_and_every_header() {
        let m = message(json!({
            "message_id": "m-1", "correlation_id": "c-1", "content_type": "application/x-thing",
            "headers": {"x-from": "db1", "n": 3, "ok": true, "list": [1, "a"], "tab\there": "v\nw", "ünï": "ü"},
        }));
        let sub = Subscription {
            secret: Some("s3cret".into()),
            ..Subscription::new("credits", "q", "http://127.0.0.1:9/h?x=1")
        };
        let delivered = Delivered {
            body: &m.body,
            properties: &m.properties,
            exchange: "corp",
            routing_key: "credit.eu",
            redelivered: true,
        };
        let r = request(&sub, &delivered, 2).unwrap();
        assert_eq!(r.method(), HttpMethod::POST);
        assert_eq!(r.uri(), "http://127.0.0.1:9/h?x=1");
        let h = r.headers();
        let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(get("content-type").unwrap(), "application/x-thing");
        assert_eq!(get("x-dq-subscription").unwrap(), "credits");
        assert_eq!(get("x-dq-message-id").unwrap(), "m-1");
        assert_eq!(get("x-dq-correlation-id").unwrap(), "c-1");
        assert_eq!(get("x-dq-routing-key").unwrap(), "credit.eu");
        assert_eq!(get("x-dq-exchange").unwrap(), "corp");
        assert_eq!(get("x-dq-attempt").unwrap(), "2");
        assert_eq!(get("x-dq-redelivered").unwrap(), "true");
        assert_eq!(get("x-dq-header-x-from").unwrap(), "db1");
        assert_eq!(get("x-dq-header-n").unwrap(), "3");
        assert_eq!(get("x-dq-header-ok").unwrap(), "true");
        assert_eq!(get("x-dq-header-list").unwrap(), "[1,\"a\"]");
        assert_eq!(get("x-dq-header-tab%09here").unwrap(), "v%0Aw");
        assert_eq!(get("x-dq-header-%C3%BCn%C3%AF").unwrap(), "%C3%BC");
        assert_eq!(
            get("x-dq-signature").unwrap(),
            format!("sha256={}", sign("s3cret", b"\x00\xff body"))
        );
        let body = r.into_body();
        let bytes = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(body))
            .unwrap()
            .unwrap()
            .to_bytes();
        assert_eq!(&bytes[..], b"\x00\xff body");
    }

    #[test]
    fn a_retry_copy_shows_where_the_message_first_came_from() {
        let m = message(json!({"headers": {"x-a": "1"}}));
        let first = Delivered {
            body: &m.body,
            properties: &m.properties,
            exchange: "corp",
            routing_key: "credit",
            redelivered: false,
        };
        let copy = super::super::retry_copy(&first, 1);
        let again = Delivered {
            body: &copy.body,
            properties: &copy.properties,
            exchange: "",
            routing_key: "q",
            redelivered: false,
        };
        let sub = Subscription::new("s", "q", "http://127.0.0.1:9/h");
        let r = request(&sub, &again, 2).unwrap();
        assert_eq!(r.headers()["x-dq-exchange"], "corp");
        assert_eq!(r.headers()["x-dq-routing-key"], "credit");
        assert_eq!(r.headers()["x-dq-header-x-a"], "1");
        assert!(
            r.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("x-dq-header-x-dq-"))
        );
    }

    #[test]
    fn get_sends_the_body_in_the_query_and_signs_it() {
        let m = message(json!({}));
        let sub = Subscription {
            method: Method::Get,
            secret: Some("k".into()),
            ..Subscription::new("s", "q", "http://127.0.0.1:9/h")
        };
        let delivered = Delivered {
            body: &m.body,
            properties: &m.properties,
            exchange: "",
            routing_key: "q",
            redelivered: false,
        };
        let r = request(&sub, &delivered, 1).unwrap();
        assert_eq!(r.uri(), "http://127.0.0.1:9/h?body=%00%FF%20body");
        assert!(r.headers().get("content-type").is_none());
        assert!(r.headers().get("x-dq-message-id").is_none());
        assert_eq!(r.headers()["x-dq-exchange"], "");
        assert_eq!(
            r.headers()["x-dq-signature"].to_str().unwrap(),
            format!("sha256={}", sign("k", b"body=%00%FF%20body"))
        );
    }
}
