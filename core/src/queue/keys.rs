//! Every Redis key dq uses, in one place. A topic's keys share the hash tag `{topic}`, so that a
//! topic's keys stay in one slot should the shards ever be Redis Cluster nodes.

/// Key names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Keys {
    prefix: String,
}

/// The keys of one topic's messages, in the order the Lua scripts take them.
#[derive(Debug, Clone)]
pub(crate) struct TopicKeys {
    /// ZSET id -> due time (ms): waiting for their time.
    pub delayed: String,
    /// ZSET id -> due time (ms): due, waiting for a worker.
    pub ready: String,
    /// ZSET id -> lease deadline (ms): being delivered.
    pub inflight: String,
    /// ZSET id -> time of death (ms): gave up.
    pub dead: String,
    /// HASH id -> body (JSON text). The body is stored once, whatever the state.
    pub body: String,
    /// HASH id -> JSON of attempts, lease and last failure; absent for untouched messages.
    pub meta: String,
}

impl TopicKeys {
    /// All six, as `KEYS[1..6]` of the scripts.
    pub fn all(&self) -> [&str; 6] {
        [
            &self.delayed,
            &self.ready,
            &self.inflight,
            &self.dead,
            &self.body,
            &self.meta,
        ]
    }
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

    pub fn topic(&self, topic: &str) -> TopicKeys {
        let base = format!("{}:{{{topic}}}", self.prefix);
        TopicKeys {
            delayed: format!("{base}:delayed"),
            ready: format!("{base}:ready"),
            inflight: format!("{base}:inflight"),
            dead: format!("{base}:dead"),
            body: format!("{base}:body"),
            meta: format!("{base}:meta"),
        }
    }
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
        assert_eq!(t.all().len(), 6);
    }
}
