//! RabbitMQ: `dq_producer_*`.

use std::ffi::c_char;
use std::time::Duration;

use dq_core::amqp::{AmqpConfig, DEFAULT_AMQP, OutgoingMessage};
use dq_core::config::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, parse_timeout};
use dq_core::{BlockingProducer, Error};
use serde_json::Value;

use crate::boundary::{boundary, bytes, dq_result, json_object, out, text};

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
        out(out_producer, "out_producer")?;
        // SAFETY: as the caller promises.
        let options = unsafe { json_object(options_json, "options_json") }?;
        let mut url = DEFAULT_AMQP.to_string();
        let mut prefix = DEFAULT_PREFIX.to_string();
        let mut timeout = DEFAULT_TIMEOUT;
        let mut confirm = true;
        for (key, value) in &options {
            match (key.as_str(), value) {
                ("amqp", Value::String(v)) => url = v.clone(),
                ("prefix", Value::String(v)) => prefix = v.clone(),
                ("timeout", Value::Number(n)) => {
                    timeout = parse_timeout(n.as_f64().unwrap_or(-1.0))?
                }
                ("confirm", Value::Bool(b)) => confirm = *b,
                ("amqp" | "prefix" | "timeout" | "confirm", other) => {
                    return Err(Error::invalid(format!(
                        "options.{key} {other} has the wrong type"
                    )));
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "unknown option {key:?} (options: amqp, confirm, timeout, prefix)"
                    )));
                }
            }
        }
        let producer = BlockingProducer::open(&AmqpConfig::new(&url, &prefix, timeout)?, confirm)?;
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
    if !producer.is_null() {
        // SAFETY: the caller hands back what dq_producer_new gave it, once.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(producer) })
        }));
    }
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
    body: *const u8,
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

/// As `dq_producer_publish`, the message reaching the exchange after `delay_ms` milliseconds.
///
/// # Safety
/// As for `dq_producer_publish`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_producer_publish_delayed(
    producer: *const dq_producer,
    exchange: *const c_char,
    routing_key: *const c_char,
    body: *const u8,
    body_len: usize,
    delay_ms: u64,
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
        p.producer.publish_delayed(
            exchange,
            routing_key,
            &message,
            Duration::from_millis(delay_ms),
        )
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
    body: *const u8,
    body_len: usize,
    properties_json: *const c_char,
    timeout_seconds: f64,
    out_body: *mut *mut u8,
    out_len: *mut usize,
) -> dq_result {
    boundary(|| {
        out(out_body, "out_body")?;
        out(out_len, "out_len")?;
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
            *out_body = Box::into_raw(reply).cast::<u8>();
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
    body: *const u8,
    body_len: usize,
    properties_json: *const c_char,
) -> Result<(&'a dq_producer, &'a str, &'a str, OutgoingMessage), Error> {
    // SAFETY: as the caller promises.
    unsafe {
        let producer = producer
            .as_ref()
            .ok_or_else(|| Error::invalid("producer is NULL"))?;
        let exchange = text(exchange, "exchange")?;
        let routing_key = text(routing_key, "routing_key")?;
        let body = bytes(body, body_len, "body")?;
        let properties = json_object(properties_json, "properties_json")?;
        let message = OutgoingMessage::new(body.to_vec(), &properties)
            .map_err(|e| e.context("properties_json"))?;
        Ok((producer, exchange, routing_key, message))
    }
}
