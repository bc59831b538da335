//! How a waiting `reserve` learns that a topic got ready messages: a subscription to each
//! shard's wake channel ("r"), taken from a small pool so that a worker looping on `reserve`
//! does not connect for every wait. A subscription that cannot be had leaves `reserve` looking
//! again every second instead.

use std::sync::Mutex;

use futures_util::{FutureExt, StreamExt};
use redis::aio::PubSub;
use tokio::sync::watch;
use tokio::time::Instant;

use super::DelayQueue;
use crate::runtime::process;

/// Idle subscriptions kept per shard: about the number of `reserve` calls that wait at once.
const KEEP_PER_SHARD: usize = 16;

/// One subscription per shard, `None` where there is none.
pub(crate) type Waiting = Vec<Option<PubSub>>;

pub(crate) struct Subscriptions {
    /// Per shard: idle subscriptions, with the process that opened them (a forked child must
    /// not use its parent's sockets).
    idle: Vec<Mutex<Vec<(u64, PubSub)>>>,
}

impl Subscriptions {
    pub fn new(shards: usize) -> Subscriptions {
        Subscriptions {
            idle: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// A subscription to every shard's wake channel, news that came while it sat idle dropped.
    pub async fn subscribe(&self, queue: &DelayQueue) -> Waiting {
        let opened = queue.shards().iter().enumerate().map(|(i, shard)| {
            let idle = self.take(i);
            let channel = shard.keys().wake();
            async move {
                if let Some(mut pubsub) = idle {
                    let mut messages = pubsub.on_message();
                    let mut open = true;
                    while let Some(next) = messages.next().now_or_never() {
                        if next.is_none() {
                            open = false;
                            break;
                        }
                    }
                    drop(messages);
                    if open {
                        return Some(pubsub);
                    }
                }
                let mut pubsub = match shard.pubsub().await {
                    Ok(pubsub) => pubsub,
                    Err(e) => {
                        tracing::debug!(shard = %shard.server().display, error = %e, "reserve cannot subscribe to the wake channel; looking every second");
                        return None;
                    }
                };
                match tokio::time::timeout(shard.timeout(), pubsub.subscribe(&channel)).await {
                    Ok(Ok(())) => Some(pubsub),
                    _ => None,
                }
            }
        });
        futures_util::future::join_all(opened).await
    }

    /// Waits until a shard says a topic got ready messages, or `until`.
    pub async fn wait(&self, waiting: &mut Waiting, until: Instant) {
        if waiting.iter().all(Option::is_none) {
            tokio::time::sleep_until(until).await;
            return;
        }
        let (woke, woken) = watch::channel(false);
        let waits = waiting.iter_mut().map(|slot| {
            let mut woken = woken.clone();
            let woke = &woke;
            async move {
                let Some(pubsub) = slot.as_mut() else {
                    return;
                };
                let mut lost = false;
                {
                    let mut messages = pubsub.on_message();
                    loop {
                        tokio::select! {
                            next = messages.next() => match next {
                                Some(message) if message.get_payload_bytes() == b"r" => {
                                    woke.send_replace(true);
                                    break;
                                }
                                Some(_) => {}
                                None => {
                                    lost = true;
                                    break;
                                }
                            },
                            _ = woken.wait_for(|w| *w) => break,
                            () = tokio::time::sleep_until(until) => break,
                        }
                    }
                }
                if lost {
                    *slot = None;
                }
            }
        });
        futures_util::future::join_all(waits).await;
    }

    /// Keeps the subscriptions for the next wait.
    pub fn put_back(&self, waiting: Waiting) {
        let process = process();
        for (i, pubsub) in waiting.into_iter().enumerate() {
            let (Some(pubsub), Some(idle)) = (pubsub, self.idle.get(i)) else {
                continue;
            };
            let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < KEEP_PER_SHARD {
                idle.push((process, pubsub));
            }
        }
    }

    fn take(&self, shard: usize) -> Option<PubSub> {
        let mut idle = self
            .idle
            .get(shard)?
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let current = process();
        while let Some((owner, pubsub)) = idle.pop() {
            if owner == current {
                return Some(pubsub);
            }
            // The parent's socket and runtime: never touched in a forked child.
            std::mem::forget(pubsub);
        }
        None
    }
}
