//! `Dq\Producer`: publishing to RabbitMQ with confirms, delayed, in batches, RPC, topology.

// Parameter names are PHP's (named arguments): camelCase, as the contract spells them.
#![allow(non_snake_case)]

use dq_core::amqp::{
    AmqpConfig, ExchangeOptions, MAX_DELAY, OutgoingMessage, QueueOptions, QueueType,
};
use dq_core::config::parse_timeout;
use dq_core::input::delay_from_seconds;
use dq_core::{BlockingProducer, Error};
use ext_php_rs::binary::Binary;
use ext_php_rs::flags::{ClassFlags, DataType};
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};
use serde_json::{Map, Value};

use crate::client::{Options, timeout_option};
use crate::convert;
use crate::errors::{invalid, to_php};
use crate::ini;

/// Publishes to RabbitMQ. The connection is kept per process, across requests, and opened
/// again after a broker restart or a fork.
#[php_class]
#[php(name = "Dq\\Producer")]
#[php(flags = ClassFlags::Final)]
#[php(implements(crate::interfaces::PhpInterfaceProducerInterface))]
pub struct Producer {
    producer: BlockingProducer,
}

#[php_impl]
impl Producer {
    /// Options: `amqp` (URL), `confirm` (default true), `timeout` (seconds), `prefix`.
    /// Defaults come from the `dq.*` ini settings.
    #[php(defaults(options = Options(None)))]
    pub fn __construct(options: Options<'_>) -> PhpResult<Self> {
        let (config, confirm) = amqp_options(options.0, &["confirm"])?;
        Ok(Producer {
            producer: BlockingProducer::open(&config, confirm).map_err(to_php)?,
        })
    }

    /// Publishes a message; returns after the broker confirmed it (with confirms on). A nack,
    /// an unroutable `mandatory` message or a timeout throws.
    #[php(defaults(properties = Options(None)))]
    pub fn publish(
        &self,
        exchange: &str,
        routingKey: &str,
        body: &Zval,
        properties: Options<'_>,
    ) -> PhpResult<()> {
        let message = outgoing(body, properties.0)?;
        self.producer
            .publish(exchange, routingKey, &message)
            .map_err(to_php)
    }

    /// Publishes a message that reaches the exchange after `$delay` seconds (int or float,
    /// to the millisecond; at most 30 days).
    #[php(defaults(properties = Options(None)))]
    pub fn publish_delayed(
        &self,
        exchange: &str,
        routingKey: &str,
        body: &Zval,
        delay: f64,
        properties: Options<'_>,
    ) -> PhpResult<()> {
        let delay = delay_from_seconds("delay", delay, MAX_DELAY).map_err(to_php)?;
        let message = outgoing(body, properties.0)?;
        self.producer
            .publish_delayed(exchange, routingKey, &message, delay)
            .map_err(to_php)
    }

    /// Publishes `[['routing_key' => .., 'body' => .., 'properties' => [..]], ...]` and waits
    /// for all their confirms together. Returns how many were confirmed.
    pub fn publish_batch(&self, exchange: &str, messages: &ZendHashTable) -> PhpResult<i64> {
        let mut batch = Vec::with_capacity(messages.len());
        for (name, item) in convert::arrays_in(
            messages,
            "messages",
            "['routing_key' => .., 'body' => .., 'properties' => [..]]",
        )? {
            batch.push(batch_item(item, &name)?);
        }
        let confirmed = self
            .producer
            .publish_batch(exchange, &batch)
            .map_err(to_php)?;
        Ok(i64::try_from(confirmed).unwrap_or(i64::MAX))
    }

    /// Sends a request and returns the reply's body; throws `Dq\TimeoutException` when no reply
    /// comes within `$timeout` seconds.
    #[php(defaults(timeout = 5.0, properties = Options(None)))]
    pub fn call(
        &self,
        exchange: &str,
        routingKey: &str,
        body: &Zval,
        timeout: f64,
        properties: Options<'_>,
    ) -> PhpResult<Binary<u8>> {
        let wait = parse_timeout(timeout).map_err(|e| to_php(e.context("timeout")))?;
        let message = outgoing(body, properties.0)?;
        let reply = self
            .producer
            .call(exchange, routingKey, message, wait)
            .map_err(to_php)?;
        Ok(Binary::new(reply.body))
    }

    /// Declares an exchange. Options: `durable` (default true), `auto_delete`, `internal`,
    /// `passive`, `arguments`.
    #[php(defaults(r#type = "direct".to_string(), options = Options(None)))]
    pub fn declare_exchange(
        &self,
        name: &str,
        r#type: String,
        options: Options<'_>,
    ) -> PhpResult<()> {
        let options = map_of(options.0, "options")
            .and_then(|o| ExchangeOptions::from_json(&o))
            .map_err(to_php)?;
        self.producer
            .declare_exchange(name, &r#type, &options)
            .map_err(to_php)
    }

    /// Declares a queue and returns its name (`''` lets the broker name it). Options: `durable`
    /// (default true), `auto_delete`, `exclusive`, `passive`, `arguments` (`x-dead-letter-exchange`,
    /// `x-message-ttl`, `x-max-priority`, `x-queue-type`, ...).
    #[php(defaults(options = Options(None)))]
    pub fn declare_queue(&self, name: &str, options: Options<'_>) -> PhpResult<String> {
        let options = map_of(options.0, "options")
            .and_then(|o| QueueOptions::from_json(&o))
            .map_err(to_php)?;
        self.producer.declare_queue(name, &options).map_err(to_php)
    }

    /// Binds a queue to an exchange.
    #[php(defaults(routingKey = String::new(), arguments = Options(None)))]
    pub fn bind_queue(
        &self,
        queue: &str,
        exchange: &str,
        routingKey: String,
        arguments: Options<'_>,
    ) -> PhpResult<()> {
        let arguments = map_of(arguments.0, "arguments").map_err(to_php)?;
        self.producer
            .bind_queue(queue, exchange, &routingKey, &arguments)
            .map_err(to_php)
    }
}

/// The RabbitMQ configuration from ini settings and an options array: `amqp`, `prefix`,
/// `timeout`, and the `extra` keys the caller reads itself (returned: `confirm`). `redis` and
/// `body_limit` are accepted and ignored, so one options array can serve every class.
pub(crate) fn amqp_options(
    options: Option<&ZendHashTable>,
    extra: &[&str],
) -> PhpResult<(AmqpConfig, bool)> {
    let mut url = None;
    let mut prefix = None;
    let mut timeout = None;
    let mut queue_type = None;
    let mut confirm = true;
    if let Some(options) = options {
        for (key, value) in convert::entries(options) {
            let value = value.dereference();
            let key = key.to_string();
            let name = format!("options['{key}']");
            match key.as_str() {
                "amqp" => url = Some(string_option(value, &name)?),
                "prefix" => prefix = Some(string_option(value, &name)?),
                "timeout" => timeout = Some(timeout_option(value, &name)?),
                "amqp_queue_type" => {
                    let text = string_option(value, &name)?;
                    queue_type =
                        Some(QueueType::parse(&text).map_err(|e| to_php(e.context(&name)))?);
                }
                "confirm" if extra.contains(&"confirm") => {
                    confirm = value.bool().ok_or_else(|| {
                        invalid(format!(
                            "{name} {}: expected true or false",
                            convert::described(value)
                        ))
                    })?;
                }
                "prefetch" if extra.contains(&"prefetch") => {}
                "redis" | "body_limit" | "replicas" | "confirm" => {}
                other => {
                    let mut known = vec!["amqp", "prefix", "timeout", "amqp_queue_type"];
                    known.extend_from_slice(extra);
                    return Err(invalid(format!(
                        "unknown option \"{other}\" (options: {})",
                        known.join(", ")
                    )));
                }
            }
        }
    }
    let url = match url {
        Some(url) => url,
        None => ini::string(c"dq.amqp").unwrap_or_else(|| dq_core::amqp::DEFAULT_AMQP.to_string()),
    };
    let prefix = match prefix {
        Some(prefix) => prefix,
        None => ini::prefix().map_err(to_php)?,
    };
    let timeout = match timeout {
        Some(timeout) => timeout,
        None => ini::timeout().map_err(to_php)?,
    };
    let queue_type = match queue_type {
        Some(queue_type) => queue_type,
        None => ini::amqp_queue_type().map_err(to_php)?,
    };
    let config = AmqpConfig::new(&url, &prefix, timeout)
        .map_err(to_php)?
        .with_queue_type(queue_type);
    Ok((config, confirm))
}

fn string_option(value: &Zval, name: &str) -> PhpResult<String> {
    value.str().map(str::to_string).ok_or_else(|| {
        invalid(format!(
            "{name} {}: expected a string",
            convert::described(value)
        ))
    })
}

/// A message from a body (a string as is, an array or object as JSON) and a properties array.
pub(crate) fn outgoing(
    body: &Zval,
    properties: Option<&ZendHashTable>,
) -> PhpResult<OutgoingMessage> {
    message(body, properties).map_err(to_php)
}

fn message(body: &Zval, properties: Option<&ZendHashTable>) -> Result<OutgoingMessage, Error> {
    let mut properties = map_of(properties, "properties")?;
    let body = body.dereference();
    let bytes = match body.get_type() {
        DataType::String => body
            .zend_str()
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        DataType::Array | DataType::Object(_) => {
            properties
                .entry("content_type")
                .or_insert_with(|| Value::String("application/json".into()));
            convert::to_json_text(body)
                .map_err(|e| Error::invalid(e.describe("body")))?
                .into_bytes()
        }
        _ => {
            return Err(Error::invalid(format!(
                "body {}: expected a string, or an array to send as JSON",
                convert::described(body)
            )));
        }
    };
    OutgoingMessage::new(bytes, &properties).map_err(|e| e.context("properties"))
}

fn batch_item(item: &ZendHashTable, name: &str) -> PhpResult<(String, OutgoingMessage)> {
    let mut routing_key = String::new();
    let mut body = None;
    let mut properties = None;
    for (key, value) in convert::entries(item) {
        let value = value.dereference();
        match key.to_string().as_str() {
            "routing_key" => {
                routing_key = value.str().map(str::to_string).ok_or_else(|| {
                    invalid(format!(
                        "{name}['routing_key'] {}: expected a string",
                        convert::described(value)
                    ))
                })?;
            }
            "body" => body = Some(value),
            "properties" if value.is_null() => {}
            "properties" => {
                properties = Some(value.array().ok_or_else(|| {
                    invalid(format!(
                        "{name}['properties'] {}: expected an array of name => value",
                        convert::described(value)
                    ))
                })?);
            }
            other => {
                return Err(invalid(format!(
                    "{name} has unknown key \"{other}\" (keys: routing_key, body, properties)"
                )));
            }
        }
    }
    let body = body.ok_or_else(|| invalid(format!("{name} has no 'body'")))?;
    let message = message(body, properties).map_err(|e| to_php(e.context(name)))?;
    Ok((routing_key, message))
}

/// A PHP array of name => value as a JSON object (`[]` is an empty one).
pub(crate) fn map_of(
    array: Option<&ZendHashTable>,
    name: &str,
) -> Result<Map<String, Value>, Error> {
    let Some(array) = array.filter(|a| !a.is_empty()) else {
        return Ok(Map::new());
    };
    match convert::array_to_json(array).map_err(|e| Error::invalid(e.describe(name)))? {
        Value::Object(map) => Ok(map),
        _ => Err(Error::invalid(format!(
            "{name} must be an array of name => value, not a list"
        ))),
    }
}
