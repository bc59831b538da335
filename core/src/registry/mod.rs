//! The registries as the gateway keeps them: topics and subscriptions declared in its config
//! file or through the HTTP API, published into a hash per kind on every Redis shard, so that
//! the extension can check a topic without asking the gateway and every gateway runs the same
//! subscriptions.
//!
//! Each entry carries `updated_at`; a write only lands on a shard if it is newer than what the
//! shard holds, and deletions leave a tombstone, so several gateways and a shard that missed a
//! write converge on the newest definition (`sync`). [`Registry`] is generic over what it keeps
//! ([`Definition`]: [`Topic`], [`Subscription`](crate::subscription::Subscription)).
//!
//! - `topic`: [`Topic`], its fields and checks.
//! - `watch`: per shard, listens on the wake channel: a change another gateway made, a request
//!   to publish again (the registry went missing), and a reconnect (Redis restarted) each make
//!   the registry sync at once; [`Registry::keep_published`] also syncs periodically.

mod import;
mod record;
mod topic;
mod watch;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::input::check_topic;
use crate::queue::{DelayQueue, LuaScript, Request, Shard, TopicSource, now_ms};

pub use import::{DelayQueueImport, ImportedTopic, read_delayqueue};
pub use record::Record;
pub use topic::{DEFAULT_RETRY, DEFAULT_TIMEOUT_MS, Method, Mode, Status, Topic};
pub(crate) use topic::{
    check_ladder, check_secret, check_timeout_ms, check_url, default_retry, default_timeout_ms,
    ladder_attempts, ladder_wait,
};
pub use watch::RegistryObserver;

/// Wake-channel message asking the gateways to publish the registry again (a lookup found it
/// missing).
pub(crate) const REPUBLISH: &str = "p";
/// Wake-channel messages `c:<registry id>`: that registry changed an entry.
const CHANGED: &str = "c:";

/// What a registry keeps: a named definition, stamped with when it was written.
pub trait Definition:
    Clone
    + PartialEq
    + std::fmt::Debug
    + Serialize
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// What it is called in messages and in the config file (`[[topic]]`): `topic`.
    const KIND: &'static str;
    /// Whether this registry's watch reports Redis restarts (one registry per gateway does).
    const REPORTS_RESTARTS: bool = false;

    fn name(&self) -> &str;
    fn updated_at(&self) -> i64;
    fn set_updated_at(&mut self, at: i64);
    /// Checks every field; the error names the field and the value.
    fn validate(&self) -> Result<()>;
    /// Checks a name given alone (a path, a delete).
    fn check_name(name: &str) -> Result<()>;
    /// The hash on every shard that holds the entries, after the prefix: `prefix:<HASH>`.
    const HASH: &'static str;
    /// Its table in dq's database, for a registry of record ([`Record`]).
    const TABLE: &'static str;
    /// Called after an entry of `name` changed, with the queue the registry publishes to.
    fn changed(_queue: &DelayQueue, _name: &str) {}
}

impl Definition for Topic {
    const KIND: &'static str = "topic";
    const REPORTS_RESTARTS: bool = true;
    const HASH: &'static str = "topics";
    const TABLE: &'static str = "dq_registry_topic";

    fn name(&self) -> &str {
        &self.name
    }
    fn updated_at(&self) -> i64 {
        self.updated_at
    }
    fn set_updated_at(&mut self, at: i64) {
        self.updated_at = at;
    }
    fn validate(&self) -> Result<()> {
        Topic::validate(self)
    }
    fn check_name(name: &str) -> Result<()> {
        check_topic(name)
    }
    /// The queue's cache of topic lookups must not answer with the old definition.
    fn changed(queue: &DelayQueue, name: &str) {
        queue.forget_topic(name);
    }
}

/// A registry entry as stored in Redis: a definition, or the tombstone of a deleted one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entry<T = Topic> {
    Live(T),
    Deleted { name: String, updated_at: i64 },
}

#[derive(Serialize, Deserialize)]
struct Tombstone {
    name: String,
    deleted: bool,
    updated_at: i64,
}

impl<T: Definition> Entry<T> {
    pub fn decode(raw: &str) -> Result<Entry<T>> {
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| Error::internal(format!("registry entry is not JSON: {e}")))?;
        if value.get("deleted").and_then(|d| d.as_bool()) == Some(true) {
            let t: Tombstone = serde_json::from_value(value)
                .map_err(|e| Error::internal(format!("registry tombstone is invalid: {e}")))?;
            return Ok(Entry::Deleted {
                name: t.name,
                updated_at: t.updated_at,
            });
        }
        serde_json::from_value(value)
            .map(Entry::Live)
            .map_err(|e| Error::internal(format!("registry entry is invalid: {e}")))
    }

    pub(crate) fn encode(&self) -> Result<String> {
        let encoded = match self {
            Entry::Live(definition) => serde_json::to_string(definition),
            Entry::Deleted { name, updated_at } => serde_json::to_string(&Tombstone {
                name: name.clone(),
                deleted: true,
                updated_at: *updated_at,
            }),
        };
        encoded.map_err(|e| Error::internal(format!("cannot encode registry entry: {e}")))
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            Entry::Live(t) => t.name(),
            Entry::Deleted { name, .. } => name,
        }
    }

    pub(crate) fn updated_at(&self) -> i64 {
        match self {
            Entry::Live(t) => t.updated_at(),
            Entry::Deleted { updated_at, .. } => *updated_at,
        }
    }
}

/// The gateway's view of a registry (of topics by default), kept in memory and published to
/// every shard.
pub struct Registry<T: Definition = Topic> {
    queue: Arc<DelayQueue>,
    entries: RwLock<BTreeMap<String, Entry<T>>>,
    /// Bumped whenever an entry changes, so workers can react (a paused topic resumed).
    changes: tokio::sync::watch::Sender<u64>,
    /// Names this registry in its change notices, so it ignores its own.
    id: String,
    /// Somebody wants a sync now (a change elsewhere, a reconnect, a missing registry).
    sync_wanted: tokio::sync::Notify,
    /// The definitions the config file declared last, as declared (for reloads).
    from_file: Mutex<BTreeMap<String, T>>,
    /// The registry of record in MySQL, when there is one: written first, read at each sync.
    record: Option<Record>,
}

impl Registry<Topic> {
    /// The topic registry over `queue`'s shards (see [`Registry::of`]).
    pub fn new(queue: Arc<DelayQueue>) -> Registry {
        Registry::of(queue)
    }

    /// A registry over `queue` that also answers `queue`'s topic lookups, so adds through
    /// this process never depend on Redis still holding the registry.
    pub fn serving(queue: Arc<DelayQueue>) -> Arc<Registry> {
        let registry = Arc::new(Registry::new(queue.clone()));
        let weak = Arc::downgrade(&registry);
        queue.set_topic_source(weak);
        registry
    }
}

impl<T: Definition> Registry<T> {
    /// A registry of `T` over `queue`'s shards. Call `sync` to load what the shards hold and
    /// `declare` for the definitions of a config file.
    pub fn of(queue: Arc<DelayQueue>) -> Registry<T> {
        Registry {
            queue,
            entries: RwLock::new(BTreeMap::new()),
            changes: tokio::sync::watch::Sender::new(0),
            id: format!("{:08x}", fastrand::u32(..)),
            sync_wanted: tokio::sync::Notify::new(),
            from_file: Mutex::new(BTreeMap::new()),
            record: None,
        }
    }

    /// The same registry with its record in MySQL: a change is written there first (and is
    /// refused when MySQL refuses it), every sync reads it.
    pub fn recorded(self, record: Record) -> Registry<T> {
        Registry {
            record: Some(record),
            ..self
        }
    }

    /// Definitions from a config file. Each is taken into this registry at once (so it is published
    /// even if Redis is down now and comes up later) and then published by `sync`. A definition
    /// the registry already holds unchanged keeps its stamp, so restarts do not churn it.
    ///
    /// Called again with a reloaded file, definitions the previous file declared and this one
    /// does not are removed, unless they were changed through the API since (then they are
    /// kept, and the returned list names them).
    pub async fn declare(&self, definitions: Vec<T>) -> Result<Vec<String>> {
        for definition in &definitions {
            definition
                .validate()
                .map_err(|e| e.context(format!("[[{}]] {}", T::KIND, definition.name())))?;
        }
        if let Err(e) = self.sync().await {
            tracing::warn!(error = %e, kind = T::KIND, "could not read the registry before declaring");
        }
        let declared: BTreeMap<String, T> = definitions
            .iter()
            .map(|t| (t.name().to_string(), t.clone()))
            .collect();
        let previous = self
            .from_file
            .lock()
            .map(|mut f| std::mem::replace(&mut *f, declared.clone()))
            .unwrap_or_default();
        let mut kept = Vec::new();
        for (name, was) in previous.iter().filter(|(n, _)| !declared.contains_key(*n)) {
            match self.get(name) {
                Some(held) if same_definition(&held, was) => {
                    self.delete(name).await?;
                }
                Some(_) => kept.push(name.clone()),
                None => {}
            }
        }
        for mut definition in definitions {
            let unchanged = self
                .get(definition.name())
                .is_some_and(|held| same_definition(&held, &definition));
            if !unchanged {
                definition.set_updated_at(self.next_stamp(definition.name()));
                if let Ok(mut entries) = self.entries.write() {
                    keep_newer(&mut entries, Entry::Live(definition));
                }
                self.changes.send_modify(|n| *n += 1);
            }
        }
        self.sync().await?;
        Ok(kept)
    }

    /// Changes whenever a definition is registered, changed or removed.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn get(&self, name: &str) -> Option<T> {
        match self.read().get(name) {
            Some(Entry::Live(t)) => Some(t.clone()),
            _ => None,
        }
    }

    pub fn list(&self) -> Vec<T> {
        self.read()
            .values()
            .filter_map(|e| match e {
                Entry::Live(t) => Some(t.clone()),
                Entry::Deleted { .. } => None,
            })
            .collect()
    }

    /// Registers or replaces a definition on every shard. Succeeds when at least one shard took
    /// it; `sync` brings the others up to date when they are back.
    pub async fn put(&self, mut definition: T) -> Result<T> {
        definition.validate()?;
        definition.set_updated_at(self.next_stamp(definition.name()));
        self.write(Entry::Live(definition.clone())).await?;
        Ok(definition)
    }

    /// Removes a definition. A topic's pending messages stay (`get`, `del` and stats still see
    /// them) and are delivered if the topic is registered again; a subscription's queue stays.
    /// `false` if there was none.
    pub async fn delete(&self, name: &str) -> Result<bool> {
        T::check_name(name)?;
        if self.get(name).is_none() {
            return Ok(false);
        }
        let tombstone = Entry::Deleted {
            name: name.to_string(),
            updated_at: self.next_stamp(name),
        };
        self.write(tombstone).await?;
        Ok(true)
    }

    /// Reads every shard's registry, keeps the newest entry of each name, and writes it back
    /// to the shards that lack it (a restarted Redis, a write that missed a shard). Returns the
    /// first shard error, after doing what the other shards allowed.
    pub async fn sync(&self) -> Result<()> {
        let key = self.queue.keys().registry(T::HASH);
        let wake = self.queue.keys().wake();
        let notice = self.notice();
        let reads = self.queue.server_shards().map(|i| {
            let key = &key;
            async move { (i, read_all(&self.queue.shards()[i], key).await) }
        });
        let mut first_error = None;
        let mut per_shard = Vec::new();
        for (i, result) in futures_util::future::join_all(reads).await {
            match result {
                Ok(entries) => per_shard.push((i, entries)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let recorded = match &self.record {
            Some(record) => match record.read_all::<T>().await {
                Ok(rows) => Some(rows),
                Err(e) => {
                    first_error.get_or_insert(e);
                    None
                }
            },
            None => None,
        };
        let mut merged = self.read().clone();
        for entries in per_shard.iter().map(|(_, e)| e).chain(recorded.iter()) {
            for entry in entries.values() {
                keep_newer(&mut merged, entry.clone());
            }
        }
        if let (Some(record), Some(rows)) = (&self.record, &recorded) {
            for entry in merged.values() {
                let stale = rows
                    .get(entry.name())
                    .is_none_or(|held| held.updated_at() < entry.updated_at());
                if stale && let Err(e) = record.write(entry).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        for (i, entries) in &per_shard {
            let shard = &self.queue.shards()[*i];
            for entry in merged.values() {
                let stale = entries
                    .get(entry.name())
                    .is_none_or(|held| held.updated_at() < entry.updated_at());
                if stale && let Err(e) = write_entry(shard, &[&key, &wake], entry, &notice).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        for name in merged.keys() {
            T::changed(&self.queue, name);
        }
        if let Ok(mut entries) = self.entries.write()
            && *entries != merged
        {
            *entries = merged;
            self.changes.send_modify(|n| *n += 1);
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn write(&self, entry: Entry<T>) -> Result<()> {
        let key = self.queue.keys().registry(T::HASH);
        let wake = self.queue.keys().wake();
        let notice = self.notice();
        let keys = [key.as_str(), wake.as_str()];
        if let Some(record) = &self.record {
            record
                .write(&entry)
                .await
                .map_err(|e| e.context(format!("registering {} \"{}\"", T::KIND, entry.name())))?;
        }
        let writes = self
            .queue
            .server_shards()
            .map(|i| write_entry(&self.queue.shards()[i], &keys, &entry, &notice));
        let results = futures_util::future::join_all(writes).await;
        let stored = results.iter().filter(|r| r.is_ok()).count();
        if stored == 0 && self.record.is_some() {
            // Recorded: the shards get it at the next sync, when they answer again.
            tracing::warn!(kind = T::KIND, name = %entry.name(), "registry change recorded in MySQL; no Redis shard took it yet");
        } else if stored == 0 {
            let err = results
                .into_iter()
                .find_map(|r| r.err())
                .unwrap_or_else(|| Error::internal("no shard"));
            return Err(err.context(format!("registering {} \"{}\"", T::KIND, entry.name())));
        }
        T::changed(&self.queue, entry.name());
        if let Ok(mut entries) = self.entries.write() {
            keep_newer(&mut entries, entry);
        }
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Asks for a sync as soon as possible (see [`Registry::keep_published`]).
    pub fn want_sync(&self) {
        self.sync_wanted.notify_one();
    }

    /// Syncs every `interval`, and at once when asked (`want_sync`: a change elsewhere, a
    /// reconnect, a missing registry). Logs changes of health, tells `observer` each failure.
    pub async fn keep_published(&self, interval: Duration, observer: Arc<dyn RegistryObserver>) {
        let mut failing = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = self.sync_wanted.notified() => {}
            }
            match self.sync().await {
                Ok(()) if failing => {
                    tracing::info!("registry sync works again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) => {
                    observer.sync_failed();
                    if !failing {
                        tracing::warn!(error = %e, "registry sync failed; retrying every {:?}", interval);
                        failing = true;
                    }
                }
            }
        }
    }

    /// Whether this registry ever held an entry (so a shard without the hash lost it).
    fn has_entries(&self) -> bool {
        !self.read().is_empty()
    }

    fn notice(&self) -> String {
        format!("{CHANGED}{}", self.id)
    }

    /// A stamp newer than both the clock and the entry we hold, so a write always supersedes.
    fn next_stamp(&self, name: &str) -> i64 {
        let held = self.read().get(name).map_or(0, Entry::updated_at);
        now_ms().max(held + 1)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry<T>>> {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TopicSource for Registry {
    fn live_topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.get(name).map(Arc::new)
    }
}

/// Two definitions are the same whatever their stamps.
pub fn same_definition<T: Definition>(a: &T, b: &T) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    a.set_updated_at(0);
    b.set_updated_at(0);
    a == b
}

fn keep_newer<T: Definition>(entries: &mut BTreeMap<String, Entry<T>>, entry: Entry<T>) {
    let newer = entries
        .get(entry.name())
        .is_none_or(|held| held.updated_at() < entry.updated_at());
    if newer {
        entries.insert(entry.name().to_string(), entry);
    }
}

async fn read_all<T: Definition>(shard: &Shard, key: &str) -> Result<BTreeMap<String, Entry<T>>> {
    let raw: Vec<(String, String)> = shard
        .query(Request::Cmd(&redis::cmd("HGETALL").arg(key).to_owned()))
        .await?;
    let mut entries = BTreeMap::new();
    for (name, value) in raw {
        match Entry::decode(&value) {
            Ok(entry) => {
                entries.insert(name, entry);
            }
            Err(e) => {
                tracing::warn!(kind = T::KIND, name = %name, error = %e, "skipping unreadable registry entry")
            }
        }
    }
    Ok(entries)
}

/// Writes `entry` unless the shard holds a newer one; a write is announced on the shard's wake
/// channel with `notice`, so other gateways sync at once.
async fn write_entry<T: Definition>(
    shard: &Shard,
    [key, wake]: &[&str; 2],
    entry: &Entry<T>,
    notice: &str,
) -> Result<()> {
    let encoded = entry.encode()?;
    let _: i64 = shard
        .eval(
            &SET_IF_NEWER,
            &[key],
            &[
                entry.name().as_bytes(),
                encoded.as_bytes(),
                entry.updated_at().to_string().as_bytes(),
                notice.as_bytes(),
                wake.as_bytes(),
            ],
        )
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::Backend => e.context(format!("writing the {} registry", T::KIND)),
            _ => e,
        })?;
    Ok(())
}

/// Writes a registry entry unless the shard holds a newer one, and announces the write.
/// KEYS: the registry's hash. ARGV: name, entry JSON, its updated_at, notice, wake channel (not
/// a key: in a cluster it is another slot's). Returns 1 if written.
static SET_IF_NEWER: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local ok, decoded = pcall(cjson.decode, held)
  if ok and type(decoded) == 'table' and tonumber(decoded.updated_at or 0) >= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[5], ARGV[4])
return 1
",
    )
});
