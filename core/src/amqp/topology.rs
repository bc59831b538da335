//! Exchanges, queues and bindings, and delayed publishing built on them.

use std::time::Duration;

use lapin::ExchangeKind;
use lapin::options::{
    ExchangeBindOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError, exchange, queue};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use serde_json::{Map, Value};

use super::message::{OutgoingMessage, field_table};
use super::{Producer, amqp_error, short};
use crate::error::{Error, ErrorKind, Result, shown};
use crate::input::delay_out_of_range;

/// Longest delay `publish_delayed` takes: TTLs and queue expiries are 32-bit milliseconds.
/// Facades read a delay in seconds with `input::delay_from_seconds(.., MAX_DELAY)`.
pub const MAX_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);
/// A delay queue is declared again on a connection after this long, which renews its
/// `x-expires`; its expiry leaves room for a whole delay after the last renewal.
const RENEW: Duration = Duration::from_secs(300);

/// How an exchange is declared.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeOptions {
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    /// Only check that it exists.
    pub passive: bool,
    pub arguments: Map<String, Value>,
}

impl Default for ExchangeOptions {
    fn default() -> Self {
        ExchangeOptions {
            durable: true,
            auto_delete: false,
            internal: false,
            passive: false,
            arguments: Map::new(),
        }
    }
}

/// How a queue is declared.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueOptions {
    pub durable: bool,
    pub auto_delete: bool,
    pub exclusive: bool,
    pub passive: bool,
    /// `x-dead-letter-exchange`, `x-message-ttl`, `x-max-priority`, `x-queue-type`, ...
    pub arguments: Map<String, Value>,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            durable: true,
            auto_delete: false,
            exclusive: false,
            passive: false,
            arguments: Map::new(),
        }
    }
}

impl ExchangeOptions {
    /// From `['durable' => .., 'auto_delete' => .., 'internal' => .., 'passive' => ..,
    /// 'arguments' => [..]]`; unknown keys are refused.
    pub fn from_json(options: &Map<String, Value>) -> Result<ExchangeOptions> {
        let mut out = ExchangeOptions::default();
        for (key, value) in options {
            match key.as_str() {
                "durable" => out.durable = flag(key, value)?,
                "auto_delete" => out.auto_delete = flag(key, value)?,
                "internal" => out.internal = flag(key, value)?,
                "passive" => out.passive = flag(key, value)?,
                "arguments" => out.arguments = arguments(value)?,
                other => {
                    return Err(unknown(
                        other,
                        "durable, auto_delete, internal, passive, arguments",
                    ));
                }
            }
        }
        Ok(out)
    }
}

impl QueueOptions {
    /// From `['durable' => .., 'auto_delete' => .., 'exclusive' => .., 'passive' => ..,
    /// 'arguments' => [..]]`; unknown keys are refused.
    pub fn from_json(options: &Map<String, Value>) -> Result<QueueOptions> {
        let mut out = QueueOptions::default();
        for (key, value) in options {
            match key.as_str() {
                "durable" => out.durable = flag(key, value)?,
                "auto_delete" => out.auto_delete = flag(key, value)?,
                "exclusive" => out.exclusive = flag(key, value)?,
                "passive" => out.passive = flag(key, value)?,
                "arguments" => out.arguments = arguments(value)?,
                other => {
                    return Err(unknown(
                        other,
                        "durable, auto_delete, exclusive, passive, arguments",
                    ));
                }
            }
        }
        Ok(out)
    }
}

fn flag(key: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| Error::invalid(format!("{key} {value} is invalid: expected true or false")))
}

fn arguments(value: &Value) -> Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        Value::Array(items) if items.is_empty() => Ok(Map::new()),
        other => Err(Error::invalid(format!(
            "arguments {other} is invalid: expected an array of name => value"
        ))),
    }
}

fn unknown(key: &str, known: &str) -> Error {
    Error::invalid(format!("unknown option {}: expected {known}", shown(key)))
}

/// The built-in types, or a plugin's (`x-delayed-message`, `x-consistent-hash`, ...). Checked
/// here: the broker answers an unknown type by closing the whole connection.
fn exchange_kind(kind: &str) -> Result<ShortString> {
    match kind {
        "direct" | "fanout" | "topic" | "headers" => Ok(kind.into()),
        plugin if plugin.len() > 2 && plugin.starts_with("x-") => short("exchange type", plugin),
        other => Err(Error::invalid(format!(
            "exchange type {} is unknown: expected direct, fanout, topic, headers or a \
             plugin's x-... type",
            shown(other)
        ))),
    }
}

/// An exchange declaration, checked.
pub(crate) fn exchange_declare(
    name: &str,
    kind: &str,
    options: &ExchangeOptions,
) -> Result<exchange::Declare> {
    if name.is_empty() || name.starts_with("amq.") {
        return Err(Error::invalid(format!(
            "exchange {} cannot be declared: the name is empty or reserved (amq.*)",
            shown(name)
        )));
    }
    Ok(exchange::Declare {
        exchange: short("exchange", name)?,
        kind: exchange_kind(kind)?,
        passive: options.passive,
        durable: options.durable,
        auto_delete: options.auto_delete,
        internal: options.internal,
        nowait: false,
        arguments: field_table(&options.arguments, "arguments")?,
    })
}

/// A queue declaration, checked.
pub(crate) fn queue_declare(name: &str, options: &QueueOptions) -> Result<queue::Declare> {
    if name.starts_with("amq.") && !options.passive {
        return Err(Error::invalid(format!(
            "queue {} cannot be declared: amq.* names are reserved for the broker (declare \"\" \
             to have it name one for you)",
            shown(name)
        )));
    }
    Ok(queue::Declare {
        queue: short("queue", name)?,
        passive: options.passive,
        durable: options.durable,
        exclusive: options.exclusive,
        auto_delete: options.auto_delete,
        nowait: false,
        arguments: field_table(&options.arguments, "arguments")?,
    })
}

/// A queue binding, checked.
pub(crate) fn queue_bind(
    queue: &str,
    exchange: &str,
    routing_key: &str,
    arguments: &Map<String, Value>,
) -> Result<queue::Bind> {
    Ok(queue::Bind {
        queue: short("queue", queue)?,
        exchange: short("exchange", exchange)?,
        routing_key: short("routing key", routing_key)?,
        nowait: false,
        arguments: field_table(arguments, "arguments")?,
    })
}

/// Runs a topology method on a channel of its own, closed after: a refusal (a queue asked for
/// passively that is missing, other arguments than the existing queue's, a missing exchange)
/// closes that channel only, never the publishing channel that other tasks share.
async fn on_own_channel<T, F, Fut>(producer: &Producer, method: F) -> Result<T>
where
    F: FnOnce(lapin::Channel) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, lapin::Error>>,
{
    let channel = producer.link.channel().await?;
    let outcome = method(channel.clone()).await.map_err(|e| producer.error(e));
    if channel.status().connected() {
        let _ = channel.close(200, "declared".into()).await;
    }
    outcome
}

pub(super) async fn declare_exchange(
    producer: &Producer,
    declare: exchange::Declare,
) -> Result<()> {
    on_own_channel(producer, |channel| async move {
        channel
            .exchange_declare(
                declare.exchange,
                ExchangeKind::Custom(declare.kind.to_string()),
                ExchangeDeclareOptions {
                    passive: declare.passive,
                    durable: declare.durable,
                    auto_delete: declare.auto_delete,
                    internal: declare.internal,
                    nowait: false,
                },
                declare.arguments,
            )
            .await
    })
    .await
}

pub(super) async fn declare_queue(producer: &Producer, declare: queue::Declare) -> Result<String> {
    let queue = on_own_channel(producer, |channel| async move {
        channel
            .queue_declare(
                declare.queue,
                QueueDeclareOptions {
                    passive: declare.passive,
                    durable: declare.durable,
                    exclusive: declare.exclusive,
                    auto_delete: declare.auto_delete,
                    nowait: false,
                },
                declare.arguments,
            )
            .await
    })
    .await?;
    Ok(queue.name().as_str().to_string())
}

pub(super) async fn bind_queue(producer: &Producer, bind: queue::Bind) -> Result<()> {
    on_own_channel(producer, |channel| async move {
        channel
            .queue_bind(
                bind.queue,
                bind.exchange,
                bind.routing_key,
                QueueBindOptions::default(),
                bind.arguments,
            )
            .await
    })
    .await
}

pub(super) async fn publish_delayed(
    producer: &Producer,
    exchange: &str,
    routing_key: &str,
    message: &OutgoingMessage,
    delay: Duration,
) -> Result<()> {
    if delay > MAX_DELAY {
        return Err(delay_out_of_range("delay", delay.as_secs_f64(), MAX_DELAY));
    }
    short("routing key", routing_key)?;
    if message.mandatory {
        return Err(Error::invalid(
            "mandatory cannot be used with a delayed message: whether a queue takes it is known \
             only when it is due, and nobody waits for the answer then",
        ));
    }
    let delay_ms = delay.as_millis() as u64;
    // The default exchange cannot be bound to, so the plugin cannot route to it.
    if !exchange.is_empty() && delayed_plugin(producer).await? {
        let delayed = format!("{}.delayed", producer.config().prefix);
        let binding = format!("bind {exchange} {routing_key}");
        if producer
            .link
            .delay_queue_due(&binding, Duration::MAX)
            .await?
        {
            let (destination, source, key) = (
                short("exchange", exchange)?,
                short("exchange", &delayed)?,
                short("routing key", routing_key)?,
            );
            on_own_channel(producer, |channel| async move {
                channel
                    .exchange_bind(
                        destination,
                        source,
                        key,
                        ExchangeBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await
            })
            .await?;
            producer.link.delay_queue_declared(&binding).await;
        }
        let mut headers = message.properties.headers().clone().unwrap_or_default();
        headers.insert("x-delay".into(), AMQPValue::LongLongInt(delay_ms as i64));
        let delayed_message = OutgoingMessage {
            properties: message.properties.clone().with_headers(headers),
            ..message.clone()
        };
        return producer
            .publish(&delayed, routing_key, &delayed_message)
            .await;
    }
    if let Some(expiration) = message.properties.expiration() {
        return Err(Error::invalid(format!(
            "expiration {} cannot be used with a delayed message: in the delay queue it would \
             cut the delay short, and RabbitMQ removes it when the delay ends (give the target \
             queue an x-message-ttl instead)",
            shown(expiration.as_str())
        )));
    }
    let config = producer.config();
    let mut queue = delay_queue_name(&config.prefix, delay_ms, exchange, routing_key);
    if config.queue_type == super::QueueType::Quorum {
        // Its own name: a classic delay queue of the same delay and target may still exist
        // (until it expires), and a queue's type cannot change.
        queue = queue.replacen(".delay.", ".delay-qq.", 1);
    }
    if producer.link.delay_queue_due(&queue, RENEW).await? {
        check_delay_target(producer, exchange, routing_key).await?;
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(delay_ms as i64),
        );
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(exchange.as_bytes().to_vec())),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(routing_key.as_bytes().to_vec())),
        );
        let expires = delay + 2 * RENEW;
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(expires.as_millis() as i64),
        );
        for (name, value) in config.dead_lettering_queue_arguments() {
            arguments.insert(
                name.into(),
                AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
            );
        }
        // A quorum queue that was just created confirms messages before it can dead-letter
        // them: published to within a moment of its creation, they expire into nothing
        // (RabbitMQ 3.10; seen in php-tests/121). A new one is given time to settle.
        let created = config.queue_type == super::QueueType::Quorum
            && missing_queue(producer, &queue).await?.is_some();
        let name = queue.as_str().into();
        on_own_channel(producer, |channel| async move {
            channel
                .queue_declare(
                    name,
                    QueueDeclareOptions {
                        durable: true,
                        ..QueueDeclareOptions::default()
                    },
                    arguments,
                )
                .await
        })
        .await?;
        if created {
            tokio::time::sleep(QUORUM_SETTLE).await;
        }
        producer.link.delay_queue_declared(&queue).await;
    }
    producer.publish("", &queue, message).await
}

/// How long a new quorum delay queue is left before its first message.
const QUORUM_SETTLE: Duration = Duration::from_secs(1);

/// Why `queue` does not exist (the broker's refusal), or `None` when it does: a passive declare,
/// on a channel of its own (the broker closes a channel whose passive declare fails).
async fn missing_queue(producer: &Producer, queue: &str) -> Result<Option<Error>> {
    let probe = producer.link.channel().await?;
    match ask_queue(&probe, short("queue", queue)?).await {
        Ok(_) => {
            let _ = probe.close(200, "check done".into()).await;
            Ok(None)
        }
        // Another connection's exclusive queue: it exists.
        Err(e) if soft_error(&e) == Some(AMQPSoftError::RESOURCELOCKED) => Ok(None),
        Err(e) if soft_error(&e) == Some(AMQPSoftError::NOTFOUND) => {
            Ok(Some(amqp_error(&producer.config().display, e)))
        }
        Err(e) => Err(amqp_error(&producer.config().display, e)),
    }
}

/// That the target of a delay queue exists, checked when the queue is (re)declared (once per
/// `RENEW`): else the broker would drop the messages silently when they are due. The target is
/// the exchange, or for the default exchange the queue the routing key names. Whether a named
/// exchange's bindings route the key anywhere cannot be told before the message is due.
async fn check_delay_target(producer: &Producer, exchange: &str, routing_key: &str) -> Result<()> {
    if exchange.is_empty() {
        return check_target_queue(producer, routing_key).await;
    }
    if exchange.starts_with("amq.") {
        return Ok(());
    }
    let name = short("exchange", exchange)?;
    on_own_channel(producer, |channel| async move {
        channel
            .exchange_declare(
                name,
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    passive: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
    })
    .await
}

/// That the queue a delayed message to the default exchange goes to exists.
async fn check_target_queue(producer: &Producer, queue: &str) -> Result<()> {
    // Direct reply-to is not a queue one can declare; the broker routes it itself.
    if queue.starts_with("amq.rabbitmq.reply-to") {
        return Ok(());
    }
    let missing = |why: &str| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "queue {} does not exist ({why}): a delayed message to the default exchange goes \
                 to the queue its routing key names, and would be dropped when due; declare the \
                 queue first (declareQueue)",
                shown(queue)
            ),
        )
    };
    if queue.is_empty() {
        return Err(missing(
            "the routing key is empty, and no queue has an empty name",
        ));
    }
    match missing_queue(producer, queue).await? {
        Some(refusal) => Err(missing(&refusal.to_string())),
        None => Ok(()),
    }
}

/// Asks the broker about `queue` without creating it: its message count, or the refusal (a
/// missing queue closes the channel).
pub(super) async fn ask_queue(
    channel: &lapin::Channel,
    queue: ShortString,
) -> std::result::Result<lapin::Queue, lapin::Error> {
    channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

/// The broker's channel-level refusal in `error`, if that is what it is.
fn soft_error(error: &lapin::Error) -> Option<AMQPSoftError> {
    match error.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => match amqp.kind() {
            AMQPErrorKind::Soft(soft) => Some(soft.clone()),
            AMQPErrorKind::Hard(_) => None,
        },
        _ => None,
    }
}

/// Whether the broker has the delayed-message exchange plugin: asked once per link by declaring
/// dq's delayed exchange. Without the plugin RabbitMQ refuses the unknown exchange type by
/// closing the connection (a hard error), so the question goes on a connection of its own: on
/// the shared one it would take every channel with it, deliveries under way included.
async fn delayed_plugin(producer: &Producer) -> Result<bool> {
    if let Some(known) = producer.link.delayed_plugin() {
        return Ok(known);
    }
    let display = &producer.config().display;
    let connection = producer.link.connection_apart().await?;
    let probe = connection
        .create_channel()
        .await
        .map_err(|e| amqp_error(display, e))?;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-delayed-type".into(),
        AMQPValue::LongString(LongString::from(b"direct".to_vec())),
    );
    let declared = probe
        .exchange_declare(
            format!("{}.delayed", producer.config().prefix)
                .as_str()
                .into(),
            ExchangeKind::Custom("x-delayed-message".into()),
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            arguments,
        )
        .await;
    let _ = connection.close(200, "probe done".into()).await;
    let present = match declared {
        Ok(()) => true,
        Err(e) if e.is_amqp_error() => false,
        Err(e) => return Err(amqp_error(display, e)),
    };
    producer.link.set_delayed_plugin(present);
    tracing::info!(
        plugin = present,
        "delayed publishing uses {}",
        if present {
            "the delayed-message exchange"
        } else {
            "TTL and dead-letter queues"
        }
    );
    Ok(present)
}

/// `prefix.delay.<ms>ms.<exchange>.<routing key>`, or a hash of the target when that would be
/// over AMQP's 255 bytes.
fn delay_queue_name(prefix: &str, delay_ms: u64, exchange: &str, routing_key: &str) -> String {
    let target = if exchange.is_empty() {
        "amq.default"
    } else {
        exchange
    };
    let name = format!("{prefix}.delay.{delay_ms}ms.{target}.{routing_key}");
    if name.len() <= 255 {
        return name;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in exchange.bytes().chain([0]).chain(routing_key.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{prefix}.delay.{delay_ms}ms.{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delay_queue_names() {
        assert_eq!(
            delay_queue_name("dq", 1500, "orders", "paid"),
            "dq.delay.1500ms.orders.paid"
        );
        assert_eq!(
            delay_queue_name("dq", 10, "", "q"),
            "dq.delay.10ms.amq.default.q"
        );
        let long = delay_queue_name("dq", 10, "e", &"k".repeat(300));
        assert!(
            long.len() <= 255 && long.starts_with("dq.delay.10ms."),
            "{long}"
        );
    }

    #[test]
    fn options_are_checked() {
        let o = QueueOptions::from_json(
            json!({"durable": false, "arguments": {"x-max-priority": 10}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert!(!o.durable && o.arguments["x-max-priority"] == 10);
        let e = QueueOptions::from_json(json!({"durabel": true}).as_object().unwrap()).unwrap_err();
        assert!(e.message().contains("\"durabel\""), "{e}");
        let e = ExchangeOptions::from_json(json!({"internal": "yes"}).as_object().unwrap())
            .unwrap_err();
        assert!(e.message().contains("internal \"yes\""), "{e}");
    }
}
