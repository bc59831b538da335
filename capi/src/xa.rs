//! XA transactions across MySQL / MariaDB databases: `dq_xa_*`, as `Dq\Xa` in dq.so (the same
//! checks, codes and messages).

use std::ffi::{CStr, c_char};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use dq_core::config::{DEFAULT_TIMEOUT, parse_timeout};
use dq_core::mysql::{DEFAULT_MYSQL, MysqlUrl, SqlValue};
use dq_core::xa::{Databases, Resolved, older_than};
use dq_core::{BlockingXa, Error, XaOptions};
use serde_json::{Map, Value, json};

use crate::boundary::{
    boundary, bytes, dq_result, free_handle, into_c_string, json_object, optional_text, out, text,
};

/// One global transaction over the databases it was made with: a branch is started on a
/// database at its first statement; `dq_xa_commit` commits every branch or none. Freed
/// unfinished, it rolls back.
///
/// Thread-safe: calls from several threads on one `dq_xa` take turns (a statement is never
/// interleaved with another). A process forked while a transaction is open leaves it to its
/// parent: in the child the transaction refuses statements, and freeing it there does nothing.
pub struct dq_xa {
    xa: Mutex<BlockingXa>,
}

impl dq_xa {
    fn lock(&self) -> MutexGuard<'_, BlockingXa> {
        self.xa.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts a transaction (nothing connects before the first statement). `databases_json` is a
/// JSON object of name => `mysql://user:pass@host:port/database` (names: 1 to 64 of
/// `A-Za-z0-9_.-`); `options_json` a JSON object (or NULL): `log` (the database of dq's decision
/// log, default `mysql://root@127.0.0.1:3306/dq`), `timeout` (seconds per step, default 3). On
/// success `*out_xa` owns a transaction the caller frees with `dq_xa_free`.
///
/// # Safety
/// The strings are NUL-terminated (`options_json` may be NULL); `out_xa` points to writable
/// storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_xa_new(
    databases_json: *const c_char,
    options_json: *const c_char,
    out_xa: *mut *mut dq_xa,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_xa, "out_xa", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (databases, options) = unsafe { arguments(databases_json, options_json) }?;
        let (databases, options) = read(databases, options)?;
        let xa = Box::new(dq_xa {
            xa: Mutex::new(BlockingXa::begin(databases, &options)),
        });
        // SAFETY: checked not NULL above.
        unsafe { *out_xa = Box::into_raw(xa) };
        Ok(())
    })
}

/// Frees a transaction (NULL is ignored), rolling it back when it was neither committed nor
/// rolled back.
///
/// # Safety
/// `xa` is NULL or came from `dq_xa_new` and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_xa_free(xa: *mut dq_xa) {
    // SAFETY: the caller hands back what dq_xa_new gave it, once.
    unsafe { free_handle(xa) }
}

/// Runs a statement on `database`'s branch (started at its first statement): `sql_len` bytes of
/// UTF-8 SQL at `sql` with `?` placeholders, bound in order to `params_json`, a JSON list (or
/// NULL for none) of null, true/false (1/0), integers, floats, strings, and `{"base64": "..."}`
/// for bytes that are not UTF-8 (a BLOB, a VARBINARY); an integer above 2^63-1 is bound as its
/// decimal text. On success `*out_affected_rows` is the number of rows the statement changed.
///
/// A statement the server refuses is `DQ_TRANSACTION` naming the database and the server's
/// error (the transaction goes on); an unknown database, a wrong number or type of parameters
/// `DQ_INVALID_ARGUMENT`; a parameter over 16 MiB `DQ_PAYLOAD_TOO_LARGE`.
///
/// # Safety
/// `xa` came from `dq_xa_new`; `database` and `params_json` are NUL-terminated (`params_json`
/// may be NULL); `sql` has `sql_len` readable bytes; `out_affected_rows` points to writable
/// storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_xa_execute(
    xa: *const dq_xa,
    database: *const c_char,
    sql: *const c_char,
    sql_len: usize,
    params_json: *const c_char,
    out_affected_rows: *mut u64,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_affected_rows, "out_affected_rows", 0) }?;
        // SAFETY: as the caller promises.
        let (xa, s) = unsafe { (handle(xa)?, statement(database, sql, sql_len, params_json)?) };
        let done = xa.lock().execute(s.database, s.sql, &s.params)?;
        // SAFETY: checked not NULL above.
        unsafe { *out_affected_rows = done.affected_rows };
        Ok(())
    })
}

/// Runs a statement as `dq_xa_execute` does and gives its rows: on success `*out_rows_json` is
/// a JSON list of objects, column => value (integers as numbers, DECIMAL and dates as strings,
/// NULL as null, bytes that are not UTF-8 as `{"base64": "..."}`), freed with `dq_string_free`.
///
/// # Safety
/// As for `dq_xa_execute`; `out_rows_json` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_xa_query(
    xa: *const dq_xa,
    database: *const c_char,
    sql: *const c_char,
    sql_len: usize,
    params_json: *const c_char,
    out_rows_json: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_rows_json, "out_rows_json", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (xa, s) = unsafe { (handle(xa)?, statement(database, sql, sql_len, params_json)?) };
        let rows = xa.lock().query(s.database, s.sql, &s.params)?;
        let json = into_c_string(rows.to_json().to_string())?;
        // SAFETY: checked not NULL above.
        unsafe { *out_rows_json = json };
        Ok(())
    })
}

/// Commits every branch (prepared in parallel, the decision logged, committed in parallel), or
/// rolls every branch back and fails with `DQ_TRANSACTION` naming the branch that could not
/// prepare. On success `*out_pending_json` is NULL, or, when a branch's server could not be
/// reached after the decision was logged, a JSON list of those databases' names (freed with
/// `dq_string_free`): the transaction is committed, and recovery finishes those branches.
///
/// # Safety
/// `xa` came from `dq_xa_new`; `out_pending_json` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_xa_commit(
    xa: *const dq_xa,
    out_pending_json: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_pending_json, "out_pending_json", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let xa = unsafe { handle(xa) }?;
        let committed = xa.lock().commit()?;
        if !committed.pending.is_empty() {
            let json = into_c_string(json!(committed.pending).to_string())?;
            // SAFETY: checked not NULL above.
            unsafe { *out_pending_json = json };
        }
        Ok(())
    })
}

/// Rolls every branch back. Again after a rollback it does nothing; after a commit it is
/// `DQ_TRANSACTION`.
///
/// # Safety
/// `xa` came from `dq_xa_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_xa_rollback(xa: *const dq_xa) -> dq_result {
    boundary(|| {
        // SAFETY: as the caller promises.
        let xa = unsafe { handle(xa) }?;
        xa.lock().rollback()
    })
}

/// The global transaction id (`dq` and 36 hex digits, as the decision log, the gateway and the
/// logs show it): on success `*out_id`, freed with `dq_string_free`.
///
/// # Safety
/// `xa` came from `dq_xa_new`; `out_id` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_xa_id(xa: *const dq_xa, out_id: *mut *mut c_char) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_id, "out_id", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let xa = unsafe { handle(xa) }?;
        let id = into_c_string(xa.lock().id().to_string())?;
        // SAFETY: checked not NULL above.
        unsafe { *out_id = id };
        Ok(())
    })
}

/// Whether the transaction still takes statements: on success `*out_active` is false once it
/// was committed or rolled back.
///
/// # Safety
/// `xa` came from `dq_xa_new`; `out_active` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_xa_is_active(xa: *const dq_xa, out_active: *mut bool) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_active, "out_active", false) }?;
        // SAFETY: as the caller promises.
        let xa = unsafe { handle(xa) }?;
        let active = xa.lock().is_active();
        // SAFETY: checked not NULL above.
        unsafe { *out_active = active };
        Ok(())
    })
}

/// Finishes transactions left in doubt on the servers of `databases_json` (as for `dq_xa_new`)
/// by a coordinator that died: applies each logged decision, and rolls back the undecided
/// branches older than `older_than` seconds (0 to 2592000, default 60). `options_json` (or NULL):
/// `log`, `timeout` as for `dq_xa_new`, and `older_than`. On success `*out_json` is a JSON list,
/// one entry per prepared branch seen: `{"id","database","server","decision" (null, "commit" or
/// "rollback"),"action","age" (seconds),"error" (null or why the decision could not be applied
/// yet)}`, freed with `dq_string_free`.
///
/// # Safety
/// As for `dq_xa_new`; `out_json` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dq_xa_recover(
    databases_json: *const c_char,
    options_json: *const c_char,
    out_json: *mut *mut c_char,
) -> dq_result {
    boundary(|| {
        // SAFETY: the caller promises writable storage (or NULL, an error).
        unsafe { out(out_json, "out_json", std::ptr::null_mut()) }?;
        // SAFETY: as the caller promises.
        let (databases, mut options) = unsafe { arguments(databases_json, options_json) }?;
        // dq.so reads older_than before the rest.
        let age = match options.shift_remove("older_than") {
            Some(value) => {
                let seconds = value.as_f64().ok_or_else(|| {
                    Error::invalid(format!(
                        "options['older_than'] {}: expected seconds",
                        described(&value)
                    ))
                })?;
                older_than(seconds).map_err(|e| e.context("options['older_than']"))?
            }
            None => Duration::from_secs(60),
        };
        let (databases, options) = read(databases, options)?;
        let resolved = BlockingXa::recover(databases, &options, age)?;
        let list: Vec<Value> = resolved.iter().map(resolved_json).collect();
        let json = into_c_string(Value::Array(list).to_string())?;
        // SAFETY: checked not NULL above.
        unsafe { *out_json = json };
        Ok(())
    })
}

/// # Safety
/// `xa` is NULL or came from `dq_xa_new` and is not freed yet.
unsafe fn handle<'a>(xa: *const dq_xa) -> Result<&'a dq_xa, Error> {
    // SAFETY: as the caller promises.
    unsafe { xa.as_ref() }.ok_or_else(|| Error::invalid("xa is NULL"))
}

type Object = Map<String, Value>;

/// The two JSON objects of `dq_xa_new` and `dq_xa_recover`.
///
/// # Safety
/// As for `dq_xa_new`.
unsafe fn arguments(
    databases_json: *const c_char,
    options_json: *const c_char,
) -> Result<(Object, Object), Error> {
    // SAFETY: as the caller promises.
    unsafe { text(databases_json, "databases_json") }?;
    // SAFETY: as the caller promises.
    let databases = unsafe { json_object(databases_json, "databases_json") }.map_err(|e| {
        if e.message().ends_with("not an object") {
            Error::invalid(format!(
                "{}: expected {{\"name\": \"mysql://user:pass@host:port/database\", ...}}",
                e.message()
            ))
        } else {
            e
        }
    })?;
    // SAFETY: as the caller promises.
    let options = unsafe { json_object(options_json, "options_json") }?;
    Ok((databases, options))
}

/// The databases (name => URL) and the options (`log`, `timeout`), checked in dq.so's order
/// and with its messages.
fn read(databases: Object, options: Object) -> Result<(Databases, XaOptions), Error> {
    if databases.is_empty() {
        return Err(Error::invalid(
            "databases_json is empty: expected {\"name\": \"mysql://user:pass@host:port/database\", ...}",
        ));
    }
    let mut pairs = Vec::with_capacity(databases.len());
    for (name, url) in databases {
        let Value::String(url) = url else {
            return Err(Error::invalid(format!(
                "databases['{name}'] {}: expected a mysql:// URL",
                described(&url)
            )));
        };
        pairs.push((name, url));
    }
    let databases = Databases::new(pairs)?;
    let mut log = None;
    let mut timeout = DEFAULT_TIMEOUT;
    for (key, value) in &options {
        let name = format!("options['{key}']");
        match key.as_str() {
            "log" => {
                let url = value.as_str().ok_or_else(|| {
                    Error::invalid(format!(
                        "{name} {}: expected a mysql:// URL",
                        described(value)
                    ))
                })?;
                log = Some(MysqlUrl::parse(&name, url)?);
            }
            "timeout" => {
                let seconds = value.as_f64().ok_or_else(|| {
                    Error::invalid(format!("{name} {}: expected seconds", described(value)))
                })?;
                timeout = parse_timeout(seconds).map_err(|e| e.context(&name))?;
            }
            other => {
                return Err(Error::invalid(format!(
                    "unknown option \"{other}\" (options: log, timeout; recover() also takes older_than)"
                )));
            }
        }
    }
    let log = match log {
        Some(log) => log,
        None => MysqlUrl::parse("the default log", DEFAULT_MYSQL)?,
    };
    Ok((databases, XaOptions { log, timeout }))
}

/// A statement's checked arguments.
struct Statement<'a> {
    database: &'a str,
    sql: &'a str,
    params: Vec<SqlValue>,
}

/// The database name, SQL text and parameters of a statement, checked in dq.so's order.
///
/// # Safety
/// As for `dq_xa_execute`.
unsafe fn statement<'a>(
    database: *const c_char,
    sql: *const c_char,
    sql_len: usize,
    params_json: *const c_char,
) -> Result<Statement<'a>, Error> {
    if database.is_null() {
        return Err(Error::invalid("database is NULL"));
    }
    // SAFETY: not NULL; the caller promises a NUL-terminated string.
    let database = utf8(unsafe { CStr::from_ptr(database) }.to_bytes(), "database")?;
    // SAFETY: as the caller promises.
    let sql = utf8(unsafe { bytes(sql, sql_len, "sql") }?, "sql")?;
    // SAFETY: as the caller promises.
    let params = match unsafe { optional_text(params_json, "params_json") }? {
        None => Vec::new(),
        Some(json) => params(dq_core::json::from_str(json, "params_json")?)?,
    };
    Ok(Statement {
        database,
        sql,
        params,
    })
}

/// Text that must be UTF-8, refused as dq.so refuses it.
fn utf8<'a>(bytes: &'a [u8], name: &str) -> Result<&'a str, Error> {
    std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid(format!(
            "{name} is not valid UTF-8 (at byte {}): send binary data as a parameter",
            e.valid_up_to()
        ))
    })
}

/// The parameters: a JSON list of values.
fn params(json: Value) -> Result<Vec<SqlValue>, Error> {
    match json {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(n, value)| sql_value(value, n))
            .collect(),
        // As dq.so words an array with names for keys.
        Value::Object(map) => match map.keys().next() {
            Some(key) => Err(Error::invalid(format!(
                "params[{key}]: params must be a list bound to the ? placeholders in order (keys 0, 1, 2, ...)"
            ))),
            None => Ok(Vec::new()),
        },
        _ => Err(Error::invalid(
            "params_json is JSON but not an array: expected a list of the ? placeholders' values",
        )),
    }
}

fn sql_value(value: &Value, n: usize) -> Result<SqlValue, Error> {
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Int(i64::from(*b)),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(i), _, _) => SqlValue::Int(i),
            (None, Some(u), _) => SqlValue::Text(u.to_string()),
            (None, None, Some(f)) => SqlValue::Float(f),
            (None, None, None) => {
                return Err(Error::invalid(format!(
                    "params[{n}] {number} is not a number dq can bind"
                )));
            }
        },
        Value::String(text) => SqlValue::Text(text.clone()),
        Value::Object(map) => match (map.len(), map.get("base64")) {
            (1, Some(Value::String(encoded))) => {
                SqlValue::Bytes(decode_base64(encoded).ok_or_else(|| {
                    Error::invalid(format!(
                        "params[{n}]: {{\"base64\": ...}} holds {} which is not base64",
                        described(&Value::String(encoded.clone())).trim_end_matches(" is a string")
                    ))
                })?)
            }
            _ => {
                return Err(Error::invalid(format!(
                    "params[{n}] is an object other than {{\"base64\": \"...\"}}: expected int, float, string, bool or null"
                )));
            }
        },
        Value::Array(_) => {
            return Err(Error::invalid(format!(
                "params[{n}] is an array: expected int, float, string, bool or null"
            )));
        }
    })
}

/// Standard base64 (`+/`), `=` padding optional.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let data = text.trim_end_matches('=');
    let padding = text.len() - data.len();
    if padding > 2 || (padding > 0 && !text.len().is_multiple_of(4)) || data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    let (mut bits, mut count) = (0u32, 0u32);
    for byte in data.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// A JSON value and its type, worded as dq.so words a PHP value's (`"x" is a string`, `5 is an
/// int`, `is null`).
fn described(value: &Value) -> String {
    match value {
        Value::Null => "is null".to_string(),
        Value::Bool(b) => format!("{b} is a bool"),
        Value::Number(n) => match n.as_i64() {
            Some(i) => format!("{i} is an int"),
            None if n.is_u64() => format!("{n} is an int"),
            None => format!("{} is a float", n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => {
            let mut shown: String = text.chars().take(80).flat_map(char::escape_debug).collect();
            if text.chars().count() > 80 {
                shown.push_str("...");
            }
            format!("\"{shown}\" is a string")
        }
        Value::Array(_) => "is an array".to_string(),
        Value::Object(_) => "is an object".to_string(),
    }
}

/// One entry of `dq_xa_recover`'s list, as `Dq\Xa::recover()` gives it.
fn resolved_json(r: &Resolved) -> Value {
    json!({
        "id": r.id.as_str(),
        "database": r.branch,
        "server": r.server,
        "decision": r.decision.map(|d| d.as_str()),
        "action": r.action.as_str(),
        "age": r.age.as_secs_f64(),
        "error": r.error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_or_without_padding() {
        assert_eq!(decode_base64(""), Some(vec![]));
        assert_eq!(decode_base64("Zg=="), Some(b"f".to_vec()));
        assert_eq!(decode_base64("Zg"), Some(b"f".to_vec()));
        assert_eq!(decode_base64("Zm8="), Some(b"fo".to_vec()));
        assert_eq!(decode_base64("Zm9v"), Some(b"foo".to_vec()));
        assert_eq!(decode_base64("AP/+"), Some(vec![0, 0xff, 0xfe]));
        assert_eq!(decode_base64("Z"), None);
        assert_eq!(decode_base64("Zg==="), None);
        assert_eq!(decode_base64("Zm9v\n"), None);
        assert_eq!(decode_base64("Zm-v"), None);
        assert_eq!(decode_base64("Zg="), None);
    }

    #[test]
    fn params_are_typed_and_refused_as_in_dq_so() {
        let values = params(
            json!([null, true, false, -5, 18446744073709551615u64, 0.5, "é", {"base64": "AP/+"}]),
        )
        .unwrap();
        assert_eq!(
            values,
            [
                SqlValue::Null,
                SqlValue::Int(1),
                SqlValue::Int(0),
                SqlValue::Int(-5),
                SqlValue::Text("18446744073709551615".into()),
                SqlValue::Float(0.5),
                SqlValue::Text("é".into()),
                SqlValue::Bytes(vec![0, 0xff, 0xfe]),
            ]
        );
        let refused = |json: Value| params(json).unwrap_err().message().to_string();
        assert_eq!(
            refused(json!([1, [1]])),
            "params[1] is an array: expected int, float, string, bool or null"
        );
        assert_eq!(
            refused(json!({"x": 1})),
            "params[x]: params must be a list bound to the ? placeholders in order (keys 0, 1, 2, ...)"
        );
        assert!(refused(json!([{"base64": "!"}])).contains("\"!\" which is not base64"));
        assert!(refused(json!([{"base64": "AA", "x": 1}])).contains("an object other than"));
        assert!(params(json!({})).unwrap().is_empty());
    }

    #[test]
    fn values_are_described_as_dq_so_describes_them() {
        assert_eq!(described(&json!(3306)), "3306 is an int");
        assert_eq!(described(&json!(1.5)), "1.5 is a float");
        assert_eq!(described(&json!(1.0)), "1 is a float");
        assert_eq!(described(&json!("a\"b")), "\"a\\\"b\" is a string");
        assert_eq!(described(&json!(null)), "is null");
        assert_eq!(described(&json!(false)), "false is a bool");
        assert_eq!(described(&json!([1])), "is an array");
    }
}
