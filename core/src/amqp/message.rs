//! Messages and their properties, as PHP arrays and JSON give them, checked once for every
//! facade and converted to and from AMQP's types.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use serde_json::{Map, Number, Value};

use super::short;
use crate::error::{Error, Result, shown};
use crate::json::kind;

const STRING_PROPERTIES: [&str; 8] = [
    "message_id",
    "correlation_id",
    "reply_to",
    "content_type",
    "content_encoding",
    "type",
    "app_id",
    "user_id",
];
const OTHER_PROPERTIES: [&str; 7] = [
    "priority",
    "expiration",
    "timestamp",
    "headers",
    "persistent",
    "delivery_mode",
    "mandatory",
];

/// A message to publish.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutgoingMessage {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    /// Return the message (and fail the publish) if no queue is bound to take it.
    pub mandatory: bool,
}

impl OutgoingMessage {
    /// A message from a body and properties given as a JSON object (`message_id`,
    /// `correlation_id`, `reply_to`, `content_type`, `content_encoding`, `type`, `app_id`,
    /// `user_id`, `priority`, `expiration`, `timestamp`, `headers`, `persistent` (default true),
    /// `delivery_mode`, `mandatory`). Messages are persistent unless told otherwise.
    pub fn new(body: Vec<u8>, properties: &Map<String, Value>) -> Result<OutgoingMessage> {
        let mut out = BasicProperties::default().with_delivery_mode(2);
        let mut mandatory = false;
        for (key, value) in properties {
            let name = key.as_str();
            if STRING_PROPERTIES.contains(&name) {
                let text = short_string(name, value)?;
                out = match name {
                    "message_id" => out.with_message_id(text),
                    "correlation_id" => out.with_correlation_id(text),
                    "reply_to" => out.with_reply_to(text),
                    "content_type" => out.with_content_type(text),
                    "content_encoding" => out.with_content_encoding(text),
                    "type" => out.with_type(text),
                    "app_id" => out.with_app_id(text),
                    _ => out.with_user_id(text),
                };
                continue;
            }
            match name {
                "priority" => out = out.with_priority(small_int(name, value, 255)? as u8),
                "delivery_mode" => {
                    let mode = small_int(name, value, 2)?;
                    if mode == 0 {
                        return Err(Error::invalid(
                            "delivery_mode 0 is invalid: expected 1 (transient) or 2 (persistent)",
                        ));
                    }
                    out = out.with_delivery_mode(mode as u8);
                }
                "persistent" => {
                    out = out.with_delivery_mode(if boolean(name, value)? { 2 } else { 1 })
                }
                "mandatory" => mandatory = boolean(name, value)?,
                "expiration" => out = out.with_expiration(expiration(value)?),
                "timestamp" => out = out.with_timestamp(timestamp(value)?),
                "headers" => match value {
                    Value::Object(map) => out = out.with_headers(field_table(map, "headers")?),
                    Value::Null => {}
                    // An empty PHP array is an empty list in JSON.
                    Value::Array(items) if items.is_empty() => {}
                    other => {
                        return Err(Error::invalid(format!(
                            "headers is {}: expected an array of name => value",
                            kind(other)
                        )));
                    }
                },
                other => {
                    return Err(Error::invalid(format!(
                        "unknown property {}: expected one of {}, {}",
                        shown(other),
                        STRING_PROPERTIES.join(", "),
                        OTHER_PROPERTIES.join(", ")
                    )));
                }
            }
        }
        Ok(OutgoingMessage {
            body,
            properties: out,
            mandatory,
        })
    }
}

/// A message's properties as the facades show them: the same names `OutgoingMessage::new`
/// takes; `persistent` is derived from the delivery mode, absent properties are left out.
pub fn properties_json(properties: &BasicProperties) -> Map<String, Value> {
    let mut out = Map::new();
    let strings: [(&str, &Option<ShortString>); 8] = [
        ("message_id", properties.message_id()),
        ("correlation_id", properties.correlation_id()),
        ("reply_to", properties.reply_to()),
        ("content_type", properties.content_type()),
        ("content_encoding", properties.content_encoding()),
        ("type", properties.kind()),
        ("app_id", properties.app_id()),
        ("user_id", properties.user_id()),
    ];
    for (name, value) in strings {
        if let Some(value) = value {
            out.insert(name.to_string(), Value::String(value.as_str().to_string()));
        }
    }
    if let Some(priority) = properties.priority() {
        out.insert("priority".into(), Value::from(*priority));
    }
    if let Some(expiration) = properties.expiration() {
        out.insert(
            "expiration".into(),
            Value::String(expiration.as_str().to_string()),
        );
    }
    if let Some(timestamp) = properties.timestamp() {
        out.insert("timestamp".into(), Value::from(*timestamp));
    }
    if let Some(mode) = properties.delivery_mode() {
        out.insert("delivery_mode".into(), Value::from(*mode));
        out.insert("persistent".into(), Value::Bool(*mode == 2));
    }
    if let Some(headers) = properties.headers() {
        out.insert("headers".into(), table_json(headers));
    }
    out
}

fn short_string(name: &str, value: &Value) -> Result<ShortString> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        other => {
            return Err(Error::invalid(format!(
                "{name} is {}: expected a string",
                kind(other)
            )));
        }
    };
    short(name, &text)
}

fn small_int(name: &str, value: &Value, max: u64) -> Result<u64> {
    value.as_u64().filter(|n| *n <= max).ok_or_else(|| {
        Error::invalid(format!(
            "{name} {value} is invalid: expected an integer from 0 to {max}"
        ))
    })
}

fn boolean(name: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| Error::invalid(format!("{name} {value} is invalid: expected true or false")))
}

/// Per-message TTL in milliseconds: digits, as AMQP wants them, or an integer.
fn expiration(value: &Value) -> Result<ShortString> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        other => other.to_string(),
    };
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(format!(
            "expiration {} is invalid: expected milliseconds, e.g. \"60000\"",
            shown(&text)
        )));
    }
    Ok(text.into())
}

/// Unix seconds (a float is cut to whole seconds, AMQP's resolution).
fn timestamp(value: &Value) -> Result<u64> {
    match value.as_f64() {
        Some(seconds) if seconds >= 0.0 && seconds.is_finite() => Ok(seconds as u64),
        _ => Err(Error::invalid(format!(
            "timestamp {value} is invalid: expected unix seconds"
        ))),
    }
}

pub(crate) fn field_table(map: &Map<String, Value>, path: &str) -> Result<FieldTable> {
    let mut table = FieldTable::default();
    for (key, value) in map {
        table.insert(
            short(&format!("{path} key"), key)?,
            amqp_value(value, &format!("{path}[\"{key}\"]"))?,
        );
    }
    Ok(table)
}

/// JSON to AMQP field values: integers as signed 64-bit, floats as doubles, strings as long
/// strings, arrays as field arrays, objects as tables.
pub(crate) fn amqp_value(value: &Value, path: &str) -> Result<AMQPValue> {
    Ok(match value {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AMQPValue::LongLongInt(i),
            None => AMQPValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_bytes().to_vec())),
        Value::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| amqp_value(item, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>>>()?,
        )),
        Value::Object(map) => AMQPValue::FieldTable(field_table(map, path)?),
    })
}

/// A field table as JSON (see `value_json`).
pub(crate) fn table_json(table: &FieldTable) -> Value {
    Value::Object(
        table
            .inner()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), value_json(v)))
            .collect(),
    )
}

/// AMQP field values to JSON; byte strings that are not UTF-8 are shown lossily.
fn value_json(value: &AMQPValue) -> Value {
    let number = |f: f64| Number::from_f64(f).map_or(Value::Null, Value::Number);
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Float(f) => number(f64::from(*f)),
        AMQPValue::Double(f) => number(*f),
        AMQPValue::DecimalValue(d) => number(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_string()),
        AMQPValue::LongString(s) => {
            Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        AMQPValue::ByteArray(b) => {
            Value::String(String::from_utf8_lossy(b.as_slice()).into_owned())
        }
        AMQPValue::FieldArray(items) => {
            Value::Array(items.as_slice().iter().map(value_json).collect())
        }
        AMQPValue::Timestamp(t) => Value::from(*t),
        AMQPValue::FieldTable(table) => table_json(table),
        AMQPValue::Void => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Result<OutgoingMessage> {
        OutgoingMessage::new(b"x".to_vec(), v.as_object().unwrap())
    }

    #[test]
    fn every_property_round_trips() {
        let given = json!({
            "message_id": "m-1", "correlation_id": "c-1", "reply_to": "amq.rabbitmq.reply-to",
            "content_type": "application/json", "content_encoding": "utf-8", "type": "order.paid",
            "app_id": "shop", "user_id": "guest", "priority": 5, "expiration": 60000,
            "timestamp": 1_800_000_000, "headers": {"a": 1, "b": "x", "c": [true, null], "d": {"e": 1.5}},
            "persistent": false, "mandatory": true
        });
        let m = props(given).unwrap();
        assert!(m.mandatory);
        let back = properties_json(&m.properties);
        assert_eq!(back["expiration"], "60000");
        assert_eq!(back["persistent"], false);
        assert_eq!(
            back["headers"],
            json!({"a": 1, "b": "x", "c": [true, null], "d": {"e": 1.5}})
        );
        assert_eq!(back["type"], "order.paid");
        assert_eq!(back["timestamp"], 1_800_000_000);
    }

    #[test]
    fn persistent_by_default() {
        let m = props(json!({})).unwrap();
        assert_eq!(properties_json(&m.properties)["persistent"], true);
    }

    #[test]
    fn bad_properties_are_named() {
        for (given, needle) in [
            (json!({"priority": 300}), "priority 300"),
            (json!({"expiration": "soon"}), "expiration \"soon\""),
            (json!({"messageId": "x"}), "unknown property \"messageId\""),
            (json!({"headers": "x"}), "headers is a string"),
            (json!({"reply_to": "x".repeat(300)}), "300 bytes"),
            (json!({"persistent": "yes"}), "persistent \"yes\""),
            (json!({"delivery_mode": 0}), "delivery_mode 0"),
        ] {
            let e = props(given.clone()).unwrap_err();
            assert!(e.message().contains(needle), "{given} -> {e}");
        }
    }
}
