//! The subscriptions (DESIGN.md "Subscriptions"): their registry, shared by every gateway
//! through Redis like the topics', and the consumers this gateway runs: one per active
//! subscription, started when it appears or is resumed, restarted when its definition changes
//! (the old consumer finishes first), stopped when it is paused or removed. Several gateways
//! running one subscription are competing consumers of its queue.
//!
//! What each consumer is doing is kept for `/healthz`; what it did goes to the metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dq_core::amqp::Producer;
use dq_core::subscription::{DeadLetters, Subscription, SubscriptionObserver, SubscriptionWorker};
use dq_core::{Callbacks, DelayQueue, Registry, Status, same_definition};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::GatewayConfig;
use crate::metrics::Metrics;

/// The subscriptions' registry and this gateway's consumers of them.
pub struct Subscriptions {
    pub registry: Arc<Registry<Subscription>>,
    /// The consumers' connection (and the dead-letter operations'), opened on first use.
    producer: Producer,
    prefix: String,
    grace: Duration,
    metrics: Arc<Metrics>,
    /// What each running consumer is doing, by name.
    states: Mutex<HashMap<String, Consuming>>,
}

/// A running consumer's state, for `/healthz`.
#[derive(Debug, Clone, Default)]
struct Consuming {
    /// Why it cannot consume, while it cannot.
    trouble: Option<String>,
}

/// A consumer this gateway runs.
struct Running {
    definition: Subscription,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Subscriptions {
    pub fn new(
        queue: Arc<DelayQueue>,
        config: &GatewayConfig,
        metrics: Arc<Metrics>,
    ) -> Subscriptions {
        Subscriptions {
            registry: Arc::new(crate::with_record(Registry::of(queue), config)),
            producer: Producer::new(config.amqp.clone(), true),
            prefix: config.queue.prefix.clone(),
            grace: config.shutdown_timeout,
            metrics,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// The dead letters of `subscription`.
    pub fn dead_letters<'a>(&'a self, subscription: &'a Subscription) -> DeadLetters<'a> {
        DeadLetters::new(&self.producer, subscription, &self.prefix)
    }

    /// The queue `subscription`'s dead letters go to.
    pub fn dead_queue(&self, subscription: &Subscription) -> String {
        subscription.dead_queue(&self.prefix)
    }

    /// Runs a consumer per active subscription, following the registry's changes, until
    /// `shutdown` turns true; then every consumer stops taking messages, deliveries under way
    /// get the shutdown grace, and the rest go back to their queues.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.registry.changes();
        let mut running: BTreeMap<String, Running> = BTreeMap::new();
        let mut stopping: Vec<JoinHandle<()>> = Vec::new();
        loop {
            changes.borrow_and_update();
            self.reconcile(&mut running, &mut stopping);
            stopping.retain(|task| !task.is_finished());
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        for consumer in running.values() {
            let _ = consumer.stop.send(true);
        }
        let tasks = running
            .into_values()
            .map(|consumer| consumer.task)
            .chain(stopping);
        for task in tasks {
            let _ = task.await;
        }
        self.producer.close().await;
    }

    /// Starts, restarts and stops consumers so that one runs per active subscription.
    fn reconcile(
        self: &Arc<Self>,
        running: &mut BTreeMap<String, Running>,
        stopping: &mut Vec<JoinHandle<()>>,
    ) {
        let wanted: BTreeMap<String, Subscription> = self
            .registry
            .list()
            .into_iter()
            .filter(|s| s.status == Status::Active)
            .map(|s| (s.name.clone(), s))
            .collect();
        let mut retiring: HashMap<String, JoinHandle<()>> = HashMap::new();
        let names: Vec<String> = running.keys().cloned().collect();
        for name in names {
            let why = match wanted.get(&name) {
                None if self.registry.get(&name).is_some() => "paused",
                None => "removed",
                Some(w) if !same_definition(w, &running[&name].definition) => "changed",
                Some(_) => continue,
            };
            if let Some(consumer) = running.remove(&name) {
                tracing::info!(subscription = %name, "subscription {why}: its consumer stops");
                let _ = consumer.stop.send(true);
                retiring.insert(name, consumer.task);
            }
        }
        for (name, definition) in wanted {
            if running.contains_key(&name) {
                continue;
            }
            let previous = retiring.remove(&name);
            match self.start(definition.clone(), previous) {
                Ok((stop, task)) => {
                    running.insert(
                        name,
                        Running {
                            definition,
                            stop,
                            task,
                        },
                    );
                }
                Err(e) => {
                    tracing::error!(subscription = %name, error = %e, "subscription not started");
                    self.set_trouble(&name, Some(e.to_string()));
                }
            }
        }
        for (name, task) in retiring {
            self.forget(&name);
            stopping.push(task);
        }
    }

    /// Starts the consumer of `definition` once `previous` (its old consumer) has finished.
    fn start(
        self: &Arc<Self>,
        definition: Subscription,
        previous: Option<JoinHandle<()>>,
    ) -> dq_core::Result<(watch::Sender<bool>, JoinHandle<()>)> {
        let callbacks = Arc::new(Callbacks::new(definition.concurrency() as usize)?);
        let name = definition.name.clone();
        let observer: Arc<dyn SubscriptionObserver> = self.clone();
        let worker = SubscriptionWorker::new(
            definition,
            self.producer.clone(),
            callbacks,
            &self.prefix,
            observer,
        )?;
        if let Ok(mut states) = self.states.lock() {
            states.insert(name, Consuming::default());
        }
        let (stop, stopped) = watch::channel(false);
        let grace = self.grace;
        let task = tokio::spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            worker.run(stopped, grace).await;
        });
        Ok((stop, task))
    }

    /// The metrics, as a subscription observer.
    fn counts(&self) -> &dyn SubscriptionObserver {
        self.metrics.as_ref()
    }

    fn forget(&self, name: &str) {
        if let Ok(mut states) = self.states.lock() {
            states.remove(name);
        }
    }

    fn set_trouble(&self, name: &str, trouble: Option<String>) {
        if let Ok(mut states) = self.states.lock() {
            states.entry(name.to_string()).or_default().trouble = trouble;
        }
    }

    /// `/healthz`'s `subscriptions`: per subscription, `consuming`, `paused`, `failing` (with
    /// the error: a warning) or `off` (this gateway runs no workers), and its deliveries in
    /// flight here.
    pub fn health(&self, workers: bool, warnings: &mut Vec<String>) -> Value {
        let states = self.states.lock().map(|s| s.clone()).unwrap_or_default();
        let mut out = serde_json::Map::new();
        for subscription in self.registry.list() {
            let state = states.get(&subscription.name);
            let status = match (subscription.status, state) {
                (Status::Paused, _) => "paused",
                (
                    _,
                    Some(Consuming {
                        trouble: Some(_), ..
                    }),
                ) => "failing",
                (_, Some(_)) => "consuming",
                (_, None) if !workers => "off",
                (_, None) => "starting",
            };
            let mut entry = json!({
                "status": status,
                "queue": subscription.queue,
                "in_flight": self.metrics.subscription_in_flight(&subscription.name),
            });
            if let Some(trouble) = state.and_then(|s| s.trouble.clone()) {
                warnings.push(format!(
                    "subscription \"{}\" cannot consume: {trouble}",
                    subscription.name
                ));
                entry["error"] = json!(trouble);
            }
            out.insert(subscription.name.clone(), entry);
        }
        Value::Object(out)
    }
}

impl SubscriptionObserver for Subscriptions {
    fn consuming(&self, subscription: &str, trouble: Option<&str>) {
        self.set_trouble(subscription, trouble.map(str::to_string));
    }

    fn taken(&self, subscription: &str) {
        self.counts().taken(subscription);
    }

    fn settled(&self, subscription: &str) {
        self.counts().settled(subscription);
    }

    fn delivered(
        &self,
        subscription: &str,
        attempt: u32,
        took: Duration,
        since_published: Option<Duration>,
    ) {
        self.counts()
            .delivered(subscription, attempt, took, since_published);
    }

    fn failed(&self, subscription: &str, status: Option<u16>, error: &str) {
        self.counts().failed(subscription, status, error);
    }

    fn dead(&self, subscription: &str, letter: &dq_core::alert::GivenUp<'_>) {
        self.counts().dead(subscription, letter);
    }
}
