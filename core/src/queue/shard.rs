//! One shard of the delay queue, and the link to the Redis behind it: its connection, kept
//! across calls, replaced after it breaks or after the process forked, and the choice of shard
//! for a message.
//!
//! A shard is a Redis server of its own, or a partition of a Redis Cluster: then every
//! partition's keys carry its hash tag, and all partitions share one cluster connection, which
//! follows MOVED/ASK redirections and failovers.
//!
//! The gateway shares one multiplexed connection per server between all its tasks. The
//! blocking facade (PHP, C) makes one call at a time, so it uses a plain connection instead: a
//! request is written and its reply read on the calling thread, without the multiplexer's task
//! hop. A cluster connection is always the multiplexed kind.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, FromRedisValue, IntoConnectionInfo, RedisError, RedisResult};
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout_at};

use super::Keys;
use crate::config::{ClusterSpec, RedisServer};
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::process;

/// How a shard talks to its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionMode {
    /// One connection shared by concurrent tasks (the gateway).
    Multiplexed,
    /// One connection used by one call at a time, on the caller's thread (PHP, C).
    Blocking,
}

/// A Lua script, kept with its source so that it can be loaded again after Redis lost it.
pub(crate) struct LuaScript {
    code: String,
    hash: String,
}

impl LuaScript {
    pub fn new(code: &str) -> LuaScript {
        LuaScript {
            hash: redis::Script::new(code).get_hash().to_string(),
            code: code.to_string(),
        }
    }
}

/// What to send: one command or a pipeline.
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    Cmd(&'a redis::Cmd),
    Pipe(&'a redis::Pipeline),
}

enum Conn {
    Multiplexed(MultiplexedConnection),
    Blocking(redis::Connection),
    Cluster(ClusterConnection),
}

/// How a link reaches its server(s).
enum Client {
    Server(redis::Client),
    Cluster {
        client: Box<redis::cluster::ClusterClient>,
        /// One client per node named in the URL, for pub/sub (which a cluster broadcasts).
        seeds: Vec<redis::Client>,
        /// `user:password` of the URL, for connections to single nodes.
        auth: Option<String>,
        /// Connections to single nodes (health questions), by `host:port`, with the process
        /// that opened them.
        nodes: Mutex<std::collections::HashMap<String, (u64, MultiplexedConnection)>>,
    },
}

/// A connection and the process that opened it. A forked child must not touch its parent's
/// socket or runtime, so a connection from another process is leaked instead of dropped.
struct Owned {
    process: u64,
    generation: u64,
    link: ManuallyDrop<Conn>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.process == process() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.link) }
        }
    }
}

/// One shard: the keys it names and the link it sends them on (shared by a cluster's
/// partitions).
pub(crate) struct Shard {
    link: Arc<Link>,
    keys: Keys,
}

impl Shard {
    pub fn new(link: Arc<Link>, keys: Keys) -> Shard {
        Shard { link, keys }
    }

    /// This shard's key names.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The link to the server(s), shared with the other partitions of a cluster.
    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    pub fn server(&self) -> &RedisServer {
        self.link.server()
    }

    /// The bound on each operation.
    pub fn timeout(&self) -> Duration {
        self.link.timeout
    }

    /// A new pub/sub connection (for the workers' wake-up channel).
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub> {
        self.link.pubsub().await
    }

    /// Sends `request` within the timeout. A connection that turns out to be broken (Redis
    /// restarted) is replaced and the request sent once more, so callers see an error only when
    /// Redis is really gone; every request dq sends is idempotent, which makes that safe.
    pub async fn query<T: FromRedisValue>(&self, request: Request<'_>) -> Result<T> {
        self.link.query_inner(request, None).await
    }

    /// Runs `EVALSHA` of `script`, loading the script first if the server does not know it.
    pub async fn eval<T: FromRedisValue>(
        &self,
        script: &LuaScript,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<T> {
        self.script(script, Request::Cmd(&evalsha(script, keys, args)))
            .await
    }

    /// Sends `EVALSHA`s of `script` (built with [`evalsha`]), loading it when needed.
    pub async fn script<T: FromRedisValue>(
        &self,
        script: &LuaScript,
        request: Request<'_>,
    ) -> Result<T> {
        self.link.query_inner(request, Some(script)).await
    }
}

/// The connection to one Redis server, or to a Redis Cluster.
pub(crate) struct Link {
    server: RedisServer,
    client: Client,
    timeout: Duration,
    mode: ConnectionMode,
    slot: Mutex<Option<Owned>>,
    generations: AtomicU64,
    /// Which shard of its queue this is, and what its siblings turned out to be.
    index: usize,
    peers: Arc<Peers>,
    /// The database number in the URL: one server may hold several shards, one per database.
    db: i64,
}

/// The servers behind a queue's shards, as learnt when each connected: one server named twice
/// (`localhost` and `127.0.0.1`) would be counted twice, so it is refused.
#[derive(Default)]
pub(crate) struct Peers {
    /// Per shard: `run_id/db` of its server when last connected.
    identities: std::sync::Mutex<Vec<Option<String>>>,
    displays: Vec<String>,
}

impl Peers {
    pub fn new(servers: &[RedisServer]) -> Peers {
        Peers {
            identities: std::sync::Mutex::new(vec![None; servers.len()]),
            displays: servers.iter().map(|s| s.display.clone()).collect(),
        }
    }

    /// Records that shard `index` reached the server `identity`; an error if another shard
    /// reached the same one.
    fn arrived(&self, index: usize, identity: &str) -> Result<()> {
        let Ok(mut identities) = self.identities.lock() else {
            return Ok(());
        };
        let twin = identities
            .iter()
            .enumerate()
            .find(|(i, other)| *i != index && other.as_deref() == Some(identity));
        if let Some((twin, _)) = twin {
            let (run_id, db) = identity.split_once('/').unwrap_or((identity, "?"));
            return Err(Error::invalid(format!(
                "Redis servers {} and {} are the same server (run id {run_id}, database {db}): list each shard once, or every count would be doubled",
                self.displays.get(twin).map_or("?", String::as_str),
                self.displays.get(index).map_or("?", String::as_str),
            )));
        }
        if let Some(slot) = identities.get_mut(index) {
            *slot = Some(identity.to_string());
        }
        Ok(())
    }
}

impl Link {
    pub fn new(
        server: RedisServer,
        timeout: Duration,
        mode: ConnectionMode,
        index: usize,
        peers: Arc<Peers>,
    ) -> Result<Link> {
        let invalid = |e: RedisError| {
            Error::invalid(format!("Redis server {} is invalid: {e}", server.display))
        };
        let info = server
            .url
            .as_str()
            .into_connection_info()
            .map_err(invalid)?;
        // No CLIENT SETINFO round trips on connect: `connect` names the connection itself.
        let db = info.redis_settings().db();
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(invalid)?;
        Ok(Link {
            server,
            client: Client::Server(client),
            timeout,
            mode,
            slot: Mutex::new(None),
            generations: AtomicU64::new(0),
            index,
            peers,
            db,
        })
    }

    /// A link to the Redis Cluster `server` names (`spec`, as parsed from it).
    pub fn cluster(server: RedisServer, spec: &ClusterSpec, timeout: Duration) -> Result<Link> {
        let invalid = |e: RedisError| {
            Error::invalid(format!("Redis Cluster {} is invalid: {e}", server.display))
        };
        // Redirections and lost nodes are retried within the operation's timeout, not beyond.
        let client =
            redis::cluster::ClusterClientBuilder::new(spec.seeds.iter().map(String::as_str))
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(8)
                .min_retry_wait(20)
                .max_retry_wait(500)
                .build()
                .map_err(invalid)?;
        let seeds = spec
            .seeds
            .iter()
            .map(|seed| redis::Client::open(seed.as_str()).map_err(invalid))
            .collect::<Result<Vec<_>>>()?;
        Ok(Link {
            server,
            client: Client::Cluster {
                client: Box::new(client),
                seeds,
                auth: spec.auth.clone(),
                nodes: Mutex::new(std::collections::HashMap::new()),
            },
            timeout,
            mode: ConnectionMode::Multiplexed,
            slot: Mutex::new(None),
            generations: AtomicU64::new(0),
            index: 0,
            peers: Arc::new(Peers::default()),
            db: 0,
        })
    }

    pub fn server(&self) -> &RedisServer {
        &self.server
    }

    /// Whether this is a link to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.client, Client::Cluster { .. })
    }

    /// A new pub/sub connection: to the server, or to the first node of a cluster's URL that
    /// answers (a cluster passes every PUBLISH on to all its nodes).
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub> {
        let clients = match &self.client {
            Client::Server(client) => std::slice::from_ref(client),
            Client::Cluster { seeds, .. } => seeds.as_slice(),
        };
        let mut last = None;
        for client in clients {
            match tokio::time::timeout(self.timeout, client.get_async_pubsub()).await {
                Ok(Ok(pubsub)) => return Ok(pubsub),
                Ok(Err(err)) => last = Some(self.cannot_connect(&err)),
                Err(_) => last = Some(self.connect_timed_out()),
            }
        }
        Err(last.unwrap_or_else(|| self.connect_timed_out()))
    }

    /// Sends `cmd` to the cluster's node at `host:port`, on a connection of its own to that
    /// node (replicas included) kept for the next time; with `None`, or when the link is to a
    /// single server, as any request.
    pub async fn query_node<T: FromRedisValue>(
        &self,
        node: Option<(&str, u16)>,
        cmd: &redis::Cmd,
    ) -> Result<T> {
        let (Client::Cluster { auth, nodes, .. }, Some((host, port))) = (&self.client, node) else {
            return self.query_inner(Request::Cmd(cmd), None).await;
        };
        let node = format!("{host}:{port}");
        let failed = |kind: ErrorKind, what: String| {
            Error::new(
                kind,
                format!("Redis at {node} (of {}): {what}", self.server.display),
            )
        };
        let kept = nodes
            .lock()
            .await
            .get(&node)
            .filter(|(owner, _)| *owner == process())
            .map(|(_, conn)| conn.clone());
        let mut conn = match kept {
            Some(conn) => conn,
            None => {
                let url = match auth {
                    Some(auth) => format!("redis://{auth}@{node}"),
                    None => format!("redis://{node}"),
                };
                let client = redis::Client::open(url)
                    .map_err(|e| failed(ErrorKind::InvalidArgument, e.to_string()))?;
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout));
                let conn = match tokio::time::timeout(
                    self.timeout,
                    client.get_multiplexed_async_connection_with_config(&config),
                )
                .await
                {
                    Ok(Ok(conn)) => conn,
                    Ok(Err(e)) => return Err(failed(ErrorKind::Connection, e.to_string())),
                    Err(_) => {
                        return Err(failed(
                            ErrorKind::Timeout,
                            format!("no connection within {:.3}s", self.timeout.as_secs_f64()),
                        ));
                    }
                };
                nodes
                    .lock()
                    .await
                    .insert(node.clone(), (process(), conn.clone()));
                conn
            }
        };
        match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                nodes.lock().await.remove(&node);
                let kind = if is_connection_error(&e) {
                    ErrorKind::Connection
                } else {
                    ErrorKind::Backend
                };
                Err(failed(kind, e.to_string()))
            }
            Err(_) => {
                nodes.lock().await.remove(&node);
                Err(failed(
                    ErrorKind::Timeout,
                    format!("no answer within {:.3}s", self.timeout.as_secs_f64()),
                ))
            }
        }
    }

    async fn query_inner<T: FromRedisValue>(
        &self,
        request: Request<'_>,
        script: Option<&LuaScript>,
    ) -> Result<T> {
        let deadline = Instant::now() + self.timeout;
        let mut retried = false;
        let mut loaded = false;
        let mut pause = CLUSTER_PAUSE;
        loop {
            let (outcome, generation, fresh) = self.send(request, deadline).await?;
            let Some(outcome) = outcome else {
                self.discard(generation).await;
                return Err(self.timed_out());
            };
            let err = match outcome {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if let Some(script) = script
                && !loaded
                && err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
            {
                // Redis restarted or ran SCRIPT FLUSH: load and run again.
                let load = redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(&script.code)
                    .to_owned();
                let (outcome, generation, _) =
                    self.send::<String>(Request::Cmd(&load), deadline).await?;
                match outcome {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(self.error(e)),
                    None => {
                        self.discard(generation).await;
                        return Err(self.timed_out());
                    }
                }
                loaded = true;
                continue;
            }
            if err.is_timeout() {
                self.discard(generation).await;
                return Err(self.timed_out());
            }
            if self.is_cluster() && (in_flux(&err) || is_connection_error(&err)) {
                // A failover or a resharding under way: the same request again, to where the
                // cluster says the slot is now (a MOVED makes a new connection, which learns
                // the new slot map), until it settles or the time is up.
                if Instant::now() + pause >= deadline {
                    return Err(Error::new(
                        ErrorKind::Connection,
                        format!(
                            "Redis Cluster {}: {err} (a failover or resharding did not settle within {:.3}s)",
                            self.server.display,
                            self.timeout.as_secs_f64()
                        ),
                    ));
                }
                if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::Moved)
                    || is_connection_error(&err)
                {
                    self.discard(generation).await;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(CLUSTER_PAUSE_MAX);
                continue;
            }
            if !is_connection_error(&err) {
                return Err(self.error(err));
            }
            self.discard(generation).await;
            if fresh || retried {
                return Err(self.error(err));
            }
            retried = true;
        }
    }

    /// Sends one request on the current connection (opening one if needed). Returns the reply
    /// (`None` when the deadline passed), the connection's generation and whether it is new.
    async fn send<T: FromRedisValue>(
        &self,
        request: Request<'_>,
        deadline: Instant,
    ) -> Result<(Option<RedisResult<T>>, u64, bool)> {
        let mut slot = self.slot.lock().await;
        let fresh = match slot.as_ref() {
            Some(owned) if owned.process == process() => false,
            _ => {
                *slot = None;
                *slot = Some(self.connect(deadline).await?);
                true
            }
        };
        let owned = slot
            .as_mut()
            .ok_or_else(|| Error::internal("no Redis connection"))?;
        let generation = owned.generation;
        let mut conn = match &mut *owned.link {
            Conn::Blocking(conn) => {
                // A new connection already spent part of the deadline: its first reply may only
                // take what is left. Later requests each get the whole timeout.
                if fresh {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let _ = conn.set_read_timeout(Some(left.max(Duration::from_millis(1))));
                }
                let outcome = match request {
                    Request::Cmd(cmd) => cmd.query(conn),
                    Request::Pipe(pipe) => pipe.query(conn),
                };
                if fresh {
                    let _ = conn.set_read_timeout(Some(self.timeout));
                }
                return Ok((Some(outcome), generation, fresh));
            }
            Conn::Multiplexed(conn) => Async::Server(conn.clone()),
            Conn::Cluster(conn) => Async::Cluster(conn.clone()),
        };
        drop(slot);
        let reply = async {
            match &mut conn {
                Async::Server(conn) => ask(conn, request).await,
                Async::Cluster(conn) => ask(conn, request).await,
            }
        };
        let outcome = timeout_at(deadline, reply).await.ok();
        Ok((outcome, generation, fresh))
    }

    async fn connect(&self, deadline: Instant) -> Result<Owned> {
        let client = match &self.client {
            Client::Server(client) => client,
            Client::Cluster { client, .. } => return self.connect_cluster(client, deadline).await,
        };
        let link = match self.mode {
            ConnectionMode::Multiplexed => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout));
                let connect = client.get_multiplexed_async_connection_with_config(&config);
                match timeout_at(deadline, connect).await {
                    Ok(Ok(conn)) => Conn::Multiplexed(conn),
                    Ok(Err(err)) if !err.is_timeout() => return Err(self.cannot_connect(&err)),
                    Ok(Err(_)) | Err(_) => return Err(self.connect_timed_out()),
                }
            }
            ConnectionMode::Blocking => {
                let left = deadline.saturating_duration_since(Instant::now());
                let conn =
                    match client.get_connection_with_timeout(left.max(Duration::from_millis(1))) {
                        Ok(conn) => conn,
                        Err(err) if !err.is_timeout() => return Err(self.cannot_connect(&err)),
                        Err(_) => return Err(self.connect_timed_out()),
                    };
                // Bounds every read and write; a timed-out connection is discarded. Naming the
                // connection (below) may only take what is left of the deadline.
                let left = deadline.saturating_duration_since(Instant::now());
                conn.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .and_then(|()| conn.set_write_timeout(Some(self.timeout)))
                    .map_err(|e| self.cannot_connect(&e))?;
                Conn::Blocking(conn)
            }
        };
        let mut owned = Owned {
            process: process(),
            generation: self.generations.fetch_add(1, Ordering::Relaxed) + 1,
            link: ManuallyDrop::new(link),
        };
        // Names the connection for `CLIENT LIST`: which process holds which connection. A server
        // (or proxy) that refuses the command is fine; no answer means no usable connection.
        let name = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(format!("dq:{}", std::process::id()))
            .to_owned();
        let named: RedisResult<()> = self.query_new(&mut owned, &name, deadline).await?;
        if let Err(e) = named
            && is_connection_error(&e)
        {
            return Err(self.cannot_connect(&e));
        }
        // Which server this is: two shards must not be one server under two names. A proxy
        // that hides INFO leaves it unchecked.
        let info: RedisResult<String> = self
            .query_new(&mut owned, redis::cmd("INFO").arg("server"), deadline)
            .await?;
        match info {
            Ok(text) => {
                if let Some(run_id) = info_field(&text, "run_id") {
                    self.peers
                        .arrived(self.index, &format!("{run_id}/{}", self.db))?;
                }
                Ok(owned)
            }
            Err(e) if is_connection_error(&e) => Err(self.cannot_connect(&e)),
            Err(_) => Ok(owned),
        }
    }

    /// Connects to a cluster: its slots learnt from the first node of the URL that answers.
    async fn connect_cluster(
        &self,
        client: &redis::cluster::ClusterClient,
        deadline: Instant,
    ) -> Result<Owned> {
        let conn = match timeout_at(deadline, client.get_async_connection()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) if err.to_string().contains("cluster support disabled") => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "cannot use {} as a Redis Cluster: its nodes run with cluster support disabled; a single server is named redis://host:port/db",
                        self.server.display
                    ),
                ));
            }
            Ok(Err(err)) if !err.is_timeout() => return Err(self.cannot_connect(&err)),
            Ok(Err(_)) | Err(_) => return Err(self.connect_timed_out()),
        };
        Ok(Owned {
            process: process(),
            generation: self.generations.fetch_add(1, Ordering::Relaxed) + 1,
            link: ManuallyDrop::new(Conn::Cluster(conn)),
        })
    }

    /// Sends one command on a connection being set up, within the connect deadline.
    async fn query_new<T: FromRedisValue>(
        &self,
        owned: &mut Owned,
        cmd: &redis::Cmd,
        deadline: Instant,
    ) -> Result<RedisResult<T>> {
        let result = match &mut *owned.link {
            Conn::Blocking(conn) => cmd.query(conn),
            Conn::Multiplexed(conn) => match timeout_at(deadline, cmd.query_async(conn)).await {
                Ok(result) => result,
                Err(_) => return Err(self.connect_timed_out()),
            },
            Conn::Cluster(conn) => match timeout_at(deadline, cmd.query_async(conn)).await {
                Ok(result) => result,
                Err(_) => return Err(self.connect_timed_out()),
            },
        };
        match result {
            Err(e) if e.is_timeout() => Err(self.connect_timed_out()),
            other => Ok(other),
        }
    }

    /// Forgets the connection of `generation` if it is still the current one.
    async fn discard(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|o| o.generation == generation) {
            *slot = None;
        }
    }

    fn cannot_connect(&self, err: &RedisError) -> Error {
        Error::new(
            ErrorKind::Connection,
            format!("cannot connect to Redis at {}: {err}", self.server.display),
        )
    }

    fn connect_timed_out(&self) -> Error {
        Error::new(
            ErrorKind::Connection,
            format!(
                "cannot connect to Redis at {} within {:.3}s",
                self.server.display,
                self.timeout.as_secs_f64()
            ),
        )
    }

    fn timed_out(&self) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!(
                "Redis at {} did not answer within {:.3}s",
                self.server.display,
                self.timeout.as_secs_f64()
            ),
        )
    }

    fn error(&self, err: RedisError) -> Error {
        let kind = if is_connection_error(&err) {
            ErrorKind::Connection
        } else {
            ErrorKind::Backend
        };
        Error::new(kind, format!("Redis at {}: {err}", self.server.display))
    }
}

/// An async connection, of either kind.
enum Async {
    Server(MultiplexedConnection),
    Cluster(ClusterConnection),
}

async fn ask<T: FromRedisValue, C: ConnectionLike>(
    conn: &mut C,
    request: Request<'_>,
) -> RedisResult<T> {
    match request {
        Request::Cmd(cmd) => cmd.query_async(conn).await,
        Request::Pipe(pipe) => pipe.query_async(conn).await,
    }
}

/// `field:value` of an `INFO` reply.
pub(crate) fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// First and longest wait before a request is sent again to a cluster in flux.
const CLUSTER_PAUSE: Duration = Duration::from_millis(25);
const CLUSTER_PAUSE_MAX: Duration = Duration::from_millis(250);

/// A cluster's answer while slots move or a master is replaced: worth asking again.
fn in_flux(err: &RedisError) -> bool {
    use redis::ServerErrorKind as Kind;
    err.is_cluster_error()
        || matches!(
            err.kind(),
            redis::ErrorKind::Server(Kind::MasterDown | Kind::ReadOnly)
        )
}

fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal()
}

/// `EVALSHA` of `script` as a plain command (for pipelines, and so the NOSCRIPT fallback can
/// be handled once for commands and pipelines alike).
pub(crate) fn evalsha(script: &LuaScript, keys: &[&str], args: &[&[u8]]) -> redis::Cmd {
    let size = 64
        + keys.iter().map(|k| k.len()).sum::<usize>()
        + args.iter().map(|a| a.len()).sum::<usize>();
    let mut cmd = redis::Cmd::with_capacity(3 + keys.len() + args.len(), size);
    cmd.arg("EVALSHA")
        .arg(&script.hash)
        .arg(keys.len())
        .arg(keys);
    for arg in args {
        cmd.arg(*arg);
    }
    cmd
}

/// The shard (of `count`) that holds `(topic, id)`: jump consistent hash of FNV-1a, so that
/// adding a shard at the end moves only the messages that must move.
pub(crate) fn shard_index(topic: &str, id: &str, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic.bytes().chain([0u8]).chain(id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    jump_hash(hash, count)
}

fn jump_hash(mut key: u64, buckets: usize) -> usize {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < buckets as i64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b.wrapping_add(1) as f64) * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_choice_is_stable_and_spread() {
        assert_eq!(shard_index("t", "a", 1), 0);
        let first = shard_index("orders", "42", 4);
        assert_eq!(first, shard_index("orders", "42", 4));
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[shard_index("orders", &i.to_string(), 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        // Growing from 4 to 5 shards moves only about a fifth of the messages.
        let moved = (0..4000)
            .filter(|i| {
                let id = i.to_string();
                shard_index("orders", &id, 4) != shard_index("orders", &id, 5)
            })
            .count();
        assert!(moved < 1200, "{moved}");
        // Pinned values: changing them moves every user's messages.
        assert_eq!(
            [0, 1, 2, 3, 4, 5].map(|i| shard_index("t", &i.to_string(), 3)),
            [0, 1, 1, 0, 2, 1]
        );
    }
}
