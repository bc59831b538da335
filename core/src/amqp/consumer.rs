//! Consuming: a channel of the consumer's own with a prefetch window, deliveries taken one at a
//! time, and each acked, nacked or replied to. A consumer whose channel or connection broke
//! opens new ones on the next `next`; unacked deliveries of the broken channel go back to the
//! queue (the broker's doing).
//!
//! An unsettled delivery keeps its channel open (lapin closes a channel when its last handle
//! goes), so a delivery can be acked after its consumer is closed or dropped, as in PHP's
//! `(new Dq\Consumer($q))->next()->ack()`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::link::{Link, Publisher};
use super::message::{OutgoingMessage, properties_json};
use super::{amqp_error, settle, short, timed_out};
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::process;

pub struct Consumer {
    link: Arc<Link>,
    queue: String,
    prefetch: u16,
    live: Mutex<Option<Live>>,
}

struct Live {
    process: u64,
    channel: Arc<Channel>,
    deliveries: lapin::Consumer,
}

impl Consumer {
    pub(super) fn new(link: Arc<Link>, queue: &str, prefetch: u16) -> Consumer {
        Consumer {
            link,
            queue: queue.to_string(),
            prefetch: prefetch.max(1),
            live: Mutex::new(None),
        }
    }

    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The next delivery, waiting up to `wait` (`None` if none came).
    pub async fn next(&self, wait: Duration) -> Result<Option<Delivery>> {
        let mut live = self.live.lock().await;
        let current = live
            .as_ref()
            .is_some_and(|l| l.process == process() && l.channel.status().connected());
        if !current {
            if live.as_ref().is_some_and(|l| l.process != process()) {
                // The parent's channel: leave it alone.
                std::mem::forget(live.take());
            }
            *live = None;
            let timeout = self.link.config().timeout;
            let started = tokio::time::timeout(timeout, self.start())
                .await
                .unwrap_or_else(|_| Err(timed_out(&self.link.config().display, timeout)));
            match started {
                Ok(started) => *live = Some(started),
                Err(e) => {
                    self.link.heal().await;
                    return Err(e);
                }
            }
        }
        let Some(current) = live.as_mut() else {
            return Err(Error::internal("no consumer channel"));
        };
        match tokio::time::timeout(wait, current.deliveries.next()).await {
            Err(_) => Ok(None),
            Ok(Some(Ok(delivery))) => Ok(Some(Delivery {
                inner: delivery,
                link: self.link.clone(),
                process: process(),
                settled: AtomicBool::new(false),
                channel: std::sync::Mutex::new(Some(current.channel.clone())),
            })),
            Ok(Some(Err(e))) => {
                *live = None;
                self.link.heal().await;
                Err(amqp_error(&self.link.config().display, e))
            }
            Ok(None) => {
                *live = None;
                Err(Error::new(
                    ErrorKind::Connection,
                    format!(
                        "the broker cancelled the consumer of queue {:?} (deleted, or the connection closed)",
                        self.queue
                    ),
                ))
            }
        }
    }

    /// Stops consuming and closes the consumer's channel, which returns its unacked messages to
    /// the queue: at once, or when the last delivery still held is settled or dropped.
    pub async fn close(&self) {
        let mut live = self.live.lock().await;
        match live.take() {
            Some(l) if l.process == process() => {
                // Cancels the consumer: nothing more is delivered to the channel.
                drop(l.deliveries);
                if let Ok(channel) = Arc::try_unwrap(l.channel) {
                    let _ = tokio::time::timeout(
                        self.link.config().timeout,
                        channel.close(200, "consumer closed".into()),
                    )
                    .await;
                }
            }
            Some(parents) => std::mem::forget(parents),
            None => {}
        }
    }

    async fn start(&self) -> Result<Live> {
        let display = &self.link.config().display;
        let channel = self.link.channel().await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| amqp_error(display, e))?;
        let tag = format!("dq:{}:{:08x}", std::process::id(), fastrand::u32(..));
        let deliveries = channel
            .basic_consume(
                short("queue", &self.queue)?,
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| amqp_error(display, e))?;
        Ok(Live {
            process: process(),
            channel: Arc::new(channel),
            deliveries,
        })
    }
}

/// A message taken from a queue; settle it with exactly one `ack` or `nack`.
pub struct Delivery {
    inner: lapin::message::Delivery,
    link: Arc<Link>,
    process: u64,
    settled: AtomicBool,
    /// The channel it came on, kept open until it is settled.
    channel: std::sync::Mutex<Option<Arc<Channel>>>,
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if self.process != process() {
            // The parent's channel: a child must not close it.
            std::mem::forget(self.release());
        }
    }
}

impl Delivery {
    pub fn body(&self) -> &[u8] {
        &self.inner.data
    }

    pub fn properties(&self) -> Map<String, Value> {
        properties_json(&self.inner.properties)
    }

    pub fn raw_properties(&self) -> &BasicProperties {
        &self.inner.properties
    }

    pub fn routing_key(&self) -> &str {
        self.inner.routing_key.as_str()
    }

    pub fn exchange(&self) -> &str {
        self.inner.exchange.as_str()
    }

    pub fn redelivered(&self) -> bool {
        self.inner.redelivered
    }

    /// Whether `ack` or `nack` was called on it (even one that failed: it is not settled again).
    pub fn settled(&self) -> bool {
        self.settled.load(Ordering::Acquire)
    }

    pub async fn ack(&self) -> Result<()> {
        self.settle("ack")?;
        let acked = self.inner.acker.ack(BasicAckOptions::default());
        self.bounded(acked, "ack").await
    }

    /// Rejects the delivery: back to the queue with `requeue`, else dropped (or dead-lettered,
    /// if the queue has a dead-letter exchange).
    pub async fn nack(&self, requeue: bool) -> Result<()> {
        self.settle("nack")?;
        let nacked = self.inner.acker.nack(BasicNackOptions {
            requeue,
            multiple: false,
        });
        self.bounded(nacked, "nack").await
    }

    /// Publishes `message` to the delivery's `reply_to` with its `correlation_id` (RPC).
    pub async fn reply(&self, mut message: OutgoingMessage) -> Result<()> {
        let Some(reply_to) = self.inner.properties.reply_to().clone() else {
            return Err(Error::invalid(
                "the message has no reply_to: nobody waits for a reply",
            ));
        };
        if let Some(id) = self.inner.properties.correlation_id() {
            message.properties = message.properties.with_correlation_id(id.clone());
        }
        let link = self.link.clone();
        let timeout = link.config().timeout;
        let sent = async move {
            let channel = link.publisher(Publisher::Confirming).await?;
            let display = &link.config().display;
            let confirm = channel
                .basic_publish(
                    "".into(),
                    reply_to.clone(),
                    Default::default(),
                    &message.body,
                    message.properties.clone(),
                )
                .await
                .map_err(|e| amqp_error(display, e))?;
            settle(
                confirm.await.map_err(|e| amqp_error(display, e))?,
                "",
                reply_to.as_str(),
            )
        };
        match tokio::time::timeout(timeout, sent).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                "RabbitMQ did not confirm the reply in time",
            )),
        }
    }

    fn release(&self) -> Option<Arc<Channel>> {
        self.channel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn settle(&self, what: &str) -> Result<()> {
        if self.process != process() {
            return Err(Error::invalid(format!(
                "cannot {what} a delivery received before fork(): it belongs to the parent process's channel"
            )));
        }
        if self.settled.swap(true, Ordering::AcqRel) {
            return Err(Error::invalid(format!(
                "cannot {what}: the delivery was already acked or nacked"
            )));
        }
        Ok(())
    }

    /// Awaits an ack or nack; lapin's `false` means the channel the delivery came on is gone,
    /// and with it the delivery (RabbitMQ has put the message back in the queue).
    async fn bounded(
        &self,
        work: impl std::future::Future<Output = lapin::Result<bool>>,
        what: &str,
    ) -> Result<()> {
        let config = self.link.config();
        let outcome = tokio::time::timeout(config.timeout, work).await;
        // Settled (or failed for good): the channel may close once nothing else holds it.
        drop(self.release());
        match outcome {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "cannot {what}: the channel the delivery came on is closed (its consumer was \
                     dropped or the connection broke), so RabbitMQ has put the message back in \
                     the queue for another delivery"
                ),
            )),
            Ok(Err(e)) => Err(amqp_error(&config.display, e)),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("RabbitMQ at {} did not answer in time", config.display),
            )),
        }
    }
}
