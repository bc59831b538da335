//! RabbitMQ: publishing with confirms, delayed publishing, RPC, topology, consuming.
//!
//! - `link`: the connection kept per process and its shared channels;
//! - `message`: messages and properties, checked once for every facade;
//! - [`Producer`]: publish, publish many, publish delayed, call (RPC), declare and bind;
//! - `consumer`: [`Consumer`] and [`Delivery`] (ack, nack, reply);
//! - `browse`: [`Browser`], a queue's messages read one by one and acked or put back;
//! - `rpc`: direct reply-to.

mod browse;
mod consumer;
mod direct;
mod link;
mod message;
mod rpc;
mod topology;

use std::sync::Arc;
use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use lapin::types::ShortString;
use lapin::{Confirmation, ErrorKind as LapinKind};

use crate::config::{check_prefix, mask_password};
use crate::error::{Error, ErrorKind, Result, shown};
use link::{Link, Publisher};

pub use browse::{Browsed, Browser};
pub use consumer::{Consumer, Delivery};
pub(crate) use direct::{Direct, Sent};
pub(crate) use message::table_json;
pub use message::{OutgoingMessage, properties_json};
pub use rpc::{REPLY_TO, Reply};
pub use topology::{ExchangeOptions, MAX_DELAY, QueueOptions};
pub(crate) use topology::{exchange_declare, queue_bind, queue_declare};

pub const DEFAULT_AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A name as AMQP carries it (exchange, queue, routing key, table key): a short string, at
/// most 255 bytes. Checked before anything is sent, so a long name is a clear error.
pub(crate) fn short(what: &str, value: &str) -> Result<ShortString> {
    if value.len() > 255 {
        return Err(Error::invalid(format!(
            "{what} {} is {} bytes: AMQP allows at most 255",
            shown(value),
            value.len()
        )));
    }
    Ok(value.into())
}

/// How to reach RabbitMQ, and the namespace of the objects dq creates there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AmqpConfig {
    /// The first node's URL.
    pub url: String,
    /// Every node's URL (the nodes of one cluster), tried in turn.
    pub urls: Vec<String>,
    /// The URLs with their passwords masked.
    pub display: String,
    /// Prefix of the objects dq declares itself (delay queues).
    pub prefix: String,
    /// Bound on each operation, connecting included.
    pub timeout: Duration,
    /// The kind of the queues dq declares for itself (delay queues, dead letters).
    pub queue_type: QueueType,
}

/// The kind of queue dq declares for itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum QueueType {
    /// RabbitMQ's classic queues: on the node that declared them.
    #[default]
    Classic,
    /// Quorum queues: replicated over the cluster's nodes (Raft), so a node lost loses none of
    /// their messages; dead-lettered at least once.
    Quorum,
}

impl QueueType {
    pub fn parse(value: &str) -> Result<QueueType> {
        match value {
            "classic" => Ok(QueueType::Classic),
            "quorum" => Ok(QueueType::Quorum),
            other => Err(Error::invalid(format!(
                "amqp_queue_type {} is invalid: expected \"classic\" or \"quorum\"",
                shown(other)
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

impl AmqpConfig {
    /// One URL, or the nodes of one cluster as URLs separated by commas.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<AmqpConfig> {
        let urls: Vec<String> = url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect();
        let display = urls
            .iter()
            .map(|u| mask_password(u))
            .collect::<Vec<_>>()
            .join(",");
        if urls.is_empty() {
            return Err(Error::invalid(
                "RabbitMQ URL is empty: expected amqp://user:password@host:5672/vhost (several, comma-separated, for the nodes of a cluster)",
            ));
        }
        for (i, one) in urls.iter().enumerate() {
            one.parse::<lapin::uri::AMQPUri>().map_err(|e| {
                Error::invalid(format!(
                    "RabbitMQ URL {} is invalid ({e}): expected amqp://user:password@host:5672/vhost",
                    shown(&mask_password(one))
                ))
            })?;
            if urls[..i].contains(one) {
                return Err(Error::invalid(format!(
                    "RabbitMQ URL {} is listed twice in {}",
                    shown(&mask_password(one)),
                    shown(&display)
                )));
            }
        }
        check_prefix(prefix)?;
        Ok(AmqpConfig {
            url: urls[0].clone(),
            urls,
            display,
            prefix: prefix.to_string(),
            timeout,
            queue_type: QueueType::Classic,
        })
    }

    /// The same, with dq's own queues of `queue_type`.
    pub fn with_queue_type(mut self, queue_type: QueueType) -> AmqpConfig {
        self.queue_type = queue_type;
        self
    }

    /// The arguments that make a queue dq declares for itself of the configured type.
    pub(crate) fn own_queue_arguments(&self) -> Vec<(&'static str, &'static str)> {
        match self.queue_type {
            QueueType::Classic => Vec::new(),
            QueueType::Quorum => vec![("x-queue-type", "quorum")],
        }
    }

    /// The same for one of dq's queues that dead-letters (a delay queue, whose expired
    /// messages go on to their target): on a quorum queue, dead-lettering at least once, so a
    /// node lost in between loses nothing; it needs publishers refused, not messages dropped,
    /// when the queue is full. (Queues that do not dead-letter do not get these: RabbitMQ
    /// would log that it ignores them.)
    pub(crate) fn dead_lettering_queue_arguments(&self) -> Vec<(&'static str, &'static str)> {
        let mut arguments = self.own_queue_arguments();
        if self.queue_type == QueueType::Quorum {
            arguments.push(("x-dead-letter-strategy", "at-least-once"));
            arguments.push(("x-overflow", "reject-publish"));
        }
        arguments
    }
}

/// Publishes to RabbitMQ over the connection it shares with every producer of the same
/// configuration.
#[derive(Clone)]
pub struct Producer {
    link: Arc<Link>,
    confirm: bool,
}

impl Producer {
    /// A producer (no connection is opened until the first operation). With `confirm`, each
    /// publish returns only after the broker confirmed it.
    pub fn new(config: AmqpConfig, confirm: bool) -> Producer {
        Producer {
            link: Arc::new(Link::new(config)),
            confirm,
        }
    }

    /// The same connection, confirms on or off.
    pub fn with_confirm(&self, confirm: bool) -> Producer {
        Producer {
            link: self.link.clone(),
            confirm,
        }
    }

    pub fn config(&self) -> &AmqpConfig {
        self.link.config()
    }

    /// Publishes one message; with confirms, returns after the broker's ack. A nack, an
    /// unroutable mandatory message or no answer within the timeout is an error.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &OutgoingMessage,
    ) -> Result<()> {
        self.bounded(async {
            let channel = self.link.publisher(self.publisher()).await?;
            let confirm = channel
                .basic_publish(
                    short("exchange", exchange)?,
                    short("routing key", routing_key)?,
                    options(message),
                    &message.body,
                    message.properties.clone(),
                )
                .await
                .map_err(|e| self.error(e))?;
            settle(
                confirm.await.map_err(|e| self.error(e))?,
                exchange,
                routing_key,
            )
        })
        .await
    }

    /// Publishes many messages to one exchange and awaits all their confirms together.
    /// Returns how many were confirmed; if any was not, the error says how many were.
    pub async fn publish_batch(
        &self,
        exchange: &str,
        messages: &[(String, OutgoingMessage)],
    ) -> Result<usize> {
        self.bounded(async {
            let list: Vec<(&str, &str, &OutgoingMessage)> = messages
                .iter()
                .map(|(routing_key, message)| (exchange, routing_key.as_str(), message))
                .collect();
            let confirms = self
                .hand_over(&list)
                .await?
                .into_iter()
                .collect::<lapin::Result<Vec<_>>>()
                .map_err(|e| self.error(e))?;
            tally(
                self.settle_each(confirms.into_iter().zip(&list).map(
                    |(confirm, (exchange, routing_key, _))| (Ok(confirm), *exchange, *routing_key),
                ))
                .await,
            )
        })
        .await
    }

    /// Hands messages for their own exchanges to the broker, in order on one channel, without
    /// waiting for their confirms: [`InFlight::confirmed`] awaits them. Messages sent by a
    /// later call go out after these (the same channel), so a caller that sends batch after
    /// batch keeps their order while it awaits the confirms of one batch and sends the next.
    pub async fn send_each(&self, messages: &[(&str, &str, &OutgoingMessage)]) -> Result<InFlight> {
        let confirms = self.bounded(self.hand_over(messages)).await?;
        Ok(InFlight {
            producer: self.clone(),
            confirms: confirms
                .into_iter()
                .zip(messages)
                .map(|(sent, (exchange, routing_key, _))| {
                    (sent, exchange.to_string(), routing_key.to_string())
                })
                .collect(),
        })
    }

    /// Hands messages to the broker in order on one channel, all at once (one wake of the
    /// connection's I/O thread per batch rather than a round trip per message): each one's
    /// confirm to come, or why it could not be sent. Names are checked before anything goes.
    async fn hand_over(
        &self,
        messages: &[(&str, &str, &OutgoingMessage)],
    ) -> Result<Vec<lapin::Result<lapin::PublisherConfirm>>> {
        let names = messages
            .iter()
            .map(|(exchange, routing_key, _)| {
                Ok((
                    short("exchange", exchange)?,
                    short("routing key", routing_key)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let channel = self.link.publisher(self.publisher()).await?;
        let sends = messages
            .iter()
            .zip(names)
            .map(|((_, _, message), (exchange, routing_key))| {
                channel.basic_publish(
                    exchange,
                    routing_key,
                    options(message),
                    &message.body,
                    message.properties.clone(),
                )
            });
        Ok(join_in_order(sends.collect()).await)
    }

    /// Awaits the confirms of messages handed over, all together: what each one's means.
    async fn settle_each<S: AsRef<str>>(
        &self,
        confirms: impl IntoIterator<Item = (lapin::Result<lapin::PublisherConfirm>, S, S)>,
    ) -> Vec<Result<()>> {
        let waits = confirms
            .into_iter()
            .map(|(sent, exchange, routing_key)| async move {
                match sent {
                    Ok(confirm) => confirm
                        .await
                        .map_err(|e| self.error(e))
                        .and_then(|c| settle(c, exchange.as_ref(), routing_key.as_ref())),
                    Err(e) => Err(self.error(e)),
                }
            });
        futures_util::future::join_all(waits).await
    }

    /// Publishes a message that reaches `exchange` with `routing_key` after `delay`: through    /// Publishes a message that reaches `exchange` with `routing_key` after `delay`: through
    /// the broker's delayed-message exchange when it has the plugin, otherwise through a queue
    /// per (delay, target) whose TTL dead-letters messages to the target when they expire.
    pub async fn publish_delayed(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &OutgoingMessage,
        delay: Duration,
    ) -> Result<()> {
        if delay.is_zero() {
            return self.publish(exchange, routing_key, message).await;
        }
        self.bounded(topology::publish_delayed(
            self,
            exchange,
            routing_key,
            message,
            delay,
        ))
        .await
    }

    /// Sends a request and waits up to `wait` for its reply (direct reply-to).
    pub async fn call(
        &self,
        exchange: &str,
        routing_key: &str,
        request: OutgoingMessage,
        wait: Duration,
    ) -> Result<Reply> {
        let rpc = self.bounded(self.link.rpc()).await?;
        let result = rpc.call(exchange, routing_key, request, wait).await;
        if result
            .as_ref()
            .is_err_and(|e| e.kind() != ErrorKind::Timeout)
        {
            self.link.heal().await;
        }
        result
    }

    /// Declares an exchange of `kind` (direct, fanout, topic, headers, or a plugin's type).
    pub async fn declare_exchange(
        &self,
        name: &str,
        kind: &str,
        options: &ExchangeOptions,
    ) -> Result<()> {
        let declare = topology::exchange_declare(name, kind, options)?;
        self.bounded(topology::declare_exchange(self, declare))
            .await
    }

    /// Declares a queue; `""` lets the broker name it. Returns its name.
    pub async fn declare_queue(&self, name: &str, options: &QueueOptions) -> Result<String> {
        let declare = topology::queue_declare(name, options)?;
        self.bounded(topology::declare_queue(self, declare)).await
    }

    /// Binds a queue to an exchange.
    pub async fn bind_queue(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        let bind = topology::queue_bind(queue, exchange, routing_key, arguments)?;
        self.bounded(topology::bind_queue(self, bind)).await
    }

    /// A consumer of `queue` on this producer's connection.
    pub fn consumer(&self, queue: &str, prefetch: u16) -> Consumer {
        Consumer::new(self.link.clone(), queue, prefetch)
    }

    /// Browses `queue` on a channel of its own (see [`Browser`]).
    pub async fn browse(&self, queue: &str) -> Result<Browser> {
        Browser::open(self.link.clone(), queue).await
    }

    /// Closes the connection.
    pub async fn close(&self) {
        self.link.close().await;
    }

    /// Whether the broker answers: opens the connection if needed and asks about `amq.direct`,
    /// which every broker has, within `within`. The round-trip time, or why not.
    pub async fn check(&self, within: Duration) -> Result<Duration> {
        let started = std::time::Instant::now();
        let asked = async {
            let channel = self.link.publisher(self.publisher()).await?;
            channel
                .exchange_declare(
                    ShortString::from("amq.direct"),
                    lapin::ExchangeKind::Direct,
                    lapin::options::ExchangeDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    lapin::types::FieldTable::default(),
                )
                .await
                .map_err(|e| self.error(e))
        };
        self.bounded_by(within, asked)
            .await
            .map(|()| started.elapsed())
    }

    /// Whether this process holds lapin's connection for this producer (operations then go
    /// through it rather than through a connection of the caller's).
    pub(crate) fn connected_here(&self) -> bool {
        self.link.open_here()
    }

    pub(crate) fn confirms(&self) -> bool {
        self.confirm
    }

    fn publisher(&self) -> Publisher {
        if self.confirm {
            Publisher::Confirming
        } else {
            Publisher::Plain
        }
    }

    fn error(&self, error: lapin::Error) -> Error {
        amqp_error(&self.link.config().display, error)
    }

    /// Runs `work` within the timeout; after a failure, forgets what it broke.
    async fn bounded<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        self.bounded_by(self.link.config().timeout, work).await
    }

    /// Runs `work` within `timeout`; after a failure, forgets what it broke.
    async fn bounded_by<T>(
        &self,
        timeout: Duration,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let outcome = match tokio::time::timeout(timeout, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(timed_out(&self.link.config().display, timeout)),
        };
        if outcome.is_err() {
            self.link.heal().await;
        }
        outcome
    }
}

/// Messages handed to the broker by [`Producer::send_each`], their confirms to come.
pub struct InFlight {
    producer: Producer,
    confirms: Vec<(lapin::Result<lapin::PublisherConfirm>, String, String)>,
}

impl InFlight {
    /// Each message's outcome, in order: `Ok` for a confirmed message; a nack or a returned
    /// mandatory message is that message's own `Rejected`. When the broker closed the channel
    /// (an exchange that does not exist) or the connection, the messages not yet confirmed fail
    /// alike, whichever caused it: publish those one at a time to learn which. The outer error
    /// is no answer within the timeout.
    pub async fn confirmed(self) -> Result<Vec<Result<()>>> {
        let producer = &self.producer;
        let outcomes = producer
            .bounded(async { Ok(producer.settle_each(self.confirms).await) })
            .await?;
        if outcomes
            .iter()
            .any(|o| o.as_ref().is_err_and(|e| e.kind() != ErrorKind::Rejected))
        {
            producer.link.heal().await;
        }
        Ok(outcomes)
    }
}

/// A batch's outcome: how many were confirmed, or the first error saying how many were.
pub(crate) fn tally(outcomes: Vec<Result<()>>) -> Result<usize> {
    let total = outcomes.len();
    let confirmed = outcomes.iter().filter(|o| o.is_ok()).count();
    match outcomes.into_iter().find_map(Result::err) {
        None => Ok(confirmed),
        Some(e) => Err(Error::new(
            e.kind(),
            format!("{e} ({confirmed} of {total} messages were confirmed)"),
        )),
    }
}

/// Awaits all of `futures`, polling them in their order every time: a publish queues its frames
/// on its first poll, so the messages go out in order (`join_all` promises no polling order
/// past 30 futures).
async fn join_in_order<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use futures_util::future::{MaybeDone, maybe_done};
    let mut all: Vec<std::pin::Pin<Box<MaybeDone<F>>>> = futures
        .into_iter()
        .map(|f| Box::pin(maybe_done(f)))
        .collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for future in all.iter_mut() {
            pending |= future.as_mut().poll(cx).is_pending();
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    all.iter_mut()
        .filter_map(|future| future.as_mut().take_output())
        .collect()
}

fn options(message: &OutgoingMessage) -> BasicPublishOptions {
    BasicPublishOptions {
        mandatory: message.mandatory,
        immediate: false,
    }
}

/// What a confirmation means for the caller.
pub(crate) fn settle(confirmation: Confirmation, exchange: &str, routing_key: &str) -> Result<()> {
    match confirmation {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(returned)) => Err(unroutable(
            exchange,
            routing_key,
            returned.reply_code,
            returned.reply_text.as_str(),
        )),
        Confirmation::Nack(_) => Err(nacked(exchange, routing_key)),
    }
}

/// A mandatory message the broker returned: no queue took it.
pub(crate) fn unroutable(exchange: &str, routing_key: &str, code: u16, text: &str) -> Error {
    Error::new(
        ErrorKind::Rejected,
        format!(
            "message to exchange {exchange:?} with routing key {routing_key:?} is unroutable: {code} {text} (no queue is bound to take it)"
        ),
    )
}

pub(crate) fn nacked(exchange: &str, routing_key: &str) -> Error {
    Error::new(
        ErrorKind::Rejected,
        format!(
            "RabbitMQ refused (nacked) the message to exchange {exchange:?} with routing key {routing_key:?}"
        ),
    )
}

/// Why no node of a cluster took a connection: the one failure, or all of them as `kind`.
pub(crate) fn no_node(mut failures: Vec<Error>, kind: ErrorKind) -> Error {
    match failures.len() {
        0 => Error::internal("no RabbitMQ URL"),
        1 => failures.remove(0),
        _ => Error::new(
            kind,
            failures
                .iter()
                .map(|e| e.message().to_string())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// A failure to open a connection: always a connection error, whatever the broker said.
pub(crate) fn connect_error(display: &str, error: lapin::Error) -> Error {
    let err = amqp_error(display, error);
    Error::new(ErrorKind::Connection, format!("cannot connect: {err}"))
}

/// A lapin error as a dq error: the broker's refusals by what they mean, broken connections
/// as connection errors.
/// No answer from the broker at `display` within `timeout`.
pub(crate) fn timed_out(display: &str, timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "RabbitMQ at {display} did not answer within {:.3}s",
            timeout.as_secs_f64()
        ),
    )
}

pub(crate) fn amqp_error(display: &str, error: lapin::Error) -> Error {
    let kind = match error.kind() {
        LapinKind::ProtocolError(amqp) => match amqp.kind() {
            AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND) => ErrorKind::NotFound,
            AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
            | AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => ErrorKind::Unauthorized,
            AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED) => ErrorKind::InvalidArgument,
            AMQPErrorKind::Hard(AMQPHardError::CONNECTIONFORCED) => ErrorKind::Connection,
            _ => ErrorKind::Backend,
        },
        LapinKind::IOError(_)
        | LapinKind::InvalidConnectionState(_)
        | LapinKind::InvalidChannelState(..)
        | LapinKind::MissingHeartbeatError
        | LapinKind::RuntimeShutdownError(_) => ErrorKind::Connection,
        _ => ErrorKind::Backend,
    };
    Error::new(kind, format!("RabbitMQ at {display}: {error}"))
}
