//! `[[subscription]]` in the gateway binary: the workers consume the queue and push each message
//! to the endpoint (headers, body as sent, bindings declared), count it in the metrics, and a
//! paused subscription leaves its messages in the queue.

use crate::support;

use std::time::Duration;

use dq_core::amqp::{AmqpConfig, OutgoingMessage, Producer, QueueOptions};
use dq_testkit::*;
use serde_json::json;
use support::*;
use tokio::task::block_in_place;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_of_the_file_pushes_its_queue_to_the_endpoint() {
    let vhost = TestVhost::new();
    let sink = Sink::start(always(200)).await;
    let dir = TempDir::new();
    let config = dir.write(
        "gateway.toml",
        &format!(
            "amqp = \"{}\"\n\
             [[subscription]]\nname = \"credits\"\nqueue = \"credits.q\"\nexchange = \"amq.topic\"\nrouting_keys = [\"credit.*\"]\ncallback = \"{}\"\n\
             [[subscription]]\nname = \"later\"\nqueue = \"later.q\"\ncallback = \"{}\"\nstatus = \"paused\"\n",
            vhost.url(),
            sink.url("/credit"),
            sink.url("/later")
        ),
    );
    let scratch = Scratch::new(&[REDIS]);
    let gateway = GatewayProcess::start(&config, &scratch.prefix);
    let producer = Producer::new(
        AmqpConfig::new(&vhost.url(), "dqt", Duration::from_secs(3)).unwrap(),
        true,
    );
    producer
        .declare_queue("later.q", &QueueOptions::default())
        .await
        .unwrap();
    // The worker declares its queue and binding; publishes go once the binding is there.
    let message = OutgoingMessage::new(
        b"{\"amount\":100}".to_vec(),
        json!({"message_id": "t-1", "content_type": "application/json", "mandatory": true})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let mut published = false;
    for _ in 0..100 {
        if producer
            .publish("amq.topic", "credit.eu", &message)
            .await
            .is_ok()
        {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        published,
        "the binding never appeared; log:\n{}",
        gateway.logs()
    );
    producer.publish("", "later.q", &message).await.unwrap();
    let calls = sink
        .wait_calls_to("/credit", 1, Duration::from_secs(10))
        .await;
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    assert_eq!(&call.body[..], b"{\"amount\":100}");
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("x-dq-subscription"), Some("credits"));
    assert_eq!(call.header("x-dq-message-id"), Some("t-1"));
    assert_eq!(call.header("x-dq-exchange"), Some("amq.topic"));
    assert_eq!(call.header("x-dq-routing-key"), Some("credit.eu"));
    assert_eq!(call.header("x-dq-attempt"), Some("1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sink.calls_to("/later").is_empty(),
        "a paused subscription consumes nothing"
    );
    block_in_place(|| {
        assert_eq!(
            gateway.metric("dq_subscription_delivered_total{subscription=\"credits\"}"),
            1.0
        );
    });
    let left = producer.consumer("later.q", 1);
    let kept = left.next(Duration::from_secs(2)).await.unwrap();
    assert!(
        kept.is_some(),
        "the paused subscription's message is still in its queue"
    );
    left.close().await;
    drop(gateway);
    drop(scratch);
}
