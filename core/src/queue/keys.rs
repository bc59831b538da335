//! Every Redis key dq uses, in one place. A topic's keys share the hash tag `{topic}`, so that a
//! topic's keys stay in one slot should the shards ever be Redis Cluster nodes.

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

/// Key names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Keys {
    prefix: String,
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
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// HASH topic name -> topic JSON (or a tombstone): the registry as the gateway publishes it.
    pub fn topics(&self) -> String {
        format!("{}:topics", self.prefix)
    }

    /// ZSET topic -> earliest delayed due time, on each shard.
    pub fn timers(&self) -> String {
        format!("{}{}", self.prefix, SHARD_SUFFIXES[0].1)
    }

    /// SET of topics with ready messages, on each shard.
    pub fn ready_topics(&self) -> String {
        format!("{}{}", self.prefix, SHARD_SUFFIXES[1].1)
    }

    /// ZSET topic -> earliest lease deadline, on each shard.
    pub fn leases(&self) -> String {
        format!("{}{}", self.prefix, SHARD_SUFFIXES[2].1)
    }

    /// The pub/sub channel that wakes the workers.
    pub fn wake(&self) -> String {
        format!("{}{}", self.prefix, SHARD_SUFFIXES[3].1)
    }

    /// `prefix:{topic}`, the base of every key of the topic.
    pub fn topic_base(&self, topic: &str) -> String {
        format!("{}:{{{topic}}}", self.prefix)
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

/// Lua functions the scripts share, each put in front of a script that calls it. They keep the
/// shard's indexes and wake-ups right in one place.
const HELPERS: [(&str, &str); 4] = [
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
