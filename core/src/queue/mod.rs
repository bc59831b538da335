//! The delay queue on Redis: add, get, del, add many, stats.
//!
//! A message lives on one shard, in exactly one of four sorted sets (delayed, ready, inflight,
//! dead) with its body stored once in a hash. Every change of state is one Lua script, so it is
//! atomic, and a second `add` of an id replaces the first wherever it is.

mod dead;
mod jobs;
pub(crate) mod keys;
mod ready;
mod shard;
mod topics;
pub(crate) mod wake;

use std::sync::{Arc, LazyLock};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{QueueConfig, check_prefix};
use crate::error::{Error, ErrorKind, Result, shown};
use crate::input::{InputRules, NewMessage, check_id, check_topic};
use crate::registry::Topic;

pub use dead::{DeadLetter, DeadPage, DeadQuery, DeliverNow, StatusFilter};
pub(crate) use jobs::{ACK, BURY};
pub use jobs::{Job, MAX_RESERVE_WAIT, Retried};
pub(crate) use keys::Keys;
pub use shard::ConnectionMode;
use shard::Peers;
pub(crate) use shard::{Link, LuaScript, Request, Shard, info_field};
use shard::{evalsha, shard_index};
pub use topics::TopicSource;
use topics::{Lookup, TopicCache};

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Delayed,
    Ready,
    Inflight,
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Delayed => "delayed",
            State::Ready => "ready",
            State::Inflight => "inflight",
            State::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Option<State> {
        Some(match s {
            "delayed" => State::Delayed,
            "ready" => State::Ready,
            "inflight" => State::Inflight,
            "dead" => State::Dead,
            _ => return None,
        })
    }
}

/// A stored message, as `get` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub id: String,
    /// The body as JSON text, exactly as it was added.
    pub body: String,
    /// When it is (or was) due, unix milliseconds.
    pub due_at_ms: i64,
    /// Delivery attempts made so far.
    pub attempts: u32,
    pub state: State,
    /// HTTP status of the last failed attempt, if it got one.
    pub last_status: Option<u16>,
    /// What went wrong on the last failed attempt.
    pub last_error: Option<String>,
}

impl Message {
    /// The body parsed back into a JSON value.
    pub fn body_value(&self) -> Result<Value> {
        serde_json::from_str(&self.body).map_err(|e| {
            Error::internal(format!(
                "stored body of {}/{} is not JSON: {e}",
                self.topic, self.id
            ))
        })
    }
}

/// Result of an `add`.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    pub id: String,
    pub due_at_ms: i64,
    pub state: State,
}

/// Message counts of a topic, over all shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub delayed: u64,
    pub ready: u64,
    pub inflight: u64,
    pub dead: u64,
}

/// One shard's answer to a health check.
#[derive(Debug, Clone)]
pub struct ShardHealth {
    /// The server's URL, password masked.
    pub server: String,
    /// Round-trip time of `PING`, or the error.
    pub result: Result<std::time::Duration>,
}

/// One shard's answer to [`DelayQueue::servers`].
#[derive(Debug, Clone)]
pub struct ServerReport {
    /// The server's URL, password masked; a cluster node's `host:port (role of URL)`.
    pub server: String,
    pub result: Result<ServerFacts>,
    /// Whether dq needs this server to answer: every server of its own does; a cluster's node
    /// only while the cluster cannot do without it (a master not replaced, or any node while
    /// the cluster says it is failing). One not needed that fails is worth a warning only.
    pub needed: bool,
}

/// What a Redis server says of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerFacts {
    /// Round-trip time of the questions.
    pub latency: std::time::Duration,
    /// Changes with every restart.
    pub run_id: Option<String>,
    /// Whether the append-only file is on; `None`: not said.
    pub appendonly: Option<bool>,
    /// The RDB snapshot rule (`""`: none); `None`: CONFIG refused.
    pub save: Option<String>,
}

impl ServerFacts {
    /// Whether an acknowledged message survives a restart of the server: `None` when unknown.
    pub fn durable(&self) -> Option<bool> {
        match (self.appendonly, self.save.as_deref()) {
            (Some(true), _) => Some(true),
            (_, Some(save)) if !save.trim().is_empty() => Some(true),
            (Some(false), Some(_)) => Some(false),
            _ => None,
        }
    }

    /// `appendonly yes|no, save "..."`, for logs.
    pub fn persistence(&self) -> String {
        let appendonly = match self.appendonly {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        match &self.save {
            Some(save) => format!("appendonly {appendonly}, save {save:?}"),
            None => format!("appendonly {appendonly}, save unknown"),
        }
    }

    /// What to warn an operator of, if anything.
    pub fn persistence_warning(&self) -> Option<String> {
        match (self.durable(), self.appendonly) {
            (Some(false), _) => Some(
                "this Redis keeps nothing on disk: every message waiting there is lost if it restarts; set appendonly yes (or at least a save rule)"
                    .to_string(),
            ),
            (Some(true), Some(false)) => Some(
                "this Redis only saves snapshots: a restart loses what was added since the last one; set appendonly yes to keep every acknowledged message"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// Messages per `ADD` call in `add_many`: bounds how long one script holds Redis.
const ADD_CHUNK: usize = 500;

/// Per-message bookkeeping kept beside the body once a message has been worked on.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Meta {
    pub attempts: u32,
    pub due_at: Option<i64>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// The delay queue over one or more Redis shards.
pub struct DelayQueue {
    shards: Vec<Shard>,
    /// The registry's keys and wake channel: those of the first shard.
    keys: Keys,
    body_limit: usize,
    /// Replicas an add waits for.
    replicas: u32,
    timeout: std::time::Duration,
    topics: TopicCache,
    /// Wake-channel subscriptions kept for `reserve` calls that wait.
    ready: ready::Subscriptions,
}

impl DelayQueue {
    /// A queue for async callers (the gateway): one multiplexed connection per shard. Checks
    /// the configuration; connects on first use, not here.
    pub fn new(config: &QueueConfig) -> Result<DelayQueue> {
        DelayQueue::with_mode(config, ConnectionMode::Multiplexed)
    }

    /// A queue whose shards connect in `mode`.
    pub fn with_mode(config: &QueueConfig, mode: ConnectionMode) -> Result<DelayQueue> {
        check_prefix(&config.prefix)?;
        if config.redis.is_empty() {
            return Err(Error::invalid("no Redis server configured"));
        }
        for (i, server) in config.redis.iter().enumerate() {
            if config.redis[..i]
                .iter()
                .any(|earlier| earlier.url == server.url)
            {
                return Err(Error::invalid(format!(
                    "Redis server {} is listed twice: each shard must be a different server or database",
                    server.display
                )));
            }
        }
        if config.replicas > crate::config::MAX_REPLICAS {
            return Err(Error::invalid(format!(
                "replicas {} is invalid: expected a number of Redis replicas from 0 to {}",
                config.replicas,
                crate::config::MAX_REPLICAS
            )));
        }
        let shards = match config
            .redis
            .iter()
            .find_map(|s| s.cluster().map(|c| (s, c)))
        {
            Some((server, cluster)) => {
                if config.redis.len() > 1 {
                    return Err(Error::invalid(format!(
                        "Redis Cluster {} must be the only Redis server: a cluster spreads the keys itself, so it cannot be one shard among others",
                        server.display
                    )));
                }
                let link = Arc::new(Link::cluster(server.clone(), &cluster, config.timeout)?);
                (0..cluster.partitions)
                    .map(|i| {
                        let keys = Keys::partition(&config.prefix, i, cluster.partitions);
                        Shard::new(link.clone(), keys)
                    })
                    .collect()
            }
            None => {
                let peers = Arc::new(Peers::new(&config.redis));
                config
                    .redis
                    .iter()
                    .enumerate()
                    .map(|(i, server)| {
                        let link =
                            Link::new(server.clone(), config.timeout, mode, i, peers.clone())?;
                        Ok(Shard::new(Arc::new(link), Keys::new(&config.prefix)))
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let keys = shards
            .first()
            .map_or_else(|| Keys::new(&config.prefix), |s: &Shard| s.keys().clone());
        Ok(DelayQueue {
            ready: ready::Subscriptions::new(shards.len()),
            shards,
            keys,
            body_limit: config.body_limit,
            replicas: config.replicas,
            timeout: config.timeout,
            topics: TopicCache::default(),
        })
    }

    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// The rules `add` applies to a message's fields, as of now.
    pub fn input_rules(&self, time_zone: Tz) -> InputRules {
        InputRules {
            now_ms: now_ms(),
            time_zone,
            body_limit: self.body_limit,
        }
    }

    /// Reads and checks a message given as a JSON object (`id`, `body`, `delay`, `fix_time`).
    pub fn parse_message(&self, data: &Map<String, Value>, time_zone: Tz) -> Result<NewMessage> {
        NewMessage::from_json(data, &self.input_rules(time_zone))
    }

    /// Stores a message for `topic`, replacing any pending one with the same id.
    pub async fn add(&self, topic: &str, message: &NewMessage) -> Result<Added> {
        check_topic(topic)?;
        let shard = self.shard(topic, &message.id);
        let definition = self.active_topic(shard, topic).await?;
        let now = now_ms();
        let (due_at_ms, state) = placement(message, now, definition.delay_ms());
        let mut pipe = redis::pipe();
        pipe.add_command(add_command(
            shard.keys(),
            topic,
            &[message],
            now,
            definition.delay_ms(),
        ))
        .ignore();
        self.store(shard, pipe)
            .await
            .map_err(|e| unsure_if_stored(e, &message.id))?;
        Ok(Added {
            id: message.id.clone(),
            due_at_ms,
            state,
        })
    }

    /// Stores many messages for `topic` with one round trip per shard. Returns how many were
    /// stored. When a shard fails, the others' messages stay stored and the error says how
    /// many were; adding the same list again is safe, as ids replace.
    pub async fn add_many(&self, topic: &str, messages: &[NewMessage]) -> Result<usize> {
        check_topic(topic)?;
        if messages.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let mut by_shard: Vec<Vec<&NewMessage>> = vec![Vec::new(); self.shards.len()];
        for message in messages {
            by_shard[shard_index(topic, &message.id, self.shards.len())].push(message);
        }
        let first = by_shard
            .iter()
            .position(|batch| !batch.is_empty())
            .unwrap_or(0);
        let definition = self.active_topic(&self.shards[first], topic).await?;
        let delay_ms = definition.delay_ms();
        let batches = by_shard
            .iter()
            .enumerate()
            .filter(|(_, batch)| !batch.is_empty())
            .map(|(i, batch)| {
                let shard = &self.shards[i];
                let mut pipe = redis::pipe();
                for chunk in batch.chunks(ADD_CHUNK) {
                    pipe.add_command(add_command(shard.keys(), topic, chunk, now, delay_ms))
                        .ignore();
                }
                async move { self.store(shard, pipe).await.map(|()| batch.len()) }
            });
        let results = futures_util::future::join_all(batches).await;
        let stored: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
        if let Some(err) = results.into_iter().find_map(|r| r.err()) {
            let total = messages.len();
            let message = if err.kind() == ErrorKind::Timeout {
                format!(
                    "{err}: {stored} of {total} messages were confirmed stored and the others \
                     may or may not have been; adding them again is safe: the same id replaces a \
                     message"
                )
            } else {
                format!(
                    "{err} ({stored} of {total} messages were stored; adding them again is safe)"
                )
            };
            return Err(Error::new(err.kind(), message));
        }
        Ok(stored)
    }

    /// Runs the `ADD` calls of `pipe` (their replies ignored) on `shard`, and with `replicas`
    /// set, `WAIT` in the same round trip: an error unless that many replicas confirmed.
    async fn store(&self, shard: &Shard, mut pipe: redis::Pipeline) -> Result<()> {
        if self.replicas == 0 {
            return shard.script(&ADD, Request::Pipe(&pipe)).await;
        }
        // WAIT gets most of the operation's time; the rest is for the round trip.
        let wait_ms = (self.timeout.as_millis() * 3 / 4).max(1);
        pipe.cmd("WAIT").arg(self.replicas).arg(wait_ms as u64);
        let (confirmed,): (u32,) = shard.script(&ADD, Request::Pipe(&pipe)).await?;
        if confirmed < self.replicas {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "Redis at {} stored it, but only {confirmed} of the {} replicas asked for (replicas = {}) confirmed within {:.3}s, so a failover could lose it",
                    shard.server().display,
                    self.replicas,
                    self.replicas,
                    wait_ms as f64 / 1000.0
                ),
            ));
        }
        Ok(())
    }

    /// The message, in whatever state, or `None`.
    pub async fn get(&self, topic: &str, id: &str) -> Result<Option<Message>> {
        check_topic(topic)?;
        check_id(id)?;
        let shard = self.shard(topic, id);
        let base = shard.keys().topic_base(topic);
        let reply: Option<Vec<String>> = shard.eval(&GET, &[&base], &[id.as_bytes()]).await?;
        let Some(reply) = reply else {
            return Ok(None);
        };
        let [state, score, body, meta] = <[String; 4]>::try_from(reply)
            .map_err(|r| Error::internal(format!("get script returned {r:?}")))?;
        let meta: Meta = if meta.is_empty() {
            Meta::default()
        } else {
            serde_json::from_str(&meta)
                .map_err(|e| Error::internal(format!("meta of {topic}/{id} is not valid: {e}")))?
        };
        let state = State::parse(&state)
            .ok_or_else(|| Error::internal(format!("{topic}/{id} has a body but no state")))?;
        let score = score.parse::<f64>().unwrap_or_default() as i64;
        let due_at_ms = match state {
            State::Delayed | State::Ready => score,
            State::Inflight | State::Dead => meta.due_at.unwrap_or(score),
        };
        Ok(Some(Message {
            topic: topic.to_string(),
            id: id.to_string(),
            body,
            due_at_ms,
            attempts: meta.attempts,
            state,
            last_status: meta.last_status,
            last_error: meta.last_error,
        }))
    }

    /// Removes the message in whatever state. `true` if there was one.
    pub async fn del(&self, topic: &str, id: &str) -> Result<bool> {
        check_topic(topic)?;
        check_id(id)?;
        let shard = self.shard(topic, id);
        let base = shard.keys().topic_base(topic);
        let removed: i64 = shard
            .eval(
                &DEL,
                &[&base, shard.keys().base()],
                &[id.as_bytes(), topic.as_bytes()],
            )
            .await?;
        Ok(removed > 0)
    }

    /// Counts per state, summed over all shards (asked at once).
    pub async fn stats(&self, topic: &str) -> Result<Stats> {
        check_topic(topic)?;
        let counts = self.shards.iter().map(|shard| async move {
            let keys = shard.keys().topic(topic);
            let mut pipe = redis::pipe();
            pipe.zcard(&keys.delayed)
                .zcard(&keys.ready)
                .zcard(&keys.inflight)
                .zcard(&keys.dead);
            shard
                .query::<(u64, u64, u64, u64)>(Request::Pipe(&pipe))
                .await
        });
        let mut stats = Stats::default();
        for counts in futures_util::future::join_all(counts).await {
            let (delayed, ready, inflight, dead) = counts?;
            stats.delayed += delayed;
            stats.ready += ready;
            stats.inflight += inflight;
            stats.dead += dead;
        }
        Ok(stats)
    }

    /// Each shard's state: `PING` round-trip time, or why it failed. A shard that does not
    /// answer within `within` is reported as timed out, so the answer comes in time even when
    /// one server hangs.
    pub async fn ping(&self, within: std::time::Duration) -> Vec<ShardHealth> {
        if self.is_cluster() {
            // Per node, as `servers` asks them (a PING sent to the cluster goes to every node).
            let nodes = tokio::time::timeout(within, self.cluster_servers()).await;
            let Ok(nodes) = nodes else {
                return vec![ShardHealth {
                    server: self.shards[0].server().display.clone(),
                    result: Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "Redis Cluster {} did not answer within {:.3}s",
                            self.shards[0].server().display,
                            within.as_secs_f64()
                        ),
                    )),
                }];
            };
            return nodes
                .into_iter()
                .map(|node| ShardHealth {
                    server: node.server,
                    result: node.result.map(|facts| facts.latency),
                })
                .collect();
        }
        let pings = self.shards.iter().map(|shard| async move {
            let started = std::time::Instant::now();
            let cmd = redis::cmd("PING");
            let ping = shard.query::<String>(Request::Cmd(&cmd));
            let result = match tokio::time::timeout(within, ping).await {
                Ok(answer) => answer.map(|_| started.elapsed()),
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "Redis at {} did not answer PING within {:.3}s",
                        shard.server().display,
                        within.as_secs_f64()
                    ),
                )),
            };
            ShardHealth {
                server: shard.server().display.clone(),
                result,
            }
        });
        futures_util::future::join_all(pings).await
    }

    /// Each shard's state and what it keeps on disk, asked at once; `None` facts where it
    /// did not answer.
    pub async fn servers(&self) -> Vec<ServerReport> {
        if self.is_cluster() {
            return self.cluster_servers().await;
        }
        let reports = (0..self.shards.len()).map(|i| async move {
            ServerReport {
                server: self.shards[i].server().display.clone(),
                result: self.server_facts(i).await,
                needed: true,
            }
        });
        futures_util::future::join_all(reports).await
    }

    /// Each node of the cluster, as `CLUSTER NODES` lists them, asked at once.
    async fn cluster_servers(&self) -> Vec<ServerReport> {
        let link = self.shards[0].link();
        let display = &link.server().display;
        let (list, state) = (
            redis::cmd("CLUSTER").arg("NODES").to_owned(),
            redis::cmd("CLUSTER").arg("INFO").to_owned(),
        );
        let (nodes, info) = tokio::join!(
            self.shards[0].query::<String>(Request::Cmd(&list)),
            self.shards[0].query::<String>(Request::Cmd(&state)),
        );
        let nodes = match nodes {
            Ok(nodes) => nodes,
            Err(e) => {
                return vec![ServerReport {
                    server: display.clone(),
                    result: Err(e),
                    needed: true,
                }];
            }
        };
        let failing = info
            .ok()
            .and_then(|info| info_field(&info, "cluster_state").map(|s| s != "ok"))
            .unwrap_or(true);
        let reports = cluster_nodes(&nodes).into_iter().map(|node| async move {
            let server = format!("{}:{} ({} of {display})", node.host, node.port, node.role);
            let result = if node.failed {
                Err(Error::new(
                    ErrorKind::Connection,
                    format!(
                        "Redis at {server}: the cluster marks it failed{}",
                        if node.role == "master" && !failing {
                            " (its slots, if it had any, moved to a promoted replica)"
                        } else {
                            ""
                        }
                    ),
                ))
            } else {
                self.node_facts(link, Some((&node.host, node.port))).await
            };
            ServerReport {
                server,
                result,
                needed: failing || (node.role == "master" && node.slots && !node.failed),
            }
        });
        futures_util::future::join_all(reports).await
    }

    /// What shard `index`'s server says of itself: round-trip time, run id, persistence.
    pub(crate) async fn server_facts(&self, index: usize) -> Result<ServerFacts> {
        self.node_facts(self.shards[index].link(), None).await
    }

    /// What a server says of itself: the link's own, or the cluster node at `host:port`.
    async fn node_facts(&self, link: &Link, node: Option<(&str, u16)>) -> Result<ServerFacts> {
        let started = std::time::Instant::now();
        // Every section (a Redis before 7 takes one section name only).
        let info: String = link.query_node(node, &redis::cmd("INFO")).await?;
        let latency = started.elapsed();
        // CONFIG may be renamed or refused (managed Redis): then `save` is unknown.
        let save: Option<String> = link
            .query_node::<Vec<String>>(node, redis::cmd("CONFIG").arg("GET").arg("save"))
            .await
            .ok()
            .and_then(|pair| pair.into_iter().nth(1));
        Ok(ServerFacts {
            latency,
            run_id: info_field(&info, "run_id").map(str::to_string),
            appendonly: info_field(&info, "aof_enabled").map(|v| v == "1"),
            save,
        })
    }

    pub(crate) fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// One shard per Redis server: every shard on servers of their own, the first partition of
    /// a cluster (whose keys outside the partitions, the registry's, are kept once).
    pub(crate) fn server_shards(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.shards.len())
            .filter(|&i| i == 0 || !Arc::ptr_eq(self.shards[i].link(), self.shards[i - 1].link()))
    }

    /// Whether the shards are the partitions of a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.shards.first().is_some_and(|s| s.link().is_cluster())
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Forgets cached topic definitions, so the next `add` reads the registry again.
    pub fn forget_topic(&self, topic: &str) {
        self.topics.forget(topic);
    }

    /// Lets `source` (the gateway's registry) answer which topics exist before Redis is asked.
    pub fn set_topic_source(&self, source: std::sync::Weak<dyn TopicSource>) {
        self.topics.set_source(source);
    }

    fn shard(&self, topic: &str, id: &str) -> &Shard {
        &self.shards[shard_index(topic, id, self.shards.len())]
    }

    /// The topic's definition, if it is registered and takes messages.
    async fn active_topic(&self, shard: &Shard, topic: &str) -> Result<Arc<Topic>> {
        let definition = self.registered_topic(shard, topic).await?;
        if definition.status == crate::registry::Status::Disabled {
            return Err(Error::new(
                ErrorKind::UnknownTopic,
                format!(
                    "topic \"{topic}\" is disabled: set its status to \"active\" with PUT /v1/topics/{topic} on dq-gateway"
                ),
            ));
        }
        Ok(definition)
    }

    /// The topic's definition, if it is registered (in whatever status).
    async fn registered_topic(&self, shard: &Shard, topic: &str) -> Result<Arc<Topic>> {
        Ok(match self.topics.get(shard, &self.keys, topic).await? {
            Lookup::Found(definition) => definition,
            Lookup::Unknown => {
                return Err(Error::new(
                    ErrorKind::UnknownTopic,
                    format!(
                        "topic \"{topic}\" is not registered under prefix \"{}\" on {}: register it with PUT /v1/topics/{topic} on dq-gateway, or a [[topic]] table in the gateway's config file",
                        self.keys.prefix(),
                        shard.server().display
                    ),
                ));
            }
            Lookup::RegistryMissing => {
                return Err(Error::new(
                    ErrorKind::UnknownTopic,
                    format!(
                        "topic \"{topic}\" cannot be checked: the topic registry ({}) is missing on {}: Redis lost it (a restart without persistence, a flush or an eviction) and no dq-gateway with prefix \"{}\" is running to publish it again, or none has run yet (start one, and register the topic with PUT /v1/topics/{topic})",
                        self.keys.topics(),
                        shard.server().display,
                        self.keys.prefix(),
                    ),
                ));
            }
        })
    }
}

/// A node as a line of `CLUSTER NODES` describes it.
#[derive(Debug, PartialEq)]
struct ClusterNode {
    host: String,
    port: u16,
    /// "master" or "replica".
    role: &'static str,
    /// Whether it serves slots.
    slots: bool,
    /// Flagged `fail` (or `fail?`, or without an address).
    failed: bool,
}

/// The nodes of a `CLUSTER NODES` reply:
/// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`.
fn cluster_nodes(reply: &str) -> Vec<ClusterNode> {
    reply
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let address = fields.get(1)?.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            let flags = fields.get(2)?;
            let flag = |name: &str| flags.split(',').any(|f| f == name);
            Some(ClusterNode {
                host: host.to_string(),
                port: port.parse().ok()?,
                role: if flag("master") { "master" } else { "replica" },
                slots: fields.len() > 8,
                failed: flag("fail") || flag("fail?") || flag("noaddr") || host.is_empty(),
            })
        })
        .collect()
}

/// A write that got no answer may still have been done: a timeout says so, and that adding
/// again is safe.
fn unsure_if_stored(err: Error, id: &str) -> Error {
    if err.kind() != ErrorKind::Timeout {
        return err;
    }
    Error::new(
        ErrorKind::Timeout,
        format!(
            "{err}: message {} may or may not have been stored; adding it again is safe: the same \
             id replaces it",
            shown(id)
        ),
    )
}

/// When `message` falls due, and the state that puts it in.
fn placement(message: &NewMessage, now: i64, topic_delay_ms: i64) -> (i64, State) {
    let due = message.due_ms(now, topic_delay_ms);
    (
        due,
        if due <= now {
            State::Ready
        } else {
            State::Delayed
        },
    )
}

/// The `ADD` call that stores `messages` of `topic` (at most `ADD_CHUNK` of them).
fn add_command(
    keys: &Keys,
    topic: &str,
    messages: &[&NewMessage],
    now: i64,
    topic_delay_ms: i64,
) -> redis::Cmd {
    let placed: Vec<(String, State)> = messages
        .iter()
        .map(|m| {
            let (due, state) = placement(m, now, topic_delay_ms);
            (due.to_string(), state)
        })
        .collect();
    let mut args: Vec<&[u8]> = Vec::with_capacity(1 + messages.len() * 4);
    args.push(topic.as_bytes());
    for (message, (due, state)) in messages.iter().zip(&placed) {
        args.extend([
            message.id.as_bytes(),
            message.body.as_bytes(),
            due.as_bytes(),
            state.as_str().as_bytes(),
        ]);
    }
    evalsha(&ADD, &[&keys.topic_base(topic), keys.base()], &args)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Stores messages. When an id was pending already (its body existed), every copy of it is
/// dropped first, whatever its state, so at most one is ever pending; an inflight delivery of
/// the old copy finds its lease gone. New ids, the common case, cost two writes. The shard's
/// indexes are kept in step, and the workers woken only when there is news for them: a topic's
/// earliest due time moved earlier, or a topic got its first ready message.
/// KEYS: topic base, prefix. ARGV: topic, then id, body, due (ms), state ('ready' or
/// 'delayed') for each message (at most `ADD_CHUNK`). Returns how many were stored.
static ADD: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local delayed, ready, inflight, dead, body, meta = @delayed, @ready, @inflight, @dead, @body, @meta
local topic, earliest, any_ready = ARGV[1], nil, false
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('HSET', body, id, ARGV[i + 1]) == 0 then
    redis.call('ZREM', delayed, id)
    redis.call('ZREM', ready, id)
    redis.call('ZREM', inflight, id)
    redis.call('ZREM', dead, id)
    redis.call('HDEL', meta, id)
  end
  if ARGV[i + 3] == 'ready' then
    redis.call('ZADD', ready, ARGV[i + 2], id)
    any_ready = true
  else
    redis.call('ZADD', delayed, ARGV[i + 2], id)
    local due = tonumber(ARGV[i + 2])
    if not earliest or due < earliest then earliest = due end
  end
end
if earliest then mark_due(topic, earliest) end
if any_ready then mark_ready(topic) end
return (#ARGV - 1) / 4
",
    ))
});

/// Reads a message and its state in one consistent step.
/// KEYS: topic base. ARGV: id. Returns nil, or {state, score, body, meta-or-empty}.
static GET: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id = ARGV[1]
local body = redis.call('HGET', @body, id)
if not body then return false end
local meta = redis.call('HGET', @meta, id) or ''
local states = {{'delayed', @delayed}, {'ready', @ready}, {'inflight', @inflight}, {'dead', @dead}}
for _, state in ipairs(states) do
  local score = redis.call('ZSCORE', state[2], id)
  if score then return {state[1], score, body, meta} end
end
return {'lost', '0', body, meta}
",
    ))
});

/// Removes a message in whatever state. An inflight delivery of it finds its lease gone. A set
/// left empty takes its topic out of the shard's index.
/// KEYS: topic base, prefix. ARGV: id, topic. Returns 1 if there was one.
static DEL: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id, topic = ARGV[1], ARGV[2]
local existed = redis.call('HDEL', @body, id)
redis.call('ZREM', @delayed, id)
redis.call('ZREM', @ready, id)
redis.call('ZREM', @inflight, id)
redis.call('ZREM', @dead, id)
redis.call('HDEL', @meta, id)
if redis.call('ZCARD', @delayed) == 0 then redis.call('ZREM', @timers, topic) end
if redis.call('ZCARD', @ready) == 0 then redis.call('SREM', @ready_topics, topic) end
if redis.call('ZCARD', @inflight) == 0 then redis.call('ZREM', @leases, topic) end
return existed
",
    ))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_are_read_from_their_lines() {
        let reply = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002,h2 master - 0 1426238316232 2 connected 5461-10922
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
6ec2 127.0.0.1:30003@40003 master,fail - 1426238316232 1426238315233 3 disconnected
";
        let nodes = cluster_nodes(reply);
        assert_eq!(nodes.len(), 4);
        assert_eq!(
            nodes[1],
            ClusterNode {
                host: "127.0.0.1".into(),
                port: 30002,
                role: "master",
                slots: true,
                failed: false
            }
        );
        assert_eq!((nodes[0].role, nodes[0].slots), ("replica", false));
        assert!(nodes[3].failed && !nodes[3].slots);
    }
}
