//! Dead letters: messages given up after their last attempt or a 410. Listed newest first
//! across shards, put back to be delivered again (with a fresh retry ladder), or removed.

use std::sync::LazyLock;

use super::{DelayQueue, LuaScript, Meta, keys, now_ms, shard_index};
use crate::error::{Error, Result};
use crate::input::{check_id, check_topic};

/// Most dead letters one listing may reach (offset + limit).
pub const MAX_DEAD_PAGE: usize = 10_000;

/// A dead letter, as the dead-letter routes show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: String,
    /// JSON text.
    pub body: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// When it was last due (unix ms).
    pub due_at_ms: i64,
    /// When it was given up (unix ms).
    pub died_at_ms: i64,
}

impl DelayQueue {
    /// A topic's dead letters, newest first: `limit` of them after skipping `offset`.
    pub async fn dead_letters(
        &self,
        topic: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<DeadLetter>> {
        check_topic(topic)?;
        // Checked: offset and limit come from a query string and may be near usize::MAX.
        let reach = match offset.checked_add(limit) {
            Some(reach) if reach <= MAX_DEAD_PAGE => reach,
            _ => {
                return Err(Error::invalid(format!(
                    "offset {offset} + limit {limit} is over {MAX_DEAD_PAGE}: remove or requeue dead letters first"
                )));
            }
        };
        let base = self.keys.topic_base(topic);
        let reach = reach.to_string();
        let (keys, args): ([&str; 1], [&[u8]; 1]) = ([&base], [reach.as_bytes()]);
        let pages = self.shards.iter().map(|shard| {
            shard.eval::<Vec<(String, String, String, i64)>>(&DEAD_PAGE, &keys, &args)
        });
        let mut letters = Vec::new();
        for page in futures_util::future::join_all(pages).await {
            for (id, body, meta, died_at_ms) in page? {
                let meta: Meta = serde_json::from_str(&meta).unwrap_or_default();
                letters.push(DeadLetter {
                    id,
                    body,
                    attempts: meta.attempts,
                    last_status: meta.last_status,
                    last_error: meta.last_error,
                    due_at_ms: meta.due_at.unwrap_or(died_at_ms),
                    died_at_ms,
                });
            }
        }
        letters.sort_by(|a, b| {
            b.died_at_ms
                .cmp(&a.died_at_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(letters.into_iter().skip(offset).take(limit).collect())
    }

    /// Puts a dead letter back to be delivered now, its attempts counted from zero again.
    /// `false` if there is no such dead letter.
    pub async fn requeue(&self, topic: &str, id: &str) -> Result<bool> {
        self.dead_script(&REQUEUE, topic, id, &now_ms().to_string())
            .await
    }

    /// Removes a dead letter. `false` if there is no such dead letter.
    pub async fn delete_dead(&self, topic: &str, id: &str) -> Result<bool> {
        self.dead_script(&DELETE, topic, id, "").await
    }

    async fn dead_script(
        &self,
        script: &LuaScript,
        topic: &str,
        id: &str,
        extra: &str,
    ) -> Result<bool> {
        check_topic(topic)?;
        check_id(id)?;
        let shard = &self.shards[shard_index(topic, id, self.shards.len())];
        let done: i64 = shard
            .eval(
                script,
                &[&self.keys.topic_base(topic), self.keys.prefix()],
                &[id.as_bytes(), topic.as_bytes(), extra.as_bytes()],
            )
            .await?;
        Ok(done == 1)
    }
}

/// The newest ARGV[1] dead letters with their bodies and meta.
/// KEYS: topic base. Returns {id, body, meta, died at ms} for each.
static DEAD_PAGE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local ids = redis.call('ZREVRANGE', @dead, 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #ids, 2 do
  local id = ids[i]
  local body = redis.call('HGET', @body, id) or 'null'
  local meta = redis.call('HGET', @meta, id) or '{}'
  out[#out + 1] = {id, body, meta, tonumber(ids[i + 1])}
end
return out
",
    ))
});

/// Moves a dead letter to ready, due ARGV[3], with its attempts and lease cleared.
/// KEYS: topic base, prefix. ARGV: id, topic, now ms. Returns 1 if it was a dead letter.
static REQUEUE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id, topic = ARGV[1], ARGV[2]
if not redis.call('ZSCORE', @dead, id) then return 0 end
redis.call('ZREM', @dead, id)
redis.call('HDEL', @meta, id)
redis.call('ZADD', @ready, ARGV[3], id)
mark_ready(topic)
return 1
",
    ))
});

/// Removes a dead letter (and only a dead letter).
/// KEYS: topic base, prefix. ARGV: id. Returns 1 if it was a dead letter.
static DELETE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(&keys::lua(
        r"
local id = ARGV[1]
if redis.call('ZREM', @dead, id) == 0 then return 0 end
redis.call('HDEL', @body, id)
redis.call('HDEL', @meta, id)
return 1
",
    ))
});
