//! The shard's wake channel as its listeners see it: a subscription kept up across lost
//! connections, with a hook for each (re)subscription, since news may have been missed while
//! the connection was down. The workers listen for their own news ("t", "r"), the registry for
//! its own ("c:<id>", "p").

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::DelayQueue;
use crate::error::{Error, ErrorKind};

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// What a listener of the wake channel does.
pub(crate) trait Listener: Send {
    /// Names the listener in the log.
    const WHAT: &'static str;
    /// After each (re)subscription: news may have been missed meanwhile.
    fn subscribed(&mut self) -> impl Future<Output = ()> + Send;
    /// For each message.
    fn message(&mut self, payload: &[u8]);
}

/// Listens on shard `shard`'s wake channel until `stop` turns true. The log says when
/// subscribing starts failing and when it works again (not at every retry).
pub(crate) async fn listen<L: Listener>(
    queue: &DelayQueue,
    shard: usize,
    mut stop: watch::Receiver<bool>,
    listener: &mut L,
) {
    let what = L::WHAT;
    let server = queue.shards()[shard].server().display.clone();
    let channel = queue.shards()[shard].keys().wake();
    let mut retry = RETRY_FIRST;
    let mut failing = false;
    while !*stop.borrow() {
        let connected = async {
            let mut pubsub = queue.shards()[shard].pubsub().await?;
            pubsub
                .subscribe(&channel)
                .await
                .map_err(|e| Error::new(ErrorKind::Connection, e.to_string()))?;
            Ok::<_, Error>(pubsub)
        };
        let mut pubsub = match connected.await {
            Ok(pubsub) => pubsub,
            Err(e) => {
                if !failing {
                    tracing::warn!(shard = %server, error = %e, "{what} cannot subscribe to the wake channel; retrying");
                    failing = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        if failing {
            tracing::info!(shard = %server, "{what} subscribed to the wake channel again");
            failing = false;
        }
        retry = RETRY_FIRST;
        listener.subscribed().await;
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                next = messages.next() => match next {
                    Some(next) => listener.message(next.get_payload_bytes()),
                    None => break,
                },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        tracing::debug!(shard = %server, "{what} lost the wake channel; subscribing again");
    }
}
