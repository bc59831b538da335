//! The per-process cache of topic definitions that `add` checks: the registry is read from the
//! message's shard at most once a second per topic, so `add` stays one round trip.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Keys, Request, Shard};
use crate::error::Result;
use crate::registry::{Entry, Topic};

const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct TopicCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Topic>)>>,
}

impl TopicCache {
    /// The topic as registered, or `None`. Unknown topics are not cached, so a topic works as
    /// soon as it is registered.
    pub async fn get(&self, shard: &Shard, keys: &Keys, name: &str) -> Result<Option<Arc<Topic>>> {
        if let Some(topic) = self.fresh(name) {
            return Ok(Some(topic));
        }
        let lookup = redis::cmd("HGET").arg(keys.topics()).arg(name).to_owned();
        let raw: Option<String> = shard.query(Request::Cmd(&lookup)).await?;
        let topic = match raw.map(|raw| Entry::decode(&raw)).transpose()? {
            Some(Entry::Live(topic)) => Arc::new(topic),
            Some(Entry::Deleted { .. }) | None => return Ok(None),
        };
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(name.to_string(), (Instant::now(), topic.clone()));
        }
        Ok(Some(topic))
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
