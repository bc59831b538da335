//! The gateway binary as an operator lives with it: SIGHUP reloads, Redis restarts empty.

use crate::support;

use std::time::{Duration, Instant};

use dq_testkit::*;
use serde_json::Value;
use support::*;

fn topics(gateway: &GatewayProcess, token: Option<&str>) -> (u16, Vec<String>) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, body) = http_call(&gateway.address, "GET", "/v1/topics", None, &headers);
    if status != 200 {
        return (status, vec![]);
    }
    let body: Value = serde_json::from_str(&body).unwrap();
    let names = body["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    (status, names)
}

#[test]
fn sighup_reloads_the_configuration() {
    let scratch = Scratch::new(&[REDIS]);
    let dir = TempDir::new();
    let file = dir.write(
        "gateway.toml",
        "[[topic]]\nname = \"first\"\ncallback = \"http://127.0.0.1:9/a\"\n",
    );
    let mut gateway = GatewayProcess::start(&file, &scratch.prefix);
    assert_eq!(topics(&gateway, None), (200, vec!["first".to_string()]));

    // The file changes: another topic instead, a token, and a limit that can only change
    // with a restart.
    std::fs::write(
        &file,
        "request_limit = 100000\ntoken = \"t0k\"\n[workers]\nconcurrency = 8\n\
         [[topic]]\nname = \"second\"\ncallback = \"http://127.0.0.1:9/b\"\n",
    )
    .unwrap();
    gateway.signal("HUP");
    gateway.wait_log("SIGHUP: configuration reloaded", Duration::from_secs(10));
    assert!(gateway.running(), "SIGHUP stopped the gateway");
    let warned = gateway.wait_log("only take effect after a restart", Duration::from_secs(1));
    assert!(warned.contains("request_limit"), "{warned}");
    let workers = gateway.wait_log("workers reconfigured", Duration::from_secs(1));
    assert!(workers.contains("concurrency=8"), "{workers}");
    assert_eq!(
        topics(&gateway, None).0,
        401,
        "the new token guards the API"
    );
    assert_eq!(
        topics(&gateway, Some("t0k")),
        (200, vec!["second".to_string()]),
        "the topic the file no longer declares is gone"
    );

    // A file that does not load changes nothing.
    std::fs::write(&file, "token = \n").unwrap();
    gateway.signal("HUP");
    gateway.wait_log("does not load", Duration::from_secs(10));
    assert!(gateway.running());
    assert_eq!(topics(&gateway, Some("t0k")).0, 200);
}

#[test]
fn adds_are_never_unknown_topic_after_redis_restarts_empty() {
    let mut redis = PrivateRedis::start();
    let scratch = Scratch::new(&[&redis.url()]);
    let dir = TempDir::new();
    let file = dir.write(
        "gateway.toml",
        "timeout = 0.5\n[[topic]]\nname = \"orders\"\ncallback = \"http://127.0.0.1:9/x\"\nstatus = \"paused\"\n",
    );
    let url = redis.url();
    let gateway = GatewayProcess::start_with(&file, &scratch.prefix, &[("DQ_REDIS", &url)]);
    let add = |id: &str| {
        http_call(
            &gateway.address,
            "POST",
            "/v1/topics/orders/messages",
            Some(&format!("{{\"id\":\"{id}\",\"delay\":3600}}")),
            &[],
        )
    };
    assert_eq!(add("before").0, 201);
    redis.restart();
    let mut statuses = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let (status, body) = add(&format!("after-{}", statuses.len()));
        assert_ne!(status, 404, "an add was refused as unknown: {body}");
        statuses.push(status);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(statuses.last(), Some(&201), "{statuses:?}");
    // The registry is back for the extension too, long before the periodic sync.
    let key = format!("{}:topics", scratch.prefix);
    let held: Option<String> = redis_cmd(&url, &["HGET", &key, "orders"]);
    assert!(held.is_some(), "registry not published again");
    let line = gateway.wait_log("came back without dq's data", Duration::from_secs(5));
    assert!(line.contains("ERROR"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_changes_reach_a_workers_only_gateway_at_once() {
    let scratch = Scratch::new(&[REDIS]);
    let sink = Sink::start(always(200)).await;
    let dir = TempDir::new();
    let empty = dir.write("empty.toml", "registry_sync_interval = 60\n");
    let workers = GatewayProcess::start_workers_only(&empty, &scratch.prefix);
    let api = GatewayProcess::start(&empty, &scratch.prefix);
    let address = api.address.clone();
    let call = move |method: &'static str, path: String, body: String| {
        let address = address.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                http_call(&address, method, &path, Some(&body), &[])
            })
            .await
            .unwrap()
        }
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let topic = format!("{{\"callback\":\"{}\"}}", sink.url("/new"));
    assert_eq!(call("PUT", "/v1/topics/new".into(), topic).await.0, 201);
    let added = Instant::now();
    let (status, body) = call(
        "POST",
        "/v1/topics/new/messages".into(),
        r#"{"id":"first","delay":0}"#.into(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    sink.wait_calls(1, Duration::from_secs(3)).await;
    assert!(
        added.elapsed() < Duration::from_secs(2),
        "the first message of a new topic took {:?}\n{}",
        added.elapsed(),
        workers.logs()
    );

    // Paused on the API gateway: the workers-only one holds the next message.
    let (status, _) = call(
        "PATCH",
        "/v1/topics/new".into(),
        r#"{"status":"paused"}"#.into(),
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = call(
        "POST",
        "/v1/topics/new/messages".into(),
        r#"{"id":"held","delay":0}"#.into(),
    )
    .await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        sink.calls_for("held").is_empty(),
        "a paused topic delivered\n{}",
        workers.logs()
    );
}
