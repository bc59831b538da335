//! What an operator reads: `/metrics`, which answers quickly even while Redis hangs.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use dq_core::{DelayQueue, RedisServer, Registry, Topic, Tz};
use dq_gateway::{AppState, GatewayConfig, app};
use dq_testkit::*;
use http_body_util::BodyExt;
use serde_json::json;
use support::*;
use tower::ServiceExt;

async fn scrape(router: &Router) -> String {
    let response = router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_answer_quickly_while_redis_hangs() {
    let redis = PrivateRedis::start();
    let mut config = GatewayConfig::from_toml("", "test").unwrap();
    config.queue.redis = RedisServer::parse_list(&redis.url()).unwrap();
    // The gateway's default: every Redis call may take this long before it fails.
    config.queue.timeout = Duration::from_secs(3);
    let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
    let registry = Arc::new(Registry::new(queue.clone()));
    for name in ["a", "b", "c"] {
        registry
            .put(Topic::new(name, "http://127.0.0.1:9/never"))
            .await
            .unwrap();
    }
    let message = queue
        .parse_message(
            json!({"id": "1", "delay": 60}).as_object().unwrap(),
            Tz::UTC,
        )
        .unwrap();
    queue.add("a", &message).await.unwrap();
    let router = app(AppState::new(queue, registry, &config), 1 << 20);
    let server = &config.queue.redis[0].display;
    let up = format!(r#"dq_redis_up{{server="{server}"}}"#);
    let depth = r#"dq_queue_messages{topic="a",state="delayed"}"#;

    let text = scrape(&router).await;
    assert_eq!(metric(&text, &up), 1.0, "{text}");
    assert_eq!(metric(&text, depth), 1.0, "{text}");
    assert_eq!(metric(&text, "dq_scrape_redis_errors"), 0.0, "{text}");

    let frozen = redis.freeze();
    for _ in 0..2 {
        let started = Instant::now();
        let text = scrape(&router).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "a scrape took {took:?} while Redis hung"
        );
        assert_eq!(metric(&text, &up), 0.0, "{text}");
        assert_eq!(metric(&text, depth), 1.0, "the last known depth:\n{text}");
        assert_eq!(
            metric(&text, "dq_scrape_redis_errors"),
            4.0,
            "the ping and three topics' depths:\n{text}"
        );
    }
    drop(frozen);
    let recovered = eventually(Duration::from_secs(10), "redis answers again", || async {
        let text = scrape(&router).await;
        (metric(&text, "dq_scrape_redis_errors") == 0.0 && metric(&text, &up) == 1.0).then_some(())
    })
    .await;
    assert!(recovered.is_some());
}
