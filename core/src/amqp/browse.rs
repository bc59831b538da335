//! Browsing a queue: messages taken one at a time with `basic.get` on a channel of the
//! browser's own, each held unacknowledged until it is acked (removed from the queue) or the
//! browser is closed or dropped (every message not acked goes back to its place in the queue,
//! the broker's doing). A subscription's dead letters are listed, requeued and removed this way.

use std::sync::Arc;

use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::{BasicProperties, Channel};

use super::link::Link;
use super::topology::ask_queue;
use super::{amqp_error, short, timed_out};
use crate::error::{Error, Result};

/// A queue being browsed; close it to put back what was not acked.
pub struct Browser {
    link: Arc<Link>,
    channel: Channel,
    queue: String,
    /// Messages in the queue when the browser opened.
    count: u32,
}

/// A message held by a [`Browser`].
pub struct Browsed {
    inner: lapin::message::Delivery,
}

impl Browsed {
    pub fn body(&self) -> &[u8] {
        &self.inner.data
    }

    pub fn properties(&self) -> &BasicProperties {
        &self.inner.properties
    }

    pub fn exchange(&self) -> &str {
        self.inner.exchange.as_str()
    }

    pub fn routing_key(&self) -> &str {
        self.inner.routing_key.as_str()
    }
}

impl Browser {
    /// Opens a channel and asks how many messages `queue` holds; a queue that does not exist
    /// is an error of kind `NotFound`.
    pub(super) async fn open(link: Arc<Link>, queue: &str) -> Result<Browser> {
        let display = link.config().display.clone();
        let timeout = link.config().timeout;
        let opened = async {
            let channel = link.channel().await?;
            let declared = ask_queue(&channel, short("queue", queue)?)
                .await
                .map_err(|e| amqp_error(&display, e))?;
            Ok::<_, Error>((channel, declared.message_count()))
        };
        let (channel, count) = tokio::time::timeout(timeout, opened)
            .await
            .map_err(|_| timed_out(&display, timeout))??;
        Ok(Browser {
            link,
            channel,
            queue: queue.to_string(),
            count,
        })
    }

    /// Messages in the queue when the browser opened.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The next message, held until `ack` or `close`; `None` when no more are ready.
    pub async fn next(&self) -> Result<Option<Browsed>> {
        let display = &self.link.config().display;
        let timeout = self.link.config().timeout;
        let got = self.channel.basic_get(
            short("queue", &self.queue)?,
            BasicGetOptions { no_ack: false },
        );
        let got = tokio::time::timeout(timeout, got)
            .await
            .map_err(|_| timed_out(display, timeout))?
            .map_err(|e| amqp_error(display, e))?;
        Ok(got.map(|message| Browsed {
            inner: message.delivery,
        }))
    }

    /// Removes `message` from the queue.
    pub async fn ack(&self, message: &Browsed) -> Result<()> {
        let display = &self.link.config().display;
        let timeout = self.link.config().timeout;
        let acked = message.inner.acker.ack(BasicAckOptions::default());
        tokio::time::timeout(timeout, acked)
            .await
            .map_err(|_| timed_out(display, timeout))?
            .map(|_| ())
            .map_err(|e| amqp_error(display, e))
    }

    /// Closes the channel: every message taken and not acked goes back to the queue.
    pub async fn close(self) {
        let timeout = self.link.config().timeout;
        let _ = tokio::time::timeout(timeout, self.channel.close(200, "browsed".into())).await;
    }
}
