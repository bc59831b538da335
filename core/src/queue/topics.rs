//! The topic definitions that `add` checks. In the gateway they come from its own registry (in
//! memory, kept current by the registry's watcher), so an add never depends on Redis still
//! holding the registry. Elsewhere (PHP, C) the registry is read from the message's shard at
//! most once a second per topic, so `add` stays one round trip.
//!
//! A registry hash that is missing altogether is not an unknown topic: Redis lost its data (a
//! restart without persistence, a flush, an eviction) or no gateway published it yet. The
//! lookup then asks the gateways on the wake channel to publish it again and looks a few times
//! more before it gives up, saying the registry is missing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::{Keys, Request, Shard};
use crate::error::Result;
use crate::registry::{Entry, Topic};

const FRESH_FOR: Duration = Duration::from_secs(1);
/// How long a lookup waits for a gateway to publish a missing registry again.
const REPUBLISH_WAIT: Duration = Duration::from_millis(800);

/// What answers topic lookups in the process that holds the registry (the gateway).
pub trait TopicSource: Send + Sync {
    /// The topic if this process knows it as live; `None` sends the lookup to Redis (a topic
    /// another gateway registered a moment ago).
    fn live_topic(&self, name: &str) -> Option<Arc<Topic>>;
}

/// The answer of one lookup.
pub(crate) enum Lookup {
    Found(Arc<Topic>),
    /// The registry is there and does not hold the topic (or holds its tombstone).
    Unknown,
    /// The registry hash itself is missing on the shard.
    RegistryMissing,
}

#[derive(Default)]
pub(crate) struct TopicCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Topic>)>>,
    source: OnceLock<Weak<dyn TopicSource>>,
}

impl TopicCache {
    pub fn set_source(&self, source: Weak<dyn TopicSource>) {
        let _ = self.source.set(source);
    }

    /// The topic as registered. Unknown topics are not cached, so a topic works as soon as it
    /// is registered.
    pub async fn get(&self, shard: &Shard, keys: &Keys, name: &str) -> Result<Lookup> {
        if let Some(topic) = self
            .source
            .get()
            .and_then(Weak::upgrade)
            .and_then(|source| source.live_topic(name))
        {
            return Ok(Lookup::Found(topic));
        }
        if let Some(topic) = self.fresh(name) {
            return Ok(Lookup::Found(topic));
        }
        let mut lookup = self.read(shard, keys, name).await?;
        if matches!(lookup, Lookup::RegistryMissing) {
            ask_for_registry(shard, keys).await;
            let mut wait = Duration::from_millis(50);
            let deadline = Instant::now() + REPUBLISH_WAIT.min(shard.timeout() / 2);
            while matches!(lookup, Lookup::RegistryMissing) && Instant::now() + wait <= deadline {
                tokio::time::sleep(wait).await;
                wait *= 2;
                lookup = self.read(shard, keys, name).await?;
            }
        }
        if let Lookup::Found(topic) = &lookup
            && let Ok(mut entries) = self.entries.lock()
        {
            entries.insert(name.to_string(), (Instant::now(), topic.clone()));
        }
        Ok(lookup)
    }

    /// One round trip: the topic's entry and whether the registry exists at all.
    async fn read(&self, shard: &Shard, keys: &Keys, name: &str) -> Result<Lookup> {
        let registry = keys.topics();
        let mut pipe = redis::pipe();
        pipe.cmd("HGET")
            .arg(&registry)
            .arg(name)
            .cmd("EXISTS")
            .arg(&registry);
        let (raw, exists): (Option<String>, bool) = shard.query(Request::Pipe(&pipe)).await?;
        Ok(match raw.map(|raw| Entry::decode(&raw)).transpose()? {
            Some(Entry::Live(topic)) => Lookup::Found(Arc::new(topic)),
            Some(Entry::Deleted { .. }) => Lookup::Unknown,
            None if exists => Lookup::Unknown,
            None => Lookup::RegistryMissing,
        })
    }

    pub fn forget(&self, name: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(name);
        }
    }

    fn fresh(&self, name: &str) -> Option<Arc<Topic>> {
        let entries = self.entries.lock().ok()?;
        let (at, topic) = entries.get(name)?;
        (at.elapsed() < FRESH_FOR).then(|| topic.clone())
    }
}

/// Asks every gateway listening on the shard's wake channel to publish the registry again.
async fn ask_for_registry(shard: &Shard, keys: &Keys) {
    let publish = redis::cmd("PUBLISH")
        .arg(keys.wake())
        .arg(crate::registry::REPUBLISH)
        .to_owned();
    let _: Result<i64> = shard.query(Request::Cmd(&publish)).await;
}
