//! One connection to RabbitMQ, opened on first use and kept: the channels it shares (a
//! publisher with confirms, one without, the RPC channel), opened again after the broker closed
//! them, and a new connection after the old one broke. A forked child leaves its parent's
//! connection alone (it is leaked, not closed) and opens its own.

use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use super::rpc::Rpc;
use super::{AmqpConfig, amqp_error, connect_error};
use crate::error::{Error, Result};
use crate::runtime::process;

/// What one live connection holds.
struct Live {
    connection: Connection,
    confirming: Option<Channel>,
    plain: Option<Channel>,
    rpc: Option<Arc<Rpc>>,
    /// Delay queues declared on this connection, and when (they are declared again before
    /// their `x-expires` could run out).
    delay_queues: HashMap<String, Instant>,
}

struct Owned {
    process: u64,
    live: ManuallyDrop<Live>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.process == process() {
            // SAFETY: dropped once, here.
            unsafe { ManuallyDrop::drop(&mut self.live) }
        }
    }
}

pub(crate) struct Link {
    config: AmqpConfig,
    state: Mutex<Option<Owned>>,
    /// The node (of `config.urls`) tried first: the last that took a connection.
    node: std::sync::atomic::AtomicUsize,
    /// Whether the broker has the delayed-message exchange plugin: unset until asked, then kept
    /// for the link's life (across reconnects: asking costs a connection).
    delayed_plugin: std::sync::OnceLock<bool>,
}

/// Which shared channel an operation wants.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Publisher {
    /// Publisher confirms on: `publish` returns after the broker's ack.
    Confirming,
    /// No confirms: `publish` returns once the message is written.
    Plain,
}

impl Link {
    pub fn new(config: AmqpConfig) -> Link {
        Link {
            config,
            state: Mutex::new(None),
            node: std::sync::atomic::AtomicUsize::new(0),
            delayed_plugin: std::sync::OnceLock::new(),
        }
    }

    pub fn config(&self) -> &AmqpConfig {
        &self.config
    }

    /// A shared publishing channel, opening the connection or channel if needed.
    pub async fn publisher(&self, kind: Publisher) -> Result<Channel> {
        let mut state = self.live().await?;
        let live = live_mut(&mut state)?;
        let slot = match kind {
            Publisher::Confirming => &mut live.confirming,
            Publisher::Plain => &mut live.plain,
        };
        if let Some(channel) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let channel = live
            .connection
            .create_channel()
            .await
            .map_err(|e| amqp_error(&self.config.display, e))?;
        if kind == Publisher::Confirming {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| amqp_error(&self.config.display, e))?;
        }
        *slot = Some(channel.clone());
        Ok(channel)
    }

    /// Whether this process has a connection here (possibly broken, not yet noticed).
    pub fn open_here(&self) -> bool {
        match self.state.try_lock() {
            Ok(state) => state.as_ref().is_some_and(|o| o.process == process()),
            Err(_) => true,
        }
    }

    /// A channel of its own (consumers, probes); the caller closes it.
    pub async fn channel(&self) -> Result<Channel> {
        let mut state = self.live().await?;
        live_mut(&mut state)?
            .connection
            .create_channel()
            .await
            .map_err(|e| amqp_error(&self.config.display, e))
    }

    /// The connection's RPC channel, consuming direct replies.
    pub async fn rpc(&self) -> Result<Arc<Rpc>> {
        let mut state = self.live().await?;
        let live = live_mut(&mut state)?;
        if let Some(rpc) = live.rpc.as_ref().filter(|r| r.usable()) {
            return Ok(rpc.clone());
        }
        let channel = live
            .connection
            .create_channel()
            .await
            .map_err(|e| amqp_error(&self.config.display, e))?;
        let rpc = Arc::new(Rpc::start(channel, &self.config.display).await?);
        live.rpc = Some(rpc.clone());
        Ok(rpc)
    }

    /// Whether the delay queue (or binding) `name` needs declaring: not declared on this
    /// connection within `renew`. `delay_queue_declared` records a declaration.
    pub async fn delay_queue_due(&self, name: &str, renew: Duration) -> Result<bool> {
        let mut state = self.live().await?;
        let live = live_mut(&mut state)?;
        let due = live
            .delay_queues
            .get(name)
            .is_none_or(|at| at.elapsed() >= renew);
        Ok(due)
    }

    pub async fn delay_queue_declared(&self, name: &str) {
        if let Some(owned) = self.state.lock().await.as_mut() {
            owned
                .live
                .delay_queues
                .insert(name.to_string(), Instant::now());
        }
    }

    pub fn delayed_plugin(&self) -> Option<bool> {
        self.delayed_plugin.get().copied()
    }

    /// Keeps the first answer (two asking at once get the same one).
    pub fn set_delayed_plugin(&self, present: bool) {
        let _ = self.delayed_plugin.set(present);
    }

    /// A connection of its own, not shared, for a question whose answer may be the broker
    /// closing the connection it came on. The caller closes it.
    pub async fn connection_apart(&self) -> Result<Connection> {
        self.connect().await
    }

    /// After an error: forget what the error broke (the connection, or closed channels), so
    /// the next operation opens them again.
    pub async fn heal(&self) {
        let mut state = self.state.lock().await;
        let Some(owned) = state.as_mut() else {
            return;
        };
        if !owned.live.connection.status().connected() {
            *state = None;
            return;
        }
        let live: &mut Live = &mut owned.live;
        for slot in [&mut live.confirming, &mut live.plain] {
            if slot.as_ref().is_some_and(|c| !c.status().connected()) {
                *slot = None;
            }
        }
        if live.rpc.as_ref().is_some_and(|r| !r.usable()) {
            live.rpc = None;
        }
    }

    /// Closes the connection (the gateway at shutdown).
    pub async fn close(&self) {
        if let Some(owned) = self.state.lock().await.take()
            && owned.process == process()
        {
            let _ = owned.live.connection.close(200, "dq closing".into()).await;
        }
    }

    /// The state, connected (a new connection if there is none, or it broke, or it is the
    /// parent's after a fork).
    async fn live(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Owned>>> {
        let mut state = self.state.lock().await;
        let usable = state
            .as_ref()
            .is_some_and(|o| o.process == process() && o.live.connection.status().connected());
        if !usable {
            *state = None;
            let connection = self.connect().await?;
            *state = Some(Owned {
                process: process(),
                live: ManuallyDrop::new(Live {
                    connection,
                    confirming: None,
                    plain: None,
                    rpc: None,
                    delay_queues: HashMap::new(),
                }),
            });
        }
        Ok(state)
    }
}

impl Link {
    /// A new connection: to the node that took the last one, else to the next that answers, in
    /// the order of the URLs (the nodes of one cluster), each within the timeout.
    async fn connect(&self) -> Result<Connection> {
        use std::sync::atomic::Ordering;
        let urls = &self.config.urls;
        let first = self.node.load(Ordering::Relaxed) % urls.len().max(1);
        let mut failures = Vec::new();
        for i in (0..urls.len()).map(|n| (first + n) % urls.len()) {
            let name = format!("dq:{}", std::process::id());
            let properties = ConnectionProperties::default().with_connection_name(name.into());
            let node = crate::config::mask_password(&urls[i]);
            let attempt = tokio::time::timeout(
                self.config.timeout,
                Connection::connect(&urls[i], properties),
            )
            .await;
            match attempt {
                Ok(Ok(connection)) => {
                    if i != first {
                        tracing::info!(node = %node, "RabbitMQ: connected to another node of the cluster");
                    }
                    self.node.store(i, Ordering::Relaxed);
                    return Ok(connection);
                }
                Ok(Err(e)) => failures.push(connect_error(&node, e)),
                Err(_) => failures.push(super::timed_out(&node, self.config.timeout)),
            }
        }
        Err(super::no_node(
            failures,
            crate::error::ErrorKind::Connection,
        ))
    }
}

fn live_mut<'a>(state: &'a mut tokio::sync::MutexGuard<'_, Option<Owned>>) -> Result<&'a mut Live> {
    state
        .as_mut()
        .map(|o| &mut *o.live)
        .ok_or_else(|| Error::internal("no RabbitMQ connection"))
}
