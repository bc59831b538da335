//! The synchronous face of dq-core for the PHP extension and the C ABI: the async API plus the
//! process's runtimes, one `block_on` per call, panics turned into errors. Queues and RabbitMQ
//! connections are pooled per process by configuration, so a PHP-FPM worker keeps its
//! connections across requests.

use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::amqp::{
    AmqpConfig, Consumer, Delivery, Direct, ExchangeOptions, OutgoingMessage, Producer,
    QueueOptions, Reply, Sent, exchange_declare, queue_bind, queue_declare, tally,
};
use crate::config::QueueConfig;
use crate::error::{Error, Result};
use crate::input::{InputRules, NewMessage};
use crate::mysql::{Executed, MysqlUrl, Rows, SqlValue, process_pools};
use crate::queue::{Added, ConnectionMode, DelayQueue, Job, Message, Retried, Stats};
use crate::runtime::{amqp_runtime, runtime};
use crate::xa::{Committed, Databases, DecisionLog, Recovery, Resolved, Xa};

/// Pooled queues; a process rarely uses more than one or two configurations.
const POOL_LIMIT: usize = 32;

#[derive(Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    servers: Vec<String>,
    prefix: String,
    timeout_us: u128,
    body_limit: usize,
}

static POOL: Mutex<Option<HashMap<PoolKey, Arc<DelayQueue>>>> = Mutex::new(None);

/// A delay queue for callers without an async runtime.
#[derive(Clone)]
pub struct BlockingQueue {
    queue: Arc<DelayQueue>,
}

impl BlockingQueue {
    /// The process's queue for this configuration, created (without connecting) if new.
    pub fn open(config: &QueueConfig) -> Result<BlockingQueue> {
        let key = PoolKey {
            servers: config.redis.iter().map(|s| s.url.clone()).collect(),
            prefix: config.prefix.clone(),
            timeout_us: config.timeout.as_micros(),
            body_limit: config.body_limit,
        };
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        let pool = pool.get_or_insert_with(HashMap::new);
        if let Some(queue) = pool.get(&key) {
            return Ok(BlockingQueue {
                queue: queue.clone(),
            });
        }
        let queue = Arc::new(DelayQueue::with_mode(config, ConnectionMode::Blocking)?);
        if pool.len() >= POOL_LIMIT {
            pool.clear();
        }
        pool.insert(key, queue.clone());
        Ok(BlockingQueue { queue })
    }

    /// The rules `add` checks a message's fields against, as of now.
    pub fn input_rules(&self, time_zone: Tz) -> InputRules {
        self.queue.input_rules(time_zone)
    }

    pub fn parse_message(&self, data: &Map<String, Value>, time_zone: Tz) -> Result<NewMessage> {
        self.queue.parse_message(data, time_zone)
    }

    pub fn add(&self, topic: &str, message: &NewMessage) -> Result<Added> {
        block_on(self.queue.add(topic, message))
    }

    pub fn add_many(&self, topic: &str, messages: &[NewMessage]) -> Result<usize> {
        block_on(self.queue.add_many(topic, messages))
    }

    pub fn get(&self, topic: &str, id: &str) -> Result<Option<Message>> {
        block_on(self.queue.get(topic, id))
    }

    pub fn del(&self, topic: &str, id: &str) -> Result<bool> {
        block_on(self.queue.del(topic, id))
    }

    pub fn stats(&self, topic: &str) -> Result<Stats> {
        block_on(self.queue.stats(topic))
    }

    /// Reserves the next due job of a pull topic, waiting up to `wait`.
    pub fn reserve(&self, topic: &str, wait: Duration) -> Result<Option<Job>> {
        block_on(self.queue.reserve(topic, wait))
    }

    /// As `reserve`, the wait ending early (with `None`) when `stop` turns true.
    pub fn reserve_unless(
        &self,
        topic: &str,
        wait: Duration,
        stop: &AtomicBool,
    ) -> Result<Option<Job>> {
        block_on(self.queue.reserve_unless(topic, wait, Some(stop)))
    }

    pub fn ack(&self, topic: &str, lease: &str) -> Result<()> {
        block_on(self.queue.ack(topic, lease))
    }

    pub fn retry(
        &self,
        topic: &str,
        lease: &str,
        delay: Option<Duration>,
        error: &str,
    ) -> Result<Retried> {
        block_on(self.queue.retry(topic, lease, delay, error))
    }

    pub fn fail(&self, topic: &str, lease: &str, reason: &str) -> Result<()> {
        block_on(self.queue.fail(topic, lease, reason))
    }
}

/// Runs `future` to completion on the process's runtime. A panic becomes an `Internal` error.
///
/// The blocking queue's futures do their I/O on the calling thread and are usually done at the
/// first poll, so that poll happens in the runtime's context without the cost of `block_on`;
/// only a future that waits (AMQP, a lock) goes through the runtime's scheduler.
pub fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let runtime = runtime()?;
    catch_unwind(AssertUnwindSafe(|| {
        let mut future = pin!(future);
        {
            let _context = runtime.enter();
            let mut context = Context::from_waker(Waker::noop());
            if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
        runtime.block_on(future)
    }))
    .unwrap_or_else(|panic| Err(panicked(panic)))
}

fn panicked(panic: Box<dyn std::any::Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    Error::internal(format!("dq panicked: {what}"))
}

/// A configuration's connections: lapin's (`producer`) and the caller's own (`direct`).
/// Publishing and declaring use the direct one while the process has not opened lapin's;
/// consuming, RPC and delayed publishing use lapin's, and close the direct one first, so a
/// process keeps one connection to a broker.
#[derive(Clone)]
struct Pooled {
    producer: Producer,
    direct: Arc<Mutex<Direct>>,
}

/// Producers pooled per configuration, so that a PHP-FPM worker keeps one connection per
/// broker across requests.
static PRODUCERS: Mutex<Option<HashMap<AmqpConfig, Pooled>>> = Mutex::new(None);

/// RabbitMQ for callers without an async runtime.
#[derive(Clone)]
pub struct BlockingProducer {
    producer: Producer,
    direct: Arc<Mutex<Direct>>,
}

impl BlockingProducer {
    /// The process's connection for this configuration (opened on first use).
    pub fn open(config: &AmqpConfig, confirm: bool) -> Result<BlockingProducer> {
        let mut pool = PRODUCERS.lock().unwrap_or_else(|p| p.into_inner());
        let pool = pool.get_or_insert_with(HashMap::new);
        if pool.len() >= POOL_LIMIT && !pool.contains_key(config) {
            pool.clear();
        }
        let shared = pool.entry(config.clone()).or_insert_with(|| Pooled {
            producer: Producer::new(config.clone(), true),
            direct: Arc::new(Mutex::new(Direct::new(config.clone()))),
        });
        Ok(BlockingProducer {
            producer: shared.producer.with_confirm(confirm),
            direct: shared.direct.clone(),
        })
    }

    pub fn config(&self) -> &AmqpConfig {
        self.producer.config()
    }

    pub fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &OutgoingMessage,
    ) -> Result<()> {
        if let Some(mut direct) = self.direct() {
            let sent = [Sent {
                exchange,
                routing_key,
                message,
            }];
            let outcome = direct.publish(self.producer.confirms(), &sent)?;
            return outcome.into_iter().next().unwrap_or(Ok(()));
        }
        block_on_amqp(self.producer.publish(exchange, routing_key, message))
    }

    pub fn publish_batch(
        &self,
        exchange: &str,
        messages: &[(String, OutgoingMessage)],
    ) -> Result<usize> {
        if let Some(mut direct) = self.direct() {
            let sent: Vec<Sent<'_>> = messages
                .iter()
                .map(|(routing_key, message)| Sent {
                    exchange,
                    routing_key,
                    message,
                })
                .collect();
            return tally(direct.publish(self.producer.confirms(), &sent)?);
        }
        block_on_amqp(self.producer.publish_batch(exchange, messages))
    }

    pub fn publish_delayed(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &OutgoingMessage,
        delay: Duration,
    ) -> Result<()> {
        if delay.is_zero() {
            return self.publish(exchange, routing_key, message);
        }
        self.leave_direct();
        block_on_amqp(
            self.producer
                .publish_delayed(exchange, routing_key, message, delay),
        )
    }

    pub fn call(
        &self,
        exchange: &str,
        routing_key: &str,
        request: OutgoingMessage,
        wait: Duration,
    ) -> Result<Reply> {
        self.leave_direct();
        block_on_amqp(self.producer.call(exchange, routing_key, request, wait))
    }

    pub fn declare_exchange(
        &self,
        name: &str,
        kind: &str,
        options: &ExchangeOptions,
    ) -> Result<()> {
        if let Some(mut direct) = self.direct() {
            let declare = exchange_declare(name, kind, options)?;
            return direct.declare_exchange(self.producer.confirms(), declare);
        }
        block_on_amqp(self.producer.declare_exchange(name, kind, options))
    }

    pub fn declare_queue(&self, name: &str, options: &QueueOptions) -> Result<String> {
        if options.exclusive {
            // An exclusive queue lives as long as its connection: the one this process
            // consumes on.
            self.leave_direct();
            return block_on_amqp(self.producer.declare_queue(name, options));
        }
        if let Some(mut direct) = self.direct() {
            let declare = queue_declare(name, options)?;
            return direct.declare_queue(self.producer.confirms(), declare);
        }
        block_on_amqp(self.producer.declare_queue(name, options))
    }

    pub fn bind_queue(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: &Map<String, Value>,
    ) -> Result<()> {
        if let Some(mut direct) = self.direct() {
            let bind = queue_bind(queue, exchange, routing_key, arguments)?;
            return direct.bind_queue(self.producer.confirms(), bind);
        }
        block_on_amqp(
            self.producer
                .bind_queue(queue, exchange, routing_key, arguments),
        )
    }

    /// A consumer of `queue` on the same connection, taking up to `prefetch` messages ahead.
    pub fn consumer(&self, queue: &str, prefetch: u16) -> BlockingConsumer {
        BlockingConsumer {
            consumer: self.producer.consumer(queue, prefetch),
            direct: self.direct.clone(),
        }
    }

    /// The caller's own connection, when this process has not opened lapin's.
    fn direct(&self) -> Option<MutexGuard<'_, Direct>> {
        let direct = self.direct.lock().unwrap_or_else(|p| p.into_inner());
        (direct.usable() && !self.producer.connected_here()).then_some(direct)
    }

    /// Before an operation only lapin's connection serves.
    fn leave_direct(&self) {
        leave_direct(&self.direct);
    }
}

fn leave_direct(direct: &Mutex<Direct>) {
    direct.lock().unwrap_or_else(|p| p.into_inner()).close();
}

/// Takes messages from a queue. Dropping it closes its channel, which returns any unacked
/// deliveries to the queue.
pub struct BlockingConsumer {
    consumer: Consumer,
    direct: Arc<Mutex<Direct>>,
}

impl BlockingConsumer {
    pub fn queue(&self) -> &str {
        self.consumer.queue()
    }

    /// The next delivery, waiting up to `wait`.
    pub fn next(&self, wait: Duration) -> Result<Option<BlockingDelivery>> {
        self.next_unless(wait, &AtomicBool::new(false))
    }

    /// The next delivery, waiting up to `wait` or until `stop` is set (a signal handler's flag):
    /// `None` either way. A delivery the broker sent meanwhile stays with the consumer.
    pub fn next_unless(
        &self,
        wait: Duration,
        stop: &AtomicBool,
    ) -> Result<Option<BlockingDelivery>> {
        leave_direct(&self.direct);
        let delivery = block_on_amqp_unless(self.consumer.next(wait), stop)?;
        Ok(delivery
            .flatten()
            .map(|delivery| BlockingDelivery { delivery }))
    }
}

impl Drop for BlockingConsumer {
    fn drop(&mut self) {
        let _ = block_on_amqp(async {
            self.consumer.close().await;
            Ok(())
        });
    }
}

/// A message taken from a queue.
pub struct BlockingDelivery {
    delivery: Delivery,
}

impl BlockingDelivery {
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Whether it was acked or nacked.
    pub fn settled(&self) -> bool {
        self.delivery.settled()
    }

    pub fn ack(&self) -> Result<()> {
        block_on_amqp(self.delivery.ack())
    }

    pub fn nack(&self, requeue: bool) -> Result<()> {
        block_on_amqp(self.delivery.nack(requeue))
    }

    pub fn reply(&self, message: OutgoingMessage) -> Result<()> {
        block_on_amqp(self.delivery.reply(message))
    }
}

/// Runs `future` on the process's RabbitMQ runtime. A panic becomes an `Internal` error.
pub fn block_on_amqp<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let runtime = amqp_runtime()?;
    catch_unwind(AssertUnwindSafe(|| runtime.block_on(future)))
        .unwrap_or_else(|panic| Err(panicked(panic)))
}

/// How often a stoppable wait looks at its flag. A signal handler may only set an atomic (it
/// cannot wake a task), so the wait polls it.
const STOP_CHECK: Duration = Duration::from_millis(10);

/// Runs `future` on the process's RabbitMQ runtime until it completes, or until `stop` is set
/// (looked at first, then every 10 ms): `None` then, and `future` is dropped where it waits.
pub fn block_on_amqp_unless<T>(
    future: impl Future<Output = Result<T>>,
    stop: &AtomicBool,
) -> Result<Option<T>> {
    block_on_amqp(async {
        tokio::select! {
            biased;
            () = stopped(stop) => Ok(None),
            output = future => output.map(Some),
        }
    })
}

/// Returns once `stop` is true, looking every `STOP_CHECK`.
pub(crate) async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        tokio::time::sleep(STOP_CHECK).await;
    }
}

/// Settings of a blocking XA transaction: where its decision is logged, and the bound on each
/// step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XaOptions {
    pub log: MysqlUrl,
    pub timeout: Duration,
}

type Logs = HashMap<(MysqlUrl, Duration), Arc<DecisionLog>>;

/// Decision logs per URL, for the process (created anew in a forked child, like its pools).
static LOGS: Mutex<Option<(u64, Logs)>> = Mutex::new(None);

fn process_log(options: &XaOptions) -> Arc<DecisionLog> {
    let mut logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
    let current = crate::runtime::process();
    if logs.as_ref().is_none_or(|(owner, _)| *owner != current) {
        if let Some(old) = logs.take() {
            std::mem::forget(old);
        }
        *logs = Some((current, HashMap::new()));
    }
    let Some((_, logs)) = logs.as_mut() else {
        return Arc::new(DecisionLog::new(
            options.log.clone(),
            process_pools(),
            options.timeout,
        ));
    };
    if logs.len() >= POOL_LIMIT {
        logs.clear();
    }
    logs.entry((options.log.clone(), options.timeout))
        .or_insert_with(|| {
            Arc::new(DecisionLog::new(
                options.log.clone(),
                process_pools(),
                options.timeout,
            ))
        })
        .clone()
}

/// An XA transaction for callers without an async runtime. Dropping it unfinished rolls it back.
pub struct BlockingXa {
    xa: Xa,
}

impl BlockingXa {
    /// A transaction over `databases`; nothing is opened before the first statement.
    pub fn begin(databases: Databases, options: &XaOptions) -> BlockingXa {
        let log = process_log(options);
        BlockingXa {
            xa: Xa::begin(Arc::new(databases), log, options.timeout),
        }
    }

    pub fn id(&self) -> &str {
        self.xa.id().as_str()
    }

    /// Runs a statement: its affected rows, and its rows when it returned some.
    pub fn execute(&mut self, database: &str, sql: &str, params: &[SqlValue]) -> Result<Executed> {
        block_on(self.xa.execute(database, sql, params))
    }

    pub fn query(&mut self, database: &str, sql: &str, params: &[SqlValue]) -> Result<Rows> {
        block_on(self.xa.query(database, sql, params))
    }

    pub fn commit(&mut self) -> Result<Committed> {
        block_on(self.xa.commit())
    }

    pub fn rollback(&mut self) -> Result<()> {
        block_on(self.xa.rollback())
    }

    pub fn is_active(&self) -> bool {
        self.xa.is_active()
    }

    /// Calls `hook` at each step of `commit` (see [`crate::xa::CommitStep`]).
    pub fn on_step(&mut self, hook: crate::xa::StepHook) {
        self.xa.on_step(hook);
    }

    /// One recovery pass over `databases` (see [`Recovery::run`]).
    pub fn recover(
        databases: Databases,
        options: &XaOptions,
        older_than: Duration,
    ) -> Result<Vec<Resolved>> {
        let log = process_log(options);
        let recovery = Recovery::new(Arc::new(databases), log, options.timeout);
        block_on(recovery.run(older_than))
    }
}
