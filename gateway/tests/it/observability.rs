//! What an operator reads: the log at INFO (a periodic summary, not a line per message; no
//! client mistake written as the gateway's error; no message body) and `/metrics`, which
//! answers quickly even while Redis hangs.

use crate::support;

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
use tokio::task::block_in_place;
use tower::ServiceExt;

/// The sum of `field=N` over the log's "activity" lines.
fn activity_sum(logs: &str, field: &str) -> u64 {
    logs.lines()
        .filter(|line| line.contains(" activity "))
        .filter_map(|line| {
            let at = line.find(&format!(" {field}="))? + field.len() + 2;
            let digits: String = line[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u64>().ok()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_info_log_sums_up_and_keeps_clients_mistakes_and_bodies_out() {
    let scratch = Scratch::new(&[REDIS]);
    let sink = Sink::start(always(200)).await;
    let dir = TempDir::new();
    let config = dir.write(
        "gateway.toml",
        &format!(
            "log_summary_interval = 1\n[[topic]]\nname = \"logs\"\ncallback = \"{}\"\n",
            sink.url("/hook")
        ),
    );
    let gateway = block_in_place(|| GatewayProcess::start(&config, &scratch.prefix));
    block_in_place(|| {
        for i in 0..20 {
            let body = json!({"id": format!("m{i}"), "body": {"n": i}, "delay": 0}).to_string();
            let (status, reply) = gateway.request("POST", "/v1/topics/logs/messages", Some(&body));
            assert_eq!(status, 201, "{reply}");
        }
    });
    sink.wait_calls(20, Duration::from_secs(10)).await;
    let summed = eventually(Duration::from_secs(5), "activity lines", || async {
        let logs = gateway.logs();
        (activity_sum(&logs, "added") == 20 && activity_sum(&logs, "delivered") == 20).then_some(())
    })
    .await;
    assert!(summed.is_some(), "no activity line:\n{}", gateway.logs());

    // Clients' mistakes: a missing exchange, an unroutable mandatory message.
    block_in_place(|| {
        let missing = format!("/v1/exchanges/nope-{}/publish", scratch.prefix);
        let body = json!({"routing_key": "k", "body": "secret-body-1"}).to_string();
        let (status, reply) = gateway.request("POST", &missing, Some(&body));
        assert_eq!(status, 404, "{reply}");
        let body = json!({"routing_key": format!("nobody-{}", scratch.prefix),
            "body": "secret-body-2", "properties": {"mandatory": true}})
        .to_string();
        let (status, reply) =
            gateway.request("POST", "/v1/exchanges/amq.direct/publish", Some(&body));
        assert_eq!(status, 422, "{reply}");
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = gateway.logs();
    // The one warning expected: the shared test Redis keeps nothing on disk.
    for line in logs
        .lines()
        .filter(|l| !l.contains("keeps nothing on disk"))
    {
        assert!(
            !line.contains(" ERROR ") && !line.contains(" WARN "),
            "{line}"
        );
        assert!(
            !line.ends_with(": added")
                && !line.contains(": added ")
                && !line.contains(": delivered "),
            "a line per message at INFO: {line}"
        );
    }
    // "secret-body" as text, and as the bytes a Debug dump would write.
    assert!(!logs.contains("secret-body"), "{logs}");
    assert!(!logs.contains("115, 101, 99, 114, 101, 116"), "{logs}");
}

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
