//! `Dq\Consumer` and `Dq\Delivery`: taking messages from a queue, settling and replying.

use std::time::Duration;

use dq_core::{BlockingConsumer, BlockingDelivery, BlockingProducer};
use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};

use crate::client::Options;
use crate::convert;
use crate::errors::{invalid, to_php};
use crate::producer::{amqp_options, outgoing};

const DEFAULT_PREFETCH: u16 = 10;

/// Takes messages from a queue, up to `prefetch` ahead. Unacked deliveries go back to the queue
/// when the consumer is destroyed (end of the request, or `unset`).
#[php_class]
#[php(name = "Dq\\Consumer")]
#[php(flags = ClassFlags::Final)]
pub struct Consumer {
    consumer: BlockingConsumer,
}

impl Consumer {
    pub(crate) fn new(consumer: BlockingConsumer) -> Consumer {
        Consumer { consumer }
    }
}

#[php_impl]
impl Consumer {
    /// Options: `prefetch` (default 10), `amqp`, `timeout`, `prefix`.
    #[php(defaults(options = Options(None)))]
    pub fn __construct(queue: &str, options: Options<'_>) -> PhpResult<Self> {
        let (config, _) = amqp_options(options.0, &["prefetch"])?;
        let prefetch = match options.0.and_then(|o| o.get("prefetch")) {
            None => DEFAULT_PREFETCH,
            Some(value) => value
                .dereference()
                .long()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    invalid(format!(
                        "options['prefetch'] {}: expected 1 to 65535",
                        convert::described(value)
                    ))
                })?,
        };
        let producer = BlockingProducer::open(&config, true).map_err(to_php)?;
        Ok(Consumer::new(producer.consumer(queue, prefetch)))
    }

    /// The next delivery, waiting up to `$timeout` seconds; null if none came.
    #[php(defaults(timeout = 1.0))]
    pub fn next(&self, timeout: f64) -> PhpResult<Option<Delivery>> {
        if !(timeout.is_finite() && (0.0..=3600.0).contains(&timeout)) {
            return Err(invalid(format!(
                "timeout {timeout} is invalid: expected 0 to 3600 seconds"
            )));
        }
        let delivery = self
            .consumer
            .next(Duration::from_secs_f64(timeout))
            .map_err(to_php)?;
        Ok(delivery.map(|delivery| Delivery { delivery }))
    }
}

/// A message taken from a queue. Settle it once: `ack`, or `nack`.
#[php_class]
#[php(name = "Dq\\Delivery")]
#[php(flags = ClassFlags::Final)]
pub struct Delivery {
    delivery: BlockingDelivery,
}

#[php_impl]
impl Delivery {
    /// The body, as published (bytes).
    pub fn body(&self) -> Binary<u8> {
        Binary::new(self.delivery.delivery().body().to_vec())
    }

    /// `message_id`, `correlation_id`, `reply_to`, `content_type`, `type`, `app_id`, `priority`,
    /// `expiration`, `timestamp`, `headers`, `persistent`, ... (those the message has).
    pub fn properties(&self) -> PhpResult<ZBox<ZendHashTable>> {
        convert::to_array(&serde_json::Value::Object(
            self.delivery.delivery().properties(),
        ))
    }

    pub fn routing_key(&self) -> String {
        self.delivery.delivery().routing_key().to_string()
    }

    pub fn exchange(&self) -> String {
        self.delivery.delivery().exchange().to_string()
    }

    /// Whether the broker delivered it before (to a consumer that did not ack it).
    pub fn redelivered(&self) -> bool {
        self.delivery.delivery().redelivered()
    }

    pub fn ack(&self) -> PhpResult<()> {
        self.delivery.ack().map_err(to_php)
    }

    /// Rejects it: back to the queue with `$requeue`, else dropped or dead-lettered.
    #[php(defaults(requeue = false))]
    pub fn nack(&self, requeue: bool) -> PhpResult<()> {
        self.delivery.nack(requeue).map_err(to_php)
    }

    /// Answers an RPC request: publishes to its `reply_to` with its `correlation_id`.
    pub fn reply(&self, body: &Zval) -> PhpResult<()> {
        let message = outgoing(body, None)?;
        self.delivery.reply(message).map_err(to_php)
    }
}
