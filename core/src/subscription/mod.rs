//! Subscriptions: a RabbitMQ queue whose messages the gateway pushes to an HTTP endpoint, with
//! the delivery rules of topics (DESIGN.md "Subscriptions"). This module holds the definition
//! and its checks ([`Subscription`]), the request each message becomes ([`request`]), what an
//! answer means for it ([`verdict`]) and the copies made to retry it or keep it dead, and the
//! consumer that drives them ([`SubscriptionWorker`]), which the gateway will run.

mod dead;
mod request;
mod verdict;
mod worker;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::amqp::short;
use crate::error::{Error, Result, shown};
use crate::input::check_name;
use crate::registry::{
    Definition, Method, Status, check_ladder, check_secret, check_timeout_ms, check_url,
    default_retry, default_timeout_ms, ladder_attempts, ladder_wait,
};

pub use dead::{DeadLetter, DeadLetters, DeadPage, SCAN_LIMIT};
pub use request::{Delivered, request};
pub use verdict::{
    ATTEMPTS, Answer, DEAD_ID, DIED_AT, LAST_ERROR, LAST_STATUS, MAX_RETRY_AFTER, ORIGIN_EXCHANGE,
    ORIGIN_ROUTING_KEY, Verdict, attempts_so_far, dead_copy, header_number, header_text, origin,
    parse_retry_after, requeue_copy, retry_copy, verdict,
};
pub use worker::{SubscriptionObserver, SubscriptionWorker, Unobserved, published_at_ms};

/// Deliveries in flight at once per gateway when a subscription does not say.
pub const DEFAULT_CONCURRENCY: u32 = 10;
const MAX_CONCURRENCY: u32 = 1000;
const MAX_PREFETCH: u32 = 65_535;
const MAX_ROUTING_KEYS: usize = 100;

/// A subscription as declared in the gateway's file (`[[subscription]]`) or with
/// `PUT /v1/subscriptions/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub name: String,
    /// The queue consumed; declared (durable) when it does not exist.
    pub queue: String,
    /// An exchange to bind the queue to, with `routing_keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// The bindings' routing keys (`[""]` when `exchange` is given without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routing_keys: Vec<String>,
    /// Where each message is delivered.
    pub callback: String,
    #[serde(default)]
    pub method: Method,
    /// How long a callback may take before the attempt counts as failed.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Seconds to wait before each further attempt.
    #[serde(default = "default_retry")]
    pub retry: Vec<f64>,
    /// Attempts in all, the first included; by default one more than the ladder has rungs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Deliveries in flight at once per gateway; 1 delivers strictly in order (a failing
    /// message is retried in place before the next).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Unacknowledged messages the broker hands this gateway at once; at least `concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<u32>,
    /// Key of the `X-Dq-Signature` HMAC; no signature without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `active` consumes; `paused` leaves the messages in the queue.
    #[serde(default)]
    pub status: Status,
    /// When this definition was written (unix ms); the newest one wins between gateways.
    #[serde(default)]
    pub updated_at: i64,
}

impl Subscription {
    /// A subscription with the defaults: `queue` delivered to `callback`.
    pub fn new(name: &str, queue: &str, callback: &str) -> Subscription {
        Subscription {
            name: name.to_string(),
            queue: queue.to_string(),
            exchange: None,
            routing_keys: Vec::new(),
            callback: callback.to_string(),
            method: Method::default(),
            timeout_ms: default_timeout_ms(),
            retry: default_retry(),
            max_attempts: None,
            concurrency: None,
            prefetch: None,
            secret: None,
            status: Status::default(),
            updated_at: 0,
        }
    }

    /// Checks every field; the error names the field and the value.
    pub fn validate(&self) -> Result<()> {
        check_name("subscription", &self.name, 128)?;
        if self.queue.is_empty() {
            return Err(Error::invalid(
                "queue is empty: a subscription consumes a queue; give its name",
            ));
        }
        short("queue", &self.queue)?;
        match &self.exchange {
            Some(exchange) => {
                short("exchange", exchange)?;
                if self.routing_keys.len() > MAX_ROUTING_KEYS {
                    return Err(Error::invalid(format!(
                        "routing_keys has {} keys: expected at most {MAX_ROUTING_KEYS}",
                        self.routing_keys.len()
                    )));
                }
                for (i, key) in self.routing_keys.iter().enumerate() {
                    short(&format!("routing_keys[{i}]"), key)?;
                }
            }
            None if !self.routing_keys.is_empty() => {
                return Err(Error::invalid(format!(
                    "routing_keys {} without an exchange: give \"exchange\" to bind the queue to",
                    shown(&self.routing_keys.join(", "))
                )));
            }
            None => {}
        }
        if self.callback.is_empty() {
            return Err(Error::invalid(
                "callback is missing: a subscription delivers each message to a callback URL",
            ));
        }
        check_url("callback", &self.callback)?;
        check_timeout_ms(self.timeout_ms)?;
        check_ladder(&self.retry, self.max_attempts)?;
        if let Some(concurrency) = self.concurrency
            && !(1..=MAX_CONCURRENCY).contains(&concurrency)
        {
            return Err(Error::invalid(format!(
                "concurrency {concurrency} is out of range: expected 1 to {MAX_CONCURRENCY}"
            )));
        }
        if let Some(prefetch) = self.prefetch {
            if !(1..=MAX_PREFETCH).contains(&prefetch) {
                return Err(Error::invalid(format!(
                    "prefetch {prefetch} is out of range: expected 1 to {MAX_PREFETCH}"
                )));
            }
            if prefetch < self.concurrency() {
                return Err(Error::invalid(format!(
                    "prefetch {prefetch} is below concurrency {}: no more than {prefetch} messages could be in flight",
                    self.concurrency()
                )));
            }
        }
        if self.status == Status::Disabled {
            return Err(Error::invalid(
                "status \"disabled\" is for topics: a subscription is \"active\" or \"paused\"",
            ));
        }
        check_secret(self.secret.as_deref())
    }

    /// Deliveries in flight at once per gateway.
    pub fn concurrency(&self) -> u32 {
        self.concurrency.unwrap_or(DEFAULT_CONCURRENCY)
    }

    /// Unacknowledged messages the broker hands this gateway at once: by default twice the
    /// concurrency, so the next message is there when a slot frees.
    pub fn prefetch(&self) -> u16 {
        let prefetch = self
            .prefetch
            .unwrap_or_else(|| self.concurrency().saturating_mul(2));
        u16::try_from(prefetch).unwrap_or(u16::MAX)
    }

    /// The bindings to make: `(exchange, routing key)` for each key (`""` when none is given).
    pub fn bindings(&self) -> Vec<(&str, &str)> {
        match &self.exchange {
            None => Vec::new(),
            Some(exchange) if self.routing_keys.is_empty() => vec![(exchange.as_str(), "")],
            Some(exchange) => self
                .routing_keys
                .iter()
                .map(|key| (exchange.as_str(), key.as_str()))
                .collect(),
        }
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        ladder_attempts(&self.retry, self.max_attempts)
    }

    /// How long to wait after failed attempt number `attempt` (1 for the first).
    pub fn retry_after(&self, attempt: u32) -> Duration {
        ladder_wait(&self.retry, attempt)
    }

    /// The queue given-up messages go to: `<prefix>.dead.<name>`.
    pub fn dead_queue(&self, prefix: &str) -> String {
        format!("{prefix}.dead.{}", self.name)
    }
}

impl Definition for Subscription {
    const KIND: &'static str = "subscription";
    const HASH: &'static str = "subscriptions";
    const TABLE: &'static str = "dq_registry_subscription";

    fn name(&self) -> &str {
        &self.name
    }
    fn updated_at(&self) -> i64 {
        self.updated_at
    }
    fn set_updated_at(&mut self, at: i64) {
        self.updated_at = at;
    }
    fn validate(&self) -> Result<()> {
        Subscription::validate(self)
    }
    fn check_name(name: &str) -> Result<()> {
        check_name("subscription", name, 128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub() -> Subscription {
        Subscription::new("credits", "transfer.credit", "http://127.0.0.1:9000/credit")
    }

    #[test]
    fn defaults() {
        let s = sub();
        s.validate().unwrap();
        assert_eq!(s.concurrency(), 10);
        assert_eq!(s.prefetch(), 20);
        assert_eq!(s.max_attempts(), 6);
        assert_eq!(s.retry_after(2), Duration::from_secs(3));
        assert!(s.bindings().is_empty());
        assert_eq!(s.dead_queue("dq"), "dq.dead.credits");
    }

    #[test]
    fn json_form_and_bindings() {
        let s: Subscription = serde_json::from_str(
            r#"{"name":"n","queue":"q","exchange":"corp","routing_keys":["a.*","b.#"],
                "callback":"https://x.test/h","concurrency":1,"prefetch":1,"status":"paused"}"#,
        )
        .unwrap();
        s.validate().unwrap();
        assert_eq!(s.bindings(), [("corp", "a.*"), ("corp", "b.#")]);
        assert_eq!(s.status, Status::Paused);
        let fanout = Subscription {
            exchange: Some("fan".into()),
            ..sub()
        };
        assert_eq!(fanout.bindings(), [("fan", "")]);
        let unknown = serde_json::from_str::<Subscription>(
            r#"{"name":"n","queue":"q","callback":"http://x","prefech":3}"#,
        );
        assert!(unknown.unwrap_err().to_string().contains("prefech"));
    }

    #[test]
    fn mistakes_are_named() {
        let refused = |s: Subscription, needle: &str| {
            let e = s.validate().unwrap_err();
            assert!(e.message().contains(needle), "{needle} in {e}");
        };
        refused(
            Subscription {
                name: "a b".into(),
                ..sub()
            },
            "subscription \"a b\"",
        );
        refused(
            Subscription {
                queue: String::new(),
                ..sub()
            },
            "queue is empty",
        );
        refused(
            Subscription {
                queue: "q".repeat(256),
                ..sub()
            },
            "256 bytes",
        );
        refused(
            Subscription {
                routing_keys: vec!["k".into()],
                ..sub()
            },
            "without an exchange",
        );
        refused(
            Subscription {
                callback: "ftp://x".into(),
                ..sub()
            },
            "\"ftp://x\"",
        );
        refused(
            Subscription {
                callback: String::new(),
                ..sub()
            },
            "callback is missing",
        );
        refused(
            Subscription {
                concurrency: Some(0),
                ..sub()
            },
            "concurrency 0",
        );
        refused(
            Subscription {
                concurrency: Some(8),
                prefetch: Some(4),
                ..sub()
            },
            "prefetch 4 is below concurrency 8",
        );
        refused(
            Subscription {
                timeout_ms: 0,
                ..sub()
            },
            "timeout_ms 0",
        );
        refused(
            Subscription {
                retry: vec![1.0, -1.0],
                ..sub()
            },
            "retry[1] -1",
        );
        refused(
            Subscription {
                status: Status::Disabled,
                ..sub()
            },
            "\"disabled\"",
        );
        refused(
            Subscription {
                secret: Some(String::new()),
                ..sub()
            },
            "secret is 0 bytes",
        );
    }
}
