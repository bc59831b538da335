//! The delay queue: `dq_client_*`.

use std::ffi::c_char;

use dq_core::config::{check_prefix, parse_timeout};
use dq_core::input::{parse_time_zone, system_time_zone};
use dq_core::{BlockingQueue, Error, Message, QueueConfig, RedisServer, Tz};
use serde_json::{Map, Value, json};

use crate::boundary::{
    boundary, dq_result, free_handle, into_c_string, json_array, json_object, out, text,
};

/// A delay queue client: Redis connections kept for the life of the process (shared by
/// every client of the same configuration) and the options it was made with. Thread-safe.
pub struct dq_client {
    queue: BlockingQueue,
    time_zone: Tz,
}

/// Reads `{"redis", "prefix", "timeout", "body_limit", "replicas", "timezone"}`; every key is
/// optional.
fn config(options: &Map<String, Value>) -> Result<(QueueConfig, Tz), Error> {
    let mut config = QueueConfig::default();
    let mut time_zone = system_time_zone();
    for (key, value) in options {
        match (key.as_str(), value) {
            ("redis", Value::String(list)) => config.redis = RedisServer::parse_list(list)?,
            ("redis", Value::Array(items)) => {
                let specs: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                if specs.len() != items.len() {
                    return Err(Error::invalid(
                        "options.redis must be a string or an array of strings",
                    ));
                }
                config.redis = RedisServer::parse_list(&specs.join(","))?;
            }
            ("prefix", Value::String(prefix)) => {
                check_prefix(prefix)?;
                config.prefix = prefix.clone();
            }
            ("timeout", Value::Number(n)) => {
                config.timeout = parse_timeout(n.as_f64().unwrap_or(-1.0))?
            }
            ("body_limit", Value::Number(n)) => {
                config.body_limit = n
                    .as_u64()
                    .filter(|l| *l > 0)
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "options.body_limit {n} must be a positive number of bytes"
                        ))
                    })?;
            }
            ("replicas", Value::Number(n)) => {
                config.replicas = dq_core::config::parse_replicas(n.as_i64().unwrap_or(-1))
                    .map_err(|e| e.context("options.replicas"))?;
            }
            ("timezone", Value::String(name)) => time_zone = parse_time_zone(name)?,
            ("redis" | "prefix" | "timeout" | "body_limit" | "replicas" | "timezone", other) => {
                return Err(Error::invalid(format!(
                    "options.{key} {other} has the wrong type"
                )));
            }
            _ => {
                return Err(Error::invalid(format!(
                    "unknown option {key:?} (options: redis, prefix, timeout, body_limit, replicas, timezone)"
                )));
            }
        }
    }
    Ok((config, time_zone))
}

/// Makes a client. `options_json` is a JSON object (or NULL for the defaults): `redis` (a URL,
/// "host:port[:auth]", a comma-separated list or an array: shards), `prefix` (default "dq"),
/// `timeout` (seconds, default 3), `body_limit` (bytes, default 1 MiB), `timezone` (of
/// `fix_time` strings; default the system's). Nothing connects until the first call.
/// On success `*out` owns a client the caller frees with `dq_client_free`.
///
/// # Safety
/// `options_json` is NULL or a NUL-terminated string; `out_client` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_new(
    options_json: *const c_char,
    out_client: *mut *mut dq_client,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_client, "out_client", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let options = unsafe { json_object(options_json, "options_json") }?;
        let (config, time_zone) = config(&options)?;
        let client = Box::new(dq_client {
            queue: BlockingQueue::open(&config)?,
            time_zone,
        });
        // SAFETY: checked not NULL above.
        unsafe { *out_client = Box::into_raw(client) };
        Ok(())
    })
}

/// Frees a client (NULL is ignored). The process's connections stay for other clients.
///
/// # Safety
/// `client` is NULL or came from `dq_client_new` and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_free(client: *mut dq_client) {
    // SAFETY: the caller hands back what dq_client_new gave it, once.
    unsafe { free_handle(client) }
}

/// Schedules a message: `message_json` is `{"id", "body", "delay" | "fix_time"}` as for
/// `Dq\Client::add`; any other key, or a key given twice, is `DQ_INVALID_ARGUMENT`. A second
/// add of an id replaces the first, so after `DQ_TIMEOUT` (the message may or may not have been
/// stored) adding it again is safe.
///
/// # Safety
/// `client` came from `dq_client_new`; the strings are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_add(
    client: *const dq_client,
    topic: *const c_char,
    message_json: *const c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: as the caller promises.
        let (client, topic) = unsafe { (handle(client)?, text(topic, "topic")?) };
        // SAFETY: as the caller promises.
        let data = unsafe { message_object(message_json, "message_json") }?;
        let message = client.queue.parse_message(&data, client.time_zone)?;
        client.queue.add(topic, &message).map(|_| ())
    })
}

/// Schedules many messages (`messages_json` is a JSON array of messages as for
/// `dq_client_add`) with one round trip per shard; all are checked first. On success
/// `*out_count` is how many were stored. After a failure (`DQ_TIMEOUT` included) some may have
/// been stored; adding them again is safe.
///
/// # Safety
/// As for `dq_client_add`; `out_count` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_add_many(
    client: *const dq_client,
    topic: *const c_char,
    messages_json: *const c_char,
    out_count: *mut usize,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_count, "out_count", 0) }?;
        // SAFETY: as the caller promises.
        let (client, topic, items) = unsafe {
            (
                handle(client)?,
                text(topic, "topic")?,
                json_array(messages_json, "messages_json")?,
            )
        };
        let mut messages = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let data = item
                .as_object()
                .ok_or_else(|| Error::invalid(format!("messages[{i}] is not an object")))?;
            messages.push(
                client
                    .queue
                    .parse_message(data, client.time_zone)
                    .map_err(|e| e.context(format!("messages[{i}]")))?,
            );
        }
        let stored = client.queue.add_many(topic, &messages)?;
        // SAFETY: checked not NULL above.
        unsafe { *out_count = stored };
        Ok(())
    })
}

/// Reads a message. On success `*out_json` is the message as JSON
/// (`{"topic","id","body","due_at","attempts","state"}`, freed with `dq_string_free`) or NULL
/// when there is none.
///
/// # Safety
/// As for `dq_client_add`; `out_json` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_get(
    client: *const dq_client,
    topic: *const c_char,
    id: *const c_char,
    out_json: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_json, "out_json", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (client, topic, id) =
            unsafe { (handle(client)?, text(topic, "topic")?, text(id, "id")?) };
        let json = match client.queue.get(topic, id)? {
            Some(message) => into_c_string(message_json(&message)?.to_string())?,
            None => std::ptr::null_mut(),
        };
        // SAFETY: checked not NULL above.
        unsafe { *out_json = json };
        Ok(())
    })
}

/// Removes a message in whatever state; on success `*out_removed` says whether there was one.
///
/// # Safety
/// As for `dq_client_add`; `out_removed` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_del(
    client: *const dq_client,
    topic: *const c_char,
    id: *const c_char,
    out_removed: *mut bool,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_removed, "out_removed", false) }?;
        // SAFETY: as the caller promises.
        let (client, topic, id) =
            unsafe { (handle(client)?, text(topic, "topic")?, text(id, "id")?) };
        let removed = client.queue.del(topic, id)?;
        // SAFETY: checked not NULL above.
        unsafe { *out_removed = removed };
        Ok(())
    })
}

/// Message counts of a topic: on success `*out_json` is
/// `{"delayed","ready","inflight","dead"}` (freed with `dq_string_free`).
///
/// # Safety
/// As for `dq_client_get`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_stats(
    client: *const dq_client,
    topic: *const c_char,
    out_json: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_json, "out_json", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (client, topic) = unsafe { (handle(client)?, text(topic, "topic")?) };
        let s = client.queue.stats(topic)?;
        let json = into_c_string(
            json!({"delayed": s.delayed, "ready": s.ready, "inflight": s.inflight, "dead": s.dead})
                .to_string(),
        )?;
        // SAFETY: checked not NULL above.
        unsafe { *out_json = json };
        Ok(())
    })
}

/// Reserves the next due job of a pull topic, waiting up to `timeout` seconds (0 to 60). On
/// success `*out_json` is the job as JSON (`{"lease","topic","id","body","attempt",
/// "max_attempts","due_at","lease_expires_at"}`, freed with `dq_string_free`) or NULL when none
/// came in time. Settle it with `dq_client_ack`, `dq_client_retry` or `dq_client_fail` and its
/// `lease` before the topic's `timeout_ms` runs out, or it is reserved again.
///
/// # Safety
/// As for `dq_client_get`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_reserve(
    client: *const dq_client,
    topic: *const c_char,
    timeout: f64,
    out_json: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_json, "out_json", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (client, topic) = unsafe { (handle(client)?, text(topic, "topic")?) };
        let wait =
            dq_core::input::delay_from_seconds("timeout", timeout, dq_core::MAX_RESERVE_WAIT)?;
        let json = match client.queue.reserve(topic, wait)? {
            Some(job) => into_c_string(job.to_json()?.to_string())?,
            None => std::ptr::null_mut(),
        };
        // SAFETY: checked not NULL above.
        unsafe { *out_json = json };
        Ok(())
    })
}

/// Settles a reserved job as done: it is removed. `DQ_LEASE_LOST` when the lease expired (the
/// job is reserved again) or the job was settled, deleted or replaced meanwhile.
///
/// # Safety
/// As for `dq_client_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_ack(
    client: *const dq_client,
    topic: *const c_char,
    lease: *const c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: as the caller promises.
        let (client, topic, lease) = unsafe {
            (
                handle(client)?,
                text(topic, "topic")?,
                text(lease, "lease")?,
            )
        };
        client.queue.ack(topic, lease)
    })
}

/// Schedules a reserved job again after `delay` seconds, or on the topic's retry ladder when
/// `delay` is negative. On success `*out_scheduled` is false when that was the topic's last
/// attempt and the job became a dead letter instead.
///
/// # Safety
/// As for `dq_client_add`; `out_scheduled` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_retry(
    client: *const dq_client,
    topic: *const c_char,
    lease: *const c_char,
    delay: f64,
    out_scheduled: *mut bool,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_scheduled, "out_scheduled", false) }?;
        // SAFETY: as the caller promises.
        let (client, topic, lease) = unsafe {
            (
                handle(client)?,
                text(topic, "topic")?,
                text(lease, "lease")?,
            )
        };
        let delay = if delay < 0.0 {
            None
        } else {
            Some(dq_core::input::delay_from_seconds(
                "delay",
                delay,
                dq_core::input::MAX_ADD_DELAY,
            )?)
        };
        let retried = client
            .queue
            .retry(topic, lease, delay, "retry asked by the worker")?;
        // SAFETY: checked not NULL above.
        unsafe { *out_scheduled = matches!(retried, dq_core::Retried::Scheduled(_)) };
        Ok(())
    })
}

/// Makes a reserved job a dead letter at once, with `reason` as its last error.
///
/// # Safety
/// As for `dq_client_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_client_fail(
    client: *const dq_client,
    topic: *const c_char,
    lease: *const c_char,
    reason: *const c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: as the caller promises.
        let (client, topic, lease, reason) = unsafe {
            (
                handle(client)?,
                text(topic, "topic")?,
                text(lease, "lease")?,
                text(reason, "reason")?,
            )
        };
        client.queue.fail(topic, lease, reason)
    })
}

/// # Safety
/// `client` is NULL or came from `dq_client_new` and is not freed yet.
unsafe fn handle<'a>(client: *const dq_client) -> Result<&'a dq_client, Error> {
    // SAFETY: as the caller promises.
    unsafe { client.as_ref() }.ok_or_else(|| Error::invalid("client is NULL"))
}

/// # Safety
/// As for `json_object`.
unsafe fn message_object(ptr: *const c_char, name: &str) -> Result<Map<String, Value>, Error> {
    // SAFETY: as the caller promises.
    unsafe { text(ptr, name) }?;
    // SAFETY: as the caller promises.
    unsafe { json_object(ptr, name) }
}

/// A message as `Dq\Client::get` shows it.
fn message_json(message: &Message) -> Result<Value, Error> {
    let mut json = json!({
        "topic": message.topic,
        "id": message.id,
        "body": message.body_value()?,
        "due_at": message.due_at_ms as f64 / 1000.0,
        "attempts": message.attempts,
        "state": message.state.as_str(),
    });
    if let Some(status) = message.last_status {
        json["last_status"] = json!(status);
    }
    if let Some(error) = &message.last_error {
        json["last_error"] = json!(error);
    }
    Ok(json)
}
