//! `Dq\Client` (alias `DqClient`): php-delayqueue's client on dq-core's delay queue.

use std::ffi::{CStr, c_int};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dq_core::config::{check_prefix, parse_timeout};
use dq_core::input::{FIELDS, parse_time_zone};
use dq_core::{
    BlockingQueue, InputRules, Message, MessageFields, NewMessage, QueueConfig, RedisServer, Tz,
};
use ext_php_rs::boxed::ZBox;
use ext_php_rs::class::RegisteredClass;
use ext_php_rs::convert::{FromZval, StubLiteral};
use ext_php_rs::flags::{ClassFlags, DataType};
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendCallable, ZendHashTable, Zval};
use ext_php_rs::zend::Function;
use serde_json::Value;

use crate::convert;
use crate::errors::{invalid, to_php};
use crate::ini;
use crate::job::{Held, Job, reserve_wait};
use crate::worker_loop::{self, LoopOptions};

/// `array $options = []`: an optional array whose default shows as `[]` in reflection; every
/// class's optional array parameters use it.
pub struct Options<'a>(pub Option<&'a ZendHashTable>);

impl<'a> FromZval<'a> for Options<'a> {
    const TYPE: DataType = DataType::Array;
    fn from_zval(zval: &'a Zval) -> Option<Self> {
        zval.array().map(|ht| Options(Some(ht)))
    }
}

impl StubLiteral for Options<'_> {
    fn stub_literal(&self) -> String {
        "[]".into()
    }
}

/// Which settings the constructor's options gave (the others come from ini).
#[derive(Default)]
struct Given {
    redis: bool,
    prefix: bool,
    timeout: bool,
    replicas: bool,
}

/// The delay queue client. Connections are kept per process, across requests, and rebuilt
/// after a fork or a Redis restart.
#[php_class]
#[php(name = "Dq\\Client")]
#[php(flags = ClassFlags::Final)]
#[php(implements(crate::interfaces::PhpInterfaceClientInterface))]
pub struct Client {
    config: QueueConfig,
    /// Whether servers were named (option or `addServer`) rather than taken from `dq.redis`.
    servers_named: bool,
    queue: Option<BlockingQueue>,
}

#[php_impl]
impl Client {
    /// Options: `redis` (URL, "host:port[:auth]", comma-separated list or array of them),
    /// `prefix`, `timeout` (seconds), `body_limit` (bytes), `replicas` (that confirm each add).
    /// Defaults come from `dq.*` ini.
    #[php(defaults(options = Options(None)))]
    pub fn __construct(options: Options<'_>) -> PhpResult<Self> {
        let mut client = Client {
            config: QueueConfig::default(),
            servers_named: false,
            queue: None,
        };
        let given = match options.0 {
            Some(options) => client.apply_options(options)?,
            None => Given::default(),
        };
        // ini settings fill in what the options did not give (a bad one that is overridden
        // does not matter).
        if !given.redis {
            client.config.redis = ini::redis().map_err(to_php)?;
        }
        if !given.prefix {
            client.config.prefix = ini::prefix().map_err(to_php)?;
        }
        if !given.timeout {
            client.config.timeout = ini::timeout().map_err(to_php)?;
        }
        if !given.replicas {
            client.config.replicas = ini::replicas().map_err(to_php)?;
        }
        Ok(client)
    }

    /// Adds Redis shard(s): "host:port[:auth]", a redis:// URL, or an array of them. The first
    /// call replaces the `dq.redis` default; later calls add to the list.
    pub fn add_server(&mut self, servers: &Zval) -> PhpResult<()> {
        let added = read_servers(servers, "servers")?;
        if !self.servers_named {
            self.config.redis.clear();
            self.servers_named = true;
        }
        for server in added {
            if !self.config.redis.contains(&server) {
                self.config.redis.push(server);
            }
        }
        self.queue = None;
        Ok(())
    }

    /// Schedules a message: `$data` has `id`, `body` and `delay` (seconds) or `fix_time`
    /// ('Y-m-d H:i:s' in PHP's default time zone, or unix seconds). True, or throws.
    pub fn add(&mut self, topic: &str, data: &ZendHashTable) -> PhpResult<bool> {
        let mut rules = self.call_rules()?;
        let message = parse_message(data, "data", &mut rules)?;
        self.queue()?.add(topic, &message).map_err(to_php)?;
        Ok(true)
    }

    /// The message as `['topic','id','body','due_at','attempts','state']`, or null.
    pub fn get(&mut self, topic: &str, id: &Zval) -> PhpResult<Option<ZBox<ZendHashTable>>> {
        let id = read_id(id)?;
        match self.queue()?.get(topic, &id).map_err(to_php)? {
            Some(message) => Ok(Some(message_array(&message)?)),
            None => Ok(None),
        }
    }

    /// Removes the message in whatever state: true if there was one.
    pub fn del(&mut self, topic: &str, id: &Zval) -> PhpResult<bool> {
        let id = read_id(id)?;
        self.queue()?.del(topic, &id).map_err(to_php)
    }

    /// Schedules many messages (each as for `add`) with one round trip per shard; returns how
    /// many were stored. All items are checked before any is stored.
    pub fn add_many(&mut self, topic: &str, items: &ZendHashTable) -> PhpResult<i64> {
        let mut rules = self.call_rules()?;
        let mut messages = Vec::with_capacity(items.len());
        for (name, data) in convert::arrays_in(
            items,
            "items",
            "an array with id, body and delay or fix_time",
        )? {
            messages.push(parse_message(data, &name, &mut rules)?);
        }
        let stored = self.queue()?.add_many(topic, &messages).map_err(to_php)?;
        Ok(i64::try_from(stored).unwrap_or(i64::MAX))
    }

    /// Reserves the next due job of a pull topic, waiting up to `$timeout` seconds (at most
    /// 60); null if none came. The job's lease lasts the topic's `timeout_ms`.
    #[php(defaults(timeout = 1.0))]
    pub fn reserve(&mut self, topic: &str, timeout: f64) -> PhpResult<Option<Job>> {
        let wait = reserve_wait(timeout)?;
        let queue = self.queue()?.clone();
        // Signal-aware like Dq\Consumer::next(): a stop signal ends the wait with null.
        let job = worker_loop::interruptible(|stop| queue.reserve_unless(topic, wait, stop));
        Ok(job
            .map_err(to_php)?
            .map(|job| Job::new(Held::new(queue, job))))
    }

    /// The worker loop of a pull topic: reserves each job and calls `$handler(Dq\Job $job)`;
    /// a job is acked when the handler returns (unless it settled it), retried on the topic's
    /// ladder when it throws (failed at once with `requeue_on_error` false). Stops on SIGTERM,
    /// SIGINT, SIGQUIT and the limits, as `Dq\Consumer::consume`. Returns how many jobs the
    /// handler got.
    #[php(defaults(options = Options(None)))]
    pub fn work(
        &mut self,
        topic: &str,
        handler: ZendCallable<'_>,
        options: Options<'_>,
    ) -> PhpResult<i64> {
        let options = LoopOptions::read("Dq\\Client::work()", options.0)?;
        let queue = self.queue()?.clone();
        worker_loop::run(&handler, &options, |wait, stop| {
            let wait = wait.min(dq_core::MAX_RESERVE_WAIT);
            let job = queue.reserve_unless(topic, wait, stop).map_err(to_php)?;
            Ok(job.map(|job| Held::new(queue.clone(), job)))
        })
    }

    /// Counts per state: `['delayed','ready','inflight','dead']`, summed over all shards.
    pub fn stats(&mut self, topic: &str) -> PhpResult<ZBox<ZendHashTable>> {
        let stats = self.queue()?.stats(topic).map_err(to_php)?;
        let mut ht = ZendHashTable::with_capacity(4);
        for (state, count) in [
            ("delayed", stats.delayed),
            ("ready", stats.ready),
            ("inflight", stats.inflight),
            ("dead", stats.dead),
        ] {
            ht.insert(state, i64::try_from(count).unwrap_or(i64::MAX))?;
        }
        Ok(ht)
    }
}

impl Client {
    fn apply_options(&mut self, options: &ZendHashTable) -> PhpResult<Given> {
        let mut given = Given::default();
        for (key, value) in convert::entries(options) {
            let value = value.dereference();
            let key = key.to_string();
            let name = format!("options['{key}']");
            match key.as_str() {
                "redis" => {
                    self.config.redis = read_servers(value, &name)?;
                    self.servers_named = true;
                    given.redis = true;
                }
                "prefix" => {
                    let prefix = value.str().ok_or_else(|| {
                        invalid(format!(
                            "{name} {}: expected a string",
                            convert::described(value)
                        ))
                    })?;
                    check_prefix(prefix).map_err(|e| to_php(e.context(&name)))?;
                    self.config.prefix = prefix.to_string();
                    given.prefix = true;
                }
                "timeout" => {
                    self.config.timeout = timeout_option(value, &name)?;
                    given.timeout = true;
                }
                "body_limit" => {
                    self.config.body_limit = value
                        .long()
                        .and_then(|l| usize::try_from(l).ok())
                        .filter(|&l| l > 0)
                        .ok_or_else(|| {
                            invalid(format!(
                                "{name} {}: expected a positive number of bytes",
                                convert::described(value)
                            ))
                        })?;
                }
                "replicas" => {
                    self.config.replicas = value
                        .long()
                        .ok_or_else(|| {
                            invalid(format!(
                                "{name} {}: expected a number of Redis replicas",
                                convert::described(value)
                            ))
                        })
                        .and_then(|n| {
                            dq_core::config::parse_replicas(n).map_err(|e| to_php(e.context(&name)))
                        })?;
                    given.replicas = true;
                }
                // Producer options, so one options array can serve both classes.
                "amqp" | "confirm" | "amqp_queue_type" => {}
                other => {
                    return Err(invalid(format!(
                        "unknown option \"{other}\" (options: redis, prefix, timeout, body_limit, replicas)"
                    )));
                }
            }
        }
        Ok(given)
    }

    fn queue(&mut self) -> PhpResult<&BlockingQueue> {
        if self.queue.is_none() {
            self.queue = Some(BlockingQueue::open(&self.config).map_err(to_php)?);
        }
        self.queue.as_ref().ok_or_else(|| invalid("no queue"))
    }

    /// The rules for the messages of one call: the clock is read once, and PHP's time zone is
    /// asked only when a `fix_time` string needs it.
    fn call_rules(&mut self) -> PhpResult<CallRules> {
        Ok(CallRules {
            rules: self.queue()?.input_rules(Tz::UTC),
            zone_known: false,
        })
    }
}

/// Reads a message array. The known keys are looked up directly and the body is written
/// straight to JSON; the array is walked only when it has other keys (for the typo check).
pub(crate) fn parse_message(
    data: &ZendHashTable,
    name: &str,
    rules: &mut CallRules,
) -> PhpResult<NewMessage> {
    let read = |field: &str| {
        data.get(field)
            .map(|value| {
                convert::to_json(value)
                    .map_err(|e| invalid(e.describe(&format!("{name}[\"{field}\"]"))))
            })
            .transpose()
    };
    let mut fields = MessageFields {
        id: read("id")?,
        delay: read("delay")?,
        fix_time: read("fix_time")?,
        body: data
            .get("body")
            .map(|value| {
                convert::to_json_text(value)
                    .map_err(|e| invalid(e.describe(&format!("{name}[\"body\"]"))))
            })
            .transpose()?,
        other_keys: Vec::new(),
    };
    let known = [
        fields.id.is_some(),
        fields.delay.is_some(),
        fields.fix_time.is_some(),
        fields.body.is_some(),
    ]
    .into_iter()
    .filter(|&k| k)
    .count();
    if data.len() > known {
        fields.other_keys = convert::entries(data)
            .map(|(key, _)| key.to_string())
            .filter(|key| !FIELDS.contains(&key.as_str()))
            .collect();
    }
    if matches!(fields.fix_time, Some(Value::String(_))) && !rules.zone_known {
        rules.rules.time_zone = php_time_zone()?;
        rules.zone_known = true;
    }
    NewMessage::from_fields(fields, &rules.rules).map_err(|e| to_php(e.context(name)))
}

/// See `Client::call_rules`.
pub(crate) struct CallRules {
    rules: InputRules,
    zone_known: bool,
}

impl CallRules {
    /// `rules` for one call; PHP's time zone is looked up when a `fix_time` string needs it.
    pub(crate) fn new(rules: InputRules) -> CallRules {
        CallRules {
            rules,
            zone_known: false,
        }
    }
}

/// PHP's default time zone (`date_default_timezone_get()`), in which `fix_time` strings are read.
fn php_time_zone() -> PhpResult<Tz> {
    let function = Function::try_from_function("date_default_timezone_get")
        .ok_or_else(|| invalid("date_default_timezone_get() is not available"))?;
    let name = function
        .try_call(vec![])?
        .string()
        .unwrap_or_else(|| "UTC".to_string());
    parse_time_zone(&name).map_err(to_php)
}

fn read_id(id: &Zval) -> PhpResult<String> {
    let id = id.dereference();
    if let Some(i) = id.long() {
        return Ok(i.to_string());
    }
    id.str().map(str::to_string).ok_or_else(|| {
        invalid(format!(
            "id {}: expected a string or an integer",
            convert::described(id)
        ))
    })
}

/// One server or a list of them, each a string or `['host','port','auth','db']`.
fn read_servers(value: &Zval, name: &str) -> PhpResult<Vec<RedisServer>> {
    let value = value.dereference();
    if let Some(list) = value.str() {
        return RedisServer::parse_list(list).map_err(|e| to_php(e.context(name)));
    }
    let Some(list) = value.array() else {
        return Err(invalid(format!(
            "{name} {}: expected a string or an array of servers",
            convert::described(value)
        )));
    };
    let mut servers = Vec::with_capacity(list.len());
    for (key, item) in convert::entries(list) {
        let item = item.dereference();
        if let Some(spec) = item.str() {
            servers.extend(RedisServer::parse_list(spec).map_err(|e| to_php(e.context(name)))?);
        } else if let Some(parts) = item.array() {
            servers.push(server_from_parts(parts).map_err(|e| to_php(e.context(name)))?);
        } else {
            return Err(invalid(format!(
                "{name}[{key}] {}: expected a string such as \"127.0.0.1:6379\"",
                convert::described(item)
            )));
        }
    }
    if servers.is_empty() {
        return Err(invalid(format!(
            "{name} is empty: expected at least one server"
        )));
    }
    Ok(servers)
}

fn server_from_parts(parts: &ZendHashTable) -> dq_core::Result<RedisServer> {
    let text = |key: &str| {
        parts.get(key).map(|v| {
            v.long()
                .map(|l| l.to_string())
                .or_else(|| v.str().map(str::to_string))
                .unwrap_or_default()
        })
    };
    let db = match text("db") {
        None => 0,
        Some(db) => db.parse().map_err(|_| {
            dq_core::Error::invalid(format!("db \"{db}\" is not a database number"))
        })?,
    };
    RedisServer::from_parts(
        &text("host").unwrap_or_else(|| "127.0.0.1".into()),
        &text("port").unwrap_or_else(|| "6379".into()),
        text("auth").as_deref(),
        db,
    )
}

fn message_array(message: &Message) -> PhpResult<ZBox<ZendHashTable>> {
    let body = message.body_value().map_err(to_php)?;
    let mut ht = ZendHashTable::with_capacity(8);
    ht.insert("topic", message.topic.as_str())?;
    ht.insert("id", message.id.as_str())?;
    ht.insert("body", convert::to_zval(&body)?)?;
    ht.insert("due_at", message.due_at_ms as f64 / 1000.0)?;
    ht.insert("attempts", i64::from(message.attempts))?;
    ht.insert("state", message.state.as_str())?;
    if let Some(status) = message.last_status {
        ht.insert("last_status", i64::from(status))?;
    }
    if let Some(error) = &message.last_error {
        ht.insert("last_error", error.as_str())?;
    }
    Ok(ht)
}

// The `DqClient` alias. Classes are registered after our module start function runs, so the
// alias is added from `zend_post_startup_cb` (process-wide, survives every request). When that
// hook does not run (`dl()`), it is added per request instead: PHP discards request-time
// classes when each request ends.

const ALIAS: &CStr = c"DqClient";
static ALIAS_PERSISTENT: AtomicBool = AtomicBool::new(false);
static mut CHAINED_POST_STARTUP: crate::php_sys::PostStartup = None;

fn register_alias(persistent: bool) -> c_int {
    let Some(symbols) = crate::php_sys::get() else {
        return -1;
    };
    let entry = ptr::from_ref(Client::get_metadata().ce()).cast_mut();
    // SAFETY: a registered class entry and a NUL-terminated name with its length.
    unsafe {
        (symbols.zend_register_class_alias_ex)(
            ALIAS.as_ptr(),
            ALIAS.count_bytes(),
            entry,
            persistent,
        )
    }
}

unsafe extern "C" fn post_startup() -> c_int {
    // SAFETY: runs once, single-threaded, during engine start-up.
    unsafe {
        if let Some(chained) = ptr::replace(&raw mut CHAINED_POST_STARTUP, None)
            && chained() != 0
        {
            return -1;
        }
    }
    let registered = std::panic::catch_unwind(|| register_alias(true)).unwrap_or(-1);
    if registered == 0 {
        ALIAS_PERSISTENT.store(true, Ordering::Release);
    }
    0
}

/// Hooks the alias into engine start-up; called from module start for persistent modules.
pub fn install_alias_hook() {
    let Some(symbols) = crate::php_sys::get() else {
        return;
    };
    // SAFETY: module start-up is single-threaded; we chain whatever hook was there.
    unsafe {
        CHAINED_POST_STARTUP = *symbols.zend_post_startup_cb;
        *symbols.zend_post_startup_cb = Some(post_startup);
    }
}

/// Request start: the per-request alias when the start-up hook did not run.
pub extern "C" fn request_startup(_ty: i32, _module_number: i32) -> i32 {
    if !ALIAS_PERSISTENT.load(Ordering::Acquire) {
        let _ = std::panic::catch_unwind(|| register_alias(false));
    }
    0
}

/// A timeout option (`options['timeout']`): seconds, an integer or a float.
pub(crate) fn timeout_option(value: &Zval, name: &str) -> PhpResult<Duration> {
    let seconds = value
        .double()
        .or_else(|| value.long().map(|l| l as f64))
        .ok_or_else(|| {
            invalid(format!(
                "{name} {}: expected seconds",
                convert::described(value)
            ))
        })?;
    parse_timeout(seconds).map_err(|e| to_php(e.context(name)))
}
