//! The timer of one shard: moves due messages from delayed to ready. It sleeps until the earliest
//! due time of any topic (from the shard's `timers` index) and wakes early when the wake channel
//! says an earlier one arrived: no polling. Due times are Redis's clock; the timer keeps the
//! offset between Redis's clock and its own so that it wakes on time.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::time::Instant;

use super::{Shared, Trouble, Wake, due_topics};
use crate::error::Result;
use crate::queue::{LuaScript, Request, keys, now_ms};

/// Topics handled per round trip; more due topics are taken in the next round at once.
const TOPICS_PER_ROUND: usize = 64;
/// Longest sleep without looking: covers a wake message lost with a broken connection.
const LONGEST_SLEEP: Duration = Duration::from_secs(10);
/// How often the clock offset to Redis is measured again.
const CLOCK_CHECK: Duration = Duration::from_secs(60);

pub(super) async fn run(shared: Arc<Shared>, shard: usize, wake: Arc<Wake>) {
    let name = shared.queue.shards()[shard].server().display.clone();
    let mut trouble = Trouble::new("timer");
    let mut clock = Clock::default();
    let mut stop = shared.stop.clone();
    while !shared.stopping() {
        let next = match round(&shared, shard, &wake, &mut clock).await {
            Ok(next) => {
                trouble.ok(&name);
                next
            }
            Err(e) => {
                trouble.failed(&name, &e);
                Some(Instant::now() + Duration::from_secs(1))
            }
        };
        let Some(until) = next else {
            continue;
        };
        let until = until.min(Instant::now() + LONGEST_SLEEP);
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            () = wake.timer.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One look at the shard: moves what is due. Returns when to look next (`None`: at once, more
/// is due).
async fn round(
    shared: &Shared,
    shard: usize,
    wake: &Wake,
    clock: &mut Clock,
) -> Result<Option<Instant>> {
    let queue = &shared.queue;
    let keys = queue.shards()[shard].keys();
    let shard_ref = &queue.shards()[shard];
    clock.refresh(shard_ref).await?;
    let now = clock.redis_now();
    let (due, head) = due_topics(shard_ref, &keys.timers(), now, TOPICS_PER_ROUND).await?;
    if due.is_empty() {
        return Ok(Some(match head {
            Some(next_due) => clock.local_instant(next_due),
            None => Instant::now() + LONGEST_SLEEP,
        }));
    }
    let batch = shared.config().batch.max(1) * 10;
    let mut more = due.len() == TOPICS_PER_ROUND;
    let mut moved = 0;
    for topic in &due {
        let n: usize = shard_ref
            .eval(
                &MOVE,
                &[&keys.topic_base(topic), keys.base()],
                &[topic.as_bytes(), batch.to_string().as_bytes()],
            )
            .await?;
        moved += n;
        more |= n == batch;
    }
    if moved > 0 {
        // The script told other gateways; this one hears it without the round trip.
        wake.notifier.notify_one();
    }
    Ok(if more { None } else { Some(Instant::now()) })
}

/// The offset between Redis's clock and ours.
#[derive(Default)]
struct Clock {
    offset_ms: i64,
    checked: Option<Instant>,
}

impl Clock {
    async fn refresh(&mut self, shard: &crate::queue::Shard) -> Result<()> {
        if self.checked.is_some_and(|at| at.elapsed() < CLOCK_CHECK) {
            return Ok(());
        }
        let before = now_ms();
        let (seconds, micros): (i64, i64) = shard.query(Request::Cmd(&redis::cmd("TIME"))).await?;
        let after = now_ms();
        self.offset_ms = seconds * 1000 + micros / 1000 - (before + after) / 2;
        self.checked = Some(Instant::now());
        Ok(())
    }

    fn redis_now(&self) -> i64 {
        now_ms() + self.offset_ms
    }

    /// The local instant at which Redis's clock shows `redis_ms`.
    fn local_instant(&self, redis_ms: i64) -> Instant {
        let wait = redis_ms - self.redis_now();
        Instant::now() + Duration::from_millis(u64::try_from(wait).unwrap_or(0))
    }
}

/// Moves a topic's due messages (by Redis's clock) from delayed to ready, at most ARGV[2], and
/// sets the topic's entry in the timers index to its new earliest due time.
/// KEYS: topic base, prefix. ARGV: topic, most to move. Returns how many moved.
static MOVE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
return promote_due(ARGV[1], now_ms(), tonumber(ARGV[2]))
",
    ))
});
