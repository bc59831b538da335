//! The topic registry across shards and gateways.

use dq_core::{ErrorKind, Registry, Topic};
use dq_testkit::*;

#[tokio::test]
async fn put_get_list_delete() {
    let scratch = Scratch::new(&[REDIS]);
    let registry = Registry::new(scratch.queue());
    let mut topic = Topic::new("pay.notify", "https://merchant.test/notify");
    topic.retry = vec![1.0, 3.0];
    topic.secret = Some("s3cret".into());
    let stored = registry.put(topic.clone()).await.unwrap();
    assert!(stored.updated_at > 0);
    assert_eq!(registry.get("pay.notify").unwrap().retry, vec![1.0, 3.0]);
    assert_eq!(registry.list().len(), 1);

    // A second gateway on the same Redis sees it after sync.
    let other = Registry::new(scratch.queue());
    other.sync().await.unwrap();
    assert_eq!(
        other.get("pay.notify").unwrap().secret.as_deref(),
        Some("s3cret")
    );

    assert!(registry.delete("pay.notify").await.unwrap());
    assert!(!registry.delete("pay.notify").await.unwrap());
    other.sync().await.unwrap();
    assert!(
        other.get("pay.notify").is_none(),
        "the tombstone reaches other gateways"
    );
}

#[tokio::test]
async fn invalid_topics_are_refused() {
    let scratch = Scratch::new(&[REDIS]);
    let registry = Registry::new(scratch.queue());
    let err = registry
        .put(Topic::new("bad name", "http://x.test/"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = registry
        .put(Topic::new("ok", "not a url"))
        .await
        .unwrap_err();
    assert!(err.message().contains("callback"), "{err}");
}

#[tokio::test]
async fn sync_heals_a_shard_that_lost_the_registry() {
    let shards = ["redis://127.0.0.1:6379/13", "redis://127.0.0.1:6379/14"];
    let scratch = Scratch::new(&shards);
    let registry = Registry::new(scratch.queue());
    registry
        .put(Topic::new("a", "http://x.test/a"))
        .await
        .unwrap();
    let key = format!("{}:topics", scratch.prefix);
    let _: i64 = redis_cmd(shards[1], &["DEL", &key]);
    registry.sync().await.unwrap();
    let held: Option<String> = redis_cmd(shards[1], &["HGET", &key, "a"]);
    assert!(held.unwrap().contains("http://x.test/a"));
}

#[tokio::test]
async fn the_newest_definition_wins() {
    let scratch = Scratch::new(&[REDIS]);
    let first = Registry::new(scratch.queue());
    let second = Registry::new(scratch.queue());
    first
        .put(Topic::new("t", "http://one.test/"))
        .await
        .unwrap();
    second.sync().await.unwrap();
    second
        .put(Topic::new("t", "http://two.test/"))
        .await
        .unwrap();
    // The first gateway still holds the older one in memory; syncing must not write it back.
    first.sync().await.unwrap();
    assert_eq!(first.get("t").unwrap().callback, "http://two.test/");
    second.sync().await.unwrap();
    assert_eq!(second.get("t").unwrap().callback, "http://two.test/");
}

#[tokio::test]
async fn declared_topics_do_not_churn() {
    let scratch = Scratch::new(&[REDIS]);
    let registry = Registry::new(scratch.queue());
    registry
        .declare(vec![Topic::new("f", "http://f.test/")])
        .await
        .unwrap();
    let stamp = registry.get("f").unwrap().updated_at;
    let again = Registry::new(scratch.queue());
    again.sync().await.unwrap();
    again
        .declare(vec![Topic::new("f", "http://f.test/")])
        .await
        .unwrap();
    assert_eq!(again.get("f").unwrap().updated_at, stamp);
}
