//! One Redis server of the delay queue: its connection, kept across calls, replaced after it
//! breaks or after the process forked, and the choice of shard for a message.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, RedisResult, Script};
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout_at};

use crate::config::RedisServer;
use crate::error::{Error, ErrorKind, Result};

/// A connection and the process that opened it. A forked child must not touch its parent's
/// socket or runtime, so a connection from another pid is leaked instead of dropped.
struct Owned {
    pid: u32,
    generation: u64,
    conn: ManuallyDrop<MultiplexedConnection>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.conn) }
        }
    }
}

pub(crate) struct Shard {
    server: RedisServer,
    client: redis::Client,
    timeout: Duration,
    slot: Mutex<Option<Owned>>,
    generations: AtomicU64,
}

impl Shard {
    pub fn new(server: RedisServer, timeout: Duration) -> Result<Shard> {
        let client = redis::Client::open(server.url.as_str()).map_err(|e| {
            Error::invalid(format!("Redis server {} is invalid: {e}", server.display))
        })?;
        Ok(Shard {
            server,
            client,
            timeout,
            slot: Mutex::new(None),
            generations: AtomicU64::new(0),
        })
    }

    pub fn server(&self) -> &RedisServer {
        &self.server
    }

    /// Runs `op` on this shard's connection within the timeout. A connection that turns out to
    /// be broken (Redis restarted) is replaced and `op` runs once more, so callers see an error
    /// only when Redis is really gone. Every `op` here is idempotent, which makes that safe.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut retried = false;
        loop {
            let (conn, generation, fresh) = self.connection(deadline).await?;
            let outcome = timeout_at(deadline, op(conn)).await;
            let err = match outcome {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(err)) => err,
                Err(_) => {
                    self.discard(generation).await;
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "Redis at {} did not answer within {:.3}s",
                            self.server.display,
                            self.timeout.as_secs_f64()
                        ),
                    ));
                }
            };
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

    /// Runs a script, loading it first if the server does not know it yet.
    pub async fn script<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<T> {
        self.run(|mut conn| async move {
            let mut invocation = script.prepare_invoke();
            for key in keys {
                invocation.key(*key);
            }
            for arg in args {
                invocation.arg(*arg);
            }
            invocation.invoke_async(&mut conn).await
        })
        .await
    }

    async fn connection(&self, deadline: Instant) -> Result<(MultiplexedConnection, u64, bool)> {
        let mut slot = self.slot.lock().await;
        if let Some(owned) = slot.as_ref()
            && owned.pid == std::process::id()
        {
            return Ok(((*owned.conn).clone(), owned.generation, false));
        }
        *slot = None;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let conn = match timeout_at(deadline, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) if !err.is_timeout() => {
                return Err(Error::new(
                    ErrorKind::Connection,
                    format!("cannot connect to Redis at {}: {err}", self.server.display),
                ));
            }
            Ok(Err(_)) | Err(_) => {
                return Err(Error::new(
                    ErrorKind::Connection,
                    format!(
                        "cannot connect to Redis at {} within {:.3}s",
                        self.server.display,
                        self.timeout.as_secs_f64()
                    ),
                ));
            }
        };
        // Names the connection for `CLIENT LIST`: which process holds which connection.
        // Best effort: a proxy that refuses the command does not make the connection unusable.
        let mut named = conn.clone();
        let _: RedisResult<()> = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(format!("dq:{}", std::process::id()))
            .query_async(&mut named)
            .await;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        *slot = Some(Owned {
            pid: std::process::id(),
            generation,
            conn: ManuallyDrop::new(conn.clone()),
        });
        Ok((conn, generation, true))
    }

    /// Forgets the connection of `generation` if it is still the current one.
    async fn discard(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|o| o.generation == generation) {
            *slot = None;
        }
    }

    fn error(&self, err: RedisError) -> Error {
        let kind = if is_connection_error(&err) {
            ErrorKind::Connection
        } else if err.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Backend
        };
        Error::new(kind, format!("Redis at {}: {err}", self.server.display))
    }
}

fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal()
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
