//! The delivery workers as a callback's owner sees them: what arrives, when, signed how; what
//! a failure, a 410, a dead topic or a stopped gateway does to a message; the limits kept.
//! Against the real Redis, with a programmable HTTP sink playing the callback.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use dq_core::{
    Added, DelayQueue, Failure, Message, Method, NewMessage, NoObserver, Observer, Registry, State,
    Stats, Status, Topic, Tz, WorkerConfig, Workers, sign,
};
use dq_gateway::{AppState, GatewayConfig, app};
use dq_testkit::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::*;
use tower::ServiceExt;

/// A gateway's parts on a prefix of the test's own: queue, registry, HTTP router.
struct Env {
    queue: Arc<DelayQueue>,
    registry: Arc<Registry>,
    router: Router,
    scratch: Scratch,
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
            scratch,
        }
    }

    /// Registers a topic delivering to `callback`, changed by `edit`.
    async fn topic(&self, name: &str, callback: &str, edit: impl FnOnce(&mut Topic)) -> Topic {
        let mut topic = Topic::new(name, callback);
        edit(&mut topic);
        self.registry.put(topic).await.unwrap()
    }

    fn workers(&self, config: WorkerConfig) -> Workers {
        self.workers_observed(config, Arc::new(NoObserver))
    }

    fn workers_observed(&self, config: WorkerConfig, observer: Arc<dyn Observer>) -> Workers {
        Workers::start(self.queue.clone(), self.registry.clone(), config, observer).unwrap()
    }

    fn message(&self, fields: Value) -> NewMessage {
        self.queue
            .parse_message(fields.as_object().unwrap(), Tz::UTC)
            .unwrap()
    }

    async fn add(&self, topic: &str, fields: Value) -> Added {
        self.queue.add(topic, &self.message(fields)).await.unwrap()
    }

    /// Adds `n` messages `{prefix}{i}` due now, body `{"n": i}`; returns their ids.
    async fn add_many(&self, topic: &str, prefix: &str, n: usize) -> Vec<String> {
        let ids: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
        let messages: Vec<NewMessage> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| self.message(json!({"id": id, "body": {"n": i}, "delay": 0})))
            .collect();
        assert_eq!(self.queue.add_many(topic, &messages).await.unwrap(), n);
        ids
    }

    async fn get(&self, topic: &str, id: &str) -> Option<Message> {
        self.queue.get(topic, id).await.unwrap()
    }

    async fn stats(&self, topic: &str) -> Stats {
        self.queue.stats(topic).await.unwrap()
    }

    /// Waits until `topic` holds no message in any state but dead; returns its stats.
    async fn settled(&self, topic: &str, within: Duration) -> Stats {
        let last = std::sync::Mutex::new(None);
        let found = eventually(within, "settled", || {
            let last = &last;
            async move {
                let s = self.stats(topic).await;
                *last.lock().unwrap() = Some(s);
                (s.delayed + s.ready + s.inflight == 0).then_some(s)
            }
        })
        .await;
        found.unwrap_or_else(|| panic!("{topic} did not settle within {within:?}: {last:?}"))
    }

    /// Waits until `get` of the message satisfies `check`; returns it.
    async fn wait_message(
        &self,
        topic: &str,
        id: &str,
        within: Duration,
        check: impl Fn(&Option<Message>) -> bool,
    ) -> Option<Message> {
        let last = std::sync::Mutex::new(None);
        let found = eventually(within, "message", || {
            let got = self.queue.get(topic, id);
            let last = &last;
            let check = &check;
            async move {
                let got = got.await.unwrap();
                let ok = check(&got);
                *last.lock().unwrap() = Some(got.clone());
                ok.then_some(got)
            }
        })
        .await;
        found.unwrap_or_else(|| panic!("{topic}/{id} never got there; last seen: {last:?}"))
    }

    async fn http(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        (status, value)
    }
}

/// Workers as the tests run them: the defaults, but a short shutdown grace.
fn config() -> WorkerConfig {
    WorkerConfig {
        shutdown_grace: Duration::from_secs(1),
        ..WorkerConfig::default()
    }
}

const SOON: Duration = Duration::from_secs(5);
const ZERO: Stats = Stats {
    delayed: 0,
    ready: 0,
    inflight: 0,
    dead: 0,
};

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// A POST delivery as the contract says: JSON with exactly the five fields, the `X-Dq-*`
/// headers, signed with `secret` when there is one.
fn assert_post(
    call: &Call,
    topic: &str,
    id: &str,
    body: &Value,
    added: &Added,
    secret: Option<&str>,
) {
    assert_eq!(call.method, "POST", "{call:?}");
    assert_eq!(call.header("content-type"), Some("application/json"));
    let json = call.json();
    let fields: HashSet<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        HashSet::from(["topic", "id", "body", "attempt", "due_at"]),
        "{json}"
    );
    assert_eq!(json["topic"], topic);
    assert_eq!(json["id"], id);
    assert_eq!(&json["body"], body);
    assert_eq!(json["attempt"], 1);
    assert_eq!(
        (json["due_at"].as_f64().unwrap() * 1000.0).round() as i64,
        added.due_at_ms,
        "{json}"
    );
    assert_eq!(call.header("x-dq-topic"), Some(topic));
    assert_eq!(call.header("x-dq-id"), Some(id));
    assert_eq!(call.header("x-dq-attempt"), Some("1"));
    match secret {
        Some(secret) => assert_eq!(
            call.header("x-dq-signature").map(str::to_string),
            Some(format!("sha256={}", sign(secret, &call.body))),
            "signature over the raw body"
        ),
        None => assert_eq!(call.header("x-dq-signature"), None),
    }
}

/// Arrived not before it was due, and at most 300 ms after.
fn assert_on_time(call: &Call, added: &Added) {
    let late = call.at_ms - added.due_at_ms;
    assert!(
        (0..=300).contains(&late),
        "{} arrived {late} ms after its due time",
        added.id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn due_messages_arrive_on_time_as_the_contract_says() {
    let env = Env::new();
    let sink = Sink::start(always(200)).await;
    env.topic("signed", &sink.url("/hook/signed"), |t| {
        t.secret = Some("s3cret".into())
    })
    .await;
    env.topic("plain", &sink.url("/hook/plain?src=dq"), |t| {
        t.method = Method::Get
    })
    .await;
    let workers = env.workers(config());

    let now_body = json!({"order": 1, "tags": ["a", "b"], "ü": null});
    let now = env
        .add("signed", json!({"id": "now", "body": now_body, "delay": 0}))
        .await;
    let soon = env
        .add("signed", json!({"id": "soon", "body": "text", "delay": 1}))
        .await;
    let fix_s = now_ms() / 1000 + 2;
    let fixed = env
        .add(
            "signed",
            json!({"id": "fixed", "body": 42, "fix_time": fix_s}),
        )
        .await;
    assert_eq!(fixed.due_at_ms, fix_s * 1000);
    let get_body = json!({"q": "a&b=c d/ü"});
    let got = env
        .add(
            "plain",
            json!({"id": "g 1&x", "body": get_body, "delay": 0}),
        )
        .await;

    sink.wait_calls(4, Duration::from_secs(6)).await;
    let call = |id: &str| {
        let calls = sink.calls_for(id);
        assert_eq!(calls.len(), 1, "one call for {id}: {:#?}", sink.summary());
        calls.into_iter().next().unwrap()
    };

    for (id, body, added) in [
        ("now", &now_body, &now),
        ("soon", &json!("text"), &soon),
        ("fixed", &json!(42), &fixed),
    ] {
        let c = call(id);
        assert_eq!(c.path, "/hook/signed");
        assert_post(&c, "signed", id, body, added, Some("s3cret"));
        assert_on_time(&c, added);
    }

    let c = call("g 1&x");
    assert_eq!(c.method, "GET");
    assert_eq!(c.path, "/hook/plain");
    assert!(c.body.is_empty());
    let query = c.query.clone().unwrap();
    assert!(
        query.starts_with("src=dq&"),
        "the callback's own query is kept: {query}"
    );
    let params = c.params();
    assert_eq!(params["src"], "dq");
    assert_eq!(params["topic"], "plain");
    assert_eq!(params["id"], "g 1&x");
    assert_eq!(
        serde_json::from_str::<Value>(&params["body"]).unwrap(),
        get_body
    );
    assert_eq!(params["attempt"], "1");
    assert_eq!(
        (params["due_at"].parse::<f64>().unwrap() * 1000.0).round() as i64,
        got.due_at_ms
    );
    assert_eq!(c.header("x-dq-topic"), Some("plain"));
    assert_eq!(c.header("x-dq-id"), Some("g 1&x"));
    assert_eq!(c.header("x-dq-attempt"), Some("1"));
    assert_eq!(c.header("x-dq-signature"), None, "no secret, no signature");
    assert_on_time(&c, &got);

    // Delivered means gone.
    for (topic, id) in [
        ("signed", "now"),
        ("signed", "soon"),
        ("signed", "fixed"),
        ("plain", "g 1&x"),
    ] {
        env.wait_message(topic, id, SOON, Option::is_none).await;
    }
    assert_eq!(env.stats("signed").await, ZERO);
    assert_eq!(env.stats("plain").await, ZERO);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.count(),
        4,
        "nothing delivered twice: {:#?}",
        sink.summary()
    );
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_deliveries_are_signed_over_the_raw_query_string() {
    let env = Env::new();
    let sink = Sink::start(always(200)).await;
    env.topic("sget", &sink.url("/hook"), |t| {
        t.method = Method::Get;
        t.secret = Some("k3y".into());
    })
    .await;
    // A callback with a query of its own: the receiver gets (and verifies) the whole of it.
    env.topic("sget.own", &sink.url("/hook?tenant=7"), |t| {
        t.method = Method::Get;
        t.secret = Some("k3y".into());
    })
    .await;
    let workers = env.workers(config());
    env.add("sget", json!({"id": "a", "body": {"x": "y z"}}))
        .await;
    env.add("sget.own", json!({"id": "b", "body": [1, 2]}))
        .await;
    sink.wait_calls(2, SOON).await;
    env.settled("sget", SOON).await;
    env.settled("sget.own", SOON).await;
    workers.shutdown().await;

    for id in ["a", "b"] {
        let call = sink.calls_for(id).remove(0);
        let raw_query = call.query.clone().unwrap();
        assert_eq!(call.params()["id"], id);
        assert_eq!(
            call.header("x-dq-signature").map(str::to_string),
            Some(format!("sha256={}", sign("k3y", raw_query.as_bytes()))),
            "X-Dq-Signature of {id} must be the HMAC of the raw query string as received: {raw_query}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_are_retried_on_the_topics_ladder() {
    let env = Env::new();
    let sink = Sink::start(fail_first(3, 500)).await;
    let ladder = [0.3, 0.5, 0.7];
    env.topic("ladder", &sink.url("/hook"), |t| t.retry = ladder.to_vec())
        .await;
    let workers = env.workers(config());
    env.add("ladder", json!({"id": "r1", "body": {"a": 1}}))
        .await;

    for attempt in 1..=3u32 {
        let m = env
            .wait_message("ladder", "r1", SOON, |m| {
                m.as_ref()
                    .is_some_and(|m| m.state == State::Delayed && m.attempts == attempt)
            })
            .await
            .unwrap();
        assert_eq!(m.last_status, Some(500));
        assert_eq!(
            m.last_error.as_deref(),
            Some("HTTP 500 Internal Server Error")
        );
        assert_eq!(
            sink.calls_for("r1").len(),
            attempt as usize,
            "waiting for attempt {}, not yet made",
            attempt + 1
        );
    }
    env.wait_message("ladder", "r1", SOON, Option::is_none)
        .await;

    let calls = sink.calls_for("r1");
    assert_eq!(calls.len(), 4, "{:#?}", sink.summary());
    for (i, call) in calls.iter().enumerate() {
        let attempt = i as u32 + 1;
        assert_eq!(call.attempt(), attempt);
        assert_eq!(call.json()["attempt"], attempt);
        assert_eq!(call.json()["body"], json!({"a": 1}));
        assert_eq!(call.answered, Some(if attempt < 4 { 500 } else { 200 }));
    }
    for (i, rung) in ladder.iter().enumerate() {
        let gap = ms(calls[i + 1].at - calls[i].at);
        let rung = (rung * 1000.0) as i64;
        assert!(
            gap >= rung - 20 && gap <= rung + 300,
            "attempt {} came {gap} ms after attempt {}; the ladder says {rung} ms",
            i + 2,
            i + 1
        );
    }
    assert_eq!(env.stats("ladder").await, ZERO);
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gone_is_a_dead_letter_at_once_that_can_be_requeued_or_removed() {
    let env = Env::new();
    let sink = Sink::start(always(410)).await;
    env.topic("gone", &sink.url("/hook"), |t| t.retry = vec![0.1])
        .await;
    let workers = env.workers(config());
    let added = env
        .add("gone", json!({"id": "g1", "body": {"order": 7}}))
        .await;

    let dead = env
        .wait_message("gone", "g1", SOON, |m| {
            m.as_ref().is_some_and(|m| m.state == State::Dead)
        })
        .await
        .unwrap();
    assert_eq!(dead.attempts, 1);
    assert_eq!(dead.last_status, Some(410));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.calls_for("g1").len(), 1, "410 is not retried");

    let (status, list) = env.http("GET", "/v1/topics/gone/dead", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1);
    let letter = &list["dead"][0];
    assert_eq!(letter["id"], "g1");
    assert_eq!(letter["body"], json!({"order": 7}));
    assert_eq!(letter["attempts"], 1);
    assert_eq!(letter["last_status"], 410);
    assert!(
        letter["last_error"].as_str().unwrap().contains("410"),
        "{letter}"
    );
    assert_eq!(
        (letter["due_at"].as_f64().unwrap() * 1000.0).round() as i64,
        added.due_at_ms
    );
    assert!(letter["died_at"].as_f64().unwrap() >= letter["due_at"].as_f64().unwrap());
    let (status, body) = env.http("GET", "/v1/topics/gone/messages/g1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "dead", "{body}");
    assert_eq!(env.stats("gone").await, Stats { dead: 1, ..ZERO });

    // The receiver is fixed: requeue delivers it again, attempts counted from one.
    sink.set_policy(always(200));
    let (status, body) = env
        .http("POST", "/v1/topics/gone/dead/g1/requeue", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let calls = sink.wait_calls(2, SOON).await;
    assert_eq!(calls[1].id.as_deref(), Some("g1"));
    assert_eq!(calls[1].attempt(), 1);
    assert_eq!(calls[1].json()["body"], json!({"order": 7}));
    env.wait_message("gone", "g1", SOON, Option::is_none).await;
    assert_eq!(env.stats("gone").await, ZERO);
    let (status, _) = env
        .http("POST", "/v1/topics/gone/dead/g1/requeue", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no longer a dead letter");

    // Removal.
    sink.set_policy(always(410));
    env.add("gone", json!({"id": "g2", "body": 2})).await;
    env.wait_message("gone", "g2", SOON, |m| {
        m.as_ref().is_some_and(|m| m.state == State::Dead)
    })
    .await;
    let (status, _) = env.http("DELETE", "/v1/topics/gone/dead/g2", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = env.http("DELETE", "/v1/topics/gone/dead/g2", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(env.get("gone", "g2").await, None);
    let (_, list) = env.http("GET", "/v1/topics/gone/dead", None).await;
    assert_eq!(list["total"], 0);
    assert_eq!(env.stats("gone").await, ZERO);
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exhausted_ladder_makes_a_dead_letter_and_an_alert() {
    let env = Env::new();
    let sink = Sink::start(Arc::new(|c: &Call| {
        Reply::status(match c.path.as_str() {
            "/alert" => 200,
            "/gone" => 410,
            _ => 503,
        })
    }))
    .await;
    // A 410 is the receiver's own "drop it": a dead letter, but no alert.
    env.topic("gone", &sink.url("/gone"), |t| {
        t.alert_webhook = Some(sink.url("/alert"));
    })
    .await;
    env.topic("doomed", &sink.url("/hook"), |t| {
        t.retry = vec![0.1, 0.1];
        t.alert_webhook = Some(sink.url("/alert"));
    })
    .await;
    env.topic("capped", &sink.url("/hook"), |t| {
        t.retry = vec![0.1; 5];
        t.max_attempts = Some(2);
        t.alert_webhook = Some(sink.url("/alert"));
    })
    .await;
    let workers = env.workers(config());
    env.add("doomed", json!({"id": "d1", "body": {"k": "v"}}))
        .await;
    env.add("capped", json!({"id": "c1", "body": [1]})).await;
    env.add("gone", json!({"id": "g1"})).await;

    let alerts = sink.wait_calls_to("/alert", 2, SOON).await;
    for (topic, id, body, attempts) in [
        ("doomed", "d1", json!({"k": "v"}), 3),
        ("capped", "c1", json!([1]), 2),
    ] {
        let tries: Vec<Call> = sink
            .calls_for(id)
            .into_iter()
            .filter(|c| c.path == "/hook")
            .collect();
        assert_eq!(tries.len(), attempts, "{:#?}", sink.summary());
        for (i, c) in tries.iter().enumerate() {
            assert_eq!(c.attempt(), i as u32 + 1);
            assert_eq!(c.answered, Some(503));
        }
        let m = env.get(topic, id).await.unwrap();
        assert_eq!(m.state, State::Dead);
        assert_eq!(m.attempts, attempts as u32);
        assert_eq!(m.last_status, Some(503));
        assert_eq!(
            m.last_error.as_deref(),
            Some("HTTP 503 Service Unavailable")
        );

        let (_, list) = env
            .http("GET", &format!("/v1/topics/{topic}/dead"), None)
            .await;
        assert_eq!(list["total"], 1);
        let letter = &list["dead"][0];
        assert_eq!(letter["id"], id);
        assert_eq!(letter["attempts"], attempts);
        assert_eq!(letter["last_status"], 503);
        assert_eq!(letter["last_error"], "HTTP 503 Service Unavailable");

        let alert = alerts
            .iter()
            .find(|a| a.id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no alert for {id}: {:#?}", sink.summary()));
        assert_eq!(alert.method, "POST");
        assert_eq!(alert.header("content-type"), Some("application/json"));
        let json = alert.json();
        assert_eq!(json["topic"], topic);
        assert_eq!(json["id"], id);
        assert_eq!(json["body"], body);
        assert_eq!(json["attempts"], attempts);
        assert_eq!(json["last_status"], 503);
        assert_eq!(json["last_error"], "HTTP 503 Service Unavailable");
        assert!(alert.at >= tries.last().unwrap().at);
        assert_eq!(env.stats(topic).await, Stats { dead: 1, ..ZERO });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.get("gone", "g1").await.unwrap().state, State::Dead);
    let g1: Vec<String> = sink
        .calls_for("g1")
        .iter()
        .map(|c| c.path.clone())
        .collect();
    assert_eq!(g1, ["/gone"], "one call, no alert: {:#?}", sink.summary());
    assert_eq!(sink.count(), 3 + 2 + 2 + 1, "{:#?}", sink.summary());
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeouts_refusals_and_unknown_hosts_follow_the_ladder() {
    let env = Env::new();
    let sink = Sink::start(hold(Duration::from_secs(2))).await;
    let closed = free_port();
    let cases = [
        ("slow", sink.url("/slow"), 300, "no answer within 300 ms"),
        (
            "refused",
            format!("http://127.0.0.1:{closed}/x"),
            2000,
            "refused",
        ),
        (
            "nodns",
            "http://nonexistent.invalid/".to_string(),
            2000,
            "dns",
        ),
    ];
    for (topic, callback, timeout_ms, _) in &cases {
        env.topic(topic, callback, |t| {
            t.timeout_ms = *timeout_ms;
            t.retry = vec![0.4];
        })
        .await;
    }
    let counts = Arc::new(Counts::default());
    let workers = env.workers_observed(config(), counts.clone());
    for (topic, ..) in &cases {
        env.add(topic, json!({"id": "m", "body": topic})).await;
    }

    // Watched side by side: each dies within a second or so.
    let [slow, refused, nodns] = &cases;
    tokio::join!(
        follows_the_ladder(&env, slow.0, slow.3),
        follows_the_ladder(&env, refused.0, refused.3),
        follows_the_ladder(&env, nodns.0, nodns.3),
    );

    let slow = sink.calls_to("/slow");
    assert_eq!(slow.len(), 2, "{:#?}", sink.summary());
    let gap = ms(slow[1].at - slow[0].at);
    assert!(
        (700..=1100).contains(&gap),
        "timeout 300 ms + retry 400 ms, yet the attempts were {gap} ms apart"
    );
    workers.shutdown().await;
    // What `dq_delivery_failures_total{reason}` counts.
    let mut reasons = counts.reasons.lock().unwrap().clone();
    reasons.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<(String, Failure)> = [
        ("nodns", Failure::Connect),
        ("nodns", Failure::Connect),
        ("refused", Failure::Connect),
        ("refused", Failure::Connect),
        ("slow", Failure::Timeout),
        ("slow", Failure::Timeout),
    ]
    .into_iter()
    .map(|(t, r)| (t.to_string(), r))
    .collect();
    assert_eq!(reasons, expected);
    assert_eq!(counts.dead.load(Ordering::SeqCst), 3);
}

/// Message "m" of `topic` fails twice without an HTTP answer, `cause` named each time: it
/// waits 400 ms (the ladder) after the first, and is a dead letter after the second.
async fn follows_the_ladder(env: &Env, topic: &str, cause: &str) {
    let mentions = |m: &Message| {
        m.last_error
            .as_deref()
            .is_some_and(|e| e.to_lowercase().contains(cause))
    };
    let first = env
        .wait_message(topic, "m", SOON, |m| {
            m.as_ref()
                .is_some_and(|m| m.state == State::Delayed && m.attempts == 1)
        })
        .await
        .unwrap();
    let seen_at = now_ms();
    assert!(mentions(&first), "{topic}: {:?}", first.last_error);
    assert_eq!(first.last_status, None, "{topic}: no HTTP answer");
    let wait = first.due_at_ms - seen_at;
    assert!(
        (-50..=400).contains(&wait),
        "{topic}: next attempt due in {wait} ms; the ladder says 400 ms"
    );
    let dead = env
        .wait_message(topic, "m", SOON, |m| {
            m.as_ref().is_some_and(|m| m.state == State::Dead)
        })
        .await
        .unwrap();
    assert_eq!(
        dead.attempts, 2,
        "{topic}: the default max_attempts is one more than the ladder"
    );
    assert!(mentions(&dead), "{topic}: {:?}", dead.last_error);
    assert_eq!(dead.last_status, None);
    let letters = env.queue.dead_letters(topic, 0, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].due_at_ms, first.due_at_ms,
        "{topic}: the second attempt was the retry"
    );
    assert!(letters[0].died_at_ms >= first.due_at_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_half_the_calls_failing_every_message_is_delivered_once_or_dead() {
    let env = Env::new();
    let sink = Sink::start(coin(0.5)).await;
    env.topic("flaky", &sink.url("/hook"), |t| {
        t.retry = vec![0.1; 8];
        t.max_attempts = Some(10);
    })
    .await;
    let counts = Arc::new(Counts::default());
    let workers = env.workers_observed(config(), counts.clone());
    let ids = env.add_many("flaky", "f", 200).await;

    let stats = env.settled("flaky", Duration::from_secs(20)).await;
    workers.shutdown().await;
    let calls = sink.calls();
    let dead: HashSet<String> = env
        .queue
        .dead_letters("flaky", 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(stats.dead as usize, dead.len());

    let mut by_id: HashMap<&str, Vec<&Call>> = HashMap::new();
    for call in &calls {
        by_id
            .entry(call.id.as_deref().unwrap())
            .or_default()
            .push(call);
    }
    let mut delivered = 0;
    for id in &ids {
        let tries = by_id
            .get(id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let attempts: Vec<u32> = tries.iter().map(|c| c.attempt()).collect();
        assert_eq!(
            attempts,
            (1..=tries.len() as u32).collect::<Vec<_>>(),
            "{id}: attempts in order"
        );
        let successes = tries.iter().filter(|c| c.succeeded()).count();
        assert!(successes <= 1, "{id} got {successes} successful calls");
        if successes == 1 {
            assert!(
                tries.last().unwrap().succeeded(),
                "{id}: called again after a 2xx"
            );
            assert!(!dead.contains(id), "{id} delivered and dead");
            delivered += 1;
        } else {
            assert!(dead.contains(id), "{id} neither delivered nor dead: lost");
            assert_eq!(tries.len(), 10, "{id} dead before its 10 attempts");
        }
        assert!(
            tries.iter().all(|c| c.answered.is_some()),
            "{id}: every call answered"
        );
    }
    assert_eq!(delivered + dead.len(), 200);
    assert!(delivered >= 190, "only {delivered} of 200 delivered");
    let failed = calls.iter().filter(|c| !c.succeeded()).count();
    assert_eq!(counts.delivered.load(Ordering::SeqCst), delivered);
    assert_eq!(counts.failed.load(Ordering::SeqCst), failed);
    assert_eq!(counts.dead.load(Ordering::SeqCst), dead.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_topic_holds_its_messages_until_resumed() {
    let env = Env::new();
    let sink = Sink::start(always(200)).await;
    let url = sink.url("/hook");
    env.topic("p", &url, |t| t.status = Status::Paused).await;
    let workers = env.workers(config());
    env.add_many("p", "a", 3).await;

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sink.count(), 0, "paused: no calls");
    assert_eq!(env.stats("p").await, Stats { ready: 3, ..ZERO });
    let m = env.get("p", "a0").await.unwrap();
    assert_eq!((m.state, m.attempts), (State::Ready, 0));

    // Resumed over HTTP.
    let (status, body) = env
        .http(
            "PUT",
            "/v1/topics/p",
            Some(json!({"callback": url, "status": "active"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sink.wait_calls(3, SOON).await;
    env.settled("p", SOON).await;
    assert_eq!(env.stats("p").await, ZERO);

    // Paused and resumed through the registry.
    env.topic("p", &url, |t| t.status = Status::Paused).await;
    env.add_many("p", "b", 2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.count(), 3, "paused again: no calls");
    assert_eq!(env.stats("p").await.ready, 2);
    env.topic("p", &url, |_| {}).await;
    sink.wait_calls(5, SOON).await;
    env.settled("p", SOON).await;
    assert_eq!(env.stats("p").await, ZERO);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.count(), 5, "{:#?}", sink.summary());
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_topic_still_delivers_what_it_accepted() {
    let env = Env::new();
    let sink = Sink::start(always(200)).await;
    let url = sink.url("/hook");
    env.topic("d", &url, |t| t.status = Status::Paused).await;
    let workers = env.workers(config());
    env.add_many("d", "x", 2).await;
    env.topic("d", &url, |t| t.status = Status::Disabled).await;
    sink.wait_calls(2, SOON).await;
    env.settled("d", SOON).await;
    assert_eq!(env.stats("d").await, ZERO);
    let refused = env
        .queue
        .add("d", &env.message(json!({"id": "late"})))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("disabled"), "{refused}");
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_on_one_prefix_deliver_each_message_once() {
    let env = Env::new();
    let sink = Sink::start(always(200)).await;
    env.topic("shared", &sink.url("/hook"), |_| {}).await;
    let other_queue = env.scratch.queue();
    let other_registry = Arc::new(Registry::new(other_queue.clone()));
    other_registry.sync().await.unwrap();
    assert!(other_registry.get("shared").is_some());
    let one = env.workers(config());
    let two = Workers::start(other_queue, other_registry, config(), Arc::new(NoObserver)).unwrap();

    let ids = env.add_many("shared", "s", 500).await;
    sink.wait_calls(500, Duration::from_secs(20)).await;
    env.settled("shared", SOON).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = sink.calls();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for call in &calls {
        *per_id.entry(call.id.as_deref().unwrap()).or_default() += 1;
        assert_eq!(call.attempt(), 1);
    }
    for id in &ids {
        assert_eq!(per_id.get(id.as_str()), Some(&1), "{id}");
    }
    assert_eq!(calls.len(), 500);
    assert_eq!(env.stats("shared").await, ZERO);
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_returns_unfinished_deliveries_to_ready_uncounted() {
    let env = Env::new();
    let sink = Sink::start(hold(Duration::from_secs(2))).await;
    env.topic("slow", &sink.url("/hook"), |_| {}).await;
    let workers = env.workers(WorkerConfig {
        shutdown_grace: Duration::from_millis(200),
        ..WorkerConfig::default()
    });
    let ids = env.add_many("slow", "s", 3).await;
    sink.wait_calls(3, SOON).await;

    let started = Instant::now();
    workers.shutdown().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(1500),
        "shutdown took {took:?} with a grace of 200 ms"
    );
    for id in &ids {
        let m = env.get("slow", id).await.unwrap();
        assert_eq!(m.state, State::Ready, "{id}");
        assert_eq!(m.attempts, 0, "{id}: an interrupted attempt is not counted");
    }
    assert_eq!(env.stats("slow").await, Stats { ready: 3, ..ZERO });

    sink.set_policy(always(200));
    let workers = env.workers(config());
    let calls = sink.wait_calls(6, SOON).await;
    for call in &calls[3..] {
        assert_eq!(call.attempt(), 1);
        assert_eq!(call.answered, Some(200));
    }
    env.settled("slow", SOON).await;
    assert_eq!(env.stats("slow").await, ZERO);
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_lets_deliveries_finish_within_the_grace() {
    let env = Env::new();
    let sink = Sink::start(hold(Duration::from_millis(400))).await;
    env.topic("t", &sink.url("/hook"), |_| {}).await;
    let workers = env.workers(WorkerConfig {
        shutdown_grace: Duration::from_secs(3),
        ..WorkerConfig::default()
    });
    env.add_many("t", "x", 2).await;
    sink.wait_calls(2, SOON).await;
    let started = Instant::now();
    workers.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(sink.calls().iter().all(|c| c.answered == Some(200)));
    assert_eq!(
        env.stats("t").await,
        ZERO,
        "finished deliveries were settled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_topics_concurrency_limits_its_calls_in_flight() {
    let env = Env::new();
    let sink = Sink::start(hold(Duration::from_millis(300))).await;
    env.topic("two", &sink.url("/hook"), |t| t.concurrency = Some(2))
        .await;
    let workers = env.workers(config());
    env.add_many("two", "x", 8).await;
    sink.wait_calls(8, SOON).await;
    env.settled("two", SOON).await;
    assert_eq!(sink.max_in_flight("two"), 2, "topic concurrency 2");
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateways_concurrency_limits_all_calls_in_flight() {
    let env = Env::new();
    let sink = Sink::start(hold(Duration::from_millis(300))).await;
    for topic in ["a", "b", "c"] {
        env.topic(topic, &sink.url("/hook"), |t| {
            if topic == "a" {
                t.concurrency = Some(2);
            }
        })
        .await;
    }
    let workers = env.workers(WorkerConfig {
        concurrency: 3,
        topic_concurrency: 64,
        ..config()
    });
    for topic in ["a", "b", "c"] {
        env.add_many(topic, "x", 5).await;
    }
    sink.wait_calls(15, Duration::from_secs(10)).await;
    for topic in ["a", "b", "c"] {
        env.settled(topic, SOON).await;
    }
    assert_eq!(sink.max_in_flight_all(), 3, "gateway concurrency 3");
    assert!(sink.max_in_flight("a") <= 2, "topic a's own limit of 2");
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_kept_within_count_and_age() {
    let env = Env::new();
    let sink = Sink::start(always(410)).await;
    env.topic("dl", &sink.url("/hook"), |_| {}).await;
    env.topic("few", &sink.url("/hook"), |_| {}).await;
    let workers = env.workers(config());
    env.add_many("dl", "d", 12).await;
    env.add_many("few", "f", 3).await;
    env.settled("dl", SOON).await;
    env.settled("few", SOON).await;
    workers.shutdown().await;
    let before = env.queue.dead_letters("dl", 0, 100).await.unwrap();
    assert_eq!(before.len(), 12);

    // A fresh gateway keeping 5 trims at start.
    let workers = env.workers(WorkerConfig {
        dead_keep: 5,
        ..config()
    });
    eventually(SOON, "trimmed", || async {
        (env.stats("dl").await.dead == 5).then_some(())
    })
    .await
    .expect("dead letters trimmed to 5");
    workers.shutdown().await;
    let kept = env.queue.dead_letters("dl", 0, 100).await.unwrap();
    assert_eq!(kept.len(), 5);
    let kept_ids: HashSet<&str> = kept.iter().map(|d| d.id.as_str()).collect();
    let oldest_kept = kept.iter().map(|d| d.died_at_ms).min().unwrap();
    let base = format!("{}:{{dl}}", env.scratch.prefix);
    for letter in &before {
        if kept_ids.contains(letter.id.as_str()) {
            continue;
        }
        assert!(
            letter.died_at_ms <= oldest_kept,
            "{} was newer than one kept",
            letter.id
        );
        assert_eq!(env.get("dl", &letter.id).await, None);
        for hash in ["body", "meta"] {
            let held: i64 = redis_cmd(REDIS, &["HEXISTS", &format!("{base}:{hash}"), &letter.id]);
            assert_eq!(held, 0, "{} left in {hash}", letter.id);
        }
    }
    for hash in ["body", "meta"] {
        let len: i64 = redis_cmd(REDIS, &["HLEN", &format!("{base}:{hash}")]);
        assert_eq!(len, 5, "{hash}");
    }
    assert_eq!(env.stats("few").await.dead, 3, "per topic: 3 is within 5");

    // And by age.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let workers = env.workers(WorkerConfig {
        dead_keep: 5,
        dead_max_age: Duration::from_millis(200),
        ..config()
    });
    eventually(SOON, "aged out", || async {
        let dl = env.stats("dl").await.dead;
        let few = env.stats("few").await.dead;
        (dl + few == 0).then_some(())
    })
    .await
    .expect("dead letters older than the maximum age removed");
    workers.shutdown().await;
    let len: i64 = redis_cmd(REDIS, &["HLEN", &format!("{base}:body")]);
    assert_eq!(len, 0);
}

/// Four topics whose callbacks hang (with plenty of messages each) must not take every slot of
/// the gateway: a fifth, healthy topic still gets each message within a second of its due
/// time. The real binary, with the default `[workers]` limits (256 in all, 64 per topic).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hung_callbacks_leave_slots_for_a_healthy_topic() {
    const HUNG: [&str; 4] = ["hung1", "hung2", "hung3", "hung4"];
    let scratch = Scratch::new(&[REDIS]);
    let queue = scratch.queue();
    // The hung topics' requests are held past the end of the test; the healthy one's answered.
    let policy: Policy = Arc::new(|call: &Call| {
        let hung = call
            .header("x-dq-topic")
            .is_some_and(|t| t.starts_with("hung"));
        Reply::status(200).after(if hung {
            Duration::from_secs(30)
        } else {
            Duration::ZERO
        })
    });
    let sink = Sink::start(policy).await;
    let dir = TempDir::new();
    let mut file = String::new();
    for name in HUNG.iter().chain(&["healthy"]) {
        file += &format!(
            "[[topic]]\nname = \"{name}\"\ncallback = \"{}\"\ntimeout_ms = 30000\n",
            sink.url("/hook")
        );
    }
    let config = dir.write("gateway.toml", &file);
    let gateway = tokio::task::block_in_place(|| GatewayProcess::start(&config, &scratch.prefix));
    for name in HUNG {
        add_due(&queue, name, "h", 100, 0.0).await;
    }
    let hung_in_flight = || HUNG.iter().map(|t| sink.in_flight(t)).sum::<usize>();
    eventually(Duration::from_secs(10), "hung topics saturated", || async {
        (hung_in_flight() >= 200).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("hung topics hold {} requests", hung_in_flight()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, text) = tokio::task::block_in_place(|| gateway.request("GET", "/metrics", None));
    let gauge: f64 = HUNG
        .iter()
        .map(|t| metric(&text, &format!(r#"dq_deliveries_in_flight{{topic="{t}"}}"#)))
        .sum();
    assert_eq!(gauge as usize, hung_in_flight(), "{text}");

    // Due one by one over 4 s, while the others hang.
    let mut healthy = Vec::new();
    for i in 0..20 {
        let fields = json!({"id": format!("ok{i}"), "body": i, "delay": 0.3 + 0.2 * i as f64});
        let message = queue
            .parse_message(fields.as_object().unwrap(), Tz::UTC)
            .unwrap();
        healthy.push(queue.add("healthy", &message).await.unwrap());
    }
    let arrived = eventually(Duration::from_secs(10), "healthy delivered", || async {
        let calls: Vec<Call> = sink
            .calls()
            .into_iter()
            .filter(|c| c.header("x-dq-topic") == Some("healthy"))
            .collect();
        (calls.len() >= healthy.len()).then_some(calls)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the healthy topic got {} of 20 calls while {} hung requests held the slots:\n{}",
            sink.calls()
                .iter()
                .filter(|c| c.header("x-dq-topic") == Some("healthy"))
                .count(),
            hung_in_flight(),
            gateway.logs()
        )
    });
    for added in &healthy {
        let call = arrived
            .iter()
            .find(|c| c.id.as_deref() == Some(added.id.as_str()))
            .unwrap();
        let late = call.at_ms - added.due_at_ms;
        assert!(
            (0..=1000).contains(&late),
            "{} arrived {late} ms after its due time",
            added.id
        );
    }
    for name in HUNG {
        assert!(
            sink.max_in_flight(name) <= 64,
            "{name}: {}",
            sink.max_in_flight(name)
        );
    }
}

/// Adds `n` messages `{prefix}{i}` to `topic`, due in `delay` seconds.
async fn add_due(queue: &DelayQueue, topic: &str, prefix: &str, n: usize, delay: f64) {
    let messages: Vec<NewMessage> = (0..n)
        .map(|i| {
            let fields = json!({"id": format!("{prefix}{i}"), "body": i, "delay": delay});
            queue
                .parse_message(fields.as_object().unwrap(), Tz::UTC)
                .unwrap()
        })
        .collect();
    assert_eq!(queue.add_many(topic, &messages).await.unwrap(), n);
}

/// A topic with an `exchange` instead of a callback: each due message is published (confirmed)
/// with its id as `message_id` and the body as added; with the broker away, each attempt fails
/// and the message waits on the ladder, then goes once the broker is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_topic_may_deliver_to_rabbitmq() {
    use dq_core::amqp::{AmqpConfig, Producer, QueueOptions};
    let env = Env::new();
    let vhost = TestVhost::new();
    let broker = Producer::new(
        AmqpConfig::new(&vhost.url(), "dqt", Duration::from_secs(3)).unwrap(),
        true,
    );
    broker
        .declare_queue("timeouts", &QueueOptions::default())
        .await
        .unwrap();
    let mut topic = Topic::to_exchange("order.timeout", "amq.direct", "timeouts");
    topic.retry = vec![0.2];
    topic.max_attempts = Some(100);
    env.registry.put(topic).await.unwrap();
    // Not bound yet: mandatory, so the attempt fails and the message waits.
    env.add(
        "order.timeout",
        json!({"id": "o-1", "body": {"order": 1}, "delay": 0}),
    )
    .await;
    let workers = Workers::start_with_broker(
        env.queue.clone(),
        env.registry.clone(),
        WorkerConfig::default(),
        Arc::new(NoObserver),
        Some(broker.clone()),
    )
    .unwrap();
    let retried = env
        .wait_message("order.timeout", "o-1", Duration::from_secs(10), |m| {
            m.as_ref().is_some_and(|m| m.attempts >= 2)
        })
        .await
        .unwrap();
    assert!(
        retried
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("timeouts")),
        "the unroutable publish is the attempt's error: {retried:?}"
    );
    broker
        .bind_queue("timeouts", "amq.direct", "timeouts", &Default::default())
        .await
        .unwrap();
    env.settled("order.timeout", Duration::from_secs(10)).await;
    let consumer = broker.consumer("timeouts", 10);
    let delivery = consumer
        .next(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the due message in the queue");
    assert_eq!(delivery.body(), br#"{"order":1}"#);
    let properties = delivery.properties();
    assert_eq!(properties["message_id"], "o-1");
    assert_eq!(properties["content_type"], "application/json");
    assert_eq!(properties["headers"]["x-dq-topic"], "order.timeout");
    assert!(properties["headers"]["x-dq-attempt"].as_u64().unwrap() >= 2);
    delivery.ack().await.unwrap();
    assert!(
        consumer
            .next(Duration::from_millis(300))
            .await
            .unwrap()
            .is_none(),
        "published once"
    );
    consumer.close().await;
    // Without a broker at all the attempt fails and says why.
    workers.shutdown().await;
    let down = Producer::new(
        AmqpConfig::new(
            &format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port()),
            "dqt",
            Duration::from_secs(1),
        )
        .unwrap(),
        true,
    );
    let workers = Workers::start_with_broker(
        env.queue.clone(),
        env.registry.clone(),
        WorkerConfig::default(),
        Arc::new(NoObserver),
        Some(down),
    )
    .unwrap();
    env.add(
        "order.timeout",
        json!({"id": "o-2", "body": {"order": 2}, "delay": 0}),
    )
    .await;
    let waiting = env
        .wait_message("order.timeout", "o-2", Duration::from_secs(10), |m| {
            m.as_ref()
                .is_some_and(|m| m.attempts >= 1 && m.last_error.is_some())
        })
        .await
        .unwrap();
    assert_eq!(waiting.state, State::Delayed, "kept for another attempt");
    workers.shutdown().await;
    broker.close().await;
}
