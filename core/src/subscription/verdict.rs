//! What an attempt's answer means for a subscription's message (DESIGN.md "Subscriptions"): 2xx
//! is done (acked, and answered when it has `reply_to`); 410 makes it a dead letter at once; 429
//! and 503 with `Retry-After` retry after that many seconds; anything else, no answer included,
//! retries on the ladder; after the last attempt it is a dead letter. And the copies dq makes of
//! a message to retry it later or to keep it dead, with what they carry in their headers.

use std::time::Duration;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, LongString, ShortString};

use super::{Delivered, Subscription};
use crate::amqp::OutgoingMessage;

/// Attempts made so far (on a copy dq made).
pub const ATTEMPTS: &str = "x-dq-attempts";
/// The HTTP status of the last failed attempt (dead letters; absent when there was none).
pub const LAST_STATUS: &str = "x-dq-last-status";
/// Why the last attempt failed (dead letters).
pub const LAST_ERROR: &str = "x-dq-last-error";
/// The exchange and routing key the message first came with (a copy goes back through the
/// default exchange).
pub const ORIGIN_EXCHANGE: &str = "x-dq-exchange";
pub const ORIGIN_ROUTING_KEY: &str = "x-dq-routing-key";
/// A dead letter's id, by which the API requeues or removes it.
pub const DEAD_ID: &str = "x-dq-dead-id";
/// When the message was given up (unix ms).
pub const DIED_AT: &str = "x-dq-died-at";

/// The headers dq keeps for itself: not shown to the callback as `X-Dq-Header-*`.
pub(crate) const OWN_HEADERS: [&str; 7] = [
    ATTEMPTS,
    LAST_STATUS,
    LAST_ERROR,
    ORIGIN_EXCHANGE,
    ORIGIN_ROUTING_KEY,
    DEAD_ID,
    DIED_AT,
];
/// The headers of a dead letter that go when it is requeued: its attempts start again.
const DEAD_HEADERS: [&str; 5] = [ATTEMPTS, LAST_STATUS, LAST_ERROR, DEAD_ID, DIED_AT];

/// The longest `Retry-After` honoured; a longer one waits this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The callback answered with this status (and `Retry-After`, when it said one).
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: refused, reset, timed out; the reason.
    Failed(String),
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Status { code, .. } => write!(f, "HTTP {code}"),
            Answer::Failed(reason) => f.write_str(reason),
        }
    }
}

/// What to do with the message after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Delivered: ack it (and reply with the answer's body when it has `reply_to`).
    Done,
    /// Try it again after `after`.
    Retry {
        after: Duration,
        status: Option<u16>,
        error: String,
    },
    /// Give it up to the dead-letter queue.
    Dead { status: Option<u16>, error: String },
}

/// The verdict on attempt number `attempt` (1 for the first) that ended with `answer`.
pub fn verdict(subscription: &Subscription, attempt: u32, answer: &Answer) -> Verdict {
    let (status, error, retry_after) = match answer {
        Answer::Status { code, .. } if (200..300).contains(code) => return Verdict::Done,
        Answer::Status { code: 410, .. } => {
            return Verdict::Dead {
                status: Some(410),
                error: "HTTP 410 Gone: the receiver wants no more of it".to_string(),
            };
        }
        Answer::Status { code, retry_after } => (
            Some(*code),
            format!("HTTP {code}"),
            retry_after.filter(|_| matches!(code, 429 | 503)),
        ),
        Answer::Failed(reason) => (None, reason.clone(), None),
    };
    if attempt >= subscription.max_attempts() {
        return Verdict::Dead { status, error };
    }
    let after = retry_after
        .map(|d| d.min(MAX_RETRY_AFTER))
        .unwrap_or_else(|| subscription.retry_after(attempt));
    Verdict::Retry {
        after,
        status,
        error,
    }
}

/// `Retry-After` as seconds (`120`) or as an HTTP date, from `now` (unix seconds); `None` when
/// it is neither.
pub fn parse_retry_after(value: &str, now: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value)
        .ok()?
        .timestamp();
    Some(Duration::from_secs(u64::try_from(at - now).unwrap_or(0)))
}

/// Attempts made so far: the count a copy carries, none on a message as first published.
pub fn attempts_so_far(properties: &BasicProperties) -> u32 {
    header_number(properties, ATTEMPTS)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// The exchange and routing key the message first came with: its own, or those a copy carries.
pub fn origin<'a>(message: &Delivered<'a>) -> (String, String) {
    let text = |name: &str| header_text(message.properties, name);
    match (text(ORIGIN_EXCHANGE), text(ORIGIN_ROUTING_KEY)) {
        (Some(exchange), Some(routing_key)) => (exchange, routing_key),
        _ => (
            message.exchange.to_string(),
            message.routing_key.to_string(),
        ),
    }
}

/// The copy that retries the message later (through the default exchange, back to the
/// subscription's queue): the same body and properties, with the attempts made so far and
/// where it first came from. Not `mandatory`: a delayed message cannot be.
pub fn retry_copy(message: &Delivered<'_>, attempts: u32) -> OutgoingMessage {
    OutgoingMessage {
        mandatory: false,
        ..copy(message, attempts, None)
    }
}

/// The copy kept in the dead-letter queue: the same body and properties, with the attempts,
/// the last status and the last error; `mandatory`, so a missing queue is an error.
pub fn dead_copy(
    message: &Delivered<'_>,
    attempts: u32,
    status: Option<u16>,
    error: &str,
) -> OutgoingMessage {
    copy(message, attempts, Some((status, error)))
}

/// A dead letter sent back to its subscription's queue: the same body and properties, where it
/// first came from, and no attempts (they count from zero again).
pub fn requeue_copy(body: &[u8], properties: &BasicProperties) -> OutgoingMessage {
    let mut headers = properties.headers().clone().unwrap_or_default();
    let kept: std::collections::BTreeMap<ShortString, AMQPValue> = headers
        .inner()
        .iter()
        .filter(|(name, _)| !DEAD_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    headers = kept.into();
    OutgoingMessage {
        body: body.to_vec(),
        properties: properties.clone().with_headers(headers),
        mandatory: true,
    }
}

/// A header of `properties` as text (`None` when absent or not text).
pub fn header_text(properties: &BasicProperties, name: &str) -> Option<String> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// A header of `properties` as a whole number (`None` when absent or not one).
pub fn header_number(properties: &BasicProperties, name: &str) -> Option<i64> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortShortUInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

fn copy(
    message: &Delivered<'_>,
    attempts: u32,
    dead: Option<(Option<u16>, &str)>,
) -> OutgoingMessage {
    let (exchange, routing_key) = origin(message);
    let mut headers = message.properties.headers().clone().unwrap_or_default();
    let long = |text: &str| AMQPValue::LongString(LongString::from(text.as_bytes().to_vec()));
    headers.insert(
        ShortString::from(ATTEMPTS),
        AMQPValue::LongLongInt(i64::from(attempts)),
    );
    headers.insert(ShortString::from(ORIGIN_EXCHANGE), long(&exchange));
    headers.insert(ShortString::from(ORIGIN_ROUTING_KEY), long(&routing_key));
    if let Some((status, error)) = dead {
        if let Some(status) = status {
            headers.insert(
                ShortString::from(LAST_STATUS),
                AMQPValue::LongLongInt(i64::from(status)),
            );
        }
        let error: String = error.chars().take(1024).collect();
        headers.insert(ShortString::from(LAST_ERROR), long(&error));
        headers.insert(ShortString::from(DEAD_ID), long(&crate::input::new_uuid()));
        headers.insert(
            ShortString::from(DIED_AT),
            AMQPValue::LongLongInt(crate::queue::now_ms()),
        );
    }
    OutgoingMessage {
        body: message.body.to_vec(),
        properties: message.properties.clone().with_headers(headers),
        mandatory: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::properties_json;
    use serde_json::json;

    fn sub() -> Subscription {
        Subscription {
            retry: vec![1.0, 5.0],
            ..Subscription::new("s", "q", "http://127.0.0.1:9/h")
        }
    }

    fn status(code: u16) -> Answer {
        Answer::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn answers_and_the_ladder() {
        let s = sub();
        assert_eq!(verdict(&s, 1, &status(200)), Verdict::Done);
        assert_eq!(verdict(&s, 3, &status(204)), Verdict::Done);
        assert!(matches!(
            verdict(&s, 1, &status(410)),
            Verdict::Dead {
                status: Some(410),
                ..
            }
        ));
        assert_eq!(
            verdict(&s, 1, &status(500)),
            Verdict::Retry {
                after: Duration::from_secs(1),
                status: Some(500),
                error: "HTTP 500".into()
            }
        );
        assert!(matches!(
            verdict(&s, 2, &Answer::Failed("refused".into())),
            Verdict::Retry { after, status: None, .. } if after == Duration::from_secs(5)
        ));
        assert_eq!(
            verdict(&s, 3, &status(500)),
            Verdict::Dead {
                status: Some(500),
                error: "HTTP 500".into()
            },
            "3 attempts in all: the ladder's 2 rungs and the first"
        );
        let later = |code| Answer::Status {
            code,
            retry_after: Some(Duration::from_secs(42)),
        };
        assert!(
            matches!(verdict(&s, 1, &later(429)), Verdict::Retry { after, .. } if after == Duration::from_secs(42))
        );
        assert!(
            matches!(verdict(&s, 1, &later(503)), Verdict::Retry { after, .. } if after == Duration::from_secs(42))
        );
        assert!(
            matches!(verdict(&s, 1, &later(500)), Verdict::Retry { after, .. } if after == Duration::from_secs(1)),
            "Retry-After counts for 429 and 503 only"
        );
        let far = Answer::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(86400)),
        };
        assert!(
            matches!(verdict(&s, 1, &far), Verdict::Retry { after, .. } if after == MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(
            parse_retry_after(" 120 ", 0),
            Some(Duration::from_secs(120))
        );
        let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:48:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn copies_carry_attempts_origin_and_why() {
        let first = OutgoingMessage::new(
            b"\x00body".to_vec(),
            json!({"message_id": "m", "headers": {"x-a": 1}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let delivered = Delivered {
            body: &first.body,
            properties: &first.properties,
            exchange: "corp",
            routing_key: "credit",
            redelivered: false,
        };
        assert_eq!(attempts_so_far(&first.properties), 0);
        let retry = retry_copy(&delivered, 1);
        assert_eq!(attempts_so_far(&retry.properties), 1);
        assert_eq!(retry.body, b"\x00body");
        // The copy comes back through the default exchange: its origin is still the first one.
        let again = Delivered {
            body: &retry.body,
            properties: &retry.properties,
            exchange: "",
            routing_key: "q",
            redelivered: false,
        };
        assert_eq!(origin(&again), ("corp".to_string(), "credit".to_string()));
        let dead = dead_copy(&again, 3, Some(500), "HTTP 500");
        let mut shown = properties_json(&dead.properties);
        assert_eq!(shown["message_id"], "m");
        let headers = shown["headers"].as_object_mut().unwrap();
        let id = headers.remove(DEAD_ID).unwrap();
        assert_eq!(id.as_str().unwrap().len(), 36, "a UUID: {id}");
        let died = headers.remove(DIED_AT).unwrap().as_i64().unwrap();
        assert!((crate::queue::now_ms() - died).abs() < 60_000);
        assert_eq!(
            shown["headers"],
            json!({"x-a": 1, "x-dq-attempts": 3, "x-dq-exchange": "corp",
                   "x-dq-routing-key": "credit", "x-dq-last-status": 500, "x-dq-last-error": "HTTP 500"})
        );
        // Requeued, it starts again: no attempts, no reasons, the origin kept.
        let back = requeue_copy(&dead.body, &dead.properties);
        assert_eq!(
            properties_json(&back.properties)["headers"],
            json!({"x-a": 1, "x-dq-exchange": "corp", "x-dq-routing-key": "credit"})
        );
        assert_eq!(attempts_so_far(&back.properties), 0);
        assert!(back.mandatory);
    }
}
