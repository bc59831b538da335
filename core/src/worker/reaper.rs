//! The reaper of one shard: a lease whose deadline passed belongs to a worker that died (or hung
//! past its timeout and margin), so its message goes back to ready and is delivered again. It
//! sleeps until the earliest lease deadline. It also keeps dead letters within their retention
//! (count and age), so Redis does not grow without bound.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::time::Instant;

use super::{Shared, Trouble, due_topics};
use crate::error::Result;
use crate::queue::{LuaScript, Request, keys, now_ms};

const TOPICS_PER_ROUND: usize = 64;
const LONGEST_SLEEP: Duration = Duration::from_secs(10);
const TRIM_EVERY: Duration = Duration::from_secs(60);
const PER_CALL: usize = 1000;

pub(super) async fn run(shared: Arc<Shared>, shard: usize) {
    let name = shared.queue.shards()[shard].server().display.clone();
    let mut trouble = Trouble::new("lease reaper");
    let mut stop = shared.stop.clone();
    let mut trimmed: Option<Instant> = None;
    while !shared.stopping() {
        let next = match reap(&shared, shard).await {
            Ok(next) => {
                trouble.ok(&name);
                next
            }
            Err(e) => {
                trouble.failed(&name, &e);
                Some(Instant::now() + Duration::from_secs(1))
            }
        };
        if trimmed.is_none_or(|at| at.elapsed() >= TRIM_EVERY) {
            if let Err(e) = trim(&shared, shard).await {
                tracing::warn!(shard = %name, error = %e, "could not trim dead letters");
            }
            trimmed = Some(Instant::now());
        }
        let Some(until) = next else {
            continue;
        };
        tokio::select! {
            () = tokio::time::sleep_until(until.min(Instant::now() + LONGEST_SLEEP)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Returns expired leases to ready. Returns when to look next (`None`: at once).
async fn reap(shared: &Shared, shard: usize) -> Result<Option<Instant>> {
    let keys = shared.queue.shards()[shard].keys();
    let shard_ref = &shared.queue.shards()[shard];
    let (now_s, now_us): (i64, i64) = shard_ref.query(Request::Cmd(&redis::cmd("TIME"))).await?;
    let now = now_s * 1000 + now_us / 1000;
    let (expired, head) = due_topics(shard_ref, &keys.leases(), now, TOPICS_PER_ROUND).await?;
    let mut more = expired.len() == TOPICS_PER_ROUND;
    for topic in &expired {
        let n: usize = shard_ref
            .eval(
                &REAP,
                &[&keys.topic_base(topic), keys.base()],
                &[topic.as_bytes(), PER_CALL.to_string().as_bytes()],
            )
            .await?;
        if n > 0 {
            expired_leases(shared, topic, n);
        }
        more |= n == PER_CALL;
    }
    if more {
        return Ok(None);
    }
    if !expired.is_empty() {
        return Ok(Some(Instant::now()));
    }
    let wait = head.map_or(LONGEST_SLEEP, |deadline| {
        Duration::from_millis(u64::try_from(deadline - now).unwrap_or(0))
    });
    Ok(Some(Instant::now() + wait))
}

/// Counts and reports leases the reaper returned: a gateway died or froze mid-delivery. A
/// gateway's worth of leases expires over many rounds, so one warning per topic a minute.
fn expired_leases(shared: &Shared, topic: &str, count: usize) {
    shared.observer.leases_expired(topic, count);
    if shared.quiet.allow(&format!("expired:{topic}")) {
        tracing::warn!(topic = %topic, count,
            "leases expired: messages return to ready and are delivered again (more within a minute at DEBUG; counted in dq_leases_expired_total)");
    } else {
        tracing::debug!(topic = %topic, count, "leases expired");
    }
}

/// Removes dead letters beyond the retention count and age, for every registered topic.
async fn trim(shared: &Shared, shard: usize) -> Result<()> {
    let keys = shared.queue.shards()[shard].keys();
    let shard_ref = &shared.queue.shards()[shard];
    let oldest_kept = now_ms() - shared.config().dead_max_age.as_millis() as i64;
    for topic in shared.registry.list() {
        loop {
            let removed: usize = shard_ref
                .eval(
                    &TRIM,
                    &[&keys.topic_base(&topic.name), keys.base()],
                    &[
                        shared.config().dead_keep.to_string().as_bytes(),
                        oldest_kept.to_string().as_bytes(),
                        PER_CALL.to_string().as_bytes(),
                    ],
                )
                .await?;
            if removed < PER_CALL {
                break;
            }
        }
    }
    Ok(())
}

/// Returns up to ARGV[2] expired leases of a topic to ready (at their due time, so they go
/// first) and sets the topic's entry in the leases index to its next deadline.
/// KEYS: topic base, prefix. ARGV: topic, most to return. Returns how many returned.
static REAP: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
return reap_expired(ARGV[1], now_ms(), tonumber(ARGV[2]))
",
    ))
});

/// Removes dead letters beyond ARGV[1] (oldest first) and those that died before ARGV[2],
/// at most ARGV[3] in one call. KEYS: topic base, prefix. Returns how many were removed.
static TRIM: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local dead, body, meta = @dead, @body, @meta
local budget = tonumber(ARGV[3])
local excess = redis.call('ZCARD', dead) - tonumber(ARGV[1])
local doomed = {}
if excess > 0 then
  doomed = redis.call('ZRANGE', dead, 0, math.min(excess, budget) - 1)
end
if #doomed < budget then
  local old = redis.call('ZRANGEBYSCORE', dead, '-inf', '(' .. ARGV[2], 'LIMIT', #doomed, budget - #doomed)
  for _, id in ipairs(old) do doomed[#doomed + 1] = id end
end
for _, id in ipairs(doomed) do
  redis.call('ZREM', dead, id)
  redis.call('HDEL', body, id)
  redis.call('HDEL', meta, id)
end
return #doomed
",
    ))
});
