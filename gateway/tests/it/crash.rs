//! The gateway binary's workers when processes die, freeze or run side by side: a SIGKILL
//! mid-delivery loses no message, a gateway resumed after SIGSTOP counts the leases it lost
//! meanwhile as such (not as failures), two gateways on one prefix deliver each message once.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dq_core::{DelayQueue, NewMessage, Registry, Stats, Topic, Tz, WorkerConfig, Workers};
use dq_testkit::*;
use serde_json::json;
use support::*;
use tokio::task::block_in_place;

/// A config file with short leases and one topic "crash" delivering to `callback`.
fn config_file(dir: &TempDir, callback: &str, topic_extra: &str) -> PathBuf {
    dir.write(
        "gateway.toml",
        &format!(
            r#"
shutdown_timeout = 1
[workers]
lease_margin_ms = 500

[[topic]]
name = "crash"
callback = "{callback}"
{topic_extra}
"#
        ),
    )
}

/// Adds `n` messages due now; returns their ids.
async fn add(queue: &DelayQueue, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let messages: Vec<NewMessage> = ids
        .iter()
        .map(|id| {
            let fields = json!({"id": id, "body": {"id": id}, "delay": 0});
            queue
                .parse_message(fields.as_object().unwrap(), Tz::UTC)
                .unwrap()
        })
        .collect();
    assert_eq!(queue.add_many("crash", &messages).await.unwrap(), n);
    ids
}

/// Waits until "crash" holds no message in any state; panics with the gateways' logs if not.
async fn wait_empty(queue: &DelayQueue, within: Duration, gateways: &[&GatewayProcess]) {
    let last = std::sync::Mutex::new(Stats::default());
    let emptied = eventually(within, "empty", || {
        let last = &last;
        async move {
            let s = queue.stats("crash").await.unwrap();
            *last.lock().unwrap() = s;
            (s == Stats::default()).then_some(())
        }
    })
    .await;
    if emptied.is_none() {
        let logs: Vec<String> = gateways.iter().map(|g| g.logs()).collect();
        panic!(
            "messages left after {within:?}: {:?}\n{}",
            last.lock().unwrap(),
            logs.join("\n----\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_killed_mid_delivery_loses_no_message() {
    let scratch = Scratch::new(&[REDIS]);
    let queue = scratch.queue();
    // Held past the topic's timeout: every attempt is in flight for 500 ms, then retried.
    let sink = Sink::start(hold(Duration::from_secs(3))).await;
    let dir = TempDir::new();
    let config = config_file(
        &dir,
        &sink.url("/hook"),
        "timeout_ms = 500\nretry = [0.2]\nmax_attempts = 100\nconcurrency = 10",
    );
    let mut first = block_in_place(|| GatewayProcess::start(&config, &scratch.prefix));
    let ids = add(&queue, 50).await;

    sink.wait_calls(15, Duration::from_secs(10)).await;
    block_in_place(|| first.kill());
    let at_kill = queue.stats("crash").await.unwrap();
    let inflight_key = format!("{}:{{crash}}:inflight", scratch.prefix);
    let in_flight: HashSet<String> =
        redis_cmd::<Vec<String>>(REDIS, &["ZRANGE", &inflight_key, "0", "-1"])
            .into_iter()
            .collect();
    assert!(
        at_kill.inflight > 0 && in_flight.len() as u64 == at_kill.inflight,
        "the killed gateway left leases behind: {at_kill:?}"
    );
    assert_eq!(
        at_kill.delayed + at_kill.ready + at_kill.inflight,
        50,
        "{at_kill:?}"
    );
    assert!(
        sink.calls().iter().all(|c| !c.succeeded()),
        "nothing was delivered before the kill"
    );

    sink.set_policy(always(200));
    let before_restart = sink.count();
    let second = block_in_place(|| GatewayProcess::start(&config, &scratch.prefix));
    wait_empty(&queue, Duration::from_secs(15), &[&second]).await;

    let mut successes: HashMap<String, usize> = HashMap::new();
    for call in &sink.calls()[before_restart..] {
        if call.succeeded() {
            *successes.entry(call.id.clone().unwrap()).or_default() += 1;
        }
    }
    for id in &ids {
        let n = successes.get(id).copied().unwrap_or(0);
        assert!(n >= 1, "{id} was never delivered:\n{}", second.logs());
        assert!(
            n == 1 || in_flight.contains(id),
            "{id} delivered {n} times but was not in flight at the kill"
        );
    }
    // Those in flight at the kill came back when their leases expired, their attempt counted.
    for id in &in_flight {
        let call = sink.calls()[before_restart..]
            .iter()
            .find(|c| c.id.as_ref() == Some(id) && c.succeeded())
            .cloned()
            .unwrap();
        assert!(call.attempt() >= 2, "{id}: attempt {}", call.attempt());
    }
    assert_eq!(queue.stats("crash").await.unwrap(), Stats::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_resumed_after_sigstop_counts_a_lost_lease_not_a_failure() {
    let scratch = Scratch::new(&[REDIS]);
    let queue = scratch.queue();
    // The first call (the gateway about to freeze) is held; the next answered at once.
    let sink = Sink::start(Arc::new(|call: &Call| {
        Reply::status(200).after(if call.nth == 1 {
            Duration::from_secs(10)
        } else {
            Duration::ZERO
        })
    }))
    .await;
    let dir = TempDir::new();
    let config = config_file(&dir, &sink.url("/hook"), "timeout_ms = 1000");
    let frozen = block_in_place(|| GatewayProcess::start(&config, &scratch.prefix));
    add(&queue, 1).await;
    sink.wait_calls(1, Duration::from_secs(10)).await;
    frozen.signal("STOP");

    // Another worker on the prefix: its reaper returns the lease when it expires (1.5 s), its
    // notifier delivers the message again.
    let registry = Arc::new(Registry::new(queue.clone()));
    let mut topic = Topic::new("crash", &sink.url("/hook"));
    topic.timeout_ms = 1000;
    registry.put(topic).await.unwrap();
    let counts = Arc::new(Counts::default());
    let other = Workers::start(
        queue.clone(),
        registry,
        WorkerConfig {
            lease_margin: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(1),
            ..WorkerConfig::default()
        },
        counts.clone(),
    )
    .unwrap();
    let calls = sink.wait_calls(2, Duration::from_secs(10)).await;
    assert_eq!(calls[1].attempt(), 2);
    wait_empty(&queue, Duration::from_secs(5), &[&frozen]).await;
    assert_eq!(counts.expired.load(Ordering::SeqCst), 1);
    assert_eq!(counts.delivered.load(Ordering::SeqCst), 1);
    other.shutdown().await;

    // Resumed, its attempt times out on a lease that is no longer its own.
    frozen.signal("CONT");
    let lost = r#"dq_leases_lost_total{topic="crash"}"#;
    let counted = eventually(Duration::from_secs(5), "lost lease counted", || async {
        (block_in_place(|| frozen.metric(lost)) == 1.0).then_some(())
    })
    .await;
    assert!(
        counted.is_some(),
        "no lost lease counted:\n{}",
        frozen.logs()
    );
    let (_, text) = block_in_place(|| frozen.request("GET", "/metrics", None));
    assert!(
        !text.contains("dq_delivery_failures_total{"),
        "not a failure:\n{text}"
    );
    let logs = frozen.logs();
    assert!(!logs.contains("delivery failed"), "{logs}");
    assert!(logs.contains("lease lost"), "{logs}");
    assert_eq!(queue.stats("crash").await.unwrap(), Stats::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_deliver_each_message_once() {
    let scratch = Scratch::new(&[REDIS]);
    let queue = scratch.queue();
    let sink = Sink::start(always(200)).await;
    let dir = TempDir::new();
    let config = config_file(&dir, &sink.url("/hook"), "");
    let one = block_in_place(|| GatewayProcess::start(&config, &scratch.prefix));
    let two = block_in_place(|| GatewayProcess::start(&config, &scratch.prefix));
    let ids = add(&queue, 300).await;

    sink.wait_calls(300, Duration::from_secs(20)).await;
    wait_empty(&queue, Duration::from_secs(5), &[&one, &two]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = sink.calls();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for call in &calls {
        *per_id.entry(call.id.as_deref().unwrap()).or_default() += 1;
        assert_eq!(call.attempt(), 1);
        assert!(call.succeeded());
    }
    for id in &ids {
        assert_eq!(per_id.get(id.as_str()), Some(&1), "{id}");
    }
    assert_eq!(calls.len(), 300);
    let delivered = |g: &GatewayProcess| {
        block_in_place(|| g.metric(r#"dq_messages_delivered_total{topic="crash"}"#))
    };
    let (by_one, by_two) = (delivered(&one), delivered(&two));
    assert!(
        by_one > 0.0 && by_two > 0.0 && by_one + by_two == 300.0,
        "both gateways delivered: {by_one} and {by_two}"
    );
}
