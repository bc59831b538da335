//! `/v1/exchanges/{exchange}/publish` and `/call` against the real RabbitMQ, each test in a
//! vhost of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dq_core::amqp::{AmqpConfig, OutgoingMessage, Producer, QueueOptions};
use dq_core::{DelayQueue, Registry};
use dq_gateway::{AppState, GatewayConfig, app};
use dq_testkit::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Env {
    router: axum::Router,
    broker: Producer,
    _vhost: TestVhost,
    _scratch: Scratch,
}

fn env() -> Env {
    let vhost = TestVhost::new();
    let scratch = Scratch::new(&[REDIS]);
    let mut config = GatewayConfig::from_toml("", "test").unwrap();
    config.queue = scratch.config();
    config
        .apply_env(|k| (k == "DQ_AMQP").then(|| vhost.url()))
        .unwrap();
    let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
    let registry = Arc::new(Registry::new(queue.clone()));
    let broker = Producer::new(
        AmqpConfig::new(&vhost.url(), "dq", Duration::from_secs(3)).unwrap(),
        true,
    );
    Env {
        router: app(AppState::new(queue, registry, &config), 1 << 20),
        broker,
        _vhost: vhost,
        _scratch: scratch,
    }
}

impl Env {
    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        let request = Request::post(uri)
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn queue(&self, name: &str) -> String {
        self.broker
            .declare_queue(
                name,
                &QueueOptions {
                    durable: false,
                    ..QueueOptions::default()
                },
            )
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn publish_is_confirmed_and_arrives_with_its_properties() {
    let env = env();
    let q = env.queue("orders").await;
    let (status, body) = env
        .post(
            "/v1/exchanges/amq.default/publish",
            json!({"routing_key": q, "body": {"order": 7}, "properties": {"message_id": "m-7", "headers": {"tenant": 3}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"confirmed": true}));
    let consumer = env.broker.consumer(&q, 1);
    let delivery = consumer
        .next(Duration::from_secs(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.body(), br#"{"order":7}"#);
    let props = delivery.properties();
    assert_eq!(props["content_type"], "application/json");
    assert_eq!(props["message_id"], "m-7");
    assert_eq!(props["headers"], json!({"tenant": 3}));
    delivery.ack().await.unwrap();
    consumer.close().await;
}

/// `delay` is seconds: 1.5 arrives after 1.5 s, not 1.5 ms.
#[tokio::test]
async fn delayed_publish_arrives_after_its_delay_in_seconds() {
    let env = env();
    let q = env.queue("later").await;
    let started = Instant::now();
    let (status, _) = env
        .post(
            "/v1/exchanges/amq.default/publish",
            json!({"routing_key": q, "body": "x", "delay": 1.5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let consumer = env.broker.consumer(&q, 1);
    let delivery = consumer
        .next(Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    let at = started.elapsed();
    assert!(
        at >= Duration::from_millis(1500) && at < Duration::from_secs(4),
        "{at:?}"
    );
    delivery.ack().await.unwrap();
    consumer.close().await;
}

/// Seconds is the one unit: `delay_ms` is refused with what to send instead, never read as
/// seconds; a `delay` that is not a number, or out of range, is refused naming it.
#[tokio::test]
async fn delay_is_seconds_and_delay_ms_is_refused() {
    let env = env();
    let q = env.queue("later").await;
    let publish = |fields: Value| {
        let mut body = json!({"routing_key": q, "body": "x"});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        env.post("/v1/exchanges/amq.default/publish", body)
    };
    let message = |body: &Value| body["error"]["message"].as_str().unwrap().to_string();
    for (fields, status, expected) in [
        (
            json!({"delay_ms": 1500}),
            StatusCode::BAD_REQUEST,
            r#"delay_ms is no longer accepted: send "delay" in seconds (delay_ms 1500 = "delay": 1.5)"#,
        ),
        (
            json!({"delay_ms": 30000, "delay": 30}),
            StatusCode::BAD_REQUEST,
            r#"delay_ms is no longer accepted: send "delay" in seconds (delay_ms 30000 = "delay": 30)"#,
        ),
        (
            json!({"delay_ms": "soon"}),
            StatusCode::BAD_REQUEST,
            r#"delay_ms is no longer accepted: send "delay" in seconds (delay_ms 1500 = "delay": 1.5)"#,
        ),
        (
            json!({"delay": "1.5"}),
            StatusCode::BAD_REQUEST,
            r#"delay "1.5" is a string: expected a number of seconds from 0 to 2592000"#,
        ),
        (
            json!({"delay": [1]}),
            StatusCode::BAD_REQUEST,
            "delay [1] is an array: expected a number of seconds from 0 to 2592000",
        ),
        (
            json!({"delay": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "delay -1 is out of range: expected seconds from 0 to 2592000 (30 days)",
        ),
        (
            json!({"delay": 1e99}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "delay 1e99 is out of range: expected seconds from 0 to 2592000 (30 days)",
        ),
        (
            json!({"delay": 2_592_001}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "delay 2592001 is out of range: expected seconds from 0 to 2592000 (30 days)",
        ),
    ] {
        let (got, body) = publish(fields.clone()).await;
        assert_eq!(got, status, "{fields} -> {body}");
        assert_eq!(
            body["error"]["code"], "INVALID_ARGUMENT",
            "{fields} -> {body}"
        );
        assert_eq!(message(&body), expected, "{fields}");
    }
    // Nothing refused was published.
    let consumer = env.broker.consumer(&q, 1);
    assert!(
        consumer
            .next(Duration::from_millis(300))
            .await
            .unwrap()
            .is_none()
    );
    consumer.close().await;
}

#[tokio::test]
async fn refusals_are_clear_errors() {
    let env = env();
    let (status, body) = env
        .post(
            "/v1/exchanges/nope/publish",
            json!({"routing_key": "k", "body": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no exchange 'nope'"),
        "{body}"
    );
    let (status, body) = env
        .post(
            "/v1/exchanges/amq.direct/publish",
            json!({"routing_key": "nobody", "body": "x", "properties": {"mandatory": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "REJECTED");
    let (status, body) = env
        .post(
            "/v1/exchanges/amq.direct/publish",
            json!({"routing_key": "k"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("body is missing")
    );
    let (status, body) = env
        .post(
            "/v1/exchanges/amq.direct/publish",
            json!({"routing_key": "k", "body": 1, "properties": {"priority": 999}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("priority 999"),
        "{body}"
    );
}

#[tokio::test]
async fn call_returns_the_reply_or_504() {
    let env = env();
    let q = env.queue("rpc").await;
    let responder = env.broker.clone();
    let q2 = q.clone();
    let serve = tokio::spawn(async move {
        let consumer = responder.consumer(&q2, 1);
        let request = consumer
            .next(Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
        let reply = OutgoingMessage::new(
            br#"{"ok":true}"#.to_vec(),
            json!({"content_type": "application/json"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        request.reply(reply).await.unwrap();
        request.ack().await.unwrap();
        consumer.close().await;
    });
    let (status, body) = env
        .post(
            "/v1/exchanges/amq.default/call",
            json!({"routing_key": q, "body": {"q": 1}, "timeout_ms": 5000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"body": {"ok": true}}));
    serve.await.unwrap();
    let (status, body) = env
        .post(
            "/v1/exchanges/amq.default/call",
            json!({"routing_key": q, "body": "x", "timeout_ms": 300}),
        )
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "TIMEOUT");
}

/// The README's example with no queue `order.check`: refused now (404), not lost when due.
#[tokio::test]
async fn delayed_publish_to_a_missing_queue_is_404() {
    let env = env();
    let (status, body) = env
        .post(
            "/v1/exchanges/amq.default/publish",
            json!({"routing_key": "order.check", "body": {"order": 42}, "delay": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("queue \"order.check\" does not exist")
            && message.contains("declare the queue first"),
        "{message}"
    );
    // Once the queue is there, the same request is taken.
    let q = env.queue("order.check").await;
    let (status, body) = env
        .post(
            "/v1/exchanges/amq.default/publish",
            json!({"routing_key": q, "body": {"order": 42}, "delay": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
