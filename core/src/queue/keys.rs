//! Every Redis key dq uses, in one place. On its own servers a topic's keys share the hash tag
//! `{topic}`. In a Redis Cluster each partition has a hash tag of its own, `prefix:{tag}`, put
//! in front of its topics' keys and its indexes alike, so that every script touches one slot and
//! a topic is spread over as many slots as there are partitions.

/// The suffixes of a topic's keys, after its base `prefix:{topic}`.
const SUFFIXES: [(&str, &str); 6] = [
    // ZSET id -> due time (ms): waiting for their time.
    ("@delayed", ":delayed"),
    // ZSET id -> due time (ms): due, waiting for a worker.
    ("@ready", ":ready"),
    // ZSET id -> lease deadline (ms): being delivered.
    ("@inflight", ":inflight"),
    // ZSET id -> time of death (ms): given up.
    ("@dead", ":dead"),
    // HASH id -> body (JSON text). The body is stored once, whatever the state.
    ("@body", ":body"),
    // HASH id -> JSON of attempts, lease and last failure; absent for untouched messages.
    ("@meta", ":meta"),
];

/// Keys (and one channel) per shard, after the prefix, that let the workers find work without
/// scanning: scripts keep them in step with the topics' sets.
const SHARD_SUFFIXES: [(&str, &str); 4] = [
    // ZSET topic -> earliest due time of its delayed set (never later than the real head).
    ("@timers", ":timers"),
    // SET of topics whose ready set may be non-empty (always holds those that are).
    ("@ready_topics", ":ready-topics"),
    // ZSET topic -> earliest lease deadline of its inflight set.
    ("@leases", ":leases"),
    // Pub/sub channel: "t" when a topic's earliest due time moved earlier, "r" when a topic
    // got ready messages. Workers sleep until told.
    ("@wake", ":wake"),
];

/// Key names under one prefix, on one shard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Keys {
    prefix: String,
    /// What the shard's keys start with: the prefix, or `prefix:{tag}` for a cluster partition.
    base: String,
}

/// The keys of one topic's messages.
#[derive(Debug, Clone)]
pub(crate) struct TopicKeys {
    pub delayed: String,
    pub ready: String,
    pub inflight: String,
    pub dead: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_string(),
            base: prefix.to_string(),
        }
    }

    /// The keys of partition `index` of `count` of a Redis Cluster.
    pub fn partition(prefix: &str, index: usize, count: usize) -> Self {
        Keys {
            prefix: prefix.to_string(),
            base: format!("{prefix}:{{{}}}", partition_tag(index, count)),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The second key of every script (`KEYS[2]`): what the shard's indexes are named after.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// HASH topic name -> topic JSON (or a tombstone): the registry as the gateway publishes it.
    pub fn topics(&self) -> String {
        self.registry(<crate::registry::Topic as crate::registry::Definition>::HASH)
    }

    /// HASH name -> definition JSON (or a tombstone) of the registry kept in `prefix:<hash>`.
    pub fn registry(&self, hash: &str) -> String {
        format!("{}:{hash}", self.prefix)
    }

    /// ZSET topic -> earliest delayed due time, on each shard.
    pub fn timers(&self) -> String {
        format!("{}{}", self.base, SHARD_SUFFIXES[0].1)
    }

    /// SET of topics with ready messages, on each shard.
    pub fn ready_topics(&self) -> String {
        format!("{}{}", self.base, SHARD_SUFFIXES[1].1)
    }

    /// ZSET topic -> earliest lease deadline, on each shard.
    pub fn leases(&self) -> String {
        format!("{}{}", self.base, SHARD_SUFFIXES[2].1)
    }

    /// The pub/sub channel that wakes the workers.
    pub fn wake(&self) -> String {
        format!("{}{}", self.base, SHARD_SUFFIXES[3].1)
    }

    /// `prefix:{topic}` (`prefix:{tag}:{topic}` in a cluster), the base of every key of the
    /// topic on this shard.
    pub fn topic_base(&self, topic: &str) -> String {
        format!("{}:{{{topic}}}", self.base)
    }

    pub fn topic(&self, topic: &str) -> TopicKeys {
        let base = self.topic_base(topic);
        TopicKeys {
            delayed: format!("{base}{}", SUFFIXES[0].1),
            ready: format!("{base}{}", SUFFIXES[1].1),
            inflight: format!("{base}{}", SUFFIXES[2].1),
            dead: format!("{base}{}", SUFFIXES[3].1),
        }
    }
}

/// The hash tag of partition `index` of `count`: the first of `index.0`, `index.1`, ... whose
/// slot lies in the `index`-th of `count` equal ranges of the 16,384 slots, so that partitions
/// spread over a cluster's masters as its slots do. The same everywhere for the same count.
pub(crate) fn partition_tag(index: usize, count: usize) -> String {
    const SLOTS: usize = 16384;
    let count = count.clamp(1, SLOTS);
    let (low, high) = (index * SLOTS / count, (index + 1) * SLOTS / count);
    (0u32..)
        .map(|n| format!("{index}.{n}"))
        .find(|tag| (low..high).contains(&slot(tag)))
        .unwrap_or_else(|| index.to_string())
}

/// The cluster slot of a key (its hash tag's, if it has one).
pub(crate) fn slot(key: &str) -> usize {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let inner = &bytes[open + 1..];
            inner
                .iter()
                .position(|&b| b == b'}')
                .filter(|&close| close > 0)
                .map(|close| &inner[..close])
        })
        .unwrap_or(bytes);
    usize::from(crc16::State::<crc16::XMODEM>::calculate(hashed)) % 16384
}

/// Lua functions the scripts share, each put in front of a script that calls it. They keep the
/// shard's indexes and wake-ups right in one place. A helper may call those listed before it.
const HELPERS: [(&str, &str); 9] = [
    (
        "now_ms()",
        "local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end",
    ),
    (
        "mark_ready(",
        "-- The topic has ready messages: into the index, and wake the notifiers if it was not.
local function mark_ready(topic)
  if redis.call('SADD', @ready_topics, topic) == 1 then redis.call('PUBLISH', @wake, 'r') end
end",
    ),
    (
        "mark_due(",
        "-- The topic has a message due at `due`: lower its timer, and wake the timers if it moved.
local function mark_due(topic, due)
  if redis.call('ZADD', @timers, 'LT', 'CH', due, topic) == 1 then redis.call('PUBLISH', @wake, 't') end
end",
    ),
    (
        "index_head(",
        "-- Sets the topic's entry in `index` to the earliest score of `set`, or drops it.
local function index_head(set, index, topic)
  local head = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
  if head[2] then redis.call('ZADD', index, head[2], topic) else redis.call('ZREM', index, topic) end
end",
    ),
    (
        "leased(",
        "-- The message's meta, decoded, if the lease `lease` still holds it; nil otherwise (the
-- lease expired and the message passed on, or it was deleted or replaced).
local function leased(id, lease)
  local raw = redis.call('HGET', @meta, id)
  if not raw then return nil end
  local m = cjson.decode(raw)
  if m.lease ~= lease then return nil end
  return m
end",
    ),
    (
        "promote_due(",
        "-- Moves up to `limit` of the topic's delayed messages due by `now` to ready (keeping their due
-- time, so the earliest goes first); returns how many.
local function promote_due(topic, now, limit)
  local delayed, ready = @delayed, @ready
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #due, 2 do
    redis.call('ZREM', delayed, due[i])
    redis.call('ZADD', ready, due[i + 1], due[i])
  end
  if #due > 0 then mark_ready(topic) end
  index_head(delayed, @timers, topic)
  return #due / 2
end",
    ),
    (
        "reap_expired(",
        "-- Returns up to `limit` of the topic's leases that expired by `now` to ready, at their due time
-- (so they go first); returns how many.
local function reap_expired(topic, now, limit)
  local inflight, meta = @inflight, @meta
  local expired = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(expired) do
    local raw = redis.call('HGET', meta, id)
    local m = raw and cjson.decode(raw) or {}
    m.lease = nil
    m.last_error = m.last_error or 'lease expired: the worker stopped before it finished'
    redis.call('HSET', meta, id, cjson.encode(m))
    redis.call('ZREM', inflight, id)
    redis.call('ZADD', @ready, m.due_at or now, id)
  end
  if #expired > 0 then mark_ready(topic) end
  index_head(inflight, @leases, topic)
  return #expired
end",
    ),
    (
        "to_delayed(",
        "-- An inflight message, its meta `m` decoded, waits again until `due`, the last failure noted.
local function to_delayed(topic, id, m, due, status, error)
  m.lease = nil
  m.last_status = tonumber(status)
  m.last_error = error
  redis.call('HSET', @meta, id, cjson.encode(m))
  redis.call('ZREM', @inflight, id)
  redis.call('ZADD', @delayed, due, id)
  mark_due(topic, due)
end",
    ),
    (
        "to_dead(",
        "-- An inflight (or ready) message, its meta `m` decoded, becomes a dead letter, the last failure noted.
local function to_dead(id, m, now, status, error)
  m.lease = nil
  m.last_status = tonumber(status)
  m.last_error = error
  m.died_at = now
  redis.call('HSET', @meta, id, cjson.encode(m))
  redis.call('ZREM', @inflight, id)
  redis.call('ZREM', @ready, id)
  redis.call('ZADD', @dead, now, id)
end",
    ),
];

/// Lua source with `@delayed`, `@ready`, ... standing for the topic's keys, built from the
/// topic's base in `KEYS[1]`, and `@timers`, `@ready_topics`, `@leases`, `@wake` for the
/// shard's, built from the prefix in `KEYS[2]`, so that key names are spelled only here. The
/// shared functions of `HELPERS` it calls are put in front of it.
pub(crate) fn lua(source: &str) -> String {
    let mut source = source.to_string();
    for (call, function) in HELPERS.iter().rev() {
        if source.contains(call) {
            source = format!("{function}\n{source}");
        }
    }
    // Longest tokens first, so that `@ready_topics` is not read as `@ready` + `_topics`.
    let mut tokens: Vec<(&str, String)> = SUFFIXES
        .iter()
        .map(|(token, suffix)| (*token, format!("(KEYS[1] .. '{suffix}')")))
        .chain(
            SHARD_SUFFIXES
                .iter()
                .map(|(token, suffix)| (*token, format!("(KEYS[2] .. '{suffix}')"))),
        )
        .collect();
    tokens.sort_by_key(|(token, _)| std::cmp::Reverse(token.len()));
    tokens
        .iter()
        .fold(source, |code, (token, key)| code.replace(token, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_have_a_slot_each_and_share_it_with_their_keys() {
        // Redis's own example: "123456789" hashes to 0x31C3.
        assert_eq!(slot("123456789"), 0x31C3);
        assert_eq!(slot("a{123456789}b"), 0x31C3);
        assert_eq!(slot("{}x"), slot("{}x"));
        for count in [1, 3, 16, 1024] {
            let mut slots = Vec::new();
            for i in 0..count {
                let k = Keys::partition("dq", i, count);
                let s = slot(k.base());
                assert!(
                    s * count / 16384 == i,
                    "partition {i} of {count} at slot {s}"
                );
                for key in [
                    k.timers(),
                    k.wake(),
                    k.topic("t.x").delayed,
                    k.topic_base("t"),
                ] {
                    assert_eq!(slot(&key), s, "{key}");
                }
                slots.push(s);
            }
            slots.dedup();
            assert_eq!(slots.len(), count);
        }
        // Pinned: changing them strands every cluster user's messages.
        assert_eq!(partition_tag(0, 16), "0.13");
        assert_eq!(
            Keys::partition("dq", 3, 16).topic("t").ready,
            "dq:{3.0}:{t}:ready"
        );
    }

    #[test]
    fn names() {
        let k = Keys::new("dq");
        assert_eq!(k.topics(), "dq:topics");
        let t = k.topic("order.timeout");
        assert_eq!(t.delayed, "dq:{order.timeout}:delayed");
        assert_eq!(k.topic_base("order.timeout"), "dq:{order.timeout}");
        assert_eq!(
            lua("redis.call('ZCARD', @dead)"),
            "redis.call('ZCARD', (KEYS[1] .. ':dead'))"
        );
        assert_eq!(
            lua("@ready_topics @ready"),
            "(KEYS[2] .. ':ready-topics') (KEYS[1] .. ':ready')"
        );
        assert_eq!(k.wake(), "dq:wake");
        assert_eq!(k.base(), "dq");
        let script = lua("mark_ready(ARGV[1])");
        assert!(
            script.starts_with("-- The topic has ready messages"),
            "{script}"
        );
        assert!(script.contains("(KEYS[2] .. ':wake')"), "{script}");
        assert!(
            !script.contains("now_ms"),
            "only the helpers it calls: {script}"
        );
    }
}
