//! A subscription's consumer against the real RabbitMQ and an HTTP receiver of the test's own:
//! delivery with every header and the body byte for byte, an RPC answered by the endpoint,
//! failures on the ladder then the dead-letter queue (410 at once), and order kept with
//! `concurrency = 1` while a message is retried in place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dq_core::Callbacks;
use dq_core::amqp::{AmqpConfig, OutgoingMessage, Producer};
use dq_core::subscription::{Subscription, SubscriptionWorker, Unobserved};
use dq_testkit::TestVhost;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

type Policy = Arc<dyn Fn(&Got, usize) -> (u16, Vec<u8>) + Send + Sync>;

/// An HTTP/1.1 receiver answering each request by `policy` (given the request and how many
/// came before it), keeping what it got.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    async fn start(policy: Policy) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = got.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (policy, kept) = (policy.clone(), kept.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = BufReader::new(read);
                    loop {
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let (method, target) = (
                            parts.next().unwrap_or("").to_string(),
                            parts.next().unwrap_or("").to_string(),
                        );
                        let mut headers = HashMap::new();
                        loop {
                            let mut header = String::new();
                            read.read_line(&mut header).await.unwrap();
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            if let Some((name, value)) = header.split_once(':') {
                                headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
                            }
                        }
                        let length: usize = headers
                            .get("content-length")
                            .and_then(|l| l.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; length];
                        read.read_exact(&mut body).await.unwrap();
                        let request = Got {
                            method,
                            target,
                            headers,
                            body,
                        };
                        let before = {
                            let mut all = kept.lock().unwrap();
                            all.push(request.clone());
                            all.len() - 1
                        };
                        let (status, answer) = policy(&request, before);
                        // 429 and 503 ask for a second's wait; other statuses say nothing.
                        let wait = if matches!(status, 429 | 503) {
                            "Retry-After: 1\r\n"
                        } else {
                            ""
                        };
                        let head = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{wait}\r\n",
                            answer.len()
                        );
                        if write.write_all(head.as_bytes()).await.is_err()
                            || write.write_all(&answer).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { url, got }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    async fn wait(&self, n: usize, within: Duration) -> Vec<Got> {
        let started = Instant::now();
        loop {
            let got = self.got();
            if got.len() >= n || started.elapsed() > within {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn producer(vhost: &TestVhost) -> Producer {
    let config = AmqpConfig::new(&vhost.url(), "dqt", Duration::from_secs(3)).unwrap();
    Producer::new(config, true)
}

/// Starts the worker of `subscription`; it stops when the sender says so.
async fn start(
    vhost: &TestVhost,
    subscription: Subscription,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let worker = SubscriptionWorker::new(
        subscription,
        producer(vhost),
        Arc::new(Callbacks::new(8).unwrap()),
        "dqt",
        Arc::new(Unobserved),
    )
    .unwrap();
    worker.declare().await.unwrap();
    let (stop, stopped) = watch::channel(false);
    (
        stop,
        tokio::spawn(worker.run(stopped, Duration::from_secs(2))),
    )
}

fn message(body: &[u8], properties: serde_json::Value) -> OutgoingMessage {
    OutgoingMessage::new(body.to_vec(), properties.as_object().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_is_posted_as_sent_with_its_headers_and_an_rpc_is_answered() {
    let vhost = TestVhost::new();
    let receiver = Receiver::start(Arc::new(|got: &Got, _| {
        let mut answer = b"pong:".to_vec();
        answer.extend_from_slice(&got.body);
        (200, answer)
    }))
    .await;
    let p = producer(&vhost);
    p.declare_exchange("corp", "topic", &Default::default())
        .await
        .unwrap();
    let sub = Subscription {
        exchange: Some("corp".into()),
        routing_keys: vec!["credit.*".into()],
        secret: Some("k".into()),
        ..Subscription::new("credits", "credits.q", &receiver.url)
    };
    let (stop, worker) = start(&vhost, sub).await;
    let body = b"\x00\xff binary \r\n".to_vec();
    p.publish(
        "corp",
        "credit.eu",
        &message(
            &body,
            json!({"message_id": "m-1", "correlation_id": "c-1", "content_type": "application/x-bin",
                   "headers": {"x-from": "db1", "n": 7}}),
        ),
    )
    .await
    .unwrap();
    let got = receiver.wait(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let g = &got[0];
    assert_eq!((g.method.as_str(), g.target.as_str()), ("POST", "/hook"));
    assert_eq!(g.body, body);
    let h = |name: &str| g.headers.get(name).cloned().unwrap_or_default();
    assert_eq!(h("content-type"), "application/x-bin");
    assert_eq!(h("x-dq-subscription"), "credits");
    assert_eq!(h("x-dq-message-id"), "m-1");
    assert_eq!(h("x-dq-correlation-id"), "c-1");
    assert_eq!(h("x-dq-exchange"), "corp");
    assert_eq!(h("x-dq-routing-key"), "credit.eu");
    assert_eq!(h("x-dq-attempt"), "1");
    assert_eq!(h("x-dq-redelivered"), "false");
    assert_eq!(h("x-dq-header-x-from"), "db1");
    assert_eq!(h("x-dq-header-n"), "7");
    assert_eq!(
        h("x-dq-signature"),
        format!("sha256={}", dq_core::sign("k", &body))
    );
    // An RPC served by the endpoint: its answer is the reply.
    let reply = p
        .call(
            "corp",
            "credit.rpc",
            message(b"ping", json!({})),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(reply.body, b"pong:ping");
    stop.send(true).unwrap();
    worker.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_follow_the_ladder_then_the_dead_letter_queue() {
    let vhost = TestVhost::new();
    let receiver = Receiver::start(Arc::new(|got: &Got, _| {
        if got.body == b"gone" {
            (410, vec![])
        } else {
            (500, vec![])
        }
    }))
    .await;
    let sub = Subscription {
        retry: vec![0.2, 0.2],
        ..Subscription::new("failing", "failing.q", &receiver.url)
    };
    let (stop, worker) = start(&vhost, sub).await;
    let p = producer(&vhost);
    p.publish(
        "",
        "failing.q",
        &message(b"boom", json!({"message_id": "b"})),
    )
    .await
    .unwrap();
    p.publish(
        "",
        "failing.q",
        &message(b"gone", json!({"message_id": "g"})),
    )
    .await
    .unwrap();
    let got = receiver.wait(4, Duration::from_secs(10)).await;
    let attempts: Vec<(String, String)> = got
        .iter()
        .map(|g| {
            (
                String::from_utf8_lossy(&g.body).into_owned(),
                g.headers["x-dq-attempt"].clone(),
            )
        })
        .collect();
    assert!(attempts.contains(&("gone".into(), "1".into())));
    for n in ["1", "2", "3"] {
        assert!(
            attempts.contains(&("boom".into(), n.into())),
            "{attempts:?}"
        );
    }
    // The retries come back through the default exchange; the callback still sees the origin.
    let retried = got
        .iter()
        .find(|g| g.body == b"boom" && g.headers["x-dq-attempt"] == "2")
        .unwrap();
    assert_eq!(retried.headers["x-dq-exchange"], "");
    assert_eq!(retried.headers["x-dq-routing-key"], "failing.q");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.got().len(),
        4,
        "nothing more after the last attempt"
    );
    let dead = p.consumer("dqt.dead.failing", 10);
    let mut letters = HashMap::new();
    while let Some(d) = dead.next(Duration::from_millis(500)).await.unwrap() {
        let headers = d.properties()["headers"].clone();
        letters.insert(String::from_utf8_lossy(d.body()).into_owned(), headers);
        d.ack().await.unwrap();
    }
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters["boom"]["x-dq-attempts"], 3);
    assert_eq!(letters["boom"]["x-dq-last-status"], 500);
    assert_eq!(letters["boom"]["x-dq-last-error"], "HTTP 500");
    assert_eq!(letters["gone"]["x-dq-attempts"], 1);
    assert_eq!(letters["gone"]["x-dq-last-status"], 410);
    dead.close().await;
    stop.send(true).unwrap();
    worker.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_one_keeps_the_order_while_a_message_is_retried_in_place() {
    let vhost = TestVhost::new();
    let receiver = Receiver::start(Arc::new(|got: &Got, before| {
        // The third message fails its first attempt.
        if got.body == b"3" && before == 2 {
            (503, vec![])
        } else {
            (200, vec![])
        }
    }))
    .await;
    let sub = Subscription {
        concurrency: Some(1),
        retry: vec![0.1],
        ..Subscription::new("ordered", "ordered.q", &receiver.url)
    };
    let (stop, worker) = start(&vhost, sub).await;
    let p = producer(&vhost);
    for n in 1..=6 {
        p.publish(
            "",
            "ordered.q",
            &message(n.to_string().as_bytes(), json!({})),
        )
        .await
        .unwrap();
    }
    let got = receiver.wait(7, Duration::from_secs(10)).await;
    let order: Vec<String> = got
        .iter()
        .map(|g| String::from_utf8_lossy(&g.body).into_owned())
        .collect();
    assert_eq!(order, ["1", "2", "3", "3", "4", "5", "6"]);
    assert_eq!(got[3].headers["x-dq-attempt"], "2");
    stop.send(true).unwrap();
    worker.await.unwrap();
}

/// Dead letters read without being taken (paged, bodies byte for byte, the reasons), requeued
/// by id or all of them (attempts from zero again), removed; a listing of a subscription that
/// never had one is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_requeued_and_removed() {
    use dq_core::subscription::DeadLetters;
    use std::collections::BTreeSet;
    let vhost = TestVhost::new();
    // 410 for the bodies that say so; everything else is taken.
    let receiver = Receiver::start(Arc::new(|got: &Got, _| {
        if got.body.starts_with(b"gone") {
            (410, Vec::new())
        } else {
            (200, Vec::new())
        }
    }))
    .await;
    let p = producer(&vhost);
    let sub = Subscription {
        concurrency: Some(1),
        ..Subscription::new("letters", "letters.q", &receiver.url)
    };
    let never = DeadLetters::new(&p, &sub, "dqt");
    assert_eq!(never.list(0, 10).await.unwrap().total, 0);
    assert_eq!(never.requeue(None).await.unwrap(), 0);
    assert!(!never.delete("nope").await.unwrap());
    let (stop, worker) = start(&vhost, sub.clone()).await;
    let mut bodies = Vec::new();
    for i in 0..5u8 {
        let body = [b"gone".as_slice(), &[i, 0xff, 0xfe]].concat();
        p.publish(
            "",
            "letters.q",
            &message(&body, json!({"message_id": format!("m-{i}")})),
        )
        .await
        .unwrap();
        bodies.push(body);
    }
    receiver.wait(5, Duration::from_secs(10)).await;
    let dead = DeadLetters::new(&p, &sub, "dqt");
    let mut page = dead.list(0, 10).await.unwrap();
    for _ in 0..50 {
        if page.total == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = dead.list(0, 10).await.unwrap();
    }
    assert_eq!(page.total, 5);
    let listed: Vec<&[u8]> = page.letters.iter().map(|l| l.body.as_slice()).collect();
    assert_eq!(listed, bodies.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let first = &page.letters[0];
    assert_eq!(first.attempts, 1);
    assert_eq!(first.last_status, Some(410));
    assert_eq!(first.exchange, "");
    assert_eq!(first.routing_key, "letters.q");
    assert_eq!(first.properties["message_id"], "m-0");
    assert!(first.died_at_ms.is_some() && first.id.len() == 36);
    // A second page, and the letters are still all there.
    let second = dead.list(3, 10).await.unwrap();
    assert_eq!(second.letters.len(), 2);
    assert_eq!(second.letters[0].body, bodies[3]);
    assert_eq!(dead.list(0, 10).await.unwrap().total, 5);
    // Removed by id; requeued by ids (they fail again: 410), then all of them once fixed.
    assert!(dead.delete(&page.letters[4].id).await.unwrap());
    assert!(!dead.delete(&page.letters[4].id).await.unwrap());
    let some = BTreeSet::from([page.letters[0].id.clone(), "unknown".to_string()]);
    assert_eq!(dead.requeue(Some(&some)).await.unwrap(), 1);
    let again = receiver.wait(6, Duration::from_secs(10)).await;
    assert_eq!(again[5].body, bodies[0]);
    assert_eq!(
        again[5].headers.get("x-dq-attempt").map(String::as_str),
        Some("1"),
        "a requeued letter starts its attempts again"
    );
    let mut total = 0;
    for _ in 0..50 {
        total = dead.list(0, 10).await.unwrap().total;
        if total == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, 4, "back among the dead after another 410");
    stop.send(true).unwrap();
    worker.await.unwrap();
    // Every letter requeued, with no consumer running: they wait in the queue.
    let letters = dead.list(0, 10).await.unwrap().letters;
    for letter in &letters {
        assert!(letter.body.starts_with(b"gone"));
    }
    assert_eq!(dead.requeue(None).await.unwrap(), 4);
    assert_eq!(dead.list(0, 10).await.unwrap().total, 0);
    // What went back is in the subscription's queue, attempts reset.
    let consumer = p.consumer("letters.q", 10);
    let mut back = 0;
    while let Some(d) = consumer.next(Duration::from_millis(500)).await.unwrap() {
        assert!(
            !d.properties()["headers"]
                .as_object()
                .is_some_and(|h| h.contains_key("x-dq-attempts"))
        );
        d.ack().await.unwrap();
        back += 1;
    }
    assert_eq!(back, 4);
    consumer.close().await;
}

/// 429 and 503 with `Retry-After` wait that long whatever the ladder says; an endpoint that
/// does not answer within `timeout_ms`, and one that refuses the connection, are failed
/// attempts on the ladder and dead letters after the last, with why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_timeouts_and_refused_connections() {
    let vhost = TestVhost::new();
    let receiver = Receiver::start(Arc::new(|got: &Got, _| {
        let first = got.headers.get("x-dq-attempt").map(String::as_str) == Some("1");
        match (got.body.as_slice(), first) {
            (b"busy", true) => (429, vec![]),
            (b"down", true) => (503, vec![]),
            _ => (200, vec![]),
        }
    }))
    .await;
    let p = producer(&vhost);
    let ladder = vec![0.05, 0.05];
    let (stop, worker) = start(
        &vhost,
        Subscription {
            retry: ladder.clone(),
            ..Subscription::new("waits", "waits.q", &receiver.url)
        },
    )
    .await;
    let started = Instant::now();
    for body in [b"busy".as_slice(), b"down"] {
        p.publish("", "waits.q", &message(body, json!({})))
            .await
            .unwrap();
    }
    let got = receiver.wait(4, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 4, "each twice: {got:?}");
    // The second attempts waited for Retry-After (1 s), not the ladder's 50 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "retried after {:?}",
        started.elapsed()
    );
    stop.send(true).unwrap();
    worker.await.unwrap();

    // An endpoint that takes the connection and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let refused_url = format!("http://127.0.0.1:{}/hook", dq_testkit::free_port());
    for (name, url) in [("silent", silent_url), ("refused", refused_url)] {
        let (stop, worker) = start(
            &vhost,
            Subscription {
                retry: ladder.clone(),
                timeout_ms: 200,
                ..Subscription::new(name, &format!("{name}.q"), &url)
            },
        )
        .await;
        p.publish("", &format!("{name}.q"), &message(b"x", json!({})))
            .await
            .unwrap();
        let dead = p.consumer(&format!("dqt.dead.{name}"), 1);
        let letter = dead
            .next(Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: no dead letter"));
        let headers = letter.properties()["headers"].clone();
        assert_eq!(headers["x-dq-attempts"], 3, "{name}: {headers}");
        assert!(
            headers.get("x-dq-last-status").is_none(),
            "{name}: {headers}"
        );
        let error = headers["x-dq-last-error"].as_str().unwrap().to_string();
        let expected = if name == "silent" {
            "no answer within 200 ms"
        } else {
            "refused"
        };
        assert!(error.contains(expected), "{name}: {error}");
        letter.ack().await.unwrap();
        dead.close().await;
        stop.send(true).unwrap();
        worker.await.unwrap();
    }
    held.abort();
}
