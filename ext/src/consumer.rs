//! `Dq\Consumer` and `Dq\Delivery`: taking messages from a queue, settling and replying.

use std::sync::Arc;
use std::time::Duration;

use dq_core::{BlockingConsumer, BlockingDelivery, BlockingProducer};
use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::convert::IntoZval;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendCallable, ZendHashTable, Zval};

use crate::client::Options;
use crate::convert;
use crate::errors::{internal, invalid, to_php};
use crate::interfaces::{PhpInterfaceConsumerInterface, PhpInterfaceDeliveryInterface};
use crate::producer::{amqp_options, outgoing};
use crate::worker_loop::{self, LoopOptions, Work};

const DEFAULT_PREFETCH: u16 = 10;

/// Takes messages from a queue, up to `prefetch` ahead. Unacked deliveries go back to the queue
/// when the consumer is destroyed (end of the request, or `unset`).
#[php_class]
#[php(name = "Dq\\Consumer")]
#[php(flags = ClassFlags::Final)]
#[php(implements(PhpInterfaceConsumerInterface))]
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

    /// The next delivery, waiting up to `$timeout` seconds; null if none came, or when SIGTERM,
    /// SIGINT or SIGQUIT arrived meanwhile. The script's own handler of that signal still gets
    /// it; a signal the script left to its default action then ends the process, as it would
    /// have without dq.
    #[php(defaults(timeout = 1.0))]
    pub fn next(&self, timeout: f64) -> PhpResult<Option<Delivery>> {
        if !(timeout.is_finite() && (0.0..=3600.0).contains(&timeout)) {
            return Err(invalid(format!(
                "timeout {timeout} is invalid: expected 0 to 3600 seconds"
            )));
        }
        let wait = Duration::from_secs_f64(timeout);
        let delivery = worker_loop::interruptible(|stop| self.consumer.next_unless(wait, stop));
        Ok(delivery.map_err(to_php)?.map(Delivery::new))
    }

    /// The worker loop: each delivery goes to `$handler(Dq\Delivery $d)`, and is acked when the
    /// handler returns (unless it settled it), nacked when it throws; until SIGTERM, SIGINT or
    /// SIGQUIT (the handler in progress finishes first) or a limit. Returns how many deliveries
    /// the handler got. Options: `timeout`, `max_messages`, `max_seconds`, `max_memory_mb`,
    /// `requeue_on_error`, `on_error` (ext/dq.stub.php tells what each does).
    #[php(defaults(options = Options(None)))]
    pub fn consume(&self, handler: ZendCallable<'_>, options: Options<'_>) -> PhpResult<i64> {
        let options = LoopOptions::read("Dq\\Consumer::consume()", options.0)?;
        worker_loop::run(&handler, &options, |wait, stop| {
            let delivery = self.consumer.next_unless(wait, stop).map_err(to_php)?;
            Ok(delivery.map(Arc::new))
        })
    }
}

/// A delivery in the worker loop: acked when the handler returns, nacked when it throws.
impl Work for Arc<BlockingDelivery> {
    fn to_php(&self) -> PhpResult<Zval> {
        Delivery {
            delivery: self.clone(),
        }
        .into_zval(false)
        .map_err(|e| internal(format!("cannot make a Dq\\Delivery: {e}")))
    }

    fn settled(&self) -> bool {
        BlockingDelivery::settled(self)
    }

    fn done(&self) -> PhpResult<()> {
        self.ack().map_err(to_php)
    }

    /// Back to the queue on a first failure with `requeue_on_error`; rejected when it fails
    /// again (it was redelivered), so a message that always throws cannot loop for ever.
    fn failed(&self, requeue_on_error: bool, _error: &str) -> PhpResult<String> {
        let again = self.delivery().redelivered();
        let requeue = requeue_on_error && !again;
        self.nack(requeue).map_err(to_php)?;
        let rejected =
            "rejected (dead-lettered if its queue has a dead-letter exchange, else dropped)";
        Ok(match (requeue, again) {
            (true, _) => "the message was put back in the queue (a first failure)".to_string(),
            (false, true) if requeue_on_error => {
                format!("the message was {rejected}: it had been delivered before")
            }
            (false, _) => format!("the message was {rejected}: requeue_on_error is false"),
        })
    }
}

/// A message taken from a queue. Settle it once: `ack`, or `nack`.
#[php_class]
#[php(name = "Dq\\Delivery")]
#[php(flags = ClassFlags::Final)]
#[php(implements(PhpInterfaceDeliveryInterface))]
pub struct Delivery {
    /// Shared with the worker loop, which settles it after the handler.
    delivery: Arc<BlockingDelivery>,
}

impl Delivery {
    fn new(delivery: BlockingDelivery) -> Delivery {
        Delivery {
            delivery: Arc::new(delivery),
        }
    }
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
