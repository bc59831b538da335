//! The delay queue against the real Redis: what a user of `add/get/del/addMany/stats` sees.

use std::time::Duration;

use dq_core::{DelayQueue, ErrorKind, NewMessage, QueueConfig, RedisServer, State, Tz};
use dq_testkit::*;
use serde_json::{Value, json};

fn message(queue: &DelayQueue, data: Value) -> NewMessage {
    queue
        .parse_message(data.as_object().unwrap(), Tz::UTC)
        .unwrap()
}

#[tokio::test]
async fn add_get_del_round_trip() {
    let scratch = Scratch::new(&[REDIS]);
    let (queue, _registry) = scratch.queue_with_topics(&["orders"]).await;
    let before = now_ms();
    let added = queue
        .add(
            "orders",
            &message(
                &queue,
                json!({"id": "o-1", "body": {"amount": 12.5, "tags": ["a"]}, "delay": 60}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(added.state, State::Delayed);
    assert!((added.due_at_ms - before - 60_000).abs() < 1000);

    let got = queue.get("orders", "o-1").await.unwrap().unwrap();
    assert_eq!(got.state, State::Delayed);
    assert_eq!(
        got.body_value().unwrap(),
        json!({"amount": 12.5, "tags": ["a"]})
    );
    assert_eq!(got.due_at_ms, added.due_at_ms);
    assert_eq!(got.attempts, 0);

    assert!(queue.del("orders", "o-1").await.unwrap());
    assert!(!queue.del("orders", "o-1").await.unwrap());
    assert_eq!(queue.get("orders", "o-1").await.unwrap(), None);
    assert_eq!(scratch.count_keys(), 1, "only the registry is left");
}

#[tokio::test]
async fn due_messages_are_ready_at_once() {
    let scratch = Scratch::new(&[REDIS]);
    let (queue, _registry) = scratch.queue_with_topics(&["t"]).await;
    let added = queue
        .add("t", &message(&queue, json!({"id": "now", "delay": 0})))
        .await
        .unwrap();
    assert_eq!(added.state, State::Ready);
    let past = queue
        .add(
            "t",
            &message(
                &queue,
                json!({"id": "past", "fix_time": "2001-01-01 00:00:00"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(past.state, State::Ready);
    let stats = queue.stats("t").await.unwrap();
    assert_eq!((stats.ready, stats.delayed), (2, 0));
}

#[tokio::test]
async fn same_id_twice_replaces_and_never_doubles() {
    let scratch = Scratch::new(&[REDIS]);
    let (queue, _registry) = scratch.queue_with_topics(&["t"]).await;
    queue
        .add(
            "t",
            &message(&queue, json!({"id": "x", "body": 1, "delay": 0})),
        )
        .await
        .unwrap();
    queue
        .add(
            "t",
            &message(&queue, json!({"id": "x", "body": 2, "delay": 300})),
        )
        .await
        .unwrap();
    let got = queue.get("t", "x").await.unwrap().unwrap();
    assert_eq!(got.body, "2");
    assert_eq!(got.state, State::Delayed);
    let stats = queue.stats("t").await.unwrap();
    assert_eq!((stats.delayed, stats.ready), (1, 0));
}

#[tokio::test]
async fn topic_default_delay_applies() {
    let scratch = Scratch::new(&[REDIS]);
    let queue = scratch.queue();
    let registry = dq_core::Registry::new(queue.clone());
    let mut topic = dq_core::Topic::new("slow", "http://127.0.0.1:9/x");
    topic.delay = 90.0;
    registry.put(topic).await.unwrap();
    let before = now_ms();
    let added = queue
        .add("slow", &message(&queue, json!({"id": "a"})))
        .await
        .unwrap();
    assert!((added.due_at_ms - before - 90_000).abs() < 1000);
}

#[tokio::test]
async fn unknown_and_disabled_topics_are_refused() {
    let scratch = Scratch::new(&[REDIS]);
    let (queue, registry) = scratch.queue_with_topics(&["known"]).await;
    let err = queue
        .add("nope", &message(&queue, json!({"id": "a"})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownTopic);
    assert!(
        err.message().contains("\"nope\"") && err.message().contains("PUT /v1/topics/nope"),
        "{err}"
    );

    let mut topic = registry.get("known").unwrap();
    topic.status = dq_core::Status::Disabled;
    registry.put(topic).await.unwrap();
    let err = queue
        .add("known", &message(&queue, json!({"id": "a"})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownTopic);
    assert!(err.message().contains("disabled"), "{err}");

    registry.delete("known").await.unwrap();
    let err = queue
        .add("known", &message(&queue, json!({"id": "a"})))
        .await
        .unwrap_err();
    assert!(err.message().contains("not registered"), "{err}");
    assert_eq!(
        queue.get("nope", "a").await.unwrap(),
        None,
        "get does not need a registered topic"
    );
}

#[tokio::test]
async fn bad_topic_and_id_are_invalid_arguments() {
    let scratch = Scratch::new(&[REDIS]);
    let queue = scratch.queue();
    let err = queue.get("bad topic", "a").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("\"bad topic\""));
    let err = queue.del("t", "").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn add_many_over_two_shards() {
    let shards = ["redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/15"];
    let scratch = Scratch::new(&shards);
    let (queue, _registry) = scratch.queue_with_topics(&["bulk"]).await;
    let messages: Vec<NewMessage> = (0..1000)
        .map(|i| {
            message(
                &queue,
                json!({"id": format!("m{i}"), "body": {"n": i}, "delay": 120}),
            )
        })
        .collect();
    assert_eq!(queue.add_many("bulk", &messages).await.unwrap(), 1000);
    assert_eq!(queue.stats("bulk").await.unwrap().delayed, 1000);
    let on_first: u64 = redis_cmd(
        shards[0],
        &["ZCARD", &format!("{}:{{bulk}}:delayed", scratch.prefix)],
    );
    let on_second: u64 = redis_cmd(
        shards[1],
        &["ZCARD", &format!("{}:{{bulk}}:delayed", scratch.prefix)],
    );
    assert_eq!(on_first + on_second, 1000);
    assert!(
        on_first > 300 && on_second > 300,
        "{on_first} / {on_second}"
    );
    let got = queue.get("bulk", "m777").await.unwrap().unwrap();
    assert_eq!(got.body_value().unwrap(), json!({"n": 777}));
    assert_eq!(queue.add_many("bulk", &[]).await.unwrap(), 0);
}

#[tokio::test]
async fn a_shard_that_is_down_fails_only_its_messages() {
    let mut down = PrivateRedis::start();
    let servers = [REDIS.to_string(), down.url()];
    let scratch = Scratch::new(&[REDIS, &down.url()]);
    let (queue, registry) = scratch.queue_with_topics(&["t"]).await;
    down.stop();
    let mut ok = 0;
    let mut failed = 0;
    for i in 0..20 {
        let result = queue
            .add(
                "t",
                &message(&queue, json!({"id": format!("id{i}"), "delay": 60})),
            )
            .await;
        match result {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
                assert!(
                    e.message().contains(&format!("127.0.0.1:{}", down.port)),
                    "{e}"
                );
                failed += 1;
            }
        }
    }
    assert!(ok > 0 && failed > 0, "{ok} ok, {failed} failed");
    let err = queue.stats("t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);

    // Back up and empty (no persistence): the registry is re-published by sync, adds work again.
    down.restart();
    registry.sync().await.unwrap();
    for i in 0..20 {
        queue
            .add(
                "t",
                &message(&queue, json!({"id": format!("id{i}"), "delay": 60})),
            )
            .await
            .unwrap();
    }
    assert_eq!(queue.stats("t").await.unwrap().delayed, 20);
    drop(servers);
}

#[tokio::test]
async fn reconnects_by_itself_after_a_redis_restart() {
    let mut redis = PrivateRedis::start();
    let scratch = Scratch::new(&[&redis.url()]);
    let (queue, registry) = scratch.queue_with_topics(&["t"]).await;
    queue
        .add("t", &message(&queue, json!({"id": "before", "delay": 60})))
        .await
        .unwrap();
    redis.restart();
    registry.sync().await.unwrap();
    // The pooled connection is dead; the next call must notice, reconnect and succeed.
    queue
        .add("t", &message(&queue, json!({"id": "after", "delay": 60})))
        .await
        .unwrap();
    assert!(queue.get("t", "after").await.unwrap().is_some());
}

#[tokio::test]
async fn closed_port_is_a_connection_error_quickly() {
    let config = QueueConfig {
        redis: vec![RedisServer::parse(&format!("127.0.0.1:{}", free_port())).unwrap()],
        timeout: Duration::from_millis(500),
        ..QueueConfig::default()
    };
    let queue = DelayQueue::new(&config).unwrap();
    let started = std::time::Instant::now();
    let err = queue.stats("t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_server_that_never_answers_fails_within_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = QueueConfig {
        redis: vec![RedisServer::parse(&format!("127.0.0.1:{port}")).unwrap()],
        timeout: Duration::from_millis(300),
        ..QueueConfig::default()
    };
    let queue = DelayQueue::new(&config).unwrap();
    let started = std::time::Instant::now();
    let err = queue.get("t", "a").await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{err}"
    );
    assert!(err.message().contains("0.300s"), "{err}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

/// A timeout after the write was sent does not mean the message was not stored: the error says
/// so, and that adding again is safe. (The proxy lets the script run and swallows its reply.)
#[tokio::test]
async fn a_timed_out_add_may_have_stored_the_message_and_says_so() {
    let scratch = Scratch::new(&[REDIS]);
    let (real, _registry) = scratch.queue_with_topics(&["orders"]).await;
    let proxy = SilentScripts::start("127.0.0.1:6379");
    let config = QueueConfig {
        redis: vec![RedisServer::parse(&proxy.url()).unwrap()],
        timeout: Duration::from_millis(300),
        ..scratch.config()
    };
    let queue = DelayQueue::new(&config).unwrap();
    let err = queue
        .add(
            "orders",
            &message(&queue, json!({"id": "o-1", "delay": 60})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.message().ends_with(
            "did not answer within 0.300s: message \"o-1\" may or may not have been stored; \
             adding it again is safe: the same id replaces it"
        ),
        "{err}"
    );
    assert!(
        real.get("orders", "o-1").await.unwrap().is_some(),
        "stored all the same"
    );

    let items = [
        message(&queue, json!({"id": "m-1", "delay": 60})),
        message(&queue, json!({"id": "m-2", "delay": 60})),
    ];
    let err = queue.add_many("orders", &items).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.message().ends_with(
            ": 0 of 2 messages were confirmed stored and the others may or may not have been; \
             adding them again is safe: the same id replaces a message"
        ),
        "{err}"
    );
    // Adding again through a Redis that answers: the same ids, nothing twice.
    real.add_many("orders", &items).await.unwrap();
    real.add(
        "orders",
        &message(&queue, json!({"id": "o-1", "delay": 60})),
    )
    .await
    .unwrap();
    assert_eq!(real.stats("orders").await.unwrap().delayed, 3);
}

#[tokio::test]
async fn dead_letters_are_paged_at_any_depth_and_filtered_over_two_shards() {
    let shards = ["redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/15"];
    let scratch = Scratch::new(&shards);
    let queue = scratch.queue();
    let registry = dq_core::Registry::new(queue.clone());
    let mut topic = dq_core::Topic::new("pulled", "");
    topic.mode = dq_core::Mode::Pull;
    registry.put(topic).await.unwrap();
    let messages: Vec<NewMessage> = (0..30)
        .map(|i| {
            let tag = if i % 3 == 0 { "Needle" } else { "hay" };
            message(
                &queue,
                json!({"id": format!("m{i}"), "body": {"n": i, "tag": tag}}),
            )
        })
        .collect();
    assert_eq!(queue.add_many("pulled", &messages).await.unwrap(), 30);
    for _ in 0..30 {
        let job = queue
            .reserve("pulled", Duration::from_secs(2))
            .await
            .unwrap()
            .expect("a due job");
        let n: u32 = job.id[1..].parse().unwrap();
        let reason = if n.is_multiple_of(5) {
            "Timeout talking to the bank"
        } else {
            "refused"
        };
        queue.fail("pulled", &job.lease, reason).await.unwrap();
    }
    let page = |offset: usize, limit: usize, text: Option<&str>, status: Option<&str>| {
        let query = dq_core::DeadQuery {
            offset,
            limit,
            text: text.map(str::to_string),
            status: status.map(|s| dq_core::StatusFilter::parse(s).unwrap()),
        };
        let queue = queue.clone();
        async move { queue.dead_page("pulled", &query).await.unwrap() }
    };
    // Pages of 10 cover all 30 once, newest first, across both shards.
    let mut ids = Vec::new();
    let mut died = Vec::new();
    for offset in [0, 10, 20] {
        let p = page(offset, 10, None, None).await;
        assert_eq!((p.letters.len(), p.total), (10, 30));
        ids.extend(p.letters.iter().map(|l| l.id.clone()));
        died.extend(p.letters.iter().map(|l| l.died_at_ms));
    }
    assert!(
        died.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {died:?}"
    );
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 30);
    assert_eq!(page(25, 10, None, None).await.letters.len(), 5);
    assert!(page(30, 10, None, None).await.letters.is_empty());
    // Text in the body, the last error or the id, in any case.
    let needle = page(0, 100, Some("needle"), None).await;
    assert_eq!(needle.total, 10);
    assert!(needle.letters.iter().all(|l| l.body.contains("Needle")));
    let timeouts = page(0, 3, Some("TIMEOUT"), None).await;
    assert_eq!((timeouts.total, timeouts.letters.len()), (6, 3));
    assert_eq!(
        timeouts.letters[0].last_error.as_deref(),
        Some("Timeout talking to the bank")
    );
    assert_eq!(page(0, 100, Some("m1"), None).await.total, 11);
    // The last answer: none here (failed by a worker, no HTTP status).
    assert_eq!(page(0, 100, None, Some("none")).await.total, 30);
    assert_eq!(page(0, 100, None, Some("5xx")).await.total, 0);
    assert_eq!(page(0, 100, Some("needle"), Some("none")).await.total, 10);
}
