//! Reliable messages: the transactional outbox and the idempotent inbox.
//!
//! A message to send is a row of `dq_outbox`, written by the caller through its own database
//! connection (PHP's PDO) in its own transaction, so that it exists if and only if that
//! transaction commits; the gateway's [`Relay`] publishes committed rows and marks them sent.
//! A consumer applies a message once by claiming its id in `dq_inbox` in the same transaction
//! as its effect.
//!
//! - [`Entry`]: the row a facade writes (checked exactly like a direct publish or add), and
//!   [`INSERT`], the statement that writes it: the row format is the contract between the
//!   facades (dq.so, libdq.so through PHP's FFI) and the relay.
//! - [`check_claim`] and [`CLAIM`]: the inbox.
//! - [`schema`]: the tables' DDL (what `dq-gateway migrate` applies).
//! - `relay`: [`Relay`], one database's relay loop.

mod relay;

use serde_json::{Map, Value};

use crate::Tz;
use crate::amqp::{OutgoingMessage, properties_json, short};
use crate::config::DEFAULT_BODY_LIMIT;
use crate::error::{Error, ErrorKind, Result, shown};
use crate::input::{InputRules, NewMessage, Schedule, check_topic, new_uuid};
use crate::mysql::{APPLICATION, SqlValue};

pub use relay::{Relay, RelayConfig, RelayObserver, RelayState};

/// Writes one outbox row; its parameters are [`Entry::params`], in this order.
pub const INSERT: &str = "INSERT INTO dq_outbox \
    (kind, target, routing_key, message_id, body, properties, due_at_ms) \
    VALUES (?, ?, ?, ?, ?, ?, ?)";

/// Claims `(consumer, message_id)`: one row affected the first time, none for a duplicate.
/// `INSERT IGNORE` only ever ignores the duplicate key here: both values are checked first.
pub const CLAIM: &str = "INSERT IGNORE INTO dq_inbox (consumer, message_id) VALUES (?, ?)";

/// The longest consumer name and message id the inbox keeps (`VARBINARY(255)`, AMQP's short
/// string).
pub const MAX_NAME: usize = 255;

/// The SQL that creates `dq_outbox` and `dq_inbox` (idempotent): what `dq-gateway migrate`
/// applies, for teams that migrate by hand. Never run it inside a transaction of yours.
pub fn schema() -> String {
    APPLICATION.sql()
}

/// What an outbox row does once relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Publish to a RabbitMQ exchange, with publisher confirms.
    Publish,
    /// Add to a delay-queue topic.
    Add,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Publish => "publish",
            Kind::Add => "add",
        }
    }

    fn parse(text: &[u8]) -> Option<Kind> {
        match text {
            b"publish" => Some(Kind::Publish),
            b"add" => Some(Kind::Add),
            _ => None,
        }
    }
}

/// One outbox row, checked: what `Dq\Outbox::publish` / `add` insert.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: Kind,
    /// The exchange (publish) or the topic (add).
    pub target: String,
    /// Publish only; empty for an add.
    pub routing_key: String,
    /// The message id: AMQP's `message_id` property (given or generated), the delay queue's id.
    pub message_id: String,
    /// The body as sent: bytes for a publish, JSON text for an add.
    pub body: Vec<u8>,
    /// Publish: the AMQP properties as a JSON object (as `Delivery::properties` shows them,
    /// `mandatory` included), `message_id` always set.
    pub properties: Option<String>,
    /// Add: when the message falls due (unix ms); `None` for the topic's default delay.
    pub due_at_ms: Option<i64>,
}

impl Entry {
    /// A message to publish to `exchange` with `routing_key`, checked as `publish` checks it
    /// (the caller built `message` with [`OutgoingMessage::new`]). Without a `message_id`
    /// property one is generated: the relay may publish a message twice around a failure,
    /// and consumers tell the copies apart by it.
    pub fn publish(exchange: &str, routing_key: &str, message: &OutgoingMessage) -> Result<Entry> {
        short("exchange", exchange)?;
        short("routing key", routing_key)?;
        let mut properties = properties_json(&message.properties);
        if message.mandatory {
            properties.insert("mandatory".into(), Value::Bool(true));
        }
        let message_id = match properties.get("message_id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => {
                let id = new_uuid();
                properties.insert("message_id".into(), Value::String(id.clone()));
                id
            }
        };
        Ok(Entry {
            kind: Kind::Publish,
            target: exchange.to_string(),
            routing_key: routing_key.to_string(),
            message_id,
            body: message.body.clone(),
            properties: Some(Value::Object(properties).to_string()),
            due_at_ms: None,
        })
    }

    /// A delay-queue message for `topic` (checked as `add` checks it: the caller built
    /// `message` with [`NewMessage::from_fields`], so a `delay` is already a due time counted
    /// from now). Whether the topic is registered is found out by the relay, not here: the
    /// outbox is written while Redis may be away.
    pub fn add(topic: &str, message: &NewMessage) -> Result<Entry> {
        check_topic(topic)?;
        Ok(Entry {
            kind: Kind::Add,
            target: topic.to_string(),
            routing_key: String::new(),
            message_id: message.id.clone(),
            body: message.body.clone().into_bytes(),
            properties: None,
            due_at_ms: match message.schedule {
                Schedule::At(ms) => Some(ms),
                Schedule::TopicDefault => None,
            },
        })
    }

    /// The rules an outbox add is read by: the clock read now (a `delay` counts from the
    /// call), `fix_time` strings in `time_zone`, the default body limit.
    pub fn add_rules(time_zone: Tz) -> InputRules {
        InputRules {
            now_ms: crate::queue::now_ms(),
            time_zone,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// The parameters of [`INSERT`], in order.
    pub fn params(&self) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(self.kind.as_str().to_string()),
            SqlValue::Text(self.target.clone()),
            SqlValue::Text(self.routing_key.clone()),
            SqlValue::Text(self.message_id.clone()),
            SqlValue::Bytes(self.body.clone()),
            self.properties
                .as_ref()
                .map_or(SqlValue::Null, |p| SqlValue::Text(p.clone())),
            self.due_at_ms.map_or(SqlValue::Null, SqlValue::Int),
        ]
    }
}

/// Checks an inbox claim: a consumer name and a message id of 1 to 255 bytes each.
pub fn check_claim(consumer: &str, message_id: &str) -> Result<()> {
    for (what, value) in [("consumer", consumer), ("message id", message_id)] {
        if value.is_empty() {
            return Err(Error::invalid(format!(
                "{what} is empty: expected 1 to {MAX_NAME} bytes"
            )));
        }
        if value.len() > MAX_NAME {
            return Err(Error::invalid(format!(
                "{what} {} is {} bytes long: expected at most {MAX_NAME}",
                shown(value),
                value.len()
            )));
        }
    }
    Ok(())
}

/// What to say when `table` is missing (MySQL error 1146); `detail` says where.
pub fn missing_table(table: &str, detail: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "table {table} does not exist {detail}: create it with `dq-gateway migrate` \
             (for the databases of [outbox] databases), or run the SQL of Dq\\Outbox::schema()"
        ),
    )
}

/// A relayed row's AMQP message, from its stored properties.
fn stored_message(body: Vec<u8>, properties: Option<&[u8]>) -> Result<OutgoingMessage> {
    let map: Map<String, Value> = match properties {
        None => Map::new(),
        Some(text) => match serde_json::from_slice(text) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(Error::invalid(
                    "properties is not a JSON object: the row was not written by dq",
                ));
            }
        },
    };
    OutgoingMessage::new(body, &map).map_err(|e| e.context("properties"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{InputRules, MessageFields};
    use serde_json::json;

    #[test]
    fn a_publish_row_carries_what_publish_would_send() {
        let given = json!({"type": "credit", "headers": {"a": 1}, "mandatory": true});
        let message = OutgoingMessage::new(b"{}".to_vec(), given.as_object().unwrap()).unwrap();
        let entry = Entry::publish("corp.transfers", "credit", &message).unwrap();
        assert_eq!(entry.message_id.len(), 36);
        let back = stored_message(
            entry.body.clone(),
            entry.properties.as_deref().map(str::as_bytes),
        )
        .unwrap();
        assert!(back.mandatory);
        let shown = properties_json(&back.properties);
        assert_eq!(shown["message_id"], entry.message_id.as_str());
        assert_eq!(shown["type"], "credit");
        assert_eq!(shown["headers"], json!({"a": 1}));
        assert_eq!(shown["persistent"], true);
        assert_eq!(entry.params().len(), INSERT.matches('?').count());
    }

    #[test]
    fn a_given_message_id_is_kept_and_ids_differ() {
        let given = json!({"message_id": "t-1"});
        let message = OutgoingMessage::new(vec![], given.as_object().unwrap()).unwrap();
        assert_eq!(Entry::publish("x", "", &message).unwrap().message_id, "t-1");
        assert_ne!(new_uuid(), new_uuid());
    }

    #[test]
    fn an_add_row_keeps_its_due_time() {
        let fields = MessageFields {
            id: Some(json!("order-1")),
            body: Some("{\"a\":1}".into()),
            delay: Some(json!(30)),
            fix_time: None,
            other_keys: vec![],
        };
        let rules = InputRules {
            now_ms: 1_800_000_000_000,
            time_zone: crate::Tz::UTC,
            body_limit: 65536,
        };
        let message = NewMessage::from_fields(fields, &rules).unwrap();
        let entry = Entry::add("order.timeout", &message).unwrap();
        assert_eq!(entry.due_at_ms, Some(1_800_000_030_000));
        assert_eq!(entry.body, b"{\"a\":1}");
        let e = Entry::add("bad topic", &message).unwrap_err();
        assert!(e.message().contains("\"bad topic\""), "{e}");
    }

    #[test]
    fn bad_claims_are_named() {
        assert!(check_claim("svc", "m-1").is_ok());
        let e = check_claim("", "m").unwrap_err();
        assert!(e.message().contains("consumer is empty"), "{e}");
        let e = check_claim("svc", &"x".repeat(300)).unwrap_err();
        assert!(e.message().contains("300 bytes"), "{e}");
    }

    #[test]
    fn rows_not_written_by_dq_are_refused() {
        let e = stored_message(vec![], Some(b"[1]")).unwrap_err();
        assert!(e.message().contains("not a JSON object"), "{e}");
        let e = stored_message(vec![], Some(b"{\"priority\": 900}")).unwrap_err();
        assert!(e.message().contains("priority 900"), "{e}");
    }
}
