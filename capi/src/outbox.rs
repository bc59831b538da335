//! The transactional outbox and the idempotent inbox: `dq_outbox_*`.
//!
//! libdq.so does not talk to the application's database: the caller writes the row through its
//! own connection (PHP's PDO), in its own transaction. These functions check what is to be
//! written exactly as `Dq\Outbox` / `Dq\Inbox` check it (dq-core's `outbox` module) and give the
//! statement to run and its parameters: the row format is dq-core's, the contract with the
//! gateway's relay.
//!
//! A row is given as JSON: `{"sql": "...", "params": [...], "message_id": "..."}`, the
//! parameters bound to the `?` of `sql` in order: strings, integers and null, and
//! `{"base64": "..."}` for bytes that are not UTF-8 (a publish's body), so that every byte
//! crosses as it is.

use std::ffi::c_char;

use dq_core::amqp::OutgoingMessage;
use dq_core::input::parse_time_zone;
use dq_core::mysql::SqlValue;
use dq_core::outbox::{self, CLAIM, Entry, INSERT};
use dq_core::{Error, NewMessage, Tz};
use serde_json::{Value, json};

use crate::boundary::{
    boundary, bytes, dq_result, into_c_string, json_object, optional_text, out, text,
};

/// Checks a message to publish to `exchange` with `routing_key` through the outbox, as
/// `dq_producer_publish` checks it (`body_len` bytes of `body`; `properties_json` NULL or a JSON
/// object of properties), and gives the `dq_outbox` row that says so. Without a `message_id`
/// property one is generated (a UUID): the relay may publish a message twice around a failure.
/// Nothing is sent: on success `*out_row_json` (freed with `dq_string_free`) is the row to
/// write in your transaction, `{"sql", "params", "message_id"}`: the statement, its parameters
/// bound to its `?` in order (strings, integers, null, and `{"base64": "..."}` for bytes that are
/// not UTF-8: the body's), and the message id.
///
/// # Safety
/// The strings are NUL-terminated (`properties_json` may be NULL); `body` has `body_len`
/// readable bytes; `out_row_json` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_outbox_publish_row(
    exchange: *const c_char,
    routing_key: *const c_char,
    body: *const c_char,
    body_len: usize,
    properties_json: *const c_char,
    out_row_json: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_row_json, "out_row_json", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (exchange, routing_key, body, properties) = unsafe {
            (
                text(exchange, "exchange")?,
                text(routing_key, "routing_key")?,
                bytes(body, body_len, "body")?,
                json_object(properties_json, "properties_json")?,
            )
        };
        // The properties first, then the names, as Dq\Outbox::publish reads them.
        let message = OutgoingMessage::new(body.to_vec(), &properties)
            .map_err(|e| e.context("properties_json"))?;
        let entry = Entry::publish(exchange, routing_key, &message)?;
        let json = row(INSERT, &entry.params(), &entry.message_id)?;
        // SAFETY: checked not NULL above.
        unsafe { *out_row_json = json };
        Ok(())
    })
}

/// Checks a delay-queue message for `topic` as `dq_client_add` checks it (`data_json` is
/// `{"id", "body", "delay" | "fix_time"}`; a `delay` counts from now, a `fix_time` string is read
/// in `timezone`, an IANA name, or the system's time zone when NULL; the body at most 1 MiB)
/// and gives the `dq_outbox` row that says so. Whether the topic is registered is found out by
/// the relay. Errors of the message are named `data_json: ...`. On success `*out_row_json` is
/// the row, as for `dq_outbox_publish_row` (`message_id` the message's id).
///
/// # Safety
/// The strings are NUL-terminated (`timezone` may be NULL); `out_row_json` points to writable
/// storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_outbox_add_row(
    topic: *const c_char,
    data_json: *const c_char,
    timezone: *const c_char,
    out_row_json: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_row_json, "out_row_json", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (topic, zone) =
            unsafe { (text(topic, "topic")?, optional_text(timezone, "timezone")?) };
        // SAFETY: as the caller promises.
        unsafe { text(data_json, "data_json") }?;
        // SAFETY: as the caller promises.
        let data = unsafe { json_object(data_json, "data_json") }?;
        // The time zone is looked up only for a fix_time string, as dq.so does.
        let time_zone = match (data.get("fix_time"), zone) {
            (Some(Value::String(_)), Some(name)) => {
                parse_time_zone(name).map_err(|e| e.context("timezone"))?
            }
            (Some(Value::String(_)), None) => dq_core::input::system_time_zone(),
            _ => Tz::UTC,
        };
        let message = NewMessage::from_json(&data, &Entry::add_rules(time_zone))
            .map_err(|e| e.context("data_json"))?;
        let entry = Entry::add(topic, &message)?;
        let json = row(INSERT, &entry.params(), &entry.message_id)?;
        // SAFETY: checked not NULL above.
        unsafe { *out_row_json = json };
        Ok(())
    })
}

/// Checks an inbox claim of `message_id` by `consumer` (1 to 255 bytes each) and gives the
/// `dq_inbox` statement that makes it: run it in the transaction that applies the message; one
/// affected row means claimed now, none that it was claimed before. On success `*out_row_json`
/// is the statement, as for `dq_outbox_publish_row`.
///
/// # Safety
/// The strings are NUL-terminated; `out_row_json` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_outbox_claim_row(
    consumer: *const c_char,
    message_id: *const c_char,
    out_row_json: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_row_json, "out_row_json", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (consumer, message_id) =
            unsafe { (text(consumer, "consumer")?, text(message_id, "message_id")?) };
        outbox::check_claim(consumer, message_id)?;
        let params = [
            SqlValue::Text(consumer.to_string()),
            SqlValue::Text(message_id.to_string()),
        ];
        let json = row(CLAIM, &params, message_id)?;
        // SAFETY: checked not NULL above.
        unsafe { *out_row_json = json };
        Ok(())
    })
}

/// The SQL that creates `dq_outbox` and `dq_inbox` (idempotent), as `dq-gateway migrate` applies
/// it: several statements and comments. DDL commits implicitly: never run it inside a
/// transaction. On success `*out_sql` holds it, freed with `dq_string_free`.
///
/// # Safety
/// `out_sql` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_outbox_schema(out_sql: *mut *mut c_char) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_sql, "out_sql", std::ptr::null_mut()) }?;
        let sql = into_c_string(outbox::schema())?;
        // SAFETY: checked not NULL above.
        unsafe { *out_sql = sql };
        Ok(())
    })
}

/// What to say when the database answered that `table` (`dq_outbox`, `dq_inbox`) does not exist
/// (MySQL error 1146, SQLSTATE 42S02), `detail` saying where (e.g. "(MySQL: <the server's
/// message>)"): how to create it. Report it as `DQ_NOT_FOUND`, as dq.so does. On success
/// `*out_message` holds it, freed with `dq_string_free`.
///
/// # Safety
/// The strings are NUL-terminated; `out_message` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_outbox_missing_table(
    table: *const c_char,
    detail: *const c_char,
    out_message: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_message, "out_message", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (table, detail) = unsafe { (text(table, "table")?, text(detail, "detail")?) };
        let message = into_c_string(outbox::missing_table(table, detail).message().to_string())?;
        // SAFETY: checked not NULL above.
        unsafe { *out_message = message };
        Ok(())
    })
}

/// A statement and its parameters as the JSON the functions above give.
fn row(sql: &str, params: &[SqlValue], message_id: &str) -> Result<*mut c_char, Error> {
    let params: Vec<Value> = params.iter().map(SqlValue::to_json).collect();
    into_c_string(json!({"sql": sql, "params": params, "message_id": message_id}).to_string())
}

#[cfg(test)]
mod tests {
    use std::ffi::{CStr, CString};

    use super::*;
    use crate::boundary::last_error;

    fn now_ms() -> i64 {
        Entry::add_rules(Tz::UTC).now_ms
    }

    fn taken(ptr: *mut c_char) -> Value {
        let text = unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_string();
        unsafe { crate::dq_string_free(ptr) };
        serde_json::from_str(&text).unwrap()
    }

    fn publish(body: &[u8], properties: Option<&str>) -> Result<Value, (dq_result, String)> {
        let properties = properties.map(|p| CString::new(p).unwrap());
        let mut out = std::ptr::null_mut();
        let result = unsafe {
            dq_outbox_publish_row(
                c"corp.transfers".as_ptr(),
                c"credit".as_ptr(),
                body.as_ptr().cast(),
                body.len(),
                properties.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()),
                &mut out,
            )
        };
        match result {
            dq_result::DQ_OK => Ok(taken(out)),
            failed => {
                assert!(out.is_null());
                Err((failed, last_error()))
            }
        }
    }

    #[test]
    fn a_publish_row_is_core_s_entry_with_its_bytes() {
        let row = publish(b"\xff\x00ok", Some(r#"{"type": "credit"}"#)).unwrap();
        assert_eq!(row["sql"], INSERT);
        let params = row["params"].as_array().unwrap();
        assert_eq!(params.len(), 7);
        assert_eq!(params[0], "publish");
        assert_eq!(params[1], "corp.transfers");
        assert_eq!(params[2], "credit");
        assert_eq!(params[3], row["message_id"]);
        assert_eq!(row["message_id"].as_str().unwrap().len(), 36);
        assert_eq!(params[4], json!({"base64": "/wBvaw=="}));
        let properties: Value = serde_json::from_str(params[5].as_str().unwrap()).unwrap();
        assert_eq!(properties["message_id"], row["message_id"]);
        assert_eq!(properties["type"], "credit");
        assert_eq!(properties["persistent"], true);
        assert_eq!(params[6], Value::Null);

        let row = publish(b"text", Some(r#"{"message_id": "m-1"}"#)).unwrap();
        assert_eq!(row["message_id"], "m-1");
        assert_eq!(row["params"][4], "text");
    }

    #[test]
    fn bad_properties_are_named_as_for_publish() {
        let (result, message) = publish(b"", Some(r#"{"priority": 900}"#)).unwrap_err();
        assert_eq!(result, dq_result::DQ_INVALID_ARGUMENT);
        assert!(message.starts_with("properties_json: "), "{message}");
        assert!(message.contains("900"), "{message}");
    }

    fn add(topic: &CStr, data: &str, zone: &CStr) -> Result<Value, (dq_result, String)> {
        let data = CString::new(data).unwrap();
        let mut out = std::ptr::null_mut();
        match unsafe { dq_outbox_add_row(topic.as_ptr(), data.as_ptr(), zone.as_ptr(), &mut out) } {
            dq_result::DQ_OK => Ok(taken(out)),
            failed => Err((failed, last_error())),
        }
    }

    const UTC: &CStr = c"UTC";

    #[test]
    fn an_add_row_is_due_after_its_delay() {
        let before = now_ms();
        let row = add(
            c"order.timeout",
            r#"{"id": 7, "body": {"a": 1}, "delay": 30}"#,
            UTC,
        )
        .unwrap();
        let params = row["params"].as_array().unwrap();
        assert_eq!(params[0], "add");
        assert_eq!(params[1], "order.timeout");
        assert_eq!(params[2], "");
        assert_eq!(params[3], "7");
        assert_eq!(params[4], r#"{"a":1}"#);
        assert_eq!(params[5], Value::Null);
        let due = params[6].as_i64().unwrap();
        assert!(
            (before + 30_000..=now_ms() + 30_000).contains(&due),
            "{due}"
        );

        // A time in the past is due now; the time zone is read for a fix_time string only.
        let row = add(
            c"t",
            r#"{"id": "x", "fix_time": "2020-01-02 03:04:05"}"#,
            UTC,
        )
        .unwrap();
        assert!(row["params"][6].as_i64().unwrap() >= before);
        let bad_zone = c"Nowhere/Else";
        assert!(add(c"t", r#"{"id": "x", "delay": 1}"#, bad_zone).is_ok());
        let (result, message) = add(
            c"t",
            r#"{"id": "x", "fix_time": "2020-01-02 03:04:05"}"#,
            bad_zone,
        )
        .unwrap_err();
        assert_eq!(result, dq_result::DQ_INVALID_ARGUMENT);
        assert!(message.starts_with("timezone: "), "{message}");

        let (result, message) = add(c"t", r#"{"id": "x", "dealy": 3}"#, UTC).unwrap_err();
        assert_eq!(result, dq_result::DQ_INVALID_ARGUMENT);
        assert!(message.starts_with("data_json: unknown field"), "{message}");
        let (_, message) = add(c"bad topic", r#"{"id": "x"}"#, UTC).unwrap_err();
        assert!(message.starts_with("topic \"bad topic\""), "{message}");
    }

    #[test]
    fn claims_schema_and_the_missing_table() {
        let mut out = std::ptr::null_mut();
        let result = unsafe { dq_outbox_claim_row(c"svc".as_ptr(), c"m-1".as_ptr(), &mut out) };
        assert_eq!(result, dq_result::DQ_OK);
        let row = taken(out);
        assert_eq!(row["sql"], CLAIM);
        assert_eq!(row["params"], json!(["svc", "m-1"]));
        let result = unsafe { dq_outbox_claim_row(c"".as_ptr(), c"m-1".as_ptr(), &mut out) };
        assert_eq!(result, dq_result::DQ_INVALID_ARGUMENT);
        assert!(last_error().contains("consumer is empty"));

        let result = unsafe { dq_outbox_schema(&mut out) };
        assert_eq!(result, dq_result::DQ_OK);
        let sql = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
        unsafe { crate::dq_string_free(out) };
        assert!(
            sql.contains("CREATE TABLE IF NOT EXISTS dq_outbox"),
            "{sql}"
        );

        let result = unsafe {
            dq_outbox_missing_table(c"dq_inbox".as_ptr(), c"(MySQL: gone)".as_ptr(), &mut out)
        };
        assert_eq!(result, dq_result::DQ_OK);
        let message = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
        unsafe { crate::dq_string_free(out) };
        assert!(
            message.starts_with(
                "table dq_inbox does not exist (MySQL: gone): create it with `dq-gateway migrate`"
            ),
            "{message}"
        );
        let result = unsafe { dq_outbox_schema(std::ptr::null_mut()) };
        assert_eq!(result, dq_result::DQ_INVALID_ARGUMENT);
    }
}
