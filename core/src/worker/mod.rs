//! The workers that replace php-delayqueue's master/timer/consumer daemon. Per Redis shard:
//!
//! - `timer`: sleeps until the next due time (or until told of an earlier one) and moves due
//!   messages from delayed to ready, in bounded batches;
//! - `notifier`: leases ready messages (inflight, with a deadline), calls their callbacks within
//!   the gateway's slots (fair shares per topic), and settles each: done, retry on the ladder,
//!   or dead letter;
//! - `reaper`: returns leases that outlived their deadline (a worker died) to ready, and keeps
//!   dead letters within their retention;
//! - `wake`: listens on the shard's wake channel so the others sleep until there is news;
//! - `slots`: the gateway's delivery slots, shared fairly by the topics of every shard.
//!
//! At least once: a message is removed only after its callback answered 2xx, and every change
//! of state is a Lua script that checks the lease, so several gateways can share the work.

mod delivery;
mod notifier;
mod reaper;
mod slots;
mod timer;
mod wake;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::alert::GivenUp;
use crate::error::Result;
use crate::queue::{DelayQueue, Request, Shard};
use crate::registry::{Registry, Topic};
use delivery::Leased;
use slots::Slots;

pub(crate) use delivery::{ANSWER_LIMIT, header_value, user_agent, with_query};
pub use delivery::{Callbacks, sign};

/// How the workers run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Deliveries in flight at once, all topics and shards of this gateway.
    pub concurrency: usize,
    /// Deliveries in flight at once per topic, unless the topic sets `concurrency`.
    pub topic_concurrency: usize,
    /// Messages moved or leased per script call.
    pub batch: usize,
    /// Added to a topic's timeout to make a lease's deadline.
    pub lease_margin: Duration,
    /// Dead letters kept per topic and shard; the oldest go first.
    pub dead_keep: usize,
    /// Dead letters older than this are removed.
    pub dead_max_age: Duration,
    /// How long in-flight deliveries may finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 256,
            topic_concurrency: 64,
            batch: 100,
            lease_margin: Duration::from_secs(5),
            dead_keep: 10_000,
            dead_max_age: Duration::from_secs(7 * 24 * 3600),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Hears about each delivery, for metrics. Every method has an empty default.
///
/// A finished attempt is reported once, as delivered, failed or lease lost; not at all when
/// its outcome could not be recorded (Redis failed), since its lease then expires and the
/// reaper reports it.
pub trait Observer: Send + Sync + 'static {
    /// A callback answered 2xx; `lateness` is the time from due to the attempt.
    fn delivered(&self, _topic: &str, _lateness: Duration) {}
    /// An attempt failed, and why.
    fn failed(&self, _topic: &str, _reason: Failure) {}
    /// A message of `topic` became a dead letter.
    fn dead(&self, _topic: &Topic, _letter: &GivenUp<'_>) {}
    /// An attempt ended on a lease that was no longer its own: it had expired and the message
    /// passed on (the gateway was frozen or cut off from Redis), or the message was deleted or
    /// replaced meanwhile. Its outcome was not recorded: whoever holds the message settles it.
    fn lease_lost(&self, _topic: &str) {}
    /// The reaper returned `count` expired leases of `topic` to ready: delivered again.
    fn leases_expired(&self, _topic: &str, _count: usize) {}
    /// `count` deliveries of `topic` are under way in this gateway now.
    fn in_flight(&self, _topic: &str, _count: usize) {}
}

/// Why a delivery attempt failed: a small fixed set, fit for a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// No answer within the topic's timeout.
    Timeout,
    /// No connection, or it broke: refused, DNS, TLS, reset.
    Connect,
    /// 410 Gone: the receiver wants no more of it.
    Gone,
    /// Another 4xx status.
    Status4xx,
    /// A 5xx status.
    Status5xx,
    /// Anything else: a 1xx or 3xx status, a callback URL that cannot be requested.
    Other,
}

impl Failure {
    /// Every reason.
    pub const ALL: [Failure; 6] = [
        Failure::Timeout,
        Failure::Connect,
        Failure::Gone,
        Failure::Status4xx,
        Failure::Status5xx,
        Failure::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Connect => "connect",
            Failure::Gone => "gone",
            Failure::Status4xx => "status_4xx",
            Failure::Status5xx => "status_5xx",
            Failure::Other => "other",
        }
    }

    /// The failure that an answer with `status` (not 2xx) is.
    pub fn of_status(status: u16) -> Failure {
        match status {
            410 => Failure::Gone,
            400..=499 => Failure::Status4xx,
            500..=599 => Failure::Status5xx,
            _ => Failure::Other,
        }
    }
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// The running workers of one gateway.
pub struct Workers {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Per shard: who to wake when the wake channel speaks.
#[derive(Default)]
struct Wake {
    timer: Notify,
    notifier: Notify,
}

/// What the tasks of every shard share.
struct Shared {
    queue: Arc<DelayQueue>,
    registry: Arc<Registry>,
    /// Changed by [`Workers::reconfigure`]; read through [`Shared::config`].
    config: std::sync::RwLock<WorkerConfig>,
    observer: Arc<dyn Observer>,
    callbacks: Callbacks,
    /// Where topics that deliver to RabbitMQ publish; `None`: such topics' attempts fail.
    broker: Option<crate::amqp::Producer>,
    /// This gateway's deliveries at once, shared by topics and shards.
    slots: Arc<Slots>,
    /// Names this gateway's leases.
    worker_id: String,
    stop: watch::Receiver<bool>,
    /// Deliveries under way: shard, message and how to stop them.
    deliveries: Mutex<HashMap<u64, (usize, Leased, tokio::task::AbortHandle)>>,
    next_delivery: AtomicU64,
    /// Per-message warnings (dead letters, expired leases) that may come in floods.
    quiet: Throttle,
}

impl Workers {
    /// Starts the workers of every shard of `queue`, with topics from `registry`; topics that
    /// deliver to RabbitMQ fail each attempt (see [`Workers::start_with_broker`]).
    pub fn start(
        queue: Arc<DelayQueue>,
        registry: Arc<Registry>,
        config: WorkerConfig,
        observer: Arc<dyn Observer>,
    ) -> Result<Workers> {
        Workers::start_with_broker(queue, registry, config, observer, None)
    }

    /// As [`Workers::start`]; topics with an `exchange` publish their due messages through
    /// `broker` (with confirms).
    pub fn start_with_broker(
        queue: Arc<DelayQueue>,
        registry: Arc<Registry>,
        config: WorkerConfig,
        observer: Arc<dyn Observer>,
        broker: Option<crate::amqp::Producer>,
    ) -> Result<Workers> {
        let (stop_tx, stop) = watch::channel(false);
        let shared = Arc::new(Shared {
            callbacks: Callbacks::new(config.concurrency)?,
            broker: broker.map(|b| b.with_confirm(true)),
            slots: Slots::new(config.concurrency, observer.clone()),
            worker_id: format!("{:08x}", fastrand::u32(..)),
            deliveries: Mutex::new(HashMap::new()),
            next_delivery: AtomicU64::new(0),
            quiet: Throttle::new(QUIET_WINDOW),
            queue,
            registry,
            config: std::sync::RwLock::new(config),
            observer,
            stop,
        });
        let mut tasks = JoinSet::new();
        for shard in 0..shared.queue.shards().len() {
            let wake = Arc::new(Wake::default());
            tasks.spawn(wake::listen(shared.clone(), shard, wake.clone()));
            tasks.spawn(timer::run(shared.clone(), shard, wake.clone()));
            tasks.spawn(notifier::run(shared.clone(), shard, wake));
            tasks.spawn(reaper::run(shared.clone(), shard));
        }
        tracing::info!(
            worker = %shared.worker_id,
            shards = shared.queue.shards().len(),
            concurrency = shared.config().concurrency,
            "workers started"
        );
        Ok(Workers {
            shared,
            stop: stop_tx,
            tasks,
        })
    }

    /// What applies new settings to these running workers (a reloaded configuration):
    /// concurrency, topic concurrency, batch, lease margin and dead-letter retention change at
    /// once; deliveries under way keep their slots, so a lower concurrency is reached as they
    /// finish. The callbacks' connection pool and the shutdown grace keep their start values.
    pub fn reconfigurer(&self) -> impl Fn(&WorkerConfig) + Send + Sync + 'static {
        let shared = self.shared.clone();
        move |config: &WorkerConfig| {
            let Ok(mut running) = shared.config.write() else {
                return;
            };
            let grace = running.shutdown_grace;
            *running = WorkerConfig {
                shutdown_grace: grace,
                ..config.clone()
            };
            drop(running);
            shared.slots.set_limit(config.concurrency);
            tracing::info!(
                concurrency = config.concurrency,
                topic_concurrency = config.topic_concurrency,
                batch = config.batch,
                "workers reconfigured"
            );
        }
    }

    /// Stops taking new work, lets deliveries under way finish within the grace period, and
    /// returns the leases of those that did not to ready at once.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        let grace = self.shared.config().shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.shared.slots.freed.notified();
            if self.shared.deliveries_under_way() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let unfinished: Vec<(usize, Leased, tokio::task::AbortHandle)> = self
            .shared
            .deliveries
            .lock()
            .map(|mut d| d.drain().map(|(_, v)| v).collect())
            .unwrap_or_default();
        let mut returned = 0;
        for (shard, message, abort) in unfinished {
            abort.abort();
            match notifier::release(&self.shared, shard, &message).await {
                Ok(()) => {
                    returned += 1;
                    tracing::debug!(topic = %message.topic, id = %message.id, "lease returned at shutdown");
                }
                Err(e) => tracing::warn!(topic = %message.topic, id = %message.id, error = %e,
                    "could not return the lease at shutdown; it expires and the message is delivered again"),
            }
        }
        tracing::info!(leases_returned = returned, "workers stopped");
    }
}

impl Shared {
    /// The settings as of now (a reload may change them).
    fn config(&self) -> WorkerConfig {
        self.config
            .read()
            .map_or_else(|p| p.into_inner().clone(), |c| c.clone())
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn deliveries_under_way(&self) -> usize {
        self.deliveries.lock().map(|d| d.len()).unwrap_or(0)
    }
}

/// Logs an error of a background loop when it starts failing and when it recovers, not at
/// every retry.
struct Trouble {
    what: &'static str,
    failing: bool,
}

impl Trouble {
    fn new(what: &'static str) -> Trouble {
        Trouble {
            what,
            failing: false,
        }
    }

    fn failed(&mut self, shard: &str, error: &crate::Error) {
        if !self.failing {
            tracing::warn!(shard, error = %error, "{} failing; retrying every second", self.what);
            self.failing = true;
        }
    }

    fn ok(&mut self, shard: &str) {
        if self.failing {
            tracing::info!(shard, "{} works again", self.what);
            self.failing = false;
        }
    }
}

/// How long a throttled warning stays quiet per key after it was logged.
const QUIET_WINDOW: Duration = Duration::from_secs(60);

/// Lets a warning through once per key (a topic) in a window, so a flood of dead letters or
/// expired leases makes a few lines; the rest go to DEBUG, and every one is counted by the
/// observer.
struct Throttle {
    window: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    fn new(window: Duration) -> Throttle {
        Throttle {
            window,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a warning about `key` may be logged now (and then not again within the window).
    fn allow(&self, key: &str) -> bool {
        let Ok(mut last) = self.last.lock() else {
            return true;
        };
        let now = Instant::now();
        if last
            .get(key)
            .is_some_and(|at| now.duration_since(*at) < self.window)
        {
            return false;
        }
        // Forget keys long quiet, so the map does not grow with every topic ever seen.
        if last.len() > 1024 {
            last.retain(|_, at| now.duration_since(*at) < self.window);
        }
        last.insert(key.to_string(), now);
        true
    }
}

/// Sleeps `duration`, or less if the workers are stopping. Returns false when stopping.
async fn pause(shared: &Shared, duration: Duration) -> bool {
    let mut stop = shared.stop.clone();
    tokio::select! {
        () = tokio::time::sleep(duration) => !shared.stopping(),
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// The topics of a shard index (`timers` or `leases`, topic -> time) whose time has come by
/// `now`, at most `limit`, and the earliest time in the index.
async fn due_topics(
    shard: &Shard,
    index: &str,
    now: i64,
    limit: usize,
) -> Result<(Vec<String>, Option<i64>)> {
    let mut look = redis::pipe();
    look.cmd("ZRANGEBYSCORE")
        .arg(index)
        .arg("-inf")
        .arg(now)
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .cmd("ZRANGE")
        .arg(index)
        .arg(0)
        .arg(0)
        .arg("WITHSCORES");
    let (due, head): (Vec<String>, Vec<(String, f64)>) = shard.query(Request::Pipe(&look)).await?;
    Ok((due, head.first().map(|(_, at)| *at as i64)))
}

fn next_id(shared: &Shared) -> u64 {
    shared.next_delivery.fetch_add(1, Ordering::Relaxed)
}
