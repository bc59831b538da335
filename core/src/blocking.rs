//! The synchronous face of dq-core for the PHP extension and the C ABI: the async API plus the
//! process's runtime, one `block_on` per call, panics turned into errors. Queues are pooled per
//! process by configuration, so a PHP-FPM worker keeps its connections across requests.

use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::config::QueueConfig;
use crate::error::{Error, Result};
use crate::input::{InputRules, NewMessage};
use crate::queue::{Added, ConnectionMode, DelayQueue, Message, Stats};
use crate::runtime::runtime;

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
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(Error::internal(format!("dq panicked: {what}")))
    })
}
