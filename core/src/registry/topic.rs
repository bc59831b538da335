//! A topic: where its messages go when due and how hard dq tries.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, shown};
use crate::input::{MAX_ADD_DELAY, check_topic, delay_from_seconds};

/// The default retry ladder, in seconds: the payment-notify ladder.
pub const DEFAULT_RETRY: [f64; 5] = [1.0, 3.0, 5.0, 15.0, 30.0];
pub const DEFAULT_TIMEOUT_MS: u64 = 5000;
const MAX_TIMEOUT_MS: u64 = 600_000;
const MAX_ATTEMPTS: u32 = 1000;
const MAX_RUNGS: usize = 100;

/// How a callback is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[serde(alias = "get")]
    Get,
    #[default]
    #[serde(alias = "post")]
    Post,
}

/// Whether a topic takes and delivers messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Takes messages and delivers them.
    #[default]
    Active,
    /// Takes messages; delivery waits until the topic is active again.
    Paused,
    /// Refuses new messages; those already accepted are still delivered.
    Disabled,
}

/// How a topic's due messages reach the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The gateway delivers each due message to the topic's callback.
    #[default]
    Push,
    /// Due messages wait as ready until a worker reserves one (`Dq\Client::reserve`,
    /// `POST /v1/topics/{topic}/reserve`); the topic has no callback.
    Pull,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Push => "push",
            Mode::Pull => "pull",
        }
    }
}

/// A topic as declared in the gateway's file or with `PUT /v1/topics/{topic}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub name: String,
    /// Push (the default): the gateway calls `callback`; pull: workers reserve due messages.
    #[serde(default)]
    pub mode: Mode,
    /// The URL that due messages are delivered to (push topics; a pull topic has none, nor
    /// does a topic delivering to RabbitMQ).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub callback: String,
    /// A push topic may deliver to RabbitMQ instead: each due message is published (with a
    /// confirm) to this exchange (`""`: the default exchange) with `routing_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// The routing key of the messages published to `exchange` (`""` when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    #[serde(default)]
    pub method: Method,
    /// Seconds from `add` to due when a message names neither `delay` nor `fix_time`.
    #[serde(default)]
    pub delay: f64,
    /// How long a callback may take before the attempt counts as failed.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Seconds to wait before each further attempt.
    #[serde(default = "default_retry")]
    pub retry: Vec<f64>,
    /// Attempts in all, the first included; by default one more than the ladder has rungs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Key of the `X-Dq-Signature` HMAC; no signature without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default)]
    pub status: Status,
    /// Where to POST a dead letter when a message is given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_webhook: Option<String>,
    /// Who is mailed a dead letter of this topic, beside `[alerts] to` (one address or a
    /// list; a string may list several, separated by commas).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "addresses"
    )]
    pub alert_email: Vec<String>,
    /// Deliveries of this topic in flight at once per gateway; default: the gateway's
    /// `topic_concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// When this definition was written (unix ms); the newest one wins between shards.
    #[serde(default)]
    pub updated_at: i64,
}

pub(crate) fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

pub(crate) fn default_retry() -> Vec<f64> {
    DEFAULT_RETRY.to_vec()
}

impl Topic {
    /// A topic with the defaults and this callback.
    pub fn new(name: &str, callback: &str) -> Topic {
        Topic {
            name: name.to_string(),
            mode: Mode::Push,
            callback: callback.to_string(),
            exchange: None,
            routing_key: None,
            method: Method::default(),
            delay: 0.0,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            retry: default_retry(),
            max_attempts: None,
            secret: None,
            status: Status::default(),
            alert_webhook: None,
            alert_email: Vec::new(),
            concurrency: None,
            updated_at: 0,
        }
    }

    /// A push topic with the defaults whose due messages are published to `exchange` with
    /// `routing_key`.
    pub fn to_exchange(name: &str, exchange: &str, routing_key: &str) -> Topic {
        Topic {
            exchange: Some(exchange.to_string()),
            routing_key: Some(routing_key.to_string()),
            ..Topic::new(name, "")
        }
    }

    /// Where a push topic's due messages go: `Some((exchange, routing key))` when it publishes
    /// to RabbitMQ, `None` when it calls its callback.
    pub fn broker_target(&self) -> Option<(&str, &str)> {
        self.exchange
            .as_deref()
            .map(|exchange| (exchange, self.routing_key.as_deref().unwrap_or("")))
    }

    /// A pull topic with the defaults: due messages wait for a worker to reserve them.
    pub fn pull(name: &str) -> Topic {
        Topic {
            mode: Mode::Pull,
            ..Topic::new(name, "")
        }
    }

    /// Checks every field; the error names the field and the value.
    pub fn validate(&self) -> Result<()> {
        check_topic(&self.name)?;
        if self.routing_key.is_some() && self.exchange.is_none() {
            return Err(Error::invalid(format!(
                "routing_key {} without an exchange: give \"exchange\" (\"\" for the default exchange) to publish due messages to RabbitMQ",
                shown(self.routing_key.as_deref().unwrap_or(""))
            )));
        }
        match self.mode {
            Mode::Push if self.exchange.is_some() => {
                if !self.callback.is_empty() {
                    return Err(Error::invalid(format!(
                        "callback {} and exchange {} both given: a topic delivers either to a callback URL or to RabbitMQ; remove one",
                        shown(&self.callback),
                        shown(self.exchange.as_deref().unwrap_or(""))
                    )));
                }
                if let Some((exchange, routing_key)) = self.broker_target() {
                    crate::amqp::short("exchange", exchange)?;
                    crate::amqp::short("routing_key", routing_key)?;
                    if exchange.is_empty() && routing_key.is_empty() {
                        return Err(Error::invalid(
                            "routing_key is empty with the default exchange (\"exchange\": \"\"): give the queue's name as routing_key",
                        ));
                    }
                }
            }
            Mode::Push if self.callback.is_empty() => {
                return Err(Error::invalid(
                    "callback is missing: a push topic delivers to a callback URL; give \"callback\" (or \"exchange\" and \"routing_key\" to publish to RabbitMQ), or \"mode\": \"pull\" for a topic whose workers reserve its messages",
                ));
            }
            Mode::Push => check_url("callback", &self.callback)?,
            Mode::Pull if self.exchange.is_some() => {
                return Err(Error::invalid(
                    "exchange is not used by a pull topic: its workers reserve due messages; remove \"exchange\", or set \"mode\": \"push\"",
                ));
            }
            Mode::Pull if !self.callback.is_empty() => {
                return Err(Error::invalid(format!(
                    "callback {} is not used by a pull topic: its workers reserve due messages; remove \"callback\", or set \"mode\": \"push\"",
                    shown(&self.callback)
                )));
            }
            Mode::Pull => {}
        }
        if let Some(hook) = &self.alert_webhook {
            check_url("alert_webhook", hook)?;
        }
        if self.alert_email.len() > crate::alert::MAX_RECIPIENTS {
            return Err(Error::invalid(format!(
                "alert_email has {} addresses: at most {} are kept",
                self.alert_email.len(),
                crate::alert::MAX_RECIPIENTS
            )));
        }
        for address in &self.alert_email {
            crate::alert::mailbox("alert_email", address)?;
        }
        check_seconds("delay", self.delay)?;
        check_timeout_ms(self.timeout_ms)?;
        check_ladder(&self.retry, self.max_attempts)?;
        if let Some(concurrency) = self.concurrency
            && !(1..=10_000).contains(&concurrency)
        {
            return Err(Error::invalid(format!(
                "concurrency {concurrency} is out of range: expected 1 to 10000"
            )));
        }
        check_secret(self.secret.as_deref())
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        ladder_attempts(&self.retry, self.max_attempts)
    }

    /// How long to wait after failed attempt number `attempt` (1 for the first).
    pub fn retry_after(&self, attempt: u32) -> std::time::Duration {
        ladder_wait(&self.retry, attempt)
    }

    /// The default delay in milliseconds.
    pub fn delay_ms(&self) -> i64 {
        (self.delay * 1000.0).round() as i64
    }
}

fn check_seconds(field: &str, seconds: f64) -> Result<()> {
    delay_from_seconds(field, seconds, MAX_ADD_DELAY).map(drop)
}

/// A callback's time bound: 1 ms to 10 minutes.
pub(crate) fn check_timeout_ms(timeout_ms: u64) -> Result<()> {
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(Error::invalid(format!(
            "timeout_ms {timeout_ms} is out of range: expected 1 to {MAX_TIMEOUT_MS}"
        )));
    }
    Ok(())
}

/// A retry ladder (seconds before each further attempt) and the attempts allowed in all.
pub(crate) fn check_ladder(retry: &[f64], max_attempts: Option<u32>) -> Result<()> {
    if retry.len() > MAX_RUNGS {
        return Err(Error::invalid(format!(
            "retry has {} steps: expected at most {MAX_RUNGS}",
            retry.len()
        )));
    }
    for (i, seconds) in retry.iter().enumerate() {
        check_seconds(&format!("retry[{i}]"), *seconds)?;
    }
    if let Some(max) = max_attempts
        && !(1..=MAX_ATTEMPTS).contains(&max)
    {
        return Err(Error::invalid(format!(
            "max_attempts {max} is out of range: expected 1 to {MAX_ATTEMPTS}"
        )));
    }
    Ok(())
}

/// Attempts in all, the first included: `max_attempts`, by default one more than the ladder
/// has rungs.
pub(crate) fn ladder_attempts(retry: &[f64], max_attempts: Option<u32>) -> u32 {
    max_attempts.unwrap_or_else(|| u32::try_from(retry.len()).unwrap_or(u32::MAX) + 1)
}

/// How long to wait after failed attempt number `attempt` (1 for the first): the ladder's rung
/// for it, the last rung once the ladder is exhausted, 1 s without a ladder.
pub(crate) fn ladder_wait(retry: &[f64], attempt: u32) -> std::time::Duration {
    let rung = (attempt.max(1) - 1) as usize;
    let seconds = retry.get(rung).or(retry.last()).copied().unwrap_or(1.0);
    std::time::Duration::from_secs_f64(seconds)
}

/// An HMAC key: 1 to 256 bytes, when there is one.
pub(crate) fn check_secret(secret: Option<&str>) -> Result<()> {
    if let Some(secret) = secret
        && (secret.is_empty() || secret.len() > 256)
    {
        return Err(Error::invalid(format!(
            "secret is {} bytes: expected 1 to 256",
            secret.len()
        )));
    }
    Ok(())
}

pub(crate) fn check_url(field: &str, value: &str) -> Result<()> {
    let parsed = url::Url::parse(value).map_err(|e| {
        Error::invalid(format!(
            "{field} {} is not a URL ({e}): expected http://host/path",
            shown(value)
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::invalid(format!(
            "{field} {} is not an http:// or https:// URL",
            shown(value)
        )));
    }
    Ok(())
}

/// `alert_email`: one string (several addresses separated by commas or semicolons, as
/// php-delayqueue's `email` column has them) or a list of strings; `null` is none.
fn addresses<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(text)) => split_addresses(&text),
        Some(OneOrMany::Many(list)) => list.iter().flat_map(|a| split_addresses(a)).collect(),
    })
}

/// `"a@x, b@y;c@z"` as its addresses, blanks left out.
pub(crate) fn split_addresses(text: &str) -> Vec<String> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_email_is_one_address_a_list_or_a_comma_separated_string() {
        let read = |json: &str| serde_json::from_str::<Topic>(json).map(|t| t.alert_email);
        let base = r#"{"name":"t","callback":"http://h/x","alert_email":"#;
        assert_eq!(
            read(&format!("{base}\"a@x.test, b@x.test;c@x.test\"}}")).unwrap(),
            ["a@x.test", "b@x.test", "c@x.test"]
        );
        assert_eq!(
            read(&format!("{base}[\"a@x.test\", \" \"]}}")).unwrap(),
            ["a@x.test"]
        );
        assert!(read(&format!("{base}null}}")).unwrap().is_empty());
        let mut t = Topic::new("t", "http://h/x");
        t.alert_email = vec!["ops@x.test".into(), "nope".into()];
        let e = t.validate().unwrap_err();
        assert!(e.to_string().contains("alert_email \"nope\""), "{e}");
        t.alert_email = (0..51).map(|i| format!("o{i}@x.test")).collect();
        assert!(
            t.validate()
                .unwrap_err()
                .to_string()
                .contains("51 addresses")
        );
    }

    #[test]
    fn defaults_and_checks() {
        let t = Topic::new("orders", "http://127.0.0.1:9000/hook");
        t.validate().unwrap();
        assert_eq!(t.max_attempts(), 6);
        assert_eq!(t.retry_after(1).as_secs(), 1);
        assert_eq!(t.retry_after(5).as_secs(), 30);
        assert_eq!(t.retry_after(9).as_secs(), 30, "last rung repeats");
        let mut bad = t.clone();
        bad.callback = "ftp://x".into();
        assert!(
            bad.validate()
                .unwrap_err()
                .message()
                .contains("\"ftp://x\"")
        );
        let mut bad = t.clone();
        bad.retry = vec![1.0, -2.0];
        assert!(
            bad.validate()
                .unwrap_err()
                .message()
                .contains("retry[1] -2")
        );
        let mut bad = t;
        bad.timeout_ms = 0;
        assert!(
            bad.validate()
                .unwrap_err()
                .message()
                .contains("timeout_ms 0")
        );
    }

    #[test]
    fn json_form() {
        let t: Topic = serde_json::from_str(
            r#"{"name":"a","callback":"https://x.test/h","method":"GET","retry":[1,2]}"#,
        )
        .unwrap();
        assert_eq!(t.method, Method::Get);
        assert_eq!(t.max_attempts(), 3);
        let unknown =
            serde_json::from_str::<Topic>(r#"{"name":"a","callback":"http://x","retries":[1]}"#);
        assert!(unknown.unwrap_err().to_string().contains("retries"));
    }

    #[test]
    fn a_topic_may_deliver_to_rabbitmq() {
        let t: Topic =
            serde_json::from_str(r#"{"name":"a","exchange":"orders","routing_key":"timeout"}"#)
                .unwrap();
        t.validate().unwrap();
        assert_eq!(t.broker_target(), Some(("orders", "timeout")));
        let fanout = Topic {
            routing_key: None,
            ..t.clone()
        };
        assert_eq!(fanout.broker_target(), Some(("orders", "")));
        let to_queue = Topic::to_exchange("a", "", "orders.timeout");
        to_queue.validate().unwrap();
        let refused = |t: Topic, needle: &str| {
            let e = t.validate().unwrap_err();
            assert!(e.message().contains(needle), "{needle} in {e}");
        };
        refused(
            Topic {
                callback: "http://x.test/h".into(),
                ..t.clone()
            },
            "both given",
        );
        refused(Topic::to_exchange("a", "", ""), "default exchange");
        refused(
            Topic {
                exchange: None,
                ..t.clone()
            },
            "without an exchange",
        );
        refused(
            Topic {
                mode: Mode::Pull,
                routing_key: None,
                ..t.clone()
            },
            "not used by a pull topic",
        );
        refused(Topic::to_exchange("a", &"x".repeat(256), "k"), "256 bytes");
        assert_eq!(Topic::new("a", "http://x.test/").broker_target(), None);
    }
}
