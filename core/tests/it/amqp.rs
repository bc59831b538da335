//! RabbitMQ through dq-core against the real broker: each test in names of its own.

use std::time::{Duration, Instant};

use dq_core::ErrorKind;
use dq_core::amqp::{AmqpConfig, OutgoingMessage, Producer, QueueOptions};
use dq_testkit::TestVhost;
use serde_json::json;

/// A producer in a vhost of the test's own (removed with everything in it when dropped).
fn producer() -> (Producer, String, TestVhost) {
    let vhost = TestVhost::new();
    let config = AmqpConfig::new(&vhost.url(), "dq", Duration::from_secs(3)).unwrap();
    (Producer::new(config, true), "t".to_string(), vhost)
}

fn message(body: &str, properties: serde_json::Value) -> OutgoingMessage {
    OutgoingMessage::new(body.as_bytes().to_vec(), properties.as_object().unwrap()).unwrap()
}

/// A transient queue of the test's own, deleted when the test's connection closes.
async fn queue(p: &Producer, name: &str) -> String {
    let options = QueueOptions {
        durable: false,
        auto_delete: false,
        exclusive: false,
        arguments: json!({"x-expires": 60000}).as_object().unwrap().clone(),
        ..QueueOptions::default()
    };
    p.declare_queue(name, &options).await.unwrap()
}

#[tokio::test]
async fn publish_consume_ack_with_properties() {
    let (p, name, _vhost) = producer();
    let q = queue(&p, &format!("{name}.q")).await;
    p.publish(
        "",
        &q,
        &message(
            "hello",
            json!({"message_id": "m1", "headers": {"x": 1}, "priority": 3}),
        ),
    )
    .await
    .unwrap();
    let consumer = p.consumer(&q, 10);
    let d = consumer
        .next(Duration::from_secs(3))
        .await
        .unwrap()
        .expect("a delivery");
    assert_eq!(d.body(), b"hello");
    let props = d.properties();
    assert_eq!(props["message_id"], "m1");
    assert_eq!(props["headers"], json!({"x": 1}));
    assert_eq!(props["persistent"], true);
    assert_eq!(d.routing_key(), q);
    d.ack().await.unwrap();
    assert_eq!(
        d.ack().await.unwrap_err().kind(),
        ErrorKind::InvalidArgument,
        "twice"
    );
    assert!(
        consumer
            .next(Duration::from_millis(200))
            .await
            .unwrap()
            .is_none()
    );
    consumer.close().await;
    p.close().await;
}

#[tokio::test]
async fn missing_exchange_and_unroutable_mandatory_fail() {
    let (p, name, _vhost) = producer();
    let err = p
        .publish(&format!("{name}.nope"), "k", &message("x", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("no exchange"), "{err}");
    // The channel closed by the broker is replaced: the next publish works.
    let err = p
        .publish(
            "amq.direct",
            &format!("{name}.nobody"),
            &message("x", json!({"mandatory": true})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    assert!(err.message().contains("unroutable"), "{err}");
    p.publish(
        "amq.direct",
        &format!("{name}.nobody"),
        &message("x", json!({})),
    )
    .await
    .unwrap();
    p.close().await;
}

#[tokio::test]
async fn batch_of_many_is_all_confirmed() {
    let (p, name, _vhost) = producer();
    let q = queue(&p, &format!("{name}.batch")).await;
    let messages: Vec<(String, OutgoingMessage)> = (0..2000)
        .map(|i| (q.clone(), message(&i.to_string(), json!({}))))
        .collect();
    assert_eq!(p.publish_batch("", &messages).await.unwrap(), 2000);
    // In order: the batch is handed over at once, each message queued in turn.
    let consumer = p.consumer(&q, 500);
    for i in 0..2000 {
        let d = consumer
            .next(Duration::from_secs(3))
            .await
            .unwrap()
            .expect("all 2000 arrive");
        assert_eq!(d.body(), i.to_string().as_bytes());
        d.ack().await.unwrap();
    }
    consumer.close().await;
    p.close().await;
}

#[tokio::test]
async fn delayed_messages_arrive_after_their_delay() {
    let (p, name, _vhost) = producer();
    let q = queue(&p, &format!("{name}.late")).await;
    let started = Instant::now();
    for (ms, body) in [(1500u64, "b"), (500, "a"), (2500, "c")] {
        p.publish_delayed("", &q, &message(body, json!({})), Duration::from_millis(ms))
            .await
            .unwrap();
    }
    let consumer = p.consumer(&q, 10);
    let mut got = Vec::new();
    while got.len() < 3 {
        let d = consumer
            .next(Duration::from_secs(5))
            .await
            .unwrap()
            .expect("delivered in time");
        got.push((
            String::from_utf8(d.body().to_vec()).unwrap(),
            started.elapsed(),
        ));
        d.ack().await.unwrap();
    }
    for ((body, at), (want, ms)) in got.iter().zip([("a", 500u64), ("b", 1500), ("c", 2500)]) {
        assert_eq!(body, want);
        assert!(
            *at >= Duration::from_millis(ms),
            "{body} arrived at {at:?}, before {ms} ms"
        );
        assert!(
            *at < Duration::from_millis(ms + 1000),
            "{body} arrived at {at:?}, over 1 s late"
        );
    }
    consumer.close().await;
    p.close().await;
}

#[tokio::test]
async fn rpc_call_and_reply() {
    let (p, name, _vhost) = producer();
    let q = queue(&p, &format!("{name}.rpc")).await;
    let server = p.clone();
    let q2 = q.clone();
    let responder = tokio::spawn(async move {
        let consumer = server.consumer(&q2, 1);
        let d = consumer
            .next(Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
        let body = String::from_utf8(d.body().to_vec()).unwrap();
        d.reply(message(&format!("pong:{body}"), json!({})))
            .await
            .unwrap();
        d.ack().await.unwrap();
        consumer.close().await;
    });
    let reply = p
        .call("", &q, message("ping", json!({})), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply.body, b"pong:ping");
    responder.await.unwrap();
    let err = p
        .call(
            "",
            &q,
            message("nobody", json!({})),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let err = p
        .call(
            "amq.direct",
            &format!("{name}.none"),
            message("x", json!({})),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Rejected,
        "no route fails at once: {err}"
    );
    p.close().await;
}

#[tokio::test]
async fn broker_not_there_is_a_connection_error() {
    let config = AmqpConfig::new(
        "amqp://guest:guest@127.0.0.1:1/%2f",
        "dq",
        Duration::from_millis(500),
    )
    .unwrap();
    let p = Producer::new(config, true);
    let started = Instant::now();
    let err = p
        .publish("", "q", &message("x", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Input the broker would answer with a panic in the client, a closed connection or a silently
/// lost message is refused first, naming the value; the producer keeps working.
#[tokio::test]
async fn refused_before_the_broker_sees_it() {
    let (p, name, _vhost) = producer();
    let q = queue(&p, &format!("{name}.q")).await;
    let long = "k".repeat(256);
    let invalid = |e: dq_core::Error, needle: &str| {
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains(needle), "{needle:?} not in {e}");
    };
    invalid(
        p.publish("", &long, &message("x", json!({})))
            .await
            .unwrap_err(),
        "routing key \"kkk",
    );
    invalid(
        p.publish(&long, "k", &message("x", json!({})))
            .await
            .unwrap_err(),
        "256 bytes",
    );
    let batch = vec![(long.clone(), message("x", json!({})))];
    invalid(p.publish_batch("", &batch).await.unwrap_err(), "255");
    invalid(
        p.publish_delayed("", &long, &message("x", json!({})), Duration::from_secs(1))
            .await
            .unwrap_err(),
        "255",
    );
    invalid(
        p.declare_queue(&long, &QueueOptions::default())
            .await
            .unwrap_err(),
        "queue",
    );
    invalid(
        p.declare_queue("amq.mine", &QueueOptions::default())
            .await
            .unwrap_err(),
        "reserved",
    );
    for kind in ["", "nonsense", "x-"] {
        invalid(
            p.declare_exchange(&format!("{name}.x"), kind, &Default::default())
                .await
                .unwrap_err(),
            "exchange type",
        );
    }
    invalid(
        p.call(
            "",
            &q,
            message("x", json!({"correlation_id": "mine"})),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err(),
        "correlation_id",
    );
    invalid(
        p.publish_delayed(
            "",
            &q,
            &message("x", json!({"expiration": "100"})),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err(),
        "expiration \"100\"",
    );
    invalid(
        p.publish_delayed(
            "",
            &q,
            &message("x", json!({"mandatory": true})),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err(),
        "mandatory",
    );
    // A delayed message to a missing exchange fails now, as publish does, not when it is due.
    let err = p
        .publish_delayed(
            &format!("{name}.nope"),
            "k",
            &message("x", json!({})),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // An empty headers list (PHP's []) is no headers.
    p.publish("", &q, &message("ok", json!({"headers": []})))
        .await
        .unwrap();
    p.close().await;
}

/// An unsettled delivery keeps its channel open: acked after its consumer closed, the ack takes
/// effect; dropped unsettled, the message goes back to the queue.
#[tokio::test]
async fn deliveries_outlive_their_consumer() {
    let (p, name, _vhost) = producer();
    let q = queue(&p, &format!("{name}.q")).await;
    for body in ["acked", "dropped"] {
        p.publish("", &q, &message(body, json!({}))).await.unwrap();
    }
    let consumer = p.consumer(&q, 10);
    let first = consumer
        .next(Duration::from_secs(3))
        .await
        .unwrap()
        .unwrap();
    let second = consumer
        .next(Duration::from_secs(3))
        .await
        .unwrap()
        .unwrap();
    consumer.close().await;
    assert_eq!(first.body(), b"acked");
    first.ack().await.unwrap();
    drop(second);
    let again = p.consumer(&q, 10);
    let back = again.next(Duration::from_secs(3)).await.unwrap().unwrap();
    assert_eq!(back.body(), b"dropped");
    assert!(back.redelivered());
    back.ack().await.unwrap();
    assert!(
        again
            .next(Duration::from_millis(300))
            .await
            .unwrap()
            .is_none()
    );
    again.close().await;
    p.close().await;
}

/// Whether the broker has the delayed-message plugin is asked on a connection of its own and
/// remembered: without the plugin RabbitMQ answers by closing the connection the question came
/// on, which, asked on the shared one (and again after each reconnect), took the deliveries under
/// way with it (their ack failed: "the channel the delivery came on is closed").
#[tokio::test]
async fn delayed_to_an_exchange_leaves_deliveries_under_way_alone() {
    let (p, name, _vhost) = producer();
    let q = queue(&p, &format!("{name}.q")).await;
    let x = format!("{name}.x");
    p.declare_exchange(&x, "direct", &Default::default())
        .await
        .unwrap();
    p.bind_queue(&q, &x, "k", &Default::default())
        .await
        .unwrap();
    let consumer = p.consumer(&q, 10);
    for round in 0..2 {
        p.publish("", &q, &message("now", json!({}))).await.unwrap();
        let now = consumer
            .next(Duration::from_secs(3))
            .await
            .unwrap()
            .expect("a delivery");
        p.publish_delayed(
            &x,
            "k",
            &message("later", json!({})),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
        now.ack()
            .await
            .unwrap_or_else(|e| panic!("round {round}: the ack after publish_delayed: {e}"));
        let later = consumer
            .next(Duration::from_secs(5))
            .await
            .unwrap()
            .expect("the delayed message");
        assert_eq!(later.body(), b"later");
        later.ack().await.unwrap();
    }
    consumer.close().await;
    p.close().await;
}

/// A delayed message to the default exchange goes to the queue its routing key names: with no
/// such queue it fails now (code 6, naming the queue), rather than being dropped when due.
#[tokio::test]
async fn delayed_to_a_missing_queue_fails_now_and_delivers_once_it_exists() {
    let (p, name, _vhost) = producer();
    let missing = format!("{name}.order.check");
    for delay in [Duration::from_secs(30), Duration::from_millis(300)] {
        let err = p
            .publish_delayed("", &missing, &message("x", json!({})), delay)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(
            err.message()
                .starts_with(&format!("queue \"{missing}\" does not exist"))
                && err.message().contains("declare the queue first"),
            "{err}"
        );
    }
    let err = p
        .publish_delayed("", "", &message("x", json!({})), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("routing key is empty"), "{err}");

    // Declared, the same call is taken and the message arrives after its delay; the failed
    // check left the connection usable.
    let q = queue(&p, &missing).await;
    let started = Instant::now();
    p.publish_delayed(
        "",
        &q,
        &message("late", json!({})),
        Duration::from_millis(300),
    )
    .await
    .unwrap();
    let consumer = p.consumer(&q, 10);
    let d = consumer
        .next(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("delivered");
    assert_eq!(d.body(), b"late");
    assert!(started.elapsed() >= Duration::from_millis(300));
    d.ack().await.unwrap();
    consumer.close().await;

    // Another connection's exclusive queue exists too: taken, not refused.
    let other = Producer::new(p.config().clone(), true);
    let exclusive = other
        .declare_queue(
            &format!("{name}.exclusive"),
            &QueueOptions {
                exclusive: true,
                durable: false,
                ..QueueOptions::default()
            },
        )
        .await
        .unwrap();
    p.publish_delayed(
        "",
        &exclusive,
        &message("x", json!({})),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    other.close().await;
    p.close().await;
}

/// A declare the broker refuses (a missing queue asked passively, a missing exchange to bind
/// to) closes the channel it went on: it must not be the publishing channel that other tasks'
/// publishes are waiting for confirms on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_declare_does_not_break_publishes_under_way() {
    let (p, name, _vhost) = producer();
    let q = queue(&p, &format!("{name}.q")).await;
    let passive = QueueOptions {
        passive: true,
        ..QueueOptions::default()
    };
    for round in 0..5 {
        let publishes: Vec<_> = (0..200)
            .map(|i| {
                let (p, q) = (p.clone(), q.clone());
                tokio::spawn(async move {
                    p.publish("", &q, &message(&format!("{round}-{i}"), json!({})))
                        .await
                })
            })
            .collect();
        let missing = p.declare_queue(&format!("{name}.missing"), &passive).await;
        assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);
        let unbound = p
            .bind_queue(&q, &format!("{name}.no-exchange"), "k", &Default::default())
            .await;
        assert_eq!(unbound.unwrap_err().kind(), ErrorKind::NotFound);
        for (i, publish) in publishes.into_iter().enumerate() {
            let outcome = publish.await.unwrap();
            assert!(outcome.is_ok(), "round {round} publish {i}: {outcome:?}");
        }
    }
}
