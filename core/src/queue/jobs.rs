//! Pull mode: workers reserve a pull topic's due messages as jobs and settle them, on the same
//! leases the push notifier uses. A reserved job is inflight until its lease deadline (the
//! topic's `timeout_ms`); `ack` removes it, `retry` puts it back on the topic's ladder (or makes
//! it a dead letter after the last attempt), `fail` makes it a dead letter at once, and a lease
//! nobody settled expires and the job is reserved again.
//!
//! `reserve` needs no gateway: its script also moves the topic's due delayed messages to ready
//! and returns its expired leases, so a PHP-only setup works; a gateway's timer and reaper do
//! the same for every topic. A waiting `reserve` sleeps until a shard says a topic got ready
//! messages (its wake channel), the topic's next due time or lease deadline, or its timeout.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::{DelayQueue, LuaScript, keys, shard_index};
use crate::error::{Error, ErrorKind, Result, shown};
use crate::input::check_topic;
use crate::registry::{Mode, Status, Topic};

/// The longest a `reserve` may wait for a job.
pub const MAX_RESERVE_WAIT: Duration = Duration::from_secs(60);
/// A waiting `reserve` looks again at least this often (a wake message lost with a connection,
/// a topic resumed).
const LOOK_AGAIN: Duration = Duration::from_secs(1);
/// Expired leases and due messages one `reserve` moves at most, per shard.
const TIDY_LIMIT: usize = 100;

/// A reserved job: a pull topic's message, leased to the caller until `lease_expires_at_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub topic: String,
    pub id: String,
    /// The body as JSON text, exactly as it was added.
    pub body: String,
    /// This attempt's number, 1 for the first.
    pub attempt: u32,
    /// Attempts in all the topic allows.
    pub max_attempts: u32,
    /// When it was due, unix milliseconds.
    pub due_at_ms: i64,
    /// Names the reservation in `ack`, `retry` and `fail`.
    pub lease: String,
    /// When the lease expires and the job may be reserved again, unix milliseconds.
    pub lease_expires_at_ms: i64,
}

impl Job {
    /// The job as the HTTP API and the C ABI show it: `lease`, `topic`, `id`, `body` (the JSON
    /// as added), `attempt`, `max_attempts`, `due_at` and `lease_expires_at` (unix seconds).
    pub fn to_json(&self) -> Result<serde_json::Value> {
        let body = self.body_value()?;
        Ok(serde_json::json!({
            "lease": self.lease,
            "topic": self.topic,
            "id": self.id,
            "body": body,
            "attempt": self.attempt,
            "max_attempts": self.max_attempts,
            "due_at": self.due_at_ms as f64 / 1000.0,
            "lease_expires_at": self.lease_expires_at_ms as f64 / 1000.0,
        }))
    }

    /// The body parsed back into a JSON value.
    pub fn body_value(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).map_err(|e| {
            Error::internal(format!(
                "stored body of {}/{} is not JSON: {e}",
                self.topic, self.id
            ))
        })
    }
}

/// What a `retry` came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    /// Scheduled again, due at this time (unix ms).
    Scheduled(i64),
    /// That was the last attempt the topic allows: the job is a dead letter.
    Dead,
}

/// A lease as handed out: a random token and the job's id (hex), so that `ack` finds the job's
/// shard from the lease alone (`POST /v1/topics/{topic}/jobs/{lease}/ack`).
struct Lease {
    token: String,
    id: String,
}

impl Lease {
    fn new(id: &str) -> Lease {
        Lease {
            token: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            id: id.to_string(),
        }
    }

    fn handle(&self) -> String {
        format!("{}.{}", self.token, hex::encode(self.id.as_bytes()))
    }

    fn parse(handle: &str) -> Result<Lease> {
        let bad = || {
            Error::invalid(format!(
                "lease {} is not a lease dq handed out: expected the \"lease\" of a reserved job",
                shown(handle)
            ))
        };
        let (token, id) = handle.split_once('.').ok_or_else(bad)?;
        if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let id = hex::decode(id).map_err(|_| bad())?;
        let id = String::from_utf8(id).map_err(|_| bad())?;
        if id.is_empty() {
            return Err(bad());
        }
        Ok(Lease {
            token: token.to_string(),
            id,
        })
    }
}

impl DelayQueue {
    /// Reserves the earliest due job of pull topic `topic`, waiting up to `wait` for one.
    /// `None` when none came in time (or the topic is paused).
    pub async fn reserve(&self, topic: &str, wait: Duration) -> Result<Option<Job>> {
        self.reserve_unless(topic, wait, None).await
    }

    /// As [`DelayQueue::reserve`], the wait also ending (with `None`) when `stop` turns true. A
    /// look already sent to Redis is finished, so a job it leased is never dropped.
    pub async fn reserve_unless(
        &self,
        topic: &str,
        wait: Duration,
        stop: Option<&AtomicBool>,
    ) -> Result<Option<Job>> {
        check_topic(topic)?;
        if wait > MAX_RESERVE_WAIT {
            return Err(Error::invalid(format!(
                "timeout {} is out of range: expected seconds from 0 to {}",
                wait.as_secs_f64(),
                MAX_RESERVE_WAIT.as_secs()
            )));
        }
        let until = Instant::now() + wait;
        let mut waiting = None;
        loop {
            let shard = fastrand::usize(..self.shards.len());
            let definition = self.registered_topic(&self.shards[shard], topic).await?;
            check_pull(&definition)?;
            // Subscribed before looking, so a message that becomes ready meanwhile wakes us.
            if waiting.is_none() && !wait.is_zero() {
                waiting = Some(self.ready.subscribe(self).await);
            }
            let mut next = Instant::now() + LOOK_AGAIN;
            if definition.status != Status::Paused {
                // Every shard, starting at a random one, so none is always served last.
                for i in 0..self.shards.len() {
                    let shard = (shard + i) % self.shards.len();
                    match self.reserve_on(shard, &definition).await? {
                        Reserved::Job(job) => {
                            if let Some(subscriptions) = waiting.take() {
                                self.ready.put_back(subscriptions);
                            }
                            return Ok(Some(job));
                        }
                        Reserved::NextAt(at) => next = next.min(at),
                    }
                }
            }
            let now = Instant::now();
            let stopped = || stop.is_some_and(|s| s.load(Ordering::Acquire));
            if now >= until || stopped() {
                break;
            }
            if let Some(subscriptions) = waiting.as_mut() {
                let wake = self.ready.wait(subscriptions, next.min(until).max(now));
                match stop {
                    Some(stop) => {
                        tokio::select! {
                            () = wake => {}
                            () = crate::blocking::stopped(stop) => {}
                        }
                    }
                    None => wake.await,
                }
            }
        }
        if let Some(subscriptions) = waiting.take() {
            self.ready.put_back(subscriptions);
        }
        Ok(None)
    }

    /// One look at one shard: the job it leased, or when to look again.
    async fn reserve_on(&self, shard: usize, topic: &Topic) -> Result<Reserved> {
        let lease = Lease::new("");
        let shard = &self.shards[shard];
        let reply: ReserveReply = shard
            .eval(
                &RESERVE,
                &[&shard.keys().topic_base(&topic.name), shard.keys().base()],
                &[
                    topic.name.as_bytes(),
                    topic.timeout_ms.to_string().as_bytes(),
                    lease.token.as_bytes(),
                    topic.max_attempts().to_string().as_bytes(),
                    TIDY_LIMIT.to_string().as_bytes(),
                ],
            )
            .await?;
        let (job, next_ms, now_ms) = reply;
        if let Some((id, body, attempt, due_at_ms, lease_expires_at_ms)) = job {
            let lease = Lease { id, ..lease };
            return Ok(Reserved::Job(Job {
                topic: topic.name.clone(),
                body,
                attempt,
                max_attempts: topic.max_attempts(),
                due_at_ms,
                lease: lease.handle(),
                lease_expires_at_ms,
                id: lease.id,
            }));
        }
        // The next due time or lease deadline, by Redis's clock, as a local instant.
        let at = next_ms.map_or(Instant::now() + LOOK_AGAIN, |next| {
            Instant::now() + Duration::from_millis(u64::try_from(next - now_ms).unwrap_or(0))
        });
        Ok(Reserved::NextAt(at))
    }

    /// Settles a reserved job as done: it is removed.
    pub async fn ack(&self, topic: &str, lease: &str) -> Result<()> {
        let lease = self.job_lease(topic, lease)?;
        let done: i64 = self
            .settle(topic, &lease, &ACK, &[])
            .await
            .map_err(|e| e.context(format!("acking job {}", shown(&lease.id))))?;
        if done == 1 {
            Ok(())
        } else {
            Err(lease_lost(topic, &lease))
        }
    }

    /// Schedules a reserved job again: after `delay`, or the topic's ladder by default. After
    /// the topic's last attempt it becomes a dead letter instead.
    pub async fn retry(
        &self,
        topic: &str,
        lease: &str,
        delay: Option<Duration>,
        error: &str,
    ) -> Result<Retried> {
        let lease = self.job_lease(topic, lease)?;
        let definition = self
            .registered_topic(self.job_shard(topic, &lease), topic)
            .await?;
        let delay_ms = delay.map(|d| d.as_millis().to_string()).unwrap_or_default();
        let max = definition.max_attempts().to_string();
        let mut args: Vec<String> = vec![delay_ms, max, error.to_string()];
        args.extend(
            definition
                .retry
                .iter()
                .map(|seconds| ((seconds * 1000.0).round() as i64).to_string()),
        );
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let (outcome, due): (i64, i64) = self
            .settle(topic, &lease, &RETRY, &args)
            .await
            .map_err(|e| e.context(format!("retrying job {}", shown(&lease.id))))?;
        match outcome {
            1 => Ok(Retried::Scheduled(due)),
            2 => Ok(Retried::Dead),
            _ => Err(lease_lost(topic, &lease)),
        }
    }

    /// Makes a reserved job a dead letter at once, with `reason` as its last error.
    pub async fn fail(&self, topic: &str, lease: &str, reason: &str) -> Result<()> {
        let lease = self.job_lease(topic, lease)?;
        let done: i64 = self
            .settle(topic, &lease, &BURY, &[b"", reason.as_bytes()])
            .await
            .map_err(|e| e.context(format!("failing job {}", shown(&lease.id))))?;
        if done == 1 {
            Ok(())
        } else {
            Err(lease_lost(topic, &lease))
        }
    }

    fn job_lease(&self, topic: &str, lease: &str) -> Result<Lease> {
        check_topic(topic)?;
        Lease::parse(lease)
    }

    fn job_shard(&self, topic: &str, lease: &Lease) -> &super::Shard {
        &self.shards[shard_index(topic, &lease.id, self.shards.len())]
    }

    /// Runs a lease-checked script (ARGV: id, lease token, topic, then `extra`).
    async fn settle<T: redis::FromRedisValue>(
        &self,
        topic: &str,
        lease: &Lease,
        script: &LuaScript,
        extra: &[&[u8]],
    ) -> Result<T> {
        let mut args: Vec<&[u8]> = vec![
            lease.id.as_bytes(),
            lease.token.as_bytes(),
            topic.as_bytes(),
        ];
        args.extend_from_slice(extra);
        let shard = self.job_shard(topic, lease);
        shard
            .eval(
                script,
                &[&shard.keys().topic_base(topic), shard.keys().base()],
                &args,
            )
            .await
    }
}

/// What `RESERVE` answers: the job (id, body, attempt, due ms, lease deadline ms) or none,
/// the next due time or lease deadline, and Redis's clock (ms).
type ReserveReply = (Option<(String, String, u32, i64, i64)>, Option<i64>, i64);

enum Reserved {
    Job(Job),
    NextAt(Instant),
}

fn check_pull(topic: &Topic) -> Result<()> {
    if topic.mode == Mode::Pull {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "topic \"{name}\" is a push topic: dq-gateway delivers its messages to {callback}, so they cannot be reserved; reserve from a topic with \"mode\": \"pull\" (PATCH /v1/topics/{name} {{\"mode\": \"pull\", \"callback\": null}} turns this one into one)",
        name = topic.name,
        callback = topic.callback,
    )))
}

fn lease_lost(topic: &str, lease: &Lease) -> Error {
    Error::new(
        ErrorKind::LeaseLost,
        format!(
            "job {} of topic \"{topic}\" is no longer reserved by this lease: the lease expired (the topic's timeout_ms) and the job went back to be reserved again, or it was settled already, deleted or replaced",
            shown(&lease.id)
        ),
    )
}

/// Reserves the earliest ready job of a pull topic, after moving its due delayed messages to
/// ready and returning its expired leases. A job that has used every attempt the topic allows
/// (its leases expired each time: the worker died on it) becomes a dead letter instead.
/// KEYS: topic base, prefix. ARGV: topic, lease ms, lease token, max attempts, tidy limit.
/// Returns {job or nil, next due time or lease deadline (ms) or nil, now (ms)}; a job is
/// {id, body, attempt, due ms, lease deadline ms}.
static RESERVE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local topic, now = ARGV[1], now_ms()
local limit, max = tonumber(ARGV[5]), tonumber(ARGV[4])
promote_due(topic, now, limit)
reap_expired(topic, now, limit)
local ready, inflight, body, meta = @ready, @inflight, @body, @meta
local job = false
for _ = 1, limit do
  local head = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  if not head[1] then break end
  local id, due = head[1], tonumber(head[2])
  redis.call('ZREM', ready, id)
  local text = redis.call('HGET', body, id)
  if text then
    local raw = redis.call('HGET', meta, id)
    local m = raw and cjson.decode(raw) or {}
    m.due_at = due
    if (m.attempts or 0) >= max then
      to_dead(id, m, now, '', 'lease expired on each of ' .. (m.attempts or 0) .. ' attempts: the workers stopped before they settled the job')
    else
      local deadline = now + tonumber(ARGV[2])
      m.attempts = (m.attempts or 0) + 1
      m.lease = ARGV[3]
      redis.call('HSET', meta, id, cjson.encode(m))
      redis.call('ZADD', inflight, deadline, id)
      redis.call('ZADD', @leases, 'LT', deadline, topic)
      job = {id, text, m.attempts, due, deadline}
      break
    end
  end
end
if redis.call('ZCARD', ready) == 0 then redis.call('SREM', @ready_topics, topic) end
local next = false
local delayed = redis.call('ZRANGE', @delayed, 0, 0, 'WITHSCORES')
if delayed[2] then next = tonumber(delayed[2]) end
local lease = redis.call('ZRANGE', inflight, 0, 0, 'WITHSCORES')
if lease[2] and (not next or tonumber(lease[2]) < next) then next = tonumber(lease[2]) end
return {job, next, now}
",
    ))
});

/// Removes a delivered message or acked job, if the lease is still this one.
/// KEYS: topic base, prefix. ARGV: id, lease, topic. Returns 1 if removed.
pub(crate) static ACK: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id = ARGV[1]
if not leased(id, ARGV[2]) then return 0 end
redis.call('HDEL', @body, id)
redis.call('HDEL', @meta, id)
redis.call('ZREM', @inflight, id)
return 1
",
    ))
});

/// Schedules a reserved job again, if the lease is still this one: after ARGV[4] ms, or the
/// ladder's rung for its attempt (ARGV[7..], ms; the last rung once exhausted, 1 s without a
/// ladder). After its last attempt (ARGV[5]) it becomes a dead letter instead.
/// KEYS: topic base, prefix. ARGV: id, lease, topic, delay ms or '', max attempts, error,
/// rungs. Returns {1, due ms} when scheduled, {2, 0} when dead, {0, 0} when the lease is gone.
static RETRY: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id, topic = ARGV[1], ARGV[3]
local m = leased(id, ARGV[2])
if not m then return {0, 0} end
local now, attempts = now_ms(), m.attempts or 1
if attempts >= tonumber(ARGV[5]) then
  to_dead(id, m, now, '', ARGV[6] .. ' after the last of ' .. attempts .. ' attempts')
  return {2, 0}
end
local delay = tonumber(ARGV[4])
if not delay then
  local rungs = #ARGV - 6
  delay = rungs > 0 and tonumber(ARGV[6 + math.min(attempts, rungs)]) or 1000
end
local due = now + delay
to_delayed(topic, id, m, due, '', ARGV[6])
return {1, due}
",
    ))
});

/// Makes a message (a delivery given up, a job failed) a dead letter, if the lease is still
/// this one.
/// KEYS: topic base, prefix. ARGV: id, lease, topic, last status, last error.
/// Returns 1 if buried.
pub(crate) static BURY: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id = ARGV[1]
local m = leased(id, ARGV[2])
if not m then return 0 end
to_dead(id, m, now_ms(), ARGV[4], ARGV[5])
return 1
",
    ))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_round_trip_and_bad_ones_are_named() {
        let lease = Lease::new("order/1 ü");
        let parsed = Lease::parse(&lease.handle()).unwrap();
        assert_eq!(parsed.id, "order/1 ü");
        assert_eq!(parsed.token, lease.token);
        for bad in [
            "",
            "x",
            "abc.6f",
            &format!("{}.zz", lease.token),
            &format!("{}.", lease.token),
        ] {
            let err = Lease::parse(bad).err().unwrap();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert!(err.message().starts_with("lease \""), "{err}");
        }
    }
}
