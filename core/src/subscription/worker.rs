//! One subscription's consumer: takes messages from its queue (`prefetch` at a time) and
//! delivers up to `concurrency` of them at once to its callback, each by [`verdict`]:
//!
//! - done: replies with the answer's body when the message has `reply_to` (so an HTTP
//!   endpoint can serve `Dq\Producer::call`), then acks;
//! - retry: with `concurrency = 1` the message is retried in place (held, unacked) so that
//!   order is kept; otherwise a copy goes back to the queue after the wait through
//!   `publish_delayed`'s per-delay queues, and the original is acked only once the copy is
//!   confirmed;
//! - dead: a copy goes to `<prefix>.dead.<subscription>` with the attempts, the last status and
//!   error, and the original is acked once it is confirmed.
//!
//! A copy that cannot be published puts the original back (nack, requeue): at least once. A
//! broken connection is reopened with back-off (0.1 s doubling to 10 s) and the topology
//! declared again; unacked messages go back to the queue by the broker's doing. At shutdown no
//! new message is taken, deliveries under way get `grace` to finish, and the rest go back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{
    Answer, Delivered, Subscription, Verdict, attempts_so_far, dead_copy, header_number,
    header_text, parse_retry_after, request, retry_copy, verdict,
};
use crate::alert::GivenUp;
use crate::amqp::{Delivery, OutgoingMessage, Producer, QueueOptions};
use crate::error::{ErrorKind, Result};
use crate::worker::{ANSWER_LIMIT, Callbacks};

/// The most of an answer's body kept when it is an RPC reply.
const REPLY_LIMIT: usize = 4 * 1024 * 1024;
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// A second's pause (or less, at shutdown) before a message goes back to the queue because its
/// copy could not be published: the broker would hand it back at once, and the endpoint would
/// be called in a tight loop.
async fn pause(shutdown: &mut watch::Receiver<bool>) {
    let stopping = async {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
        () = stopping => {}
    }
}

/// What a subscription's consumer reports to (the gateway's metrics and health).
pub trait SubscriptionObserver: Send + Sync {
    /// The consumer consumes (`None`), or cannot, and why (it retries with back-off).
    fn consuming(&self, _subscription: &str, _trouble: Option<&str>) {}
    /// A message was taken from the queue; it is in flight until `settled`.
    fn taken(&self, _subscription: &str) {}
    /// A message taken is settled (acked, or back in the queue).
    fn settled(&self, _subscription: &str) {}
    /// A message was delivered (2xx) on attempt `attempt`, `took` after it was taken and
    /// `since_published` after it was published, when the message says when
    /// ([`published_at_ms`]).
    fn delivered(
        &self,
        _subscription: &str,
        _attempt: u32,
        _took: Duration,
        _since_published: Option<Duration>,
    ) {
    }
    /// An attempt failed; the message will be tried again.
    fn failed(&self, _subscription: &str, _status: Option<u16>, _error: &str) {}
    /// A message was given up to the dead-letter queue.
    fn dead(&self, _subscription: &str, _letter: &GivenUp<'_>) {}
}

/// When a message was published, as precisely as it says: RabbitMQ's `timestamp_in_ms` header
/// (the message-timestamp plugin), else its `timestamp` property (whole seconds).
pub fn published_at_ms(properties: &lapin::BasicProperties) -> Option<i64> {
    header_number(properties, "timestamp_in_ms").or_else(|| {
        properties
            .timestamp()
            .and_then(|s| i64::try_from(s).ok())
            .map(|s| s.saturating_mul(1000))
    })
}

/// Reports nothing.
pub struct Unobserved;

impl SubscriptionObserver for Unobserved {}

/// One subscription's consumer.
#[derive(Clone)]
pub struct SubscriptionWorker {
    subscription: Arc<Subscription>,
    producer: Producer,
    callbacks: Arc<Callbacks>,
    prefix: String,
    observer: Arc<dyn SubscriptionObserver>,
}

impl SubscriptionWorker {
    /// The consumer of `subscription` (checked), over `producer`'s connection, calling through
    /// `callbacks`; dead letters go to `<prefix>.dead.<name>`.
    pub fn new(
        subscription: Subscription,
        producer: Producer,
        callbacks: Arc<Callbacks>,
        prefix: &str,
        observer: Arc<dyn SubscriptionObserver>,
    ) -> Result<SubscriptionWorker> {
        subscription.validate()?;
        Ok(SubscriptionWorker {
            subscription: Arc::new(subscription),
            producer,
            callbacks,
            prefix: prefix.to_string(),
            observer,
        })
    }

    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// Declares the queue (durable) unless it exists, its bindings, and the dead-letter queue.
    pub async fn declare(&self) -> Result<()> {
        let sub = &self.subscription;
        self.declare_unless_there(&sub.queue).await?;
        for (exchange, routing_key) in sub.bindings() {
            self.producer
                .bind_queue(&sub.queue, exchange, routing_key, &serde_json::Map::new())
                .await?;
        }
        self.declare_unless_there(&sub.dead_queue(&self.prefix))
            .await
    }

    /// Declares `queue` (durable, of the configured `amqp_queue_type`) unless it exists: one
    /// that does is used as it is, whatever its type.
    async fn declare_unless_there(&self, queue: &str) -> Result<()> {
        let passive = QueueOptions {
            passive: true,
            ..QueueOptions::default()
        };
        match self.producer.declare_queue(queue, &passive).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let mut options = QueueOptions::default();
                for (name, value) in self.producer.config().own_queue_arguments() {
                    options.arguments.insert(name.into(), value.into());
                }
                self.producer
                    .declare_queue(queue, &options)
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Consumes until `shutdown` turns true; deliveries under way then get `grace` to finish.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>, grace: Duration) {
        let sub = self.subscription.clone();
        let consumer = self.producer.consumer(&sub.queue, sub.prefetch());
        let slots = Arc::new(Semaphore::new(sub.concurrency() as usize));
        let mut deliveries = JoinSet::new();
        let mut declared = false;
        let mut backoff = BACKOFF_FIRST;
        let mut last_error: Option<String> = None;
        tracing::info!(
            subscription = %sub.name, queue = %sub.queue, callback = %sub.callback,
            concurrency = sub.concurrency(), prefetch = sub.prefetch(),
            "subscription consuming"
        );
        while !*shutdown.borrow() {
            while deliveries.try_join_next().is_some() {}
            let trouble = if declared {
                None
            } else {
                self.declare().await.err()
            };
            declared = trouble.is_none();
            let taken = match trouble {
                Some(e) => Err(e),
                None => {
                    let slot = tokio::select! {
                        slot = slots.clone().acquire_owned() => slot,
                        _ = shutdown.wait_for(|stop| *stop) => break,
                    };
                    let Ok(slot) = slot else { break };
                    let next = tokio::select! {
                        next = consumer.next(Duration::from_secs(1)) => next,
                        _ = shutdown.wait_for(|stop| *stop) => break,
                    };
                    next.map(|delivery| delivery.map(|d| (d, slot)))
                }
            };
            match taken {
                Ok(taken) => {
                    backoff = BACKOFF_FIRST;
                    if last_error.take().is_some() {
                        tracing::info!(subscription = %sub.name, "subscription consuming again");
                        self.observer.consuming(&sub.name, None);
                    }
                    if let Some((delivery, slot)) = taken {
                        self.observer.taken(&sub.name);
                        let worker = self.clone();
                        let stop = shutdown.clone();
                        deliveries.spawn(async move {
                            worker.deliver(delivery, stop).await;
                            worker.observer.settled(&worker.subscription.name);
                            drop(slot);
                        });
                    }
                }
                Err(e) => {
                    declared = false;
                    let message = e.to_string();
                    if last_error.as_deref() != Some(message.as_str()) {
                        tracing::warn!(subscription = %sub.name, error = %message, "subscription cannot consume; retrying");
                        self.observer.consuming(&sub.name, Some(&message));
                        last_error = Some(message);
                    }
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.wait_for(|stop| *stop) => break,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        // Deliveries under way finish within the grace; the others' messages go back to the
        // queue when the channel closes.
        let finished = tokio::time::timeout(grace, async {
            while deliveries.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            let cut = deliveries.len();
            deliveries.abort_all();
            for _ in 0..cut {
                self.observer.settled(&sub.name);
            }
            tracing::warn!(subscription = %sub.name, deliveries = cut,
                "deliveries still under way after the shutdown grace were cut short; their messages go back to the queue");
        }
        consumer.close().await;
    }

    /// Delivers one message until it is done, copied for a retry later, or dead.
    async fn deliver(&self, delivery: Delivery, mut shutdown: watch::Receiver<bool>) {
        let sub = &self.subscription;
        let taken = Instant::now();
        let mut attempt = attempts_so_far(delivery.raw_properties()) + 1;
        loop {
            let delivered = Delivered {
                body: delivery.body(),
                properties: delivery.raw_properties(),
                exchange: delivery.exchange(),
                routing_key: delivery.routing_key(),
                redelivered: delivery.redelivered(),
            };
            let called = Instant::now();
            let (answer, reply) = self.attempt(&delivered, attempt).await;
            tracing::debug!(
                subscription = %sub.name, attempt, answer = %answer,
                took_ms = called.elapsed().as_millis() as u64,
                message_id = delivered.properties.message_id().as_ref().map(|id| id.as_str()),
                "subscription delivery attempt"
            );
            let settled = match verdict(sub, attempt, &answer) {
                Verdict::Done => {
                    if let Some(reply) = reply
                        && let Err(e) = delivery.reply(reply).await
                    {
                        tracing::warn!(subscription = %sub.name, error = %e, "the RPC reply could not be sent");
                    }
                    let since_published = published_at_ms(delivered.properties).and_then(|at| {
                        let ms = crate::queue::now_ms().checked_sub(at)?;
                        Some(Duration::from_millis(u64::try_from(ms).ok()?))
                    });
                    self.observer
                        .delivered(&sub.name, attempt, taken.elapsed(), since_published);
                    delivery.ack().await
                }
                Verdict::Retry {
                    after,
                    status,
                    error,
                } => {
                    self.observer.failed(&sub.name, status, &error);
                    tracing::debug!(subscription = %sub.name, attempt, error = %error, retry_in_s = after.as_secs_f64(), "subscription delivery failed; retrying");
                    if sub.concurrency() == 1 {
                        // In place, so that the next message waits: order is kept.
                        let stopping = async {
                            let _ = shutdown.wait_for(|stop| *stop).await;
                        };
                        let stopped = tokio::select! {
                            () = tokio::time::sleep(after) => false,
                            () = stopping => true,
                        };
                        if stopped {
                            let _ = delivery.nack(true).await;
                            return;
                        }
                        attempt += 1;
                        continue;
                    }
                    let copy = retry_copy(&delivered, attempt);
                    match self
                        .producer
                        .publish_delayed("", &sub.queue, &copy, after)
                        .await
                    {
                        Ok(()) => delivery.ack().await,
                        Err(e) => {
                            tracing::warn!(subscription = %sub.name, error = %e, "the retry copy could not be published; the message goes back to the queue");
                            pause(&mut shutdown).await;
                            delivery.nack(true).await
                        }
                    }
                }
                Verdict::Dead { status, error } => {
                    let copy = dead_copy(&delivered, attempt, status, &error);
                    match self
                        .producer
                        .publish("", &sub.dead_queue(&self.prefix), &copy)
                        .await
                    {
                        Ok(()) => {
                            tracing::warn!(subscription = %sub.name, attempt, error = %error, "message given up to the dead-letter queue");
                            let id =
                                header_text(&copy.properties, "x-dq-dead-id").unwrap_or_default();
                            self.observer.dead(
                                &sub.name,
                                &GivenUp {
                                    id: &id,
                                    attempts: attempt,
                                    status,
                                    error: &error,
                                    asked: status == Some(410),
                                },
                            );
                            delivery.ack().await
                        }
                        Err(e) => {
                            tracing::warn!(subscription = %sub.name, error = %e, "the dead letter could not be published; the message goes back to the queue");
                            pause(&mut shutdown).await;
                            delivery.nack(true).await
                        }
                    }
                }
            };
            if let Err(e) = settled {
                // The channel broke: the broker puts the message back itself.
                tracing::debug!(subscription = %sub.name, error = %e, "delivery not settled");
            }
            return;
        }
    }

    /// One call of the callback: how it ended, and the reply to send when it succeeded and the
    /// message has `reply_to` (only then is more than the start of the answer's body read).
    async fn attempt(
        &self,
        delivered: &Delivered<'_>,
        attempt: u32,
    ) -> (Answer, Option<OutgoingMessage>) {
        let sub = &self.subscription;
        let request = match request(sub, delivered, attempt) {
            Ok(request) => request,
            Err(e) => return (Answer::Failed(e.to_string()), None),
        };
        let wants_reply = delivered.properties.reply_to().is_some();
        let limit = if wants_reply {
            REPLY_LIMIT
        } else {
            ANSWER_LIMIT
        };
        let timeout = Duration::from_millis(sub.timeout_ms);
        match tokio::time::timeout(timeout, self.callbacks.call(request, limit)).await {
            Err(_) => (
                Answer::Failed(format!("no answer within {} ms", sub.timeout_ms)),
                None,
            ),
            Ok(Err(error)) => (Answer::Failed(error), None),
            Ok(Ok(answered)) => {
                let now_s = crate::queue::now_ms() / 1000;
                let answer = Answer::Status {
                    code: answered.status.as_u16(),
                    retry_after: answered
                        .retry_after
                        .as_deref()
                        .and_then(|v| parse_retry_after(v, now_s)),
                };
                let reply = (wants_reply && answered.status.is_success()).then(|| {
                    let mut properties = serde_json::Map::new();
                    if let Some(content_type) = answered.content_type {
                        properties.insert("content_type".into(), content_type.into());
                    }
                    OutgoingMessage::new(answered.body.to_vec(), &properties).ok()
                });
                (answer, reply.flatten())
            }
        }
    }
}
