//! Keeps the registry current on every shard without waiting for the periodic sync: per shard,
//! a subscription to the wake channel. Another gateway's change (`c:<id>`) or a lookup that
//! found the registry missing (`p`) makes it sync at once, and so does every (re)connection:
//! a Redis that restarted empty gets the registry back as soon as it answers.
//!
//! On each connection it also learns the server's run id: a new one means Redis restarted, and
//! if dq's registry did not survive, the messages that waited there are gone: that is logged as
//! an error, once per restart, with what the server keeps on disk.

use std::sync::Arc;

use tokio::sync::watch;

use super::{CHANGED, Definition, REPUBLISH, Registry};
use crate::queue::{Request, ServerFacts, wake};

/// Hears what the registry's upkeep runs into, for metrics. Every method has an empty default.
pub trait RegistryObserver: Send + Sync + 'static {
    /// A sync failed (some shard could not be read or written).
    fn sync_failed(&self) {}
    /// The Redis at `server` restarted; `lost_data` when dq's data did not survive it.
    fn server_restarted(&self, _server: &str, _lost_data: bool) {}
}

impl<T: Definition> Registry<T> {
    /// Watches every shard until `stop` turns true.
    pub async fn watch(
        self: Arc<Self>,
        observer: Arc<dyn RegistryObserver>,
        stop: watch::Receiver<bool>,
    ) {
        let watchers = self
            .queue
            .server_shards()
            .map(|shard| watch_shard(self.clone(), shard, observer.clone(), stop.clone()));
        futures_util::future::join_all(watchers).await;
    }
}

async fn watch_shard<T: Definition>(
    registry: Arc<Registry<T>>,
    shard: usize,
    observer: Arc<dyn RegistryObserver>,
    stop: watch::Receiver<bool>,
) {
    let queue = registry.queue.clone();
    let mut listener = Watcher {
        own_notice: registry.notice(),
        registry,
        shard,
        observer,
        known_run: None,
    };
    wake::listen(&queue, shard, stop, &mut listener).await;
}

/// One shard's watcher: what it learnt of the server so far.
struct Watcher<T: Definition> {
    registry: Arc<Registry<T>>,
    shard: usize,
    observer: Arc<dyn RegistryObserver>,
    own_notice: String,
    /// The server's run id at the last connection.
    known_run: Option<String>,
}

impl<T: Definition> wake::Listener for Watcher<T> {
    const WHAT: &'static str = "registry watch";

    async fn subscribed(&mut self) {
        if T::REPORTS_RESTARTS {
            arrived(
                &self.registry,
                self.shard,
                &mut self.known_run,
                self.observer.as_ref(),
            )
            .await;
        }
        self.registry.want_sync();
    }

    fn message(&mut self, payload: &[u8]) {
        let changed =
            payload.starts_with(CHANGED.as_bytes()) && payload != self.own_notice.as_bytes();
        if changed || payload == REPUBLISH.as_bytes() {
            self.registry.want_sync();
        }
    }
}

/// A (re)connection to the shard: notes a restart, says loudly when it lost dq's data, and
/// warns once per server run when it keeps nothing on disk.
async fn arrived<T: Definition>(
    registry: &Registry<T>,
    shard: usize,
    known_run: &mut Option<String>,
    observer: &dyn RegistryObserver,
) {
    let queue = &registry.queue;
    if queue.is_cluster() {
        // Failovers are the cluster's business, and its nodes' run ids are many: no restart
        // to note, only each node's persistence, once per run of the node.
        if known_run.is_none() {
            for node in queue.servers().await {
                if let Ok(facts) = &node.result {
                    warn_if_not_durable(&node.server, facts);
                }
            }
            *known_run = Some(String::new());
        }
        return;
    }
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
