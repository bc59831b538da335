//! `Dq\Xa`: a transaction across MySQL / MariaDB databases, coordinated by dq-core (prepare in
//! parallel, a durable decision, commit in parallel, recovery after a crash). `Dq\Xa::run` and
//! `Dq\Xa::recover` are its static helpers.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dq_core::mysql::{MysqlUrl, Rows, SqlValue};
use dq_core::xa::{Databases, Resolved, older_than};
use dq_core::{BlockingXa, XaOptions};
use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::convert::IntoZval;
use ext_php_rs::flags::{ClassFlags, DataType};
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendCallable, ZendHashTable, Zval};
use ext_php_rs::zend::{ExecutorGlobals, ce};

use crate::client::{Options, timeout_option};
use crate::convert;
use crate::errors::{internal, invalid, to_php};
use crate::ini;

/// The transaction, shared by its PHP object and `Dq\Xa::run`, which commits it.
type Shared = Arc<Mutex<BlockingXa>>;

/// A global transaction over the databases given to the constructor. A branch is started on a
/// database at its first statement; `commit()` commits every branch or none. Destroyed
/// without `commit()`, it rolls back.
#[php_class]
#[php(name = "Dq\\Xa")]
#[php(flags = ClassFlags::Final)]
pub struct Xa {
    xa: Shared,
}

#[php_impl]
impl Xa {
    /// `$databases`: name => `mysql://user:pass@host:port/database`. Options: `log` (the
    /// decision log's database, default `dq.mysql`), `timeout` (seconds, default `dq.timeout`).
    #[php(defaults(options = Options(None)))]
    pub fn __construct(databases: &ZendHashTable, options: Options<'_>) -> PhpResult<Self> {
        let (databases, options) = read(databases, options.0)?;
        Ok(Xa {
            xa: Arc::new(Mutex::new(BlockingXa::begin(databases, &options))),
        })
    }

    /// Runs a statement on `$database`'s branch: `?` placeholders, `$params` bound in order
    /// (int, float, string, bool, null). Returns the number of affected rows.
    #[php(defaults(params = Options(None)))]
    pub fn execute(
        &self,
        database: Binary<u8>,
        sql: Binary<u8>,
        params: Options<'_>,
    ) -> PhpResult<i64> {
        let (database, sql, params) = statement(database, sql, params.0)?;
        let done = self
            .lock()
            .execute(&database, &sql, &params)
            .map_err(to_php)?;
        Ok(i64::try_from(done.affected_rows).unwrap_or(i64::MAX))
    }

    /// Runs a statement and returns its rows as a list of associative arrays (integers as
    /// int, DECIMAL as string, NULL as null, binary columns as strings of bytes).
    #[php(defaults(params = Options(None)))]
    pub fn query(
        &self,
        database: Binary<u8>,
        sql: Binary<u8>,
        params: Options<'_>,
    ) -> PhpResult<ZBox<ZendHashTable>> {
        let (database, sql, params) = statement(database, sql, params.0)?;
        let rows = self
            .lock()
            .query(&database, &sql, &params)
            .map_err(to_php)?;
        rows_array(&rows)
    }

    /// Commits every branch, or throws `Dq\XaException` having rolled every branch back.
    pub fn commit(&self) -> PhpResult<()> {
        let committed = self.lock().commit().map_err(to_php)?;
        warn_pending("Dq\\Xa::commit()", &committed.pending);
        Ok(())
    }

    /// Rolls every branch back. Again after a rollback it does nothing; after a commit it
    /// throws.
    pub fn rollback(&self) -> PhpResult<()> {
        self.lock().rollback().map_err(to_php)
    }

    /// The global transaction id (as `dq_xa`, the gateway's `/v1/xa` and the logs show it).
    pub fn id(&self) -> String {
        self.lock().id().to_string()
    }

    /// Runs `$fn(Dq\Xa $xa)` in a new transaction and commits it when `$fn` returns, returning
    /// what `$fn` returned; when `$fn` throws, rolls back and lets the exception through.
    #[php(defaults(options = Options(None)))]
    pub fn run(
        databases: &ZendHashTable,
        handler: ZendCallable<'_>,
        options: Options<'_>,
    ) -> PhpResult<Zval> {
        let (databases, options) = read(databases, options.0)?;
        let shared: Shared = Arc::new(Mutex::new(BlockingXa::begin(databases, &options)));
        let object = Xa { xa: shared.clone() }
            .into_zval(false)
            .map_err(|e| internal(format!("cannot make a Dq\\Xa: {e}")))?;
        let returned = handler.try_call(vec![&object]);
        let mut xa = shared.lock().unwrap_or_else(|p| p.into_inner());
        match returned {
            Ok(value) if xa.is_active() => {
                let committed = xa.commit().map_err(to_php)?;
                warn_pending("Dq\\Xa::run()", &committed.pending);
                Ok(value)
            }
            // $fn committed or rolled back itself.
            Ok(value) => Ok(value),
            Err(e) => {
                // The exception stays pending, so PHP rethrows it from here once this returns.
                let _ = xa.rollback();
                if exception_pending() {
                    Ok(Zval::new())
                } else {
                    Err(internal(format!(
                        "Dq\\Xa::run(): the callable could not be called: {e}"
                    )))
                }
            }
        }
    }

    /// Finishes transactions left in doubt on `$databases`' servers (whose coordinator died):
    /// applies each logged decision, and rolls back the undecided ones older than
    /// `older_than` seconds (default 60). Returns one entry per prepared branch it saw:
    /// `['id','database','server','decision','action','age','error']`.
    #[php(defaults(options = Options(None)))]
    pub fn recover(
        databases: &ZendHashTable,
        options: Options<'_>,
    ) -> PhpResult<ZBox<ZendHashTable>> {
        let mut age = Duration::from_secs(60);
        let mut rest = ZendHashTable::new();
        if let Some(options) = options.0 {
            for (key, value) in convert::entries(options) {
                let value = value.dereference();
                if key.to_string() == "older_than" {
                    let seconds = value
                        .double()
                        .or_else(|| value.long().map(|l| l as f64))
                        .ok_or_else(|| {
                            invalid(format!(
                                "options['older_than'] {}: expected seconds",
                                convert::described(value)
                            ))
                        })?;
                    age = older_than(seconds)
                        .map_err(|e| to_php(e.context("options['older_than']")))?;
                } else {
                    rest.insert(key.to_string().as_str(), value.shallow_clone())?;
                }
            }
        }
        let (databases, options) = read(databases, Some(&rest))?;
        let resolved = BlockingXa::recover(databases, &options, age).map_err(to_php)?;
        resolved_array(&resolved)
    }
}

impl Xa {
    fn lock(&self) -> MutexGuard<'_, BlockingXa> {
        self.xa.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The databases (name => URL) and the options (`log`, `timeout`).
fn read(
    databases: &ZendHashTable,
    options: Option<&ZendHashTable>,
) -> PhpResult<(Databases, XaOptions)> {
    if databases.is_empty() {
        return Err(invalid(
            "databases is empty: expected ['name' => 'mysql://user:pass@host:port/database', ...]",
        ));
    }
    let mut pairs = Vec::with_capacity(databases.len());
    for (key, value) in convert::entries(databases) {
        let convert::Key::Name(name) = key else {
            return Err(invalid(format!(
                "databases[{key}]: expected a name as the key ('order' => 'mysql://...')"
            )));
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let url = value.dereference().str().ok_or_else(|| {
            invalid(format!(
                "databases['{name}'] {}: expected a mysql:// URL",
                convert::described(value)
            ))
        })?;
        pairs.push((name, url.to_string()));
    }
    let databases = Databases::new(pairs).map_err(to_php)?;
    let mut log = None;
    let mut timeout = None;
    if let Some(options) = options {
        for (key, value) in convert::entries(options) {
            let value = value.dereference();
            let key = key.to_string();
            let name = format!("options['{key}']");
            match key.as_str() {
                "log" => {
                    let url = value.str().ok_or_else(|| {
                        invalid(format!(
                            "{name} {}: expected a mysql:// URL",
                            convert::described(value)
                        ))
                    })?;
                    log = Some(MysqlUrl::parse(&name, url).map_err(to_php)?);
                }
                "timeout" => timeout = Some(timeout_option(value, &name)?),
                other => {
                    return Err(invalid(format!(
                        "unknown option \"{other}\" (options: log, timeout; recover() also takes older_than)"
                    )));
                }
            }
        }
    }
    let log = match log {
        Some(log) => log,
        None => ini::mysql().map_err(to_php)?,
    };
    let timeout = match timeout {
        Some(timeout) => timeout,
        None => ini::timeout().map_err(to_php)?,
    };
    Ok((databases, XaOptions { log, timeout }))
}

/// A statement's database name, SQL text and parameters, checked.
fn statement(
    database: Binary<u8>,
    sql: Binary<u8>,
    params: Option<&ZendHashTable>,
) -> PhpResult<(String, String, Vec<SqlValue>)> {
    let database = utf8(database, "database")?;
    let sql = utf8(sql, "sql")?;
    let mut values = Vec::new();
    if let Some(params) = params {
        values.reserve(params.len());
        for (n, (key, value)) in convert::entries(params).enumerate() {
            if !matches!(key, convert::Key::Index(i) if i == n as i64) {
                return Err(invalid(format!(
                    "params[{key}]: params must be a list bound to the ? placeholders in order (keys 0, 1, 2, ...)"
                )));
            }
            values.push(sql_value(value.dereference(), n)?);
        }
    }
    Ok((database, sql, values))
}

fn utf8(bytes: Binary<u8>, name: &str) -> PhpResult<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        invalid(format!(
            "{name} is not valid UTF-8 (at byte {}): send binary data as a parameter",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn sql_value(value: &Zval, n: usize) -> PhpResult<SqlValue> {
    Ok(match value.get_type() {
        DataType::Null | DataType::Undef => SqlValue::Null,
        DataType::True => SqlValue::Int(1),
        DataType::False => SqlValue::Int(0),
        DataType::Long => SqlValue::Int(value.long().unwrap_or_default()),
        DataType::Double => SqlValue::Float(value.double().unwrap_or_default()),
        DataType::String => {
            let bytes = value
                .zend_str()
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default();
            match String::from_utf8(bytes) {
                Ok(text) => SqlValue::Text(text),
                Err(e) => SqlValue::Bytes(e.into_bytes()),
            }
        }
        _ => {
            return Err(invalid(format!(
                "params[{n}] {}: expected int, float, string, bool or null",
                convert::described(value)
            )));
        }
    })
}

fn value_zval(value: &SqlValue) -> PhpResult<Zval> {
    let mut zval = Zval::new();
    match value {
        SqlValue::Null => zval.set_null(),
        SqlValue::Int(n) => zval.set_long(*n),
        SqlValue::Float(f) => zval.set_double(*f),
        SqlValue::Text(text) => zval.set_string(text, false)?,
        SqlValue::Bytes(bytes) => zval.set_binary(bytes.clone()),
    }
    Ok(zval)
}

fn rows_array(rows: &Rows) -> PhpResult<ZBox<ZendHashTable>> {
    let mut list = ZendHashTable::with_capacity(u32::try_from(rows.rows.len()).unwrap_or(u32::MAX));
    for row in rows.iter_assoc() {
        let mut assoc =
            ZendHashTable::with_capacity(u32::try_from(rows.columns.len()).unwrap_or(u32::MAX));
        for (column, value) in row {
            assoc.insert(column, value_zval(value)?)?;
        }
        list.push(assoc)?;
    }
    Ok(list)
}

fn resolved_array(resolved: &[Resolved]) -> PhpResult<ZBox<ZendHashTable>> {
    let mut list = ZendHashTable::with_capacity(u32::try_from(resolved.len()).unwrap_or(u32::MAX));
    for r in resolved {
        let mut entry = ZendHashTable::with_capacity(7);
        entry.insert("id", r.id.as_str())?;
        entry.insert("database", r.branch.as_str())?;
        entry.insert("server", r.server.as_str())?;
        match r.decision {
            Some(decision) => entry.insert("decision", decision.as_str())?,
            None => entry.insert("decision", ())?,
        }
        entry.insert("action", r.action.as_str())?;
        entry.insert("age", r.age.as_secs_f64())?;
        match &r.error {
            Some(error) => entry.insert("error", error.as_str())?,
            None => entry.insert("error", ())?,
        }
        list.push(entry)?;
    }
    Ok(list)
}

fn exception_pending() -> bool {
    ExecutorGlobals::get()
        .exception()
        .is_some_and(|e| e.instance_of(ce::throwable()))
}

/// Warns (E_USER_WARNING) about branches a commit left to recovery, if any.
fn warn_pending(what: &str, pending: &[String]) {
    if !pending.is_empty() {
        warn(&format!(
            "{what}: committed; the branch(es) on {} could not be reached and will be committed by recovery",
            pending.join(", ")
        ));
    }
}

/// An E_USER_WARNING, through PHP's `trigger_error`.
fn warn(message: &str) {
    if let Ok(trigger) = ZendCallable::try_from_name("trigger_error") {
        let _ = trigger.try_call(vec![&message, &512i64]);
    }
}
