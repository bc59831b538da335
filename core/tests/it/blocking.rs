//! The blocking facade (what dq.so and libdq.so call): plain connections, same behaviour.

use std::time::{Duration, Instant};

use dq_core::{BlockingQueue, ErrorKind, QueueConfig, RedisServer, State, Tz};
use dq_testkit::*;
use serde_json::{Value, json};

fn open(config: &QueueConfig) -> BlockingQueue {
    BlockingQueue::open(config).unwrap()
}

fn message(queue: &BlockingQueue, data: Value) -> dq_core::NewMessage {
    queue
        .parse_message(data.as_object().unwrap(), Tz::UTC)
        .unwrap()
}

#[tokio::test]
async fn round_trip_and_replace() {
    let scratch = Scratch::new(&[REDIS]);
    let (_queue, _registry) = scratch.queue_with_topics(&["t"]).await;
    std::thread::spawn(move || {
        let queue = open(&scratch.config());
        let added = queue
            .add(
                "t",
                &message(&queue, json!({"id": "a", "body": [1, 2], "delay": 30})),
            )
            .unwrap();
        assert_eq!(added.state, State::Delayed);
        queue
            .add(
                "t",
                &message(&queue, json!({"id": "a", "body": "second", "delay": 0})),
            )
            .unwrap();
        let got = queue.get("t", "a").unwrap().unwrap();
        assert_eq!((got.body.as_str(), got.state), ("\"second\"", State::Ready));
        let stats = queue.stats("t").unwrap();
        assert_eq!((stats.delayed, stats.ready), (0, 1));
        let many: Vec<_> = (0..50)
            .map(|i| message(&queue, json!({"id": i, "delay": 5})))
            .collect();
        assert_eq!(queue.add_many("t", &many).unwrap(), 50);
        assert!(queue.del("t", "a").unwrap());
        assert_eq!(queue.stats("t").unwrap().delayed, 50);
    })
    .join()
    .unwrap();
}

#[tokio::test]
async fn reconnects_after_restart_and_reloads_scripts() {
    let mut redis = PrivateRedis::start();
    let scratch = Scratch::new(&[&redis.url()]);
    let (_queue, registry) = scratch.queue_with_topics(&["t"]).await;
    let config = scratch.config();
    let queue = std::thread::spawn(move || {
        let queue = open(&config);
        queue
            .add("t", &message(&queue, json!({"id": "before", "delay": 60})))
            .unwrap();
        queue
    })
    .join()
    .unwrap();
    redis.restart();
    registry.sync().await.unwrap();
    std::thread::spawn(move || {
        // The connection is dead and the new server knows no scripts: both must heal silently.
        queue
            .add("t", &message(&queue, json!({"id": "after", "delay": 60})))
            .unwrap();
        assert!(queue.get("t", "after").unwrap().is_some());
    })
    .join()
    .unwrap();
}

#[test]
fn closed_port_and_silent_server_fail_within_the_timeout() {
    let config = QueueConfig {
        redis: vec![RedisServer::parse(&format!("127.0.0.1:{}", free_port())).unwrap()],
        timeout: Duration::from_millis(300),
        ..QueueConfig::default()
    };
    let err = open(&config).stats("t").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = QueueConfig {
        redis: vec![RedisServer::parse(&listener.local_addr().unwrap().to_string()).unwrap()],
        timeout: Duration::from_millis(300),
        ..QueueConfig::default()
    };
    let started = Instant::now();
    let err = open(&config).get("t", "a").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}
