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

/// Counts what the registry's upkeep reports.
#[derive(Default)]
struct Upkeep {
    restarts: std::sync::Mutex<Vec<(String, bool)>>,
}

impl dq_core::RegistryObserver for Upkeep {
    fn server_restarted(&self, server: &str, lost_data: bool) {
        self.restarts
            .lock()
            .unwrap()
            .push((server.to_string(), lost_data));
    }
}

/// A registry as a gateway runs it: watching its shards, syncing only every minute otherwise.
fn watched(
    queue: std::sync::Arc<dq_core::DelayQueue>,
    upkeep: std::sync::Arc<Upkeep>,
) -> (std::sync::Arc<Registry>, tokio::sync::watch::Sender<bool>) {
    let registry = std::sync::Arc::new(Registry::new(queue));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let keeper = registry.clone();
    let observer = upkeep.clone();
    tokio::spawn(async move {
        keeper
            .keep_published(std::time::Duration::from_secs(60), observer)
            .await
    });
    tokio::spawn(registry.clone().watch(upkeep, stopped));
    (registry, stop)
}

async fn within<T>(limit: std::time::Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_the_other_gateways_at_once() {
    let scratch = Scratch::new(&[REDIS]);
    let upkeep = std::sync::Arc::new(Upkeep::default());
    let (first, _stop_first) = watched(scratch.queue(), upkeep.clone());
    let (second, _stop_second) = watched(scratch.queue(), upkeep);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    first
        .put(Topic::new("news", "http://x.test/"))
        .await
        .unwrap();
    let seen = within(std::time::Duration::from_secs(2), || second.get("news")).await;
    assert!(seen.is_some(), "a new topic took longer than 2 s to arrive");
    let mut paused = first.get("news").unwrap();
    paused.status = dq_core::Status::Paused;
    first.put(paused).await.unwrap();
    let seen = within(std::time::Duration::from_secs(2), || {
        second
            .get("news")
            .filter(|t| t.status == dq_core::Status::Paused)
    })
    .await;
    assert!(seen.is_some(), "a pause took longer than 2 s to arrive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_restarted_empty_gets_the_registry_back_at_once() {
    let mut redis = PrivateRedis::start();
    let scratch = Scratch::new(&[&redis.url()]);
    let upkeep = std::sync::Arc::new(Upkeep::default());
    let (registry, _stop) = watched(scratch.queue(), upkeep.clone());
    registry
        .put(Topic::new("kept", "http://x.test/"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    redis.restart();
    let key = format!("{}:topics", scratch.prefix);
    let url = redis.url();
    let back = within(std::time::Duration::from_secs(3), || {
        redis_cmd::<Option<String>>(&url, &["HGET", &key, "kept"])
    })
    .await;
    assert!(
        back.is_some(),
        "registry not published again within 3 s of the restart"
    );
    let restarts = within(std::time::Duration::from_secs(2), || {
        let r = upkeep.restarts.lock().unwrap().clone();
        (!r.is_empty()).then_some(r)
    })
    .await
    .expect("the restart was not reported");
    assert!(restarts[0].1, "an empty restart must count as lost data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_registry_is_said_and_a_gateway_publishes_it_again() {
    let scratch = Scratch::new(&[REDIS]);
    // No gateway ever published under this prefix: not "unknown topic" alone.
    let lone = dq_core::BlockingQueue::open(&scratch.config()).unwrap();
    let message = lone
        .parse_message(
            serde_json::json!({"id": "1"}).as_object().unwrap(),
            dq_core::Tz::UTC,
        )
        .unwrap();
    let err = tokio::task::block_in_place(|| lone.add("t", &message)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownTopic);
    assert!(err.message().contains("registry"), "{err}");
    assert!(err.message().contains("is missing"), "{err}");

    // A gateway is running; the registry vanishes (FLUSHDB, eviction): the add asks for it
    // and goes through.
    let upkeep = std::sync::Arc::new(Upkeep::default());
    let (registry, _stop) = watched(scratch.queue(), upkeep);
    registry
        .put(Topic::new("t", "http://x.test/"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _: i64 = redis_cmd(REDIS, &["DEL", &format!("{}:topics", scratch.prefix)]);
    let other = dq_core::BlockingQueue::open(&scratch.config()).unwrap();
    tokio::task::block_in_place(|| other.add("t", &message)).unwrap();
}

#[tokio::test]
async fn one_server_named_twice_is_refused() {
    let scratch = Scratch::new(&["redis://127.0.0.1:6379/0", "redis://localhost:6379/0"]);
    let err = scratch.queue().stats("t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("same server"), "{err}");
    assert!(err.message().contains("localhost"), "{err}");
    // Two databases of one server are two shards.
    let scratch = Scratch::new(&["redis://127.0.0.1:6379/11", "redis://localhost:6379/12"]);
    scratch.queue().stats("t").await.unwrap();
}

/// With a registry of record in MySQL, two gateways that share only the database (each its own
/// Redis prefix) see each other's topics and subscriptions, removals included; the newest
/// definition wins; and the rows are there for a gateway that starts later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_of_record_in_mysql_is_shared_by_gateways() {
    use dq_core::Record;
    use dq_core::mysql::MysqlUrl;
    use dq_core::subscription::Subscription;
    use std::time::Duration;
    let databases = dq_testkit::mysql::TestDatabases::new(&["dq"]);
    let url = MysqlUrl::parse("mysql", &databases.url("dq")).unwrap();
    let record = || Record::new(url.clone(), Duration::from_secs(5));
    let (first_redis, second_redis) = (Scratch::new(&[REDIS]), Scratch::new(&[REDIS]));
    let first = Registry::new(first_redis.queue()).recorded(record());
    let second = Registry::new(second_redis.queue()).recorded(record());
    first
        .put(Topic::new("pay.notify", "https://merchant.test/a"))
        .await
        .unwrap();
    second.sync().await.unwrap();
    assert_eq!(
        second.get("pay.notify").unwrap().callback,
        "https://merchant.test/a",
        "read from MySQL: the two share no Redis"
    );
    // A change on the second reaches the first.
    let mut changed = second.get("pay.notify").unwrap();
    changed.callback = "https://merchant.test/b".into();
    second.put(changed).await.unwrap();
    first.sync().await.unwrap();
    assert_eq!(
        first.get("pay.notify").unwrap().callback,
        "https://merchant.test/b"
    );
    let rows = databases.sql("dq", "SELECT name FROM dq_registry_topic");
    assert!(rows.contains("pay.notify"), "{rows}");
    // Subscriptions have their own table.
    let subscriptions = Registry::<Subscription>::of(first_redis.queue()).recorded(record());
    subscriptions
        .put(Subscription::new("credits", "q", "http://127.0.0.1:9/x"))
        .await
        .unwrap();
    let elsewhere = Registry::<Subscription>::of(second_redis.queue()).recorded(record());
    elsewhere.sync().await.unwrap();
    assert_eq!(elsewhere.get("credits").unwrap().queue, "q");
    // A removal too.
    assert!(first.delete("pay.notify").await.unwrap());
    second.sync().await.unwrap();
    assert!(second.get("pay.notify").is_none());
    // A gateway starting later, on an empty Redis, gets what MySQL holds.
    let later_redis = Scratch::new(&[REDIS]);
    let later = Registry::<Subscription>::of(later_redis.queue()).recorded(record());
    later.sync().await.unwrap();
    assert!(later.get("credits").is_some());
    // and publishes it into its Redis.
    let other_on_later = Registry::<Subscription>::of(later_redis.queue());
    other_on_later.sync().await.unwrap();
    assert!(other_on_later.get("credits").is_some());
}
