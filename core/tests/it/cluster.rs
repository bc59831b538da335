//! The delay queue on a Redis Cluster of the test's own (3 masters, 3 replicas): keys in one
//! slot per script, topics spread over the partitions, a master killed during adds with
//! `replicas = 1`, slots moved during a load, and URLs that cannot work.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dq_core::input::NewMessage;
use dq_core::{DelayQueue, ErrorKind, QueueConfig, RedisServer, Registry, Topic};
use dq_testkit::{RedisCluster, Scratch, keys_of};
use serde_json::json;

fn message(queue: &DelayQueue, id: &str, delay: f64) -> NewMessage {
    let data = json!({"id": id, "body": {"id": id}, "delay": delay});
    queue
        .parse_message(data.as_object().unwrap(), chrono_tz::UTC)
        .unwrap()
}

async fn pull_topic(queue: &Arc<DelayQueue>, name: &str) -> Registry {
    let registry = Registry::new(queue.clone());
    registry.put(Topic::pull(name)).await.unwrap();
    registry
}

/// Reserves and acks until every id of `want` was seen (among others: an add that failed may
/// still have stored its message) or `within` passed.
async fn drain(
    queue: &DelayQueue,
    topic: &str,
    want: &BTreeSet<String>,
    within: Duration,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let started = Instant::now();
    while !want.is_subset(&seen) && started.elapsed() < within {
        match queue.reserve(topic, Duration::from_millis(500)).await {
            Ok(Some(job)) => {
                queue.ack(topic, &job.lease).await.unwrap();
                seen.insert(job.id);
            }
            Ok(None) => {}
            // A failover under way: the next try goes to the promoted replica.
            Err(e) if matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    seen
}

#[tokio::test]
async fn every_operation_works_on_a_cluster_with_topics_spread_over_its_masters() {
    let cluster = RedisCluster::start(3, 1);
    let scratch = Scratch::new(&[&cluster.url()]);
    let queue = scratch.queue();
    assert!(queue.is_cluster());
    let _registry = pull_topic(&queue, "orders").await;

    let added = queue
        .add("orders", &message(&queue, "a", 0.0))
        .await
        .unwrap();
    assert_eq!(added.id, "a");
    let got = queue.get("orders", "a").await.unwrap().unwrap();
    assert_eq!(got.body, r#"{"id":"a"}"#);
    assert!(queue.del("orders", "a").await.unwrap());
    assert!(queue.get("orders", "a").await.unwrap().is_none());

    // Many at once: grouped per partition, spread over the three masters.
    let batch: Vec<NewMessage> = (0..300)
        .map(|i| message(&queue, &format!("m{i}"), if i % 2 == 0 { 0.0 } else { 0.3 }))
        .collect();
    assert_eq!(queue.add_many("orders", &batch).await.unwrap(), 300);
    let stats = queue.stats("orders").await.unwrap();
    assert_eq!(stats.ready + stats.delayed, 300, "{stats:?}");
    let masters: BTreeSet<u16> = keys_of(&cluster.url(), &scratch.prefix)
        .iter()
        .filter(|k| k.ends_with(":{orders}:body"))
        .map(|k| cluster.master_of(k))
        .collect();
    assert_eq!(
        masters.len(),
        3,
        "one topic's messages live on every master"
    );

    // Pull workers see them as they fall due; failed ones become dead letters.
    let mut seen = BTreeSet::new();
    while seen.len() < 290 {
        let job = queue
            .reserve("orders", Duration::from_secs(2))
            .await
            .unwrap()
            .expect("a due job");
        queue.ack("orders", &job.lease).await.unwrap();
        assert!(seen.insert(job.id), "each delivered once");
    }
    let mut failed = 0;
    while let Some(job) = queue
        .reserve("orders", Duration::from_secs(1))
        .await
        .unwrap()
    {
        queue.fail("orders", &job.lease, "refused").await.unwrap();
        failed += 1;
    }
    assert_eq!(failed, 10);
    let page = queue.dead_letters("orders", 0, 100).await.unwrap();
    assert_eq!(page.len(), 10);
    assert!(queue.requeue("orders", &page[0].id).await.unwrap());
    assert!(queue.delete_dead("orders", &page[1].id).await.unwrap());
    let stats = queue.stats("orders").await.unwrap();
    assert_eq!((stats.dead, stats.ready), (8, 1), "{stats:?}");

    // Health: every node, and what it keeps on disk.
    let nodes = queue.servers().await;
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    assert!(
        nodes
            .iter()
            .all(|n| n.result.is_ok() && n.needed == n.server.contains("master"))
    );
    let facts = nodes[0].result.as_ref().unwrap();
    assert_eq!(facts.appendonly, Some(false));
    assert!(facts.persistence_warning().is_some());
    assert_eq!(queue.ping(Duration::from_secs(2)).await.len(), 6);
}

#[tokio::test]
async fn with_replicas_1_no_acknowledged_add_is_lost_when_a_master_dies() {
    let cluster = RedisCluster::start(3, 1);
    let scratch = Scratch::new(&[&cluster.url()]);
    let config = QueueConfig {
        replicas: 1,
        timeout: Duration::from_secs(2),
        ..scratch.config()
    };
    let queue = Arc::new(DelayQueue::new(&config).unwrap());
    let _registry = pull_topic(&queue, "pay").await;
    // The master of partition 0 dies a second into four writers' adds.
    let victim = cluster.master_of(&format!("{}:{{0.13}}:timers", scratch.prefix));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let (mut acked, mut refused) = (Vec::new(), 0);
                let started = Instant::now();
                let mut i = 0;
                while started.elapsed() < Duration::from_secs(5) {
                    let id = format!("w{w}-{i}");
                    i += 1;
                    match queue.add("pay", &message(&queue, &id, 0.5)).await {
                        Ok(_) => acked.push(id),
                        Err(e) => {
                            assert!(
                                matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout),
                                "{e}"
                            );
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                (acked, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill(victim);
    let mut acked = BTreeSet::new();
    for writer in writers {
        let (ids, _refused) = writer.await.unwrap();
        acked.extend(ids);
    }
    cluster.wait_ok(Duration::from_secs(20));
    assert!(
        acked.len() > 100,
        "adds went on around the failover: {}",
        acked.len()
    );
    let seen = drain(&queue, "pay", &acked, Duration::from_secs(60)).await;
    let lost: Vec<_> = acked.difference(&seen).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged adds lost: {lost:?}",
        lost.len()
    );
    // The killed master's place is taken: /healthz's question says so without failing.
    let nodes = queue.servers().await;
    let dead = nodes
        .iter()
        .find(|n| n.server.starts_with(&format!("127.0.0.1:{victim} ")))
        .expect("the killed node is listed");
    assert!(dead.result.is_err() && !dead.needed, "{dead:?}");
}

#[tokio::test]
async fn slots_moved_during_a_load_lose_nothing() {
    let cluster = RedisCluster::start(3, 0);
    let scratch = Scratch::new(&[&cluster.url()]);
    let queue = scratch.queue();
    let _registry = pull_topic(&queue, "moving").await;
    let adder = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..3000 {
                let id = format!("m{i}");
                if queue
                    .add("moving", &message(&queue, &id, 0.0))
                    .await
                    .is_ok()
                {
                    acked.push(id);
                }
            }
            acked
        })
    };
    // A third of the first master's slots go to the second while the adds run.
    let ids: Vec<String> = cluster
        .node_cmd::<String>(cluster.ports[0], &["CLUSTER", "NODES"])
        .unwrap()
        .lines()
        .filter(|l| l.contains("master"))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    let (from, to) = (&ids[0], &ids[1]);
    let cli = tokio::task::spawn_blocking({
        let (from, to) = (from.clone(), to.clone());
        move || {
            let out = cluster.cli(&[
                "reshard",
                "--cluster-from",
                &from,
                "--cluster-to",
                &to,
                "--cluster-slots",
                "2000",
                "--cluster-yes",
            ]);
            (cluster, out)
        }
    });
    let acked = adder.await.unwrap();
    let (cluster, out) = cli.await.unwrap();
    assert!(out.contains("Moving slot"), "{out}");
    cluster.wait_ok(Duration::from_secs(20));
    assert!(
        acked.len() > 2900,
        "{} of 3000 adds acknowledged",
        acked.len()
    );
    let acked: BTreeSet<String> = acked.into_iter().collect();
    let seen = drain(&queue, "moving", &acked, Duration::from_secs(60)).await;
    assert!(acked.is_subset(&seen));
}

#[tokio::test]
async fn cluster_urls_that_cannot_work_say_why() {
    // A single server named as a cluster.
    let config = QueueConfig {
        redis: vec![RedisServer::parse("redis+cluster://127.0.0.1:6379").unwrap()],
        timeout: Duration::from_secs(2),
        ..QueueConfig::default()
    };
    let queue = DelayQueue::new(&config).unwrap();
    let e = queue.stats("t").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.message().contains("cluster support disabled"), "{e}");
    // Nothing listens.
    let port = dq_testkit::free_port();
    let config = QueueConfig {
        redis: vec![RedisServer::parse(&format!("redis+cluster://127.0.0.1:{port}")).unwrap()],
        timeout: Duration::from_millis(500),
        ..QueueConfig::default()
    };
    let queue = DelayQueue::new(&config).unwrap();
    let started = Instant::now();
    let e = queue.stats("t").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.message().contains(&port.to_string()), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // A cluster among other servers, and a bad replica count.
    let config = QueueConfig {
        redis: vec![
            RedisServer::parse("redis://127.0.0.1:6379/0").unwrap(),
            RedisServer::parse("redis+cluster://127.0.0.1:7000").unwrap(),
        ],
        ..QueueConfig::default()
    };
    let e = DelayQueue::new(&config).err().unwrap();
    assert!(e.message().contains("must be the only Redis server"), "{e}");
    let config = QueueConfig {
        replicas: 99,
        ..QueueConfig::default()
    };
    assert!(DelayQueue::new(&config).is_err());
}

#[tokio::test]
async fn replicas_that_do_not_confirm_make_the_add_a_timeout_that_says_so() {
    // One server without replicas: WAIT 1 cannot be met.
    let scratch = Scratch::new(&[dq_testkit::REDIS]);
    let config = QueueConfig {
        redis: vec![RedisServer::parse(dq_testkit::REDIS).unwrap()],
        replicas: 1,
        timeout: Duration::from_millis(400),
        ..scratch.config()
    };
    let queue = Arc::new(DelayQueue::new(&config).unwrap());
    let _registry = pull_topic(&queue, "t").await;
    let e = queue
        .add("t", &message(&queue, "x", 0.0))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.message().contains("0 of the 1 replicas"), "{e}");
    assert!(
        e.message().contains("may or may not have been stored"),
        "{e}"
    );
    // It was stored on the master, as the message says it may have been.
    assert!(queue.get("t", "x").await.unwrap().is_some());
}
