//! The HTTP API as a client sees it, against the real Redis, without a socket.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dq_core::{DelayQueue, Registry};
use dq_gateway::{AppState, GatewayConfig, app};
use dq_testkit::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Gateway {
    router: Router,
    observer: Arc<dyn dq_core::Observer>,
    scratch: Scratch,
}

fn gateway_with(token: Option<&str>, request_limit: usize) -> Gateway {
    let scratch = Scratch::new(&[REDIS]);
    let mut config = GatewayConfig::from_toml("timezone = \"Asia/Shanghai\"", "test").unwrap();
    config.queue = scratch.config();
    config.token = token.map(str::to_string);
    let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
    let registry = Arc::new(Registry::new(queue.clone()));
    let state = AppState::new(queue, registry, &config);
    Gateway {
        observer: state.observer(),
        router: app(state, request_limit),
        scratch,
    }
}

fn gateway() -> Gateway {
    gateway_with(None, 2 * 1024 * 1024)
}

impl Gateway {
    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send(method, uri, body.map(|b| b.to_string()), None)
            .await
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        body: Option<String>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn topic(&self, name: &str) {
        let (status, _) = self
            .call(
                "PUT",
                &format!("/v1/topics/{name}"),
                Some(json!({"callback": "http://127.0.0.1:9/x"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn topics_put_get_list_delete() {
    let gw = gateway();
    let (status, body) = gw
        .call(
            "PUT",
            "/v1/topics/pay.notify",
            Some(json!({"callback": "https://m.test/n", "method": "post", "retry": [1, 3], "secret": "k"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body.get("secret").is_none(),
        "a secret is never returned: {body}"
    );
    assert_eq!(body["secret_set"], true);
    assert_eq!(body["max_attempts"], 3);
    assert_eq!(body["method"], "POST");
    let (status, _) = gw
        .call(
            "PUT",
            "/v1/topics/pay.notify",
            Some(json!({"callback": "https://m.test/2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = gw.call("GET", "/v1/topics/pay.notify", None).await;
    assert_eq!(body["callback"], "https://m.test/2");
    assert_eq!(
        body["retry"],
        json!([1, 3, 5, 15, 30]),
        "PUT replaces the whole topic"
    );
    let (_, body) = gw.call("GET", "/v1/topics", None).await;
    assert_eq!(body["topics"].as_array().unwrap().len(), 1);
    let (status, _) = gw.call("DELETE", "/v1/topics/pay.notify", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = gw.call("GET", "/v1/topics/pay.notify", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "UNKNOWN_TOPIC");
}

/// The stored secret of topic `name`, as the registry in Redis holds it.
fn stored_secret(gw: &Gateway, name: &str) -> Option<String> {
    let raw: String = redis_cmd(
        REDIS,
        &["HGET", &format!("{}:topics", gw.scratch.prefix), name],
    );
    let entry: Value = serde_json::from_str(&raw).unwrap();
    entry["secret"].as_str().map(str::to_string)
}

#[tokio::test]
async fn a_topic_read_and_written_back_keeps_its_secret() {
    let gw = gateway();
    let (status, _) = gw
        .call(
            "PUT",
            "/v1/topics/signed",
            Some(json!({"callback": "https://m.test/n", "secret": "k3y"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mut shown) = gw.call("GET", "/v1/topics/signed", None).await;
    assert_eq!(shown["secret_set"], true);
    shown["callback"] = json!("https://m.test/changed");
    let (status, body) = gw.call("PUT", "/v1/topics/signed", Some(shown)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stored_secret(&gw, "signed").as_deref(), Some("k3y"));
    assert_eq!(body["max_attempts"], 6);
    let (_, shown) = gw.call("GET", "/v1/topics/signed", None).await;
    assert_eq!(shown["callback"], "https://m.test/changed");

    // What GET showed before secret_set existed, sent back: the stored secret stays.
    let (status, _) = gw
        .call(
            "PUT",
            "/v1/topics/signed",
            Some(json!({"callback": "https://m.test/n", "secret": "***"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored_secret(&gw, "signed").as_deref(), Some("k3y"));

    // A topic without a secret cannot get the literal "***" as one.
    let (status, body) = gw
        .call(
            "PUT",
            "/v1/topics/plain",
            Some(json!({"callback": "https://m.test/n", "secret": "***"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no stored secret to keep"),
        "{body}"
    );
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent() {
    let gw = gateway();
    let (status, _) = gw
        .call(
            "PUT",
            "/v1/topics/p",
            Some(
                json!({"callback": "https://m.test/n", "retry": [2, 4], "secret": "s", "delay": 7}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = gw
        .call("PATCH", "/v1/topics/p", Some(json!({"status": "paused"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "paused");
    assert_eq!(body["retry"], json!([2, 4]));
    assert_eq!(body["delay"], 7);
    assert_eq!(stored_secret(&gw, "p").as_deref(), Some("s"));
    let (_, body) = gw
        .call("PATCH", "/v1/topics/p", Some(json!({"secret": null})))
        .await;
    assert_eq!(body["secret_set"], false);
    let (status, body) = gw
        .call("PATCH", "/v1/topics/p", Some(json!({"timeout_ms": 0})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout_ms")
    );
    let (status, body) = gw
        .call("PATCH", "/v1/topics/none", Some(json!({"delay": 1})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn bad_topics_are_422_naming_the_field() {
    let gw = gateway();
    let (status, body) = gw
        .call(
            "PUT",
            "/v1/topics/t",
            Some(json!({"callback": "http://x.test/", "retries": [1]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retries"),
        "{body}"
    );
    let (status, body) = gw
        .call("PUT", "/v1/topics/t", Some(json!({"callback": "nope"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "INVALID_ARGUMENT");
    let (status, _) = gw
        .call(
            "PUT",
            "/v1/topics/bad%20name",
            Some(json!({"callback": "http://x.test/"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = gw
        .send("PUT", "/v1/topics/t", Some("{not json".into()), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
}

#[tokio::test]
async fn deliver_now_makes_a_waiting_message_due_in_one_step() {
    let gw = gateway();
    gw.topic("orders").await;
    let (status, _) = gw
        .call(
            "POST",
            "/v1/topics/orders/messages",
            Some(json!({"id": "o-1", "body": {"n": 1}, "delay": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = gw
        .call("POST", "/v1/topics/orders/messages/o-1/deliver", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": "o-1", "state": "ready"}));
    let (_, body) = gw.call("GET", "/v1/topics/orders/messages/o-1", None).await;
    assert_eq!(body["state"], "ready", "{body}");
    assert_eq!(body["body"], json!({"n": 1}));
    let (_, body) = gw.call("GET", "/v1/topics/orders/stats", None).await;
    assert_eq!(
        body,
        json!({"delayed": 0, "ready": 1, "inflight": 0, "dead": 0})
    );
    // Again: still due, still one.
    let (status, _) = gw
        .call("POST", "/v1/topics/orders/messages/o-1/deliver", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = gw
        .call("POST", "/v1/topics/orders/messages/nope/deliver", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"nope\""),
        "{body}"
    );
}

#[tokio::test]
async fn messages_add_get_delete_stats() {
    let gw = gateway();
    gw.topic("orders").await;
    let (status, body) = gw
        .call(
            "POST",
            "/v1/topics/orders/messages",
            Some(json!({"id": "o-1", "body": {"sku": "A", "n": 2}, "delay": 30})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], "o-1");
    assert_eq!(body["state"], "delayed");
    let due_at = body["due_at"].as_f64().unwrap();
    assert!((due_at - now_ms() as f64 / 1000.0 - 30.0).abs() < 2.0);

    let (status, body) = gw.call("GET", "/v1/topics/orders/messages/o-1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["body"], json!({"sku": "A", "n": 2}));
    assert_eq!(body["state"], "delayed");
    assert_eq!(body["attempts"], 0);
    assert_eq!(body["topic"], "orders");

    let (_, body) = gw.call("GET", "/v1/topics/orders/stats", None).await;
    assert_eq!(
        body,
        json!({"delayed": 1, "ready": 0, "inflight": 0, "dead": 0})
    );

    let (status, _) = gw
        .call("DELETE", "/v1/topics/orders/messages/o-1", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = gw
        .call("DELETE", "/v1/topics/orders/messages/o-1", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    let (status, _) = gw.call("GET", "/v1/topics/orders/messages/o-1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn fix_time_is_read_in_the_gateway_time_zone() {
    let gw = gateway();
    gw.topic("t").await;
    let (status, body) = gw
        .call(
            "POST",
            "/v1/topics/t/messages",
            Some(json!({"id": "a", "fix_time": "2030-01-01 08:00:00"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "more than 366 days ahead: {body}"
    );
    // Pick a time an hour ahead in Shanghai (UTC+8, no DST).
    let target = now_ms() / 1000 + 3600;
    let local = target + 8 * 3600;
    let (days, secs) = (local.div_euclid(86400), local.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    let text = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    let (status, body) = gw
        .call(
            "POST",
            "/v1/topics/t/messages",
            Some(json!({"id": "b", "fix_time": text})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["due_at"].as_f64().unwrap() as i64, target);
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[tokio::test]
async fn bad_messages_get_clear_errors() {
    let gw = gateway();
    gw.topic("t").await;
    for (body, status, needle) in [
        (json!({"body": 1}), 422, "id is missing"),
        (
            json!({"id": "a", "dealy": 5}),
            422,
            "did you mean \"delay\"",
        ),
        (
            json!({"id": "a", "delay": "5"}),
            422,
            "delay \"5\" is a string",
        ),
        (
            json!({"id": "a", "delay": 1, "fix_time": 5}),
            422,
            "both given",
        ),
        (json!(["not", "an", "object"]), 422, "expected an object"),
    ] {
        let (got, reply) = gw
            .call("POST", "/v1/topics/t/messages", Some(body.clone()))
            .await;
        assert_eq!(got.as_u16(), status, "{body} -> {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body} -> {message}");
    }
    let (status, body) = gw
        .call("POST", "/v1/topics/nope/messages", Some(json!({"id": "a"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "UNKNOWN_TOPIC");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"nope\"")
    );
}

#[tokio::test]
async fn oversized_requests_are_413() {
    let gw = gateway_with(None, 10_000);
    gw.topic("t").await;
    let big = json!({"id": "a", "body": "x".repeat(20_000)});
    let (status, body) = gw.call("POST", "/v1/topics/t/messages", Some(big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn token_guards_everything_but_healthz() {
    let gw = gateway_with(Some("s3cret"), 1 << 20);
    let (status, body) = gw.send("GET", "/v1/topics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    let (status, _) = gw.send("GET", "/v1/topics", None, Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = gw.send("GET", "/v1/topics", None, Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = gw.send("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = gw.send("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["redis"][0]["state"], "up");
}

#[tokio::test]
async fn healthz_and_metrics() {
    let gw = gateway();
    gw.topic("m").await;
    gw.call(
        "POST",
        "/v1/topics/m/messages",
        Some(json!({"id": "1", "delay": 60})),
    )
    .await;
    // What the workers report.
    gw.observer
        .delivered("m", std::time::Duration::from_millis(3));
    gw.observer.failed("m", dq_core::Failure::Status5xx);
    gw.observer.dead(
        &dq_core::Topic::new("m", "http://127.0.0.1:9/m"),
        &dq_core::alert::GivenUp {
            id: "1",
            attempts: 6,
            status: Some(500),
            error: "HTTP 500",
            asked: false,
        },
    );
    let (status, body) = gw.call("GET", "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    // The shared test Redis keeps nothing on disk: said, but not a failure.
    assert_eq!(body["status"], "warn", "{body}");
    assert_eq!(body["redis"][0]["persistence"]["durable"], false, "{body}");
    assert!(
        body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("keeps nothing on disk"),
        "{body}"
    );
    assert_eq!(body["rabbitmq"]["state"], "unused", "{body}");
    let (status, text) = gw.call("GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap().to_string();
    assert!(
        text.contains(r#"dq_messages_added_total{topic="m"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"dq_queue_messages{topic="m",state="delayed"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/topics/{topic}/messages""#),
        "{text}"
    );
    assert!(text.contains("dq_redis_up{"), "{text}");
    for sample in [
        r#"dq_messages_delivered_total{topic="m"} 1"#,
        r#"dq_delivery_failures_total{topic="m",reason="status_5xx"} 1"#,
        r#"dq_dead_letters_total{topic="m"} 1"#,
        "dq_delivery_lateness_seconds_count 1",
    ] {
        assert!(text.contains(sample), "{sample} missing:\n{text}");
    }
    drop(gw.scratch);
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let gw = gateway();
    let (status, body) = gw.call("GET", "/v2/nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

/// Found by schemathesis: an offset near usize::MAX wrapped around `offset + limit` and
/// listed nothing with 200 (a debug build panicked) instead of refusing the page.
#[tokio::test]
async fn a_dead_letter_page_answers_at_any_offset_and_bad_filters_are_named() {
    let gw = gateway();
    for query in [
        "offset=18446744073709551615",
        "offset=10000&limit=1",
        "offset=9001&limit=1000",
    ] {
        let (status, body) = gw
            .call("GET", &format!("/v1/topics/t/dead?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(body["dead"], json!([]), "{query}: {body}");
    }
    let (status, body) = gw
        .call("GET", "/v1/topics/t/dead?offset=18446744073709551616", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "over u64: {body}");
    assert_eq!(body["error"]["code"], "INVALID_ARGUMENT");
    let (status, body) = gw.call("GET", "/v1/topics/t/dead?status=6xx", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("status \"6xx\""), "{message}");
    let (status, _) = gw.call("GET", "/v1/topics/t/dead?status=&q=", None).await;
    assert_eq!(status, StatusCode::OK, "empty filters are no filters");
}

#[tokio::test]
async fn healthz_reports_a_shard_that_is_down() {
    let mut config = GatewayConfig::from_toml("", "test").unwrap();
    config.queue.redis =
        dq_core::RedisServer::parse_list(&format!("{REDIS},127.0.0.1:{}", free_port())).unwrap();
    config.queue.timeout = std::time::Duration::from_millis(300);
    let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
    let registry = Arc::new(Registry::new(queue.clone()));
    let router = app(AppState::new(queue, registry, &config), 1 << 20);
    let response = router
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["redis"][0]["state"], "up");
    assert_eq!(body["redis"][1]["state"], "down");
}

#[tokio::test]
async fn healthz_reports_rabbitmq_once_it_is_in_use() {
    let scratch = Scratch::new(&[REDIS]);
    let closed = free_port();
    for (url, state, status) in [
        (
            format!("amqp://guest:guest@127.0.0.1:{closed}/%2f"),
            "down",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
            "up",
            StatusCode::OK,
        ),
    ] {
        let mut config = GatewayConfig::from_toml(&format!("amqp = \"{url}\""), "test").unwrap();
        config.queue = scratch.config();
        let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
        let registry = Arc::new(Registry::new(queue.clone()));
        let router = app(AppState::new(queue, registry, &config), 1 << 20);
        let request = Request::get("/healthz").body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["rabbitmq"]["state"], state, "{body}");
        if state == "down" {
            assert_eq!(body["status"], "degraded", "{body}");
            assert!(
                body["rabbitmq"]["error"]
                    .as_str()
                    .unwrap()
                    .contains(&closed.to_string()),
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_message_fields_are_422_naming_them() {
    let gw = gateway();
    gw.topic("t").await;
    for (body, expected) in [
        (
            json!({"id": "a", "priority": 3}),
            "unknown field \"priority\" (fields: id, body, delay, fix_time)",
        ),
        (
            json!({"id": "a", "topic": "t", "priority": 3}),
            "unknown fields \"topic\", \"priority\" (fields: id, body, delay, fix_time)",
        ),
    ] {
        let (status, reply) = gw
            .call("POST", "/v1/topics/t/messages", Some(body.clone()))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {reply}"
        );
        assert_eq!(reply["error"]["code"], "INVALID_ARGUMENT");
        assert_eq!(reply["error"]["message"], expected);
    }
    let (status, _) = gw.call("GET", "/v1/topics/t/messages/a", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn duplicate_json_keys_are_400_naming_key_and_place() {
    let gw = gateway();
    gw.topic("t").await;
    for (text, needle) in [
        (
            r#"{"id":"a","delay":5,"delay":3600}"#,
            "request body gives the key \"delay\" twice (at delay, line 1 column 27)",
        ),
        (
            r#"{"id":"a","body":{"a":1,"b":2,"a":3}}"#,
            "the key \"a\" twice (at body.a,",
        ),
        (
            r#"{"id":"a","body":{"items":[{"x":1},{"x":1,"x":2}]}}"#,
            "the key \"x\" twice (at body.items[1].x,",
        ),
        (r#"{"id":"a","id":"b"}"#, "the key \"id\" twice (at id,"),
    ] {
        let (status, reply) = gw
            .send("POST", "/v1/topics/t/messages", Some(text.into()), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text} -> {reply}");
        assert_eq!(reply["error"]["code"], "INVALID_ARGUMENT");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{text} -> {message}");
        assert!(
            message.ends_with("each key may appear once in an object"),
            "{message}"
        );
    }
    for id in ["a", "b"] {
        let (status, _) = gw
            .call("GET", &format!("/v1/topics/t/messages/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");
    }
    // Every route reads its body the same way.
    let (status, reply) = gw
        .send(
            "PUT",
            "/v1/topics/u",
            Some(r#"{"callback":"http://a.test/","callback":"http://b.test/"}"#.into()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"callback\" twice"),
        "{reply}"
    );
}

#[tokio::test]
async fn two_authorization_headers_are_400_token_or_not() {
    for token in [Some("s3cret"), None] {
        let gw = gateway_with(token, 1 << 20);
        for (path, first, second) in [
            ("/v1/topics", "Bearer s3cret", "Bearer wrong"),
            ("/v1/topics", "Bearer wrong", "Bearer s3cret"),
            ("/v1/topics", "Bearer s3cret", "Bearer s3cret"),
            ("/healthz", "Bearer s3cret", "Basic eDp5"),
        ] {
            let request = Request::builder()
                .uri(path)
                .header(header::AUTHORIZATION, first)
                .header(header::AUTHORIZATION, second)
                .body(Body::empty())
                .unwrap();
            let response = gw.router.clone().oneshot(request).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{token:?} {path}"
            );
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["error"]["code"], "INVALID_ARGUMENT");
            assert_eq!(
                body["error"]["message"],
                "request has 2 Authorization headers: send at most one"
            );
        }
        // One is still fine.
        let (status, _) = gw.send("GET", "/v1/topics", None, token).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_timed_out_add_is_504_saying_the_message_may_be_stored() {
    let scratch = Scratch::new(&[REDIS]);
    let (real, _registry) = scratch.queue_with_topics(&["t"]).await;
    let proxy = SilentScripts::start("127.0.0.1:6379");
    let mut config = GatewayConfig::from_toml("", "test").unwrap();
    config.queue = scratch.config();
    config.queue.redis = vec![dq_core::RedisServer::parse(&proxy.url()).unwrap()];
    config.queue.timeout = std::time::Duration::from_millis(300);
    let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
    let registry = Arc::new(Registry::new(queue.clone()));
    let router = app(AppState::new(queue, registry, &config), 1 << 20);
    let request = Request::post("/v1/topics/t/messages")
        .body(Body::from(r#"{"id":"o-1","delay":60}"#))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "TIMEOUT");
    assert!(
        body["error"]["message"].as_str().unwrap().ends_with(
            "message \"o-1\" may or may not have been stored; adding it again is safe: the \
             same id replaces it"
        ),
        "{body}"
    );
    assert!(
        real.get("t", "o-1").await.unwrap().is_some(),
        "it was stored"
    );
}
