//! Keeps the registry current on every shard without waiting for the periodic sync: per shard,
//! a subscription to the wake channel. Another gateway's change (`c:<id>`) or a lookup that
//! found the registry missing (`p`) makes it sync at once, and so does every (re)connection:
//! a Redis that restarted empty gets the registry back as soon as it answers.
//!
//! On each connection it also learns the server's run id: a new one means Redis restarted, and
//! if dq's registry did not survive, the messages that waited there are gone: that is logged as
//! an error, once per restart, with what the server keeps on disk.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::{CHANGED, REPUBLISH, Registry};
use crate::queue::{Request, ServerFacts};

/// Hears what the registry's upkeep runs into, for metrics. Every method has an empty default.
pub trait RegistryObserver: Send + Sync + 'static {
    /// A sync failed (some shard could not be read or written).
    fn sync_failed(&self) {}
    /// The Redis at `server` restarted; `lost_data` when dq's data did not survive it.
    fn server_restarted(&self, _server: &str, _lost_data: bool) {}
}

impl Registry {
    /// Watches every shard until `stop` turns true.
    pub async fn watch(
        self: Arc<Self>,
        observer: Arc<dyn RegistryObserver>,
        stop: watch::Receiver<bool>,
    ) {
        let watchers = (0..self.queue.shards().len())
            .map(|shard| watch_shard(self.clone(), shard, observer.clone(), stop.clone()));
        futures_util::future::join_all(watchers).await;
    }
}

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(1);

async fn watch_shard(
    registry: Arc<Registry>,
    shard: usize,
    observer: Arc<dyn RegistryObserver>,
    mut stop: watch::Receiver<bool>,
) {
    let queue = registry.queue.clone();
    let server = queue.shards()[shard].server().display.clone();
    let channel = queue.keys().wake();
    let own_notice = registry.notice();
    let mut known_run: Option<String> = None;
    let mut retry = RETRY_FIRST;
    let mut failing = false;
    while !*stop.borrow() {
        let subscribed = async {
            let mut pubsub = queue.shards()[shard].pubsub().await?;
            pubsub
                .subscribe(&channel)
                .await
                .map_err(|e| crate::Error::new(crate::ErrorKind::Connection, e.to_string()))?;
            Ok::<_, crate::Error>(pubsub)
        };
        let mut pubsub = match subscribed.await {
            Ok(pubsub) => pubsub,
            Err(e) => {
                if !failing {
                    tracing::warn!(shard = %server, error = %e, "registry watch cannot subscribe; retrying");
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
            tracing::info!(shard = %server, "registry watch subscribed again");
            failing = false;
        }
        retry = RETRY_FIRST;
        arrived(&registry, shard, &mut known_run, observer.as_ref()).await;
        registry.want_sync();
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => {
                        let payload = message.get_payload_bytes();
                        let changed = payload.starts_with(CHANGED.as_bytes())
                            && payload != own_notice.as_bytes();
                        if changed || payload == REPUBLISH.as_bytes() {
                            registry.want_sync();
                        }
                    }
                    None => break,
                },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        tracing::debug!(shard = %server, "registry watch lost its subscription; reconnecting");
    }
}

/// A (re)connection to the shard: notes a restart, says loudly when it lost dq's data, and
/// warns once per server run when it keeps nothing on disk.
async fn arrived(
    registry: &Registry,
    shard: usize,
    known_run: &mut Option<String>,
    observer: &dyn RegistryObserver,
) {
    let queue = &registry.queue;
    let Ok(facts) = queue.server_facts(shard).await else {
        return;
    };
    let Some(run_id) = facts.run_id.clone() else {
        return;
    };
    let server = &queue.shards()[shard].server().display;
    match known_run.as_deref() {
        Some(before) if before != run_id => {
            let kept: bool = queue.shards()[shard]
                .query(Request::Cmd(
                    redis::cmd("EXISTS").arg(queue.keys().topics()),
                ))
                .await
                .unwrap_or(true);
            let lost = !kept && registry.has_entries();
            observer.server_restarted(server, lost);
            if lost {
                tracing::error!(
                    shard = %server, run_before = before, run_now = %run_id,
                    persistence = %facts.persistence(),
                    "Redis restarted and came back without dq's data: the messages that waited there are lost; publishing the topic registry again"
                );
            } else {
                tracing::warn!(shard = %server, run_before = before, run_now = %run_id,
                    "Redis restarted; dq's data survived");
            }
            warn_if_not_durable(server, &facts);
        }
        Some(_) => {}
        None => warn_if_not_durable(server, &facts),
    }
    *known_run = Some(run_id);
}

fn warn_if_not_durable(server: &str, facts: &ServerFacts) {
    if let Some(warning) = facts.persistence_warning() {
        tracing::warn!(shard = %server, persistence = %facts.persistence(), "{warning}");
    }
}
