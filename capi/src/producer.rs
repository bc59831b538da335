//! RabbitMQ: `dq_producer_*`.

use std::ffi::c_char;

use dq_core::amqp::{
    AmqpConfig, DEFAULT_AMQP, ExchangeOptions, MAX_DELAY, OutgoingMessage, QueueOptions,
};
use dq_core::config::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, parse_timeout};
use dq_core::input::delay_from_seconds;
use dq_core::{BlockingProducer, Error};
use serde_json::Value;

use crate::boundary::{
    boundary, bytes, dq_result, free_handle, into_c_string, json_array, json_object, out, text,
};

/// A producer: the process's RabbitMQ connection for its configuration (opened on first use,
/// kept, opened again after it broke) and whether it waits for confirms. Thread-safe.
pub struct dq_producer {
    producer: BlockingProducer,
}

/// Makes a producer. `options_json` is a JSON object (or NULL): `amqp` (URL, default
/// amqp://guest:guest@127.0.0.1:5672/%2f), `confirm` (default true), `timeout` (seconds,
/// default 3), `prefix` (default "dq"). On success `*out_producer` owns a producer the caller
/// frees with `dq_producer_free`.
///
/// # Safety
/// `options_json` is NULL or a NUL-terminated string; `out_producer` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_producer_new(
    options_json: *const c_char,
    out_producer: *mut *mut dq_producer,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_producer, "out_producer", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let options = unsafe { json_object(options_json, "options_json") }?;
        let mut url = DEFAULT_AMQP.to_string();
        let mut prefix = DEFAULT_PREFIX.to_string();
        let mut timeout = DEFAULT_TIMEOUT;
        let mut confirm = true;
        let mut queue_type = dq_core::amqp::QueueType::Classic;
        for (key, value) in &options {
            match (key.as_str(), value) {
                ("amqp", Value::String(v)) => url = v.clone(),
                ("prefix", Value::String(v)) => prefix = v.clone(),
                ("timeout", Value::Number(n)) => {
                    timeout = parse_timeout(n.as_f64().unwrap_or(-1.0))?
                }
                ("confirm", Value::Bool(b)) => confirm = *b,
                ("amqp_queue_type", Value::String(v)) => {
                    queue_type = dq_core::amqp::QueueType::parse(v)
                        .map_err(|e| e.context("options.amqp_queue_type"))?
                }
                ("amqp" | "prefix" | "timeout" | "confirm" | "amqp_queue_type", other) => {
                    return Err(Error::invalid(format!(
                        "options.{key} {other} has the wrong type"
                    )));
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "unknown option {key:?} (options: amqp, confirm, timeout, prefix, amqp_queue_type)"
                    )));
                }
            }
        }
        let config = AmqpConfig::new(&url, &prefix, timeout)?.with_queue_type(queue_type);
        let producer = BlockingProducer::open(&config, confirm)?;
        // SAFETY: checked not NULL above.
        unsafe { *out_producer = Box::into_raw(Box::new(dq_producer { producer })) };
        Ok(())
    })
}

/// Frees a producer (NULL is ignored). The connection stays for the process.
///
/// # Safety
/// `producer` is NULL or came from `dq_producer_new` and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_producer_free(producer: *mut dq_producer) {
    // SAFETY: the caller hands back what dq_producer_new gave it, once.
    unsafe { free_handle(producer) }
}

/// Publishes `body_len` bytes of `body` with `properties_json` (NULL or a JSON object of
/// properties, as for `Dq\Producer::publish`); with confirms, returns after the broker's ack.
/// A nack or an unroutable mandatory message is `DQ_REJECTED`, a missing exchange
/// `DQ_NOT_FOUND`.
///
/// # Safety
/// `producer` came from `dq_producer_new`; the strings are NUL-terminated (`properties_json`
/// may be NULL); `body` has `body_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_producer_publish(
    producer: *const dq_producer,
    exchange: *const c_char,
    routing_key: *const c_char,
    body: *const c_char,
    body_len: usize,
    properties_json: *const c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: as the caller promises.
        let (p, exchange, routing_key, message) = unsafe {
            arguments(
                producer,
                exchange,
                routing_key,
                body,
                body_len,
                properties_json,
            )?
        };
        p.producer.publish(exchange, routing_key, &message)
    })
}

/// As `dq_producer_publish`, the message reaching the exchange after `delay_seconds` seconds
/// (rounded to the millisecond; 0 to 30 days, else `DQ_INVALID_ARGUMENT`, as for NaN or
/// infinity). A missing exchange, or through the default exchange (`""`) a missing queue, is
/// `DQ_NOT_FOUND` (checked when the delay queue is declared, then every 5 minutes), rather than
/// a message dropped when it is due.
///
/// # Safety
/// As for `dq_producer_publish`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_producer_publish_delayed(
    producer: *const dq_producer,
    exchange: *const c_char,
    routing_key: *const c_char,
    body: *const c_char,
    body_len: usize,
    delay_seconds: f64,
    properties_json: *const c_char,
) -> dq_result {
    boundary(|| {
        let delay = delay_from_seconds("delay_seconds", delay_seconds, MAX_DELAY)?;
        // SAFETY: as the caller promises.
        let (p, exchange, routing_key, message) = unsafe {
            arguments(
                producer,
                exchange,
                routing_key,
                body,
                body_len,
                properties_json,
            )?
        };
        p.producer
            .publish_delayed(exchange, routing_key, &message, delay)
    })
}

/// Sends a request (RPC over direct reply-to) and waits up to `timeout_seconds` for the reply.
/// On success `*out_body` / `*out_len` hold the reply's body, which the caller frees with
/// `dq_bytes_free(*out_body, *out_len)`. No reply in time is `DQ_TIMEOUT`.
///
/// # Safety
/// As for `dq_producer_publish`; `out_body` and `out_len` point to writable storage.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dq_producer_call(
    producer: *const dq_producer,
    exchange: *const c_char,
    routing_key: *const c_char,
    body: *const c_char,
    body_len: usize,
    properties_json: *const c_char,
    timeout_seconds: f64,
    out_body: *mut *mut c_char,
    out_len: *mut usize,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_body, "out_body", std::ptr::null_mut()) }?;
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_len, "out_len", 0) }?;
        // SAFETY: as the caller promises.
        let (p, exchange, routing_key, message) = unsafe {
            arguments(
                producer,
                exchange,
                routing_key,
                body,
                body_len,
                properties_json,
            )?
        };
        let wait = parse_timeout(timeout_seconds).map_err(|e| e.context("timeout_seconds"))?;
        let reply = p.producer.call(exchange, routing_key, message, wait)?;
        let reply = reply.body.into_boxed_slice();
        let len = reply.len();
        // SAFETY: checked not NULL above.
        unsafe {
            *out_len = len;
            *out_body = Box::into_raw(reply).cast::<c_char>();
        }
        Ok(())
    })
}

/// # Safety
/// As for `dq_producer_publish`.
unsafe fn arguments<'a>(
    producer: *const dq_producer,
    exchange: *const c_char,
    routing_key: *const c_char,
    body: *const c_char,
    body_len: usize,
    properties_json: *const c_char,
) -> Result<(&'a dq_producer, &'a str, &'a str, OutgoingMessage), Error> {
    // SAFETY: as the caller promises.
    unsafe {
        let producer = handle(producer)?;
        let exchange = text(exchange, "exchange")?;
        let routing_key = text(routing_key, "routing_key")?;
        let body = bytes(body, body_len, "body")?;
        let properties = json_object(properties_json, "properties_json")?;
        let message = OutgoingMessage::new(body.to_vec(), &properties)
            .map_err(|e| e.context("properties_json"))?;
        Ok((producer, exchange, routing_key, message))
    }
}

/// Publishes many messages to one exchange and waits for all their confirms together.
/// `messages_json` is a JSON array of `{"routing_key", "body", "properties"}`: a string body is
/// sent as its UTF-8 bytes, any other JSON value as JSON (content type application/json). On
/// success `*out_count` is how many were confirmed.
///
/// # Safety
/// `producer` came from `dq_producer_new`; the strings are NUL-terminated; `out_count` points
/// to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_producer_publish_batch(
    producer: *const dq_producer,
    exchange: *const c_char,
    messages_json: *const c_char,
    out_count: *mut usize,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_count, "out_count", 0) }?;
        // SAFETY: as the caller promises.
        let (p, exchange, items) = unsafe {
            (
                handle(producer)?,
                text(exchange, "exchange")?,
                json_array(messages_json, "messages_json")?,
            )
        };
        let mut batch = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            batch.push(batch_item(item).map_err(|e| e.context(format!("messages[{i}]")))?);
        }
        let confirmed = p.producer.publish_batch(exchange, &batch)?;
        // SAFETY: checked not NULL above.
        unsafe { *out_count = confirmed };
        Ok(())
    })
}

/// Declares an exchange of `type` (direct, fanout, topic, headers, or a plugin's type).
/// `options_json`: NULL or `{"durable", "auto_delete", "internal", "passive", "arguments"}`.
///
/// # Safety
/// `producer` came from `dq_producer_new`; the strings are NUL-terminated (`options_json` may
/// be NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_producer_declare_exchange(
    producer: *const dq_producer,
    name: *const c_char,
    r#type: *const c_char,
    options_json: *const c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: as the caller promises.
        let (p, name, kind, options) = unsafe {
            (
                handle(producer)?,
                text(name, "name")?,
                text(r#type, "type")?,
                json_object(options_json, "options_json")?,
            )
        };
        p.producer
            .declare_exchange(name, kind, &ExchangeOptions::from_json(&options)?)
    })
}

/// Declares a queue (`""` lets the broker name it). `options_json`: NULL or `{"durable",
/// "auto_delete", "exclusive", "passive", "arguments"}`. On success `*out_name` is the queue's
/// name, freed with `dq_string_free`.
///
/// # Safety
/// As for `dq_producer_declare_exchange`; `out_name` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_producer_declare_queue(
    producer: *const dq_producer,
    name: *const c_char,
    options_json: *const c_char,
    out_name: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_name, "out_name", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (p, name, options) = unsafe {
            (
                handle(producer)?,
                text(name, "name")?,
                json_object(options_json, "options_json")?,
            )
        };
        let declared = p
            .producer
            .declare_queue(name, &QueueOptions::from_json(&options)?)?;
        let declared = into_c_string(declared)?;
        // SAFETY: checked not NULL above.
        unsafe { *out_name = declared };
        Ok(())
    })
}

/// Binds a queue to an exchange. `arguments_json`: NULL or a JSON object.
///
/// # Safety
/// As for `dq_producer_declare_exchange`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_producer_bind_queue(
    producer: *const dq_producer,
    queue: *const c_char,
    exchange: *const c_char,
    routing_key: *const c_char,
    arguments_json: *const c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: as the caller promises.
        let (p, queue, exchange, routing_key, arguments) = unsafe {
            (
                handle(producer)?,
                text(queue, "queue")?,
                text(exchange, "exchange")?,
                text(routing_key, "routing_key")?,
                json_object(arguments_json, "arguments_json")?,
            )
        };
        p.producer
            .bind_queue(queue, exchange, routing_key, &arguments)
    })
}

/// # Safety
/// `producer` is NULL or came from `dq_producer_new` and is not freed yet.
unsafe fn handle<'a>(producer: *const dq_producer) -> Result<&'a dq_producer, Error> {
    // SAFETY: as the caller promises.
    unsafe { producer.as_ref() }.ok_or_else(|| Error::invalid("producer is NULL"))
}

/// One item of a batch: `{"routing_key", "body", "properties"}`.
fn batch_item(item: &Value) -> Result<(String, OutgoingMessage), Error> {
    let Some(item) = item.as_object() else {
        return Err(Error::invalid(
            "is not an object with routing_key, body, properties",
        ));
    };
    if let Some(unknown) = item
        .keys()
        .find(|k| !["routing_key", "body", "properties"].contains(&k.as_str()))
    {
        return Err(Error::invalid(format!(
            "has unknown key {unknown:?} (keys: routing_key, body, properties)"
        )));
    }
    let routing_key = match item.get("routing_key") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(key)) => key.clone(),
        Some(other) => {
            return Err(Error::invalid(format!(
                "routing_key {other} is not a string"
            )));
        }
    };
    let mut properties = match item.get("properties") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(Error::invalid(format!(
                "properties {other} is not an object"
            )));
        }
    };
    let body = match item.get("body") {
        None => return Err(Error::invalid("has no body")),
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(value) => {
            properties
                .entry("content_type")
                .or_insert_with(|| Value::String("application/json".into()));
            value.to_string().into_bytes()
        }
    };
    Ok((
        routing_key,
        OutgoingMessage::new(body, &properties).map_err(|e| e.context("properties"))?,
    ))
}
