//! `Dq\Outbox` and `Dq\Inbox`: reliable messages written through the caller's own PDO
//! connection, so that they commit or roll back with the caller's transaction. The row format
//! and the checks are dq-core's (`dq_core::outbox`); this file only reads PHP values and calls
//! PDO's own methods (`prepare`, `execute`, `rowCount`), whatever PDO's error mode.

// Parameter names are PHP's (named arguments): camelCase, as the contract spells them.
#![allow(non_snake_case)]

use dq_core::mysql::SqlValue;
use dq_core::outbox::{self, CLAIM, Entry, INSERT};
use dq_core::{Error, ErrorKind, Tz};
use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::convert::IntoZval;
use ext_php_rs::exception::PhpException;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, ZendObject, Zval};
use ext_php_rs::zend::{ClassEntry, ExecutorGlobals, ce};

use crate::client::{CallRules, Options, parse_message};
use crate::convert;
use crate::errors::{invalid, to_php};
use crate::producer::outgoing;

/// `PDO::ATTR_DRIVER_NAME`.
const ATTR_DRIVER_NAME: i64 = 16;

/// Messages written in the caller's transaction: `publish` (to RabbitMQ) and `add` (to the
/// delay queue) insert a row into `dq_outbox` through the given PDO connection; the gateway's
/// outbox relay sends it once the transaction committed.
#[php_class]
#[php(name = "Dq\\Outbox")]
#[php(flags = ClassFlags::Final)]
pub struct Outbox;

#[php_impl]
impl Outbox {
    /// Writes a message for `$exchange` with `$routingKey` into `dq_outbox` through `$pdo`;
    /// body and properties as `Dq\Producer::publish` takes them. Returns the message id (the
    /// `message_id` property, generated when not given).
    #[php(defaults(properties = Options(None)))]
    pub fn publish(
        pdo: &Zval,
        exchange: &str,
        routingKey: &str,
        body: &Zval,
        properties: Options<'_>,
    ) -> PhpResult<String> {
        let pdo = Pdo::of(pdo)?;
        let message = outgoing(body, properties.0)?;
        let entry = Entry::publish(exchange, routingKey, &message).map_err(to_php)?;
        pdo.run(INSERT, &entry.params(), "dq_outbox")?;
        Ok(entry.message_id)
    }

    /// Writes a delay-queue message for `$topic` into `dq_outbox` through `$pdo`; `$data` as
    /// `Dq\Client::add` takes it (`id`, `body`, `delay` or `fix_time`; a delay counts from
    /// now). Returns the id. Whether the topic is registered is checked when the relay adds it.
    pub fn add(pdo: &Zval, topic: &str, data: &ZendHashTable) -> PhpResult<String> {
        let pdo = Pdo::of(pdo)?;
        let mut rules = CallRules::new(Entry::add_rules(Tz::UTC));
        let message = parse_message(data, "data", &mut rules)?;
        let entry = Entry::add(topic, &message).map_err(to_php)?;
        pdo.run(INSERT, &entry.params(), "dq_outbox")?;
        Ok(entry.message_id)
    }

    /// The SQL that creates `dq_outbox` and `dq_inbox`, as `dq-gateway migrate` does (for
    /// teams that migrate by hand). DDL commits implicitly: never run it inside a transaction.
    pub fn schema() -> String {
        outbox::schema()
    }
}

/// The consumer's side: `claim` records a message id in `dq_inbox` in the caller's
/// transaction, so that a redelivered message is applied once.
#[php_class]
#[php(name = "Dq\\Inbox")]
#[php(flags = ClassFlags::Final)]
pub struct Inbox;

#[php_impl]
impl Inbox {
    /// Claims `$messageId` for `$consumer` through `$pdo`: true the first time, false when it
    /// was claimed before (by a transaction that committed). Call it inside the transaction
    /// that applies the message; a concurrent claim of the same id waits for that transaction.
    pub fn claim(pdo: &Zval, consumer: &str, messageId: &Zval) -> PhpResult<bool> {
        let pdo = Pdo::of(pdo)?;
        let id = message_id(messageId)?;
        outbox::check_claim(consumer, &id).map_err(to_php)?;
        let claimed = pdo.run(
            CLAIM,
            &[SqlValue::Text(consumer.to_string()), SqlValue::Text(id)],
            "dq_inbox",
        )?;
        Ok(claimed == Some(1))
    }
}

/// A message id: a string, or an int as PHP arrays turn numeric keys into.
fn message_id(zval: &Zval) -> PhpResult<String> {
    let zval = zval.dereference();
    if let Some(id) = zval.string() {
        return Ok(id);
    }
    if let Some(id) = zval.long() {
        return Ok(id.to_string());
    }
    Err(invalid(format!(
        "message id {}: expected a string (the message's message_id property)",
        convert::described(zval)
    )))
}

/// A caller's PDO connection to MySQL.
struct Pdo<'a>(&'a ZendObject);

impl<'a> Pdo<'a> {
    /// `$pdo`, if it is a PDO object on the mysql driver.
    fn of(zval: &'a Zval) -> PhpResult<Pdo<'a>> {
        let expected = "expected a PDO connection to MySQL (ThinkPHP: Db::connect()->getPdo(), \
                        Laravel: DB::connection()->getPdo())";
        let zval = zval.dereference();
        let pdo_class = ClassEntry::try_find("PDO");
        let object = match (zval.object(), pdo_class) {
            (Some(object), Some(class)) if object.instance_of(class) => object,
            (_, None) => {
                return Err(invalid(format!(
                    "pdo {}: {expected}; the pdo_mysql extension is not loaded",
                    convert::described(zval)
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "pdo {}: {expected}",
                    convert::described(zval)
                )));
            }
        };
        let pdo = Pdo(object);
        let driver = match pdo.call(object, "getAttribute", vec![&ATTR_DRIVER_NAME])? {
            Some(driver) => driver.string().unwrap_or_default(),
            None => return Err(pending("getAttribute")),
        };
        if driver != "mysql" {
            return Err(invalid(format!(
                "pdo is a connection to {driver:?}: the outbox and the inbox live in MySQL or MariaDB \
                 (a PDO on the mysql driver)"
            )));
        }
        Ok(pdo)
    }

    /// Prepares and executes `sql` with `params`; the affected row count. A missing `table` is
    /// `Dq\Exception` naming `dq-gateway migrate`; any other failure is PDO's own: its
    /// exception in ERRMODE_EXCEPTION, else a `Dq\Exception` with PDO's error info.
    fn run(&self, sql: &str, params: &[SqlValue], table: &str) -> PhpResult<Option<i64>> {
        let Some(statement) = self.call(self.0, "prepare", vec![&sql])? else {
            return self.thrown(table);
        };
        let Some(statement) = statement.object() else {
            return Err(self.refused(self.0, table));
        };
        let mut list = ZendHashTable::new();
        for param in params {
            push(&mut list, param)?;
        }
        let mut args = Zval::new();
        args.set_hashtable(list);
        match self.call(statement, "execute", vec![&args])? {
            None => self.thrown(table),
            Some(done) if done.bool() == Some(true) => {
                match self.call(statement, "rowCount", vec![])? {
                    Some(count) => Ok(count.long()),
                    None => Ok(None),
                }
            }
            Some(_) => Err(self.refused(statement, table)),
        }
    }

    /// Calls `method` on `object`: its return value, or `None` when it threw (the exception
    /// is pending).
    fn call(
        &self,
        object: &ZendObject,
        method: &str,
        params: Vec<&dyn ext_php_rs::convert::IntoZvalDyn>,
    ) -> PhpResult<Option<Zval>> {
        let returned = object
            .try_call_method(method, params)
            .map_err(|e| to_php(Error::internal(format!("PDO::{method}: {e}"))))?;
        if ExecutorGlobals::get().exception().is_some() {
            return Ok(None);
        }
        Ok(Some(returned))
    }

    /// PDO threw (ERRMODE_EXCEPTION): a missing table becomes dq's explanation; anything else
    /// is PDO's own exception, thrown again as it was.
    fn thrown(&self, table: &str) -> PhpResult<Option<i64>> {
        // Taken first: no PHP code runs while an exception is pending.
        let Some(exception) = ExecutorGlobals::take_exception() else {
            return Err(pending("execute"));
        };
        let text = |method: &str| {
            exception
                .try_call_method(method, vec![])
                .ok()
                .and_then(|v| v.string())
        };
        if text("getCode").as_deref() == Some("42S02") {
            let message = text("getMessage").unwrap_or_default();
            return Err(to_php(outbox::missing_table(
                table,
                &format!("(MySQL: {message})"),
            )));
        }
        let object = exception.into_zval(false).map_err(|e| {
            to_php(Error::internal(format!(
                "cannot rethrow PDO's exception: {e}"
            )))
        })?;
        Err(PhpException::new(String::new(), 0, ce::exception()).with_object(object))
    }

    /// PDO returned false (ERRMODE_SILENT or WARNING): its error info as a `Dq\Exception`.
    fn refused(&self, failed: &ZendObject, table: &str) -> PhpException {
        let info = failed
            .try_call_method("errorInfo", vec![])
            .ok()
            .and_then(|info| {
                let list = info.array()?;
                let state = list.get_index(0).and_then(Zval::string).unwrap_or_default();
                let code = list.get_index(1).and_then(Zval::long).unwrap_or_default();
                let text = list.get_index(2).and_then(Zval::string).unwrap_or_default();
                Some((state, code, text))
            });
        match info {
            Some((_, 1146, text)) => {
                to_php(outbox::missing_table(table, &format!("(MySQL: {text})")))
            }
            Some((state, code, text)) => to_php(Error::new(
                ErrorKind::Backend,
                format!("MySQL refused the {table} row: SQLSTATE[{state}] {code} {text}"),
            )),
            None => to_php(Error::new(
                ErrorKind::Backend,
                format!("MySQL refused the {table} row (PDO gave no error info)"),
            )),
        }
    }
}

/// An exception is pending where none was expected to come from: say what threw.
fn pending(method: &str) -> PhpException {
    to_php(Error::internal(format!("PDO::{method} threw")))
}

fn push(list: &mut ZBox<ZendHashTable>, param: &SqlValue) -> PhpResult<()> {
    let pushed = match param {
        SqlValue::Null => list.push(()),
        SqlValue::Int(n) => list.push(*n),
        SqlValue::Float(f) => list.push(*f),
        SqlValue::Text(text) => list.push(text.as_str()),
        SqlValue::Bytes(bytes) => list.push(Binary::new(bytes.clone())),
    };
    pushed.map_err(|e| {
        to_php(Error::internal(format!(
            "cannot build PDO's parameters: {e}"
        )))
    })
}
