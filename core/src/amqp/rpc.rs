//! Request/reply over RabbitMQ's direct reply-to: one channel per connection consumes
//! `amq.rabbitmq.reply-to`, requests go out on that same channel (the broker requires it) with
//! a fresh correlation id, and each reply is handed to the call waiting for its id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use tokio::sync::oneshot;

use super::message::OutgoingMessage;
use super::{amqp_error, settle, short};
use crate::error::{Error, ErrorKind, Result};

pub const REPLY_TO: &str = "amq.rabbitmq.reply-to";

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Delivery>>>>;

pub(crate) struct Rpc {
    channel: Channel,
    waiting: Waiting,
    /// The reply consumer ended (channel or connection closed).
    ended: Arc<AtomicBool>,
    display: String,
}

/// A reply: its body and properties.
#[derive(Debug, Clone)]
pub struct Reply {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

impl Rpc {
    pub async fn start(channel: Channel, display: &str) -> Result<Rpc> {
        let error = |e| amqp_error(display, e);
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(error)?;
        let mut replies = channel
            .basic_consume(
                REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(error)?;
        let waiting: Waiting = Arc::new(Mutex::new(HashMap::new()));
        let ended = Arc::new(AtomicBool::new(false));
        let (routes, done) = (waiting.clone(), ended.clone());
        tokio::spawn(async move {
            while let Some(Ok(reply)) = replies.next().await {
                let id = reply
                    .properties
                    .correlation_id()
                    .as_ref()
                    .map(|c| c.as_str().to_string());
                let waiter = id.and_then(|id| routes.lock().ok()?.remove(&id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(reply);
                }
            }
            done.store(true, Ordering::Release);
            if let Ok(mut routes) = routes.lock() {
                routes.clear();
            }
        });
        Ok(Rpc {
            channel,
            waiting,
            ended,
            display: display.to_string(),
        })
    }

    pub fn usable(&self) -> bool {
        !self.ended.load(Ordering::Acquire) && self.channel.status().connected()
    }

    /// Publishes a request (mandatory: no route fails at once) and waits for the reply with its
    /// correlation id: `wait` bounds the whole call, the broker's confirm included.
    pub async fn call(
        &self,
        exchange: &str,
        routing_key: &str,
        mut request: OutgoingMessage,
        wait: Duration,
    ) -> Result<Reply> {
        let deadline = tokio::time::Instant::now() + wait;
        if request.properties.correlation_id().is_some() || request.properties.reply_to().is_some()
        {
            return Err(Error::invalid(
                "call() sets correlation_id and reply_to itself (direct reply-to): put your own \
                 id in message_id or a header",
            ));
        }
        let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        request.properties = request
            .properties
            .with_reply_to(REPLY_TO.into())
            .with_correlation_id(id.as_str().into());
        // The table is locked before the channel exists, so its sender is always moved into it
        // (no drop flag: valgrind took the optimized check of one for a read of uninitialised
        // memory).
        let rx = {
            let mut waiting = self
                .waiting
                .lock()
                .map_err(|_| Error::internal("rpc table poisoned"))?;
            let (tx, rx) = oneshot::channel();
            waiting.insert(id.clone(), tx);
            rx
        };
        let forget = || {
            if let Ok(mut waiting) = self.waiting.lock() {
                waiting.remove(&id);
            }
        };
        let sent = async {
            let confirm = self
                .channel
                .basic_publish(
                    short("exchange", exchange)?,
                    short("routing key", routing_key)?,
                    BasicPublishOptions {
                        mandatory: true,
                        immediate: false,
                    },
                    &request.body,
                    request.properties.clone(),
                )
                .await
                .map_err(|e| amqp_error(&self.display, e))?;
            settle(
                confirm.await.map_err(|e| amqp_error(&self.display, e))?,
                exchange,
                routing_key,
            )
        };
        let sent = tokio::time::timeout_at(deadline, sent)
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "RabbitMQ at {} did not confirm the request within {:.3}s",
                        self.display,
                        wait.as_secs_f64()
                    ),
                ))
            });
        if let Err(e) = sent {
            forget();
            return Err(e);
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => Ok(Reply {
                body: reply.data,
                properties: reply.properties,
            }),
            Ok(Err(_)) => Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "RabbitMQ at {}: the reply channel closed before the reply came",
                    self.display
                ),
            )),
            Err(_) => {
                forget();
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no reply to {} within {:.3}s (exchange {exchange:?}, routing key {routing_key:?})",
                        request
                            .properties
                            .correlation_id()
                            .as_ref()
                            .map_or("", |c| c.as_str()),
                        wait.as_secs_f64()
                    ),
                ))
            }
        }
    }
}
