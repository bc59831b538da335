//! Pull mode as an HTTP worker sees it: a pull topic's due messages wait as ready until
//! reserved; ack, retry on the ladder, fail to the dead letters; an abandoned lease reserved
//! again; two workers never hold one job; a push topic refuses reserve, and the workers never
//! call anything for a pull topic. Against the real Redis.

use crate::support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use dq_core::{DelayQueue, Registry, State, Topic, Tz, WorkerConfig, Workers};
use dq_gateway::{AppState, GatewayConfig, app};
use dq_testkit::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::*;
use tower::ServiceExt;

struct Env {
    queue: Arc<DelayQueue>,
    registry: Arc<Registry>,
    router: Router,
    _scratch: Scratch,
}

impl Env {
    fn new() -> Env {
        let scratch = Scratch::new(&[REDIS]);
        let queue = scratch.queue();
        let registry = Arc::new(Registry::new(queue.clone()));
        let mut config = GatewayConfig::from_toml("", "test").unwrap();
        config.queue = scratch.config();
        let state = AppState::new(queue.clone(), registry.clone(), &config);
        Env {
            router: app(state, 2 * 1024 * 1024),
            queue,
            registry,
            _scratch: scratch,
        }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn add(&self, topic: &str, id: &str, delay: f64) {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/topics/{topic}/messages"),
                Some(json!({"id": id, "body": {"id": id}, "delay": delay})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn reserve(&self, topic: &str, timeout: f64) -> Option<Value> {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/topics/{topic}/reserve"),
                Some(json!({ "timeout": timeout })),
            )
            .await;
        match status {
            StatusCode::OK => Some(body),
            StatusCode::NO_CONTENT => None,
            other => panic!("reserve: {other} {body}"),
        }
    }

    async fn settle(&self, job: &Value, how: &str, body: Option<Value>) -> (StatusCode, Value) {
        let uri = format!(
            "/v1/topics/{}/jobs/{}/{how}",
            job["topic"].as_str().unwrap(),
            job["lease"].as_str().unwrap()
        );
        self.call("POST", &uri, body).await
    }

    async fn state(&self, topic: &str, id: &str) -> Option<State> {
        self.queue.get(topic, id).await.unwrap().map(|m| m.state)
    }
}

#[tokio::test]
async fn pull_topics_are_declared_without_a_callback_and_push_topics_refuse_reserve() {
    let env = Env::new();
    let (status, body) = env
        .call("PUT", "/v1/topics/jobs", Some(json!({"mode": "pull"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["mode"], "pull");
    assert!(body.get("callback").is_none(), "{body}");

    let (status, body) = env
        .call(
            "PUT",
            "/v1/topics/both",
            Some(json!({"mode": "pull", "callback": "http://127.0.0.1:9/x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("not used by a pull topic"), "{message}");

    let (status, body) = env.call("PUT", "/v1/topics/nothing", Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("callback is missing"),
        "{body}"
    );

    env.call(
        "PUT",
        "/v1/topics/pushed",
        Some(json!({"callback": "http://127.0.0.1:9/x"})),
    )
    .await;
    let (status, body) = env.call("POST", "/v1/topics/pushed/reserve", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("is a push topic"), "{message}");
    assert!(message.contains("\"mode\": \"pull\""), "{message}");

    // A push topic becomes a pull topic with PATCH, as the message says.
    let (status, body) = env
        .call(
            "PATCH",
            "/v1/topics/pushed",
            Some(json!({"mode": "pull", "callback": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = env
        .call(
            "POST",
            "/v1/topics/pushed/reserve",
            Some(json!({"timeout": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, body) = env.call("POST", "/v1/topics/missing/reserve", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for (bad, named) in [
        (json!({"timeout": -1}), "timeout -1"),
        (json!({"timeout": 61}), "timeout 61"),
        (json!({"timeout": "1"}), "timeout \"1\""),
        (json!({"wait": 1}), "unknown field \"wait\""),
    ] {
        let (status, body) = env.call("POST", "/v1/topics/jobs/reserve", Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{message}");
    }
    let (status, body) = env
        .call("POST", "/v1/topics/jobs/jobs/nonsense/ack", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lease \"nonsense\""),
        "{body}"
    );
}

#[tokio::test]
async fn reserve_ack_retry_on_the_ladder_and_fail_to_the_dead_letters() {
    let env = Env::new();
    let mut topic = Topic::pull("work");
    topic.retry = vec![0.2, 0.4];
    env.registry.put(topic).await.unwrap();

    // Due messages come earliest first; a delayed one is not handed out before its time.
    env.add("work", "a", 0.0).await;
    env.add("work", "later", 0.6).await;
    let job = env.reserve("work", 0.0).await.expect("a is due");
    assert_eq!(job["id"], "a");
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["max_attempts"], 3);
    assert_eq!(job["body"], json!({"id": "a"}));
    assert!(job["lease_expires_at"].as_f64().unwrap() > job["due_at"].as_f64().unwrap());
    assert_eq!(env.state("work", "a").await, Some(State::Inflight));
    assert!(env.reserve("work", 0.0).await.is_none(), "later is not due");

    let (status, _) = env.settle(&job, "ack", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(env.state("work", "a").await, None);
    let (status, body) = env.settle(&job, "ack", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "acked twice: {body}");
    assert_eq!(body["error"]["code"], "LEASE_LOST");

    // A waiting reserve gets `later` at its due time, with no gateway workers running.
    let started = Instant::now();
    let job = env.reserve("work", 5.0).await.expect("later comes due");
    assert_eq!(job["id"], "later");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "{waited:?}");

    // retry: on the ladder (0.2 s after attempt 1), then the last attempt makes it dead.
    let (status, body) = env.settle(&job, "retry", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "delayed");
    assert_eq!(env.state("work", "later").await, Some(State::Delayed));
    let job = env.reserve("work", 3.0).await.expect("retried");
    assert_eq!(job["attempt"], 2);
    let (_, body) = env
        .settle(&job, "retry", Some(json!({"delay": 0, "error": "db busy"})))
        .await;
    assert_eq!(body["state"], "delayed");
    let job = env.reserve("work", 3.0).await.expect("retried at once");
    assert_eq!(job["attempt"], 3);
    let (_, body) = env.settle(&job, "retry", None).await;
    assert_eq!(body["state"], "dead", "{body}");
    let message = env.queue.get("work", "later").await.unwrap().unwrap();
    assert_eq!(message.state, State::Dead);
    assert!(
        message.last_error.as_deref().unwrap().contains("last of 3"),
        "{message:?}"
    );

    // fail: a dead letter at once, the reason kept; it shows in the dead letters.
    env.add("work", "bad", 0.0).await;
    let job = env.reserve("work", 1.0).await.unwrap();
    let (status, body) = env.settle(&job, "fail", Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = env
        .settle(&job, "fail", Some(json!({"reason": "no such customer"})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, dead) = env.call("GET", "/v1/topics/work/dead", None).await;
    let letters = dead["dead"].as_array().unwrap();
    let bad = letters.iter().find(|d| d["id"] == "bad").unwrap();
    assert_eq!(bad["last_error"], "no such customer");
}

#[tokio::test]
async fn an_abandoned_lease_is_reserved_again_and_two_workers_never_hold_one_job() {
    let env = Env::new();
    let mut topic = Topic::pull("lease");
    topic.timeout_ms = 300;
    topic.max_attempts = Some(2);
    env.registry.put(topic).await.unwrap();
    env.add("lease", "x", 0.0).await;
    let first = env.reserve("lease", 1.0).await.unwrap();
    assert!(
        env.reserve("lease", 0.0).await.is_none(),
        "held by the first"
    );
    // The first worker dies; after the lease (300 ms) the job is reserved again.
    let second = env.reserve("lease", 3.0).await.expect("reserved again");
    assert_eq!(second["id"], "x");
    assert_eq!(second["attempt"], 2);
    let (status, _) = env.settle(&first, "ack", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "the first lease is gone");
    // The second dies too: that was the last attempt, so the job is a dead letter.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(env.reserve("lease", 0.0).await.is_none());
    let message = env.queue.get("lease", "x").await.unwrap().unwrap();
    assert_eq!(message.state, State::Dead);
    assert!(
        message
            .last_error
            .as_deref()
            .unwrap()
            .contains("lease expired"),
        "{message:?}"
    );

    // Concurrent workers: every job reserved exactly once.
    let mut topic = Topic::pull("many");
    topic.timeout_ms = 60_000;
    env.registry.put(topic).await.unwrap();
    for i in 0..40 {
        env.add("many", &format!("m{i}"), 0.0).await;
    }
    let workers = (0..4).map(|_| {
        let queue = env.queue.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = queue
                .reserve("many", Duration::from_millis(200))
                .await
                .unwrap()
            {
                got.push(job.id.clone());
                queue.ack("many", &job.lease).await.unwrap();
            }
            got
        })
    });
    let workers: Vec<_> = workers.collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for worker in workers {
        for id in worker.await.unwrap() {
            total += 1;
            assert!(seen.insert(id.clone()), "{id} reserved twice");
        }
    }
    assert_eq!(total, 40);
}

#[tokio::test]
async fn a_waiting_reserve_wakes_when_a_message_is_added_and_the_workers_call_nothing() {
    let env = Env::new();
    let sink = Sink::start(always(200)).await;
    env.registry.put(Topic::pull("wake")).await.unwrap();
    env.registry
        .put(Topic::new("pushed", &sink.url("/hook")))
        .await
        .unwrap();
    let workers = Workers::start(
        env.queue.clone(),
        env.registry.clone(),
        WorkerConfig::default(),
        Arc::new(dq_core::NoObserver),
    )
    .unwrap();
    let queue = env.queue.clone();
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let job = queue
            .reserve("wake", Duration::from_secs(10))
            .await
            .unwrap();
        (job, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let message = env
        .queue
        .parse_message(json!({"id": "w", "body": 1}).as_object().unwrap(), Tz::UTC)
        .unwrap();
    let added = Instant::now();
    env.queue.add("wake", &message).await.unwrap();
    let (job, waited) = waiter.await.unwrap();
    assert_eq!(job.expect("woken").id, "w");
    assert!(
        added.elapsed() < Duration::from_millis(900),
        "woken by the wake channel, not the 1 s look: {waited:?}"
    );
    // A push topic beside it is still delivered; nothing is called for the pull topic.
    env.add("pushed", "p", 0.0).await;
    sink.wait_calls(1, Duration::from_secs(5)).await;
    env.add("wake", "stays", 0.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count(), 1);
    assert_eq!(env.state("wake", "stays").await, Some(State::Ready));
    workers.shutdown().await;
}
