//! The notifier of one shard: leases ready messages within the gateway's slots (a fair share
//! per topic, see `slots`), delivers each to its topic's callback, and settles it: removed after a
//! 2xx, scheduled again on the topic's retry ladder after a failure, a dead letter after 410 or
//! the last attempt. Every settlement checks the lease, so a message replaced, deleted or
//! re-leased meanwhile is left alone.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::delivery::{Leased, Outcome};
use super::slots::Slot;
use super::{Failure, Shared, Trouble, Wake, next_id, pause};
use crate::alert::GivenUp;
use crate::error::{Error, Result};
use crate::queue::{ACK, BURY, LuaScript, Request, keys, now_ms};
use crate::registry::{Mode, Status, Topic};

/// Longest wait without looking: covers a wake message lost with a broken connection.
const IDLE_CHECK: Duration = Duration::from_secs(5);

enum Pass {
    /// Leased something: look again at once.
    Leased,
    /// Nothing ready that may be delivered now.
    Idle,
    /// Work is waiting but the concurrency limits are reached.
    Saturated,
}

pub(super) async fn run(shared: Arc<Shared>, shard: usize, wake: Arc<Wake>) {
    let name = shared.queue.shards()[shard].server().display.clone();
    let mut trouble = Trouble::new("notifier");
    let mut stop = shared.stop.clone();
    let mut registry = shared.registry.changes();
    while !shared.stopping() {
        // Interest in "a delivery finished" is registered before capacity is checked, so a
        // delivery finishing in between is not missed.
        let freed = shared.slots.freed.notified();
        tokio::pin!(freed);
        freed.as_mut().enable();
        match pass(&shared, shard).await {
            Ok(Pass::Leased) => {
                trouble.ok(&name);
                continue;
            }
            Ok(Pass::Saturated) => {
                trouble.ok(&name);
                // One topic at its limit must not hold up news of others.
                tokio::select! {
                    () = &mut freed => {}
                    () = wake.notifier.notified() => {}
                    () = tokio::time::sleep(IDLE_CHECK) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            Ok(Pass::Idle) => {
                trouble.ok(&name);
                tokio::select! {
                    () = wake.notifier.notified() => {}
                    _ = registry.changed() => {}
                    () = tokio::time::sleep(IDLE_CHECK) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            Err(e) => {
                trouble.failed(&name, &e);
                if !pause(&shared, Duration::from_secs(1)).await {
                    return;
                }
            }
        }
    }
}

/// One look at the shard's ready topics, leasing what the slots allow (see `slots` for the
/// fairness rule).
async fn pass(shared: &Arc<Shared>, shard: usize) -> Result<Pass> {
    let topics = ready_topics(shared, shard).await?;
    let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
    let active = shared.slots.active(&names);
    let mut outcome = Pass::Idle;
    for topic in topics {
        if shared.slots.full() {
            return Ok(Pass::Saturated);
        }
        let limit = topic
            .concurrency
            .map_or(shared.config().topic_concurrency, |c| c as usize);
        let mut grant =
            shared
                .slots
                .reserve(&topic.name, limit, shared.config().batch.max(1), active);
        if grant.count() == 0 {
            outcome = Pass::Saturated;
            continue;
        }
        let leased = lease(shared, shard, &topic, grant.count()).await?;
        if leased.is_empty() {
            continue;
        }
        let topic = Arc::new(topic);
        for message in leased {
            // The script leases at most the grant's count, so a slot is always there.
            let Some(slot) = grant.take() else {
                release(shared, shard, &message).await?;
                continue;
            };
            start(shared, shard, &topic, message, slot)?;
        }
        if !matches!(outcome, Pass::Saturated) {
            outcome = Pass::Leased;
        }
    }
    Ok(outcome)
}

/// The shard's push topics with ready messages that may be delivered now, in random order so
/// that none is always served last. Unknown topics wait until they are registered (again),
/// paused ones until resumed; pull topics' messages wait for their workers to reserve them.
async fn ready_topics(shared: &Shared, shard: usize) -> Result<Vec<Topic>> {
    let keys = shared.queue.shards()[shard].keys();
    let mut names: Vec<String> = shared.queue.shards()[shard]
        .query(Request::Cmd(
            &redis::cmd("SMEMBERS").arg(keys.ready_topics()).to_owned(),
        ))
        .await?;
    fastrand::shuffle(&mut names);
    Ok(names
        .iter()
        .filter_map(|name| shared.registry.get(name))
        .filter(|topic| topic.status != Status::Paused && topic.mode == Mode::Push)
        .collect())
}

/// Starts the delivery of a leased message in a task of its own, listed as under way.
fn start(
    shared: &Arc<Shared>,
    shard: usize,
    topic: &Arc<Topic>,
    message: Leased,
    slot: Slot,
) -> Result<()> {
    let id = next_id(shared);
    // Listed under the lock before the task can finish and unlist itself.
    let Ok(mut deliveries) = shared.deliveries.lock() else {
        return Err(Error::internal("delivery list poisoned"));
    };
    let task = tokio::spawn(deliver(
        shared.clone(),
        shard,
        topic.clone(),
        message.clone(),
        id,
        slot,
    ));
    deliveries.insert(id, (shard, message, task.abort_handle()));
    Ok(())
}

/// Leases up to `count` of the topic's ready messages, earliest due first.
async fn lease(shared: &Shared, shard: usize, topic: &Topic, count: usize) -> Result<Vec<Leased>> {
    let keys = shared.queue.shards()[shard].keys();
    let lease_ms = topic.timeout_ms + shared.config().lease_margin.as_millis() as u64;
    let reply: Vec<(String, String, u32, i64, String)> = shared.queue.shards()[shard]
        .eval(
            &LEASE,
            &[&keys.topic_base(&topic.name), keys.base()],
            &[
                topic.name.as_bytes(),
                count.to_string().as_bytes(),
                lease_ms.to_string().as_bytes(),
                shared.worker_id.as_bytes(),
            ],
        )
        .await?;
    Ok(reply
        .into_iter()
        .map(|(id, body, attempt, due_at_ms, lease)| Leased {
            topic: topic.name.clone(),
            id,
            body,
            attempt,
            due_at_ms,
            lease,
        })
        .collect())
}

/// One attempt, from the HTTP call to the settlement. Holds its slot until done.
async fn deliver(
    shared: Arc<Shared>,
    shard: usize,
    topic: Arc<Topic>,
    message: Leased,
    id: u64,
    slot: Slot,
) {
    let started = Instant::now();
    let lateness = Duration::from_millis(u64::try_from(now_ms() - message.due_at_ms).unwrap_or(0));
    let outcome = match topic.broker_target() {
        None => shared.callbacks.deliver(&topic, &message).await,
        Some((exchange, routing_key)) => {
            super::delivery::publish(
                shared.broker.as_ref(),
                &topic,
                exchange,
                routing_key,
                &message,
            )
            .await
        }
    };
    let attempt = Attempt {
        shard,
        topic: &topic,
        message: &message,
        lateness,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    if let Err(e) = settle(&shared, &attempt, outcome).await {
        tracing::warn!(topic = %message.topic, id = %message.id, error = %e,
            "could not record the outcome; the lease will expire and the message be delivered again");
    }
    if let Ok(mut deliveries) = shared.deliveries.lock() {
        deliveries.remove(&id);
    }
    // Given back last, so that shutdown, woken by it, finds the delivery unlisted.
    drop(slot);
}

/// A finished attempt, as its settlement needs it.
struct Attempt<'a> {
    shard: usize,
    topic: &'a Topic,
    message: &'a Leased,
    lateness: Duration,
    elapsed_ms: u64,
}

/// Records the outcome of an attempt, if the lease is still this worker's: removed after a
/// 2xx, a dead letter after a 410 or the last attempt, otherwise the next attempt scheduled.
async fn settle(shared: &Shared, attempt: &Attempt<'_>, outcome: Outcome) -> Result<()> {
    let message = attempt.message;
    match outcome {
        Outcome::Delivered(status) => {
            if !on_lease(shared, attempt.shard, &ACK, message, &[]).await? {
                lease_lost(shared, attempt, "delivered");
                return Ok(());
            }
            shared.observer.delivered(&message.topic, attempt.lateness);
            tracing::debug!(topic = %message.topic, id = %message.id, attempt = message.attempt, status = ?status,
                lateness_ms = attempt.lateness.as_millis() as u64, elapsed_ms = attempt.elapsed_ms, "delivered");
            Ok(())
        }
        Outcome::Gone => {
            let error = "HTTP 410 Gone: the receiver wants no more of it".to_string();
            bury(shared, attempt, Failure::Gone, Some(410), &error).await
        }
        Outcome::Failed {
            reason,
            status,
            error,
        } if message.attempt >= attempt.topic.max_attempts() => {
            bury(shared, attempt, reason, status, &error).await
        }
        Outcome::Failed {
            reason,
            status,
            error,
        } => retry(shared, attempt, reason, status, &error).await,
    }
}

/// Schedules the next attempt on the topic's ladder.
async fn retry(
    shared: &Shared,
    attempt: &Attempt<'_>,
    reason: Failure,
    status: Option<u16>,
    error: &str,
) -> Result<()> {
    let message = attempt.message;
    let wait = attempt.topic.retry_after(message.attempt);
    let due = (now_ms() + wait.as_millis() as i64).to_string();
    let status_text = status.map(|s| s.to_string()).unwrap_or_default();
    let args: [&[u8]; 3] = [due.as_bytes(), status_text.as_bytes(), error.as_bytes()];
    if !on_lease(shared, attempt.shard, &RETRY, message, &args).await? {
        lease_lost(shared, attempt, "failed");
        return Ok(());
    }
    shared.observer.failed(&message.topic, reason);
    tracing::debug!(topic = %message.topic, id = %message.id, attempt = message.attempt, status,
        reason = reason.as_str(), error, elapsed_ms = attempt.elapsed_ms,
        retry_in_s = wait.as_secs_f64(), "delivery failed");
    Ok(())
}

/// Makes the message a dead letter and, unless the receiver asked for it (410), sends the
/// topic's alert.
async fn bury(
    shared: &Shared,
    attempt: &Attempt<'_>,
    reason: Failure,
    status: Option<u16>,
    error: &str,
) -> Result<()> {
    let message = attempt.message;
    let status_text = status.map(|s| s.to_string()).unwrap_or_default();
    let args: [&[u8]; 2] = [status_text.as_bytes(), error.as_bytes()];
    if !on_lease(shared, attempt.shard, &BURY, message, &args).await? {
        lease_lost(shared, attempt, "failed");
        return Ok(());
    }
    shared.observer.failed(&message.topic, reason);
    shared.observer.dead(
        attempt.topic,
        &GivenUp {
            id: &message.id,
            attempts: message.attempt,
            status,
            error,
            asked: reason == Failure::Gone,
        },
    );
    if shared.quiet.allow(&format!("dead:{}", message.topic)) {
        tracing::warn!(topic = %message.topic, id = %message.id, attempts = message.attempt, status,
            reason = reason.as_str(), error,
            "dead letter (more of this topic within a minute are logged at DEBUG; all are counted in dq_dead_letters_total)");
    } else {
        tracing::debug!(topic = %message.topic, id = %message.id, attempts = message.attempt, status,
            reason = reason.as_str(), error, "dead letter");
    }
    let Some(hook) = attempt.topic.alert_webhook.as_ref() else {
        return Ok(());
    };
    // An alert is for a ladder that ran out; a 410 is the receiver's own request.
    if reason == Failure::Gone {
        return Ok(());
    }
    let letter = json!({
        "topic": message.topic, "id": message.id,
        "body": serde_json::from_str::<serde_json::Value>(&message.body).unwrap_or_default(),
        "attempts": message.attempt, "last_status": status, "last_error": error,
        "due_at": message.due_at_ms as f64 / 1000.0, "died_at": now_ms() as f64 / 1000.0,
    });
    shared.callbacks.alert(attempt.topic, hook, &letter).await;
    Ok(())
}

/// The lease was no longer this worker's when the attempt ended: it expired and the message
/// passed on (this gateway was frozen or cut off from Redis), or the message was deleted or
/// replaced meanwhile. Whoever holds it now settles it; this attempt is not a failure.
fn lease_lost(shared: &Shared, attempt: &Attempt<'_>, outcome: &'static str) {
    let message = attempt.message;
    shared.observer.lease_lost(&message.topic);
    if shared.quiet.allow(&format!("lost:{}", message.topic)) {
        tracing::info!(topic = %message.topic, id = %message.id, attempt = message.attempt, outcome,
            elapsed_ms = attempt.elapsed_ms,
            "lease lost: the message passed on before this attempt ended; its outcome is not recorded (more within a minute at DEBUG; counted in dq_leases_lost_total)");
    } else {
        tracing::debug!(topic = %message.topic, id = %message.id, attempt = message.attempt, outcome,
            elapsed_ms = attempt.elapsed_ms, "lease lost");
    }
}

/// Runs one of the lease-checked scripts on `message` (ARGV: id, lease, topic, then `extra`).
/// `true` if the lease was still this one and the script did its work.
async fn on_lease(
    shared: &Shared,
    shard: usize,
    script: &LuaScript,
    message: &Leased,
    extra: &[&[u8]],
) -> Result<bool> {
    let keys = shared.queue.shards()[shard].keys();
    let base = keys.topic_base(&message.topic);
    let mut args: Vec<&[u8]> = vec![
        message.id.as_bytes(),
        message.lease.as_bytes(),
        message.topic.as_bytes(),
    ];
    args.extend_from_slice(extra);
    let done: i64 = shared.queue.shards()[shard]
        .eval(script, &[&base, keys.base()], &args)
        .await?;
    Ok(done == 1)
}

/// Returns an unfinished lease to ready at once (shutdown), not counting the attempt.
pub(super) async fn release(shared: &Shared, shard: usize, message: &Leased) -> Result<()> {
    on_lease(shared, shard, &RELEASE, message, &[])
        .await
        .map(|_| ())
        .map_err(|e: Error| e.context("returning a lease"))
}

/// Leases up to ARGV[2] ready messages, earliest due first: each goes inflight with a deadline
/// ARGV[3] ms from now, its attempts counted and a lease token recorded in its meta. A topic
/// whose ready set is left empty leaves the ready index.
/// KEYS: topic base, prefix. ARGV: topic, count, lease ms, worker id.
/// Returns {id, body, attempt, due ms, lease} for each.
static LEASE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local topic, now = ARGV[1], now_ms()
local deadline = now + tonumber(ARGV[3])
local ready, inflight, body, meta = @ready, @inflight, @body, @meta
local picked = redis.call('ZRANGE', ready, 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #picked, 2 do
  local id, due = picked[i], tonumber(picked[i + 1])
  redis.call('ZREM', ready, id)
  local text = redis.call('HGET', body, id)
  if text then
    local raw = redis.call('HGET', meta, id)
    local m = raw and cjson.decode(raw) or {}
    m.attempts = (m.attempts or 0) + 1
    m.due_at = due
    m.lease = ARGV[4] .. ':' .. now .. ':' .. m.attempts .. ':' .. i
    redis.call('HSET', meta, id, cjson.encode(m))
    redis.call('ZADD', inflight, deadline, id)
    out[#out + 1] = {id, text, m.attempts, due, m.lease}
  end
end
if redis.call('ZCARD', ready) == 0 then
  redis.call('SREM', @ready_topics, topic)
end
if #out > 0 then
  redis.call('ZADD', @leases, 'LT', deadline, topic)
end
return out
",
    ))
});

/// Schedules the next attempt of a message, if the lease is still this one.
/// KEYS: topic base, prefix. ARGV: id, lease, topic, due ms, last status, last error.
/// Returns 1 if rescheduled.
static RETRY: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id = ARGV[1]
local m = leased(id, ARGV[2])
if not m then return 0 end
to_delayed(ARGV[3], id, m, tonumber(ARGV[4]), ARGV[5], ARGV[6])
return 1
",
    ))
});

/// Returns a leased message to ready without counting the attempt, if the lease is still
/// this one (shutdown).
/// KEYS: topic base, prefix. ARGV: id, lease, topic. Returns 1 if returned.
static RELEASE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id, topic = ARGV[1], ARGV[3]
local m = leased(id, ARGV[2])
if not m then return 0 end
m.lease = nil
m.attempts = math.max((m.attempts or 1) - 1, 0)
redis.call('HSET', @meta, id, cjson.encode(m))
redis.call('ZREM', @inflight, id)
redis.call('ZADD', @ready, m.due_at or 0, id)
mark_ready(topic)
return 1
",
    ))
});
