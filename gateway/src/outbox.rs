//! The outbox relay in the gateway: one dq-core [`Relay`] per database of `[outbox]
//! databases`, sharing a RabbitMQ connection of their own (a channel the broker closes over
//! one bad row never disturbs the API's publishes). What each relay last reported is kept for
//! `/healthz` and the metrics; when a database's oldest unsent row grows older than
//! `outbox.alert_after`, an alert is logged, counted and POSTed to `outbox.alert_webhook`, and
//! a second POST says when it is over.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use dq_core::alert::Alert;
use dq_core::amqp::Producer;
use dq_core::outbox::{Kind, Relay, RelayObserver, RelayState};
use dq_core::xa::Databases;
use dq_core::{Callbacks, DelayQueue, Error};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::GatewayConfig;
use crate::config::OutboxConfig;
use crate::metrics::{DatabaseLabels, Metrics, RelayedLabels};

/// The relays of `[outbox] databases` and what they last reported.
pub struct Outboxes {
    config: OutboxConfig,
    databases: Databases,
    amqp: dq_core::amqp::AmqpConfig,
    metrics: Arc<Metrics>,
    /// Per database: what its relay last reported.
    states: Mutex<BTreeMap<String, Reported>>,
    running: AtomicBool,
    webhook: Option<Arc<Callbacks>>,
}

impl Outboxes {
    /// `None` unless `[outbox] databases` names any.
    pub fn new(config: &GatewayConfig, metrics: Arc<Metrics>) -> Option<Outboxes> {
        if config.outbox.databases.is_empty() {
            return None;
        }
        let webhook = match &config.outbox.alert_webhook {
            Some(_) => match Callbacks::new(1) {
                Ok(client) => Some(Arc::new(client)),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox alerts will only be logged");
                    None
                }
            },
            None => None,
        };
        Some(Outboxes {
            config: config.outbox.clone(),
            databases: config.databases.clone(),
            amqp: config.amqp.clone(),
            metrics,
            states: Mutex::new(
                config
                    .outbox
                    .databases
                    .iter()
                    .map(|name| (name.clone(), Reported::default()))
                    .collect(),
            ),
            running: AtomicBool::new(false),
            webhook,
        })
    }

    /// Starts a relay per database; each runs until `shutdown` turns true.
    pub fn start(
        self: &Arc<Self>,
        queue: Arc<DelayQueue>,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        self.running.store(true, Ordering::Relaxed);
        let producer = Producer::new(self.amqp.clone(), true);
        let observer: Arc<dyn RelayObserver> = Arc::new(Reports(self.clone()));
        self.config
            .databases
            .iter()
            .filter_map(|name| {
                let url = self.databases.url(name).ok()?.clone();
                let relay = Relay::new(
                    name,
                    url,
                    producer.clone(),
                    queue.clone(),
                    self.config.relay.clone(),
                    observer.clone(),
                );
                Some(tokio::spawn(relay.run(shutdown.clone())))
            })
            .collect()
    }

    /// Each outbox's state for `/healthz`; a relay backing off, or a backlog over the alert
    /// bound, is a warning.
    pub fn health(&self, warnings: &mut Vec<String>) -> Value {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let running = self.running.load(Ordering::Relaxed);
        let mut out = serde_json::Map::new();
        for (name, reported) in states.iter() {
            let state = &reported.state;
            if let Some(error) = &state.error {
                warnings.push(format!("outbox {name}: {error}"));
            }
            let oldest = state.oldest_unsent.map(|d| d.as_secs_f64());
            if reported.alerting {
                warnings.push(format!(
                    "outbox {name}: the oldest unsent row is {:.1} s old (alert_after {} s)",
                    oldest.unwrap_or_default(),
                    self.config.alert_after.as_secs_f64()
                ));
            }
            out.insert(
                name.clone(),
                json!({
                    "relay": if !running { "off" } else if state.error.is_some() { "backing_off" } else { "running" },
                    "unsent": state.checked_at.map(|_| state.unsent),
                    "oldest_unsent_s": oldest,
                    "checked_at": state.checked_at.map(|t| {
                        t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
                    }),
                    "error": state.error,
                    "last_refused": reported.last_refused,
                }),
            );
        }
        Value::Object(out)
    }

    /// Fires or ends `database`'s backlog alert as its oldest unsent row crosses the bound.
    fn check_alert(&self, database: &str, state: &RelayState, alerting: &mut bool) {
        let oldest = state.oldest_unsent.unwrap_or(Duration::ZERO);
        let over = oldest > self.config.alert_after;
        if over == *alerting {
            return;
        }
        *alerting = over;
        let bound = self.config.alert_after.as_secs_f64();
        if over {
            tracing::warn!(
                database,
                unsent = state.unsent,
                oldest_unsent_s = oldest.as_secs_f64(),
                alert_after_s = bound,
                "outbox backlog alert: rows are waiting to be relayed"
            );
            self.metrics
                .outbox
                .alerts
                .get_or_create(&DatabaseLabels {
                    database: database.to_string(),
                })
                .inc();
            self.metrics.alert(Alert::OutboxBacklog {
                database: database.to_string(),
                unsent: state.unsent,
                oldest,
                bound: self.config.alert_after,
            });
        } else {
            tracing::info!(database, "outbox backlog alert over");
        }
        if let (Some(client), Some(url)) = (&self.webhook, &self.config.alert_webhook) {
            let payload = json!({
                "alert": "outbox_backlog",
                "state": if over { "firing" } else { "resolved" },
                "database": database,
                "unsent": state.unsent,
                "oldest_unsent_s": oldest.as_secs_f64(),
                "alert_after_s": bound,
                "error": state.error,
            })
            .to_string();
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                if let Err(error) = client.post_json(&url, payload, Vec::new()).await {
                    tracing::warn!(url, error, "outbox alert webhook failed");
                }
            });
        }
    }
}

/// What a database's relay last reported.
#[derive(Default)]
struct Reported {
    state: RelayState,
    /// Its backlog alert is firing.
    alerting: bool,
    /// The last row the broker refused, and why.
    last_refused: Option<String>,
}

/// What the relays report to.
struct Reports(Arc<Outboxes>);

impl RelayObserver for Reports {
    fn relayed(&self, database: &str, kind: Kind, lag: Duration) {
        let outbox = &self.0.metrics.outbox;
        outbox
            .relayed
            .get_or_create(&RelayedLabels {
                database: database.to_string(),
                kind: kind.as_str(),
            })
            .inc();
        outbox
            .lag
            .get_or_create(&DatabaseLabels {
                database: database.to_string(),
            })
            .observe(lag.as_secs_f64());
    }

    fn refused(&self, database: &str, id: u64, message_id: &str, error: &Error) {
        self.0
            .metrics
            .outbox
            .refused
            .get_or_create(&DatabaseLabels {
                database: database.to_string(),
            })
            .inc();
        let mut states = self.0.states.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reported) = states.get_mut(database) {
            reported.last_refused = Some(format!("row {id} (message_id {message_id}): {error}"));
        }
    }

    fn state(&self, database: &str, state: &RelayState) {
        let labels = DatabaseLabels {
            database: database.to_string(),
        };
        let outbox = &self.0.metrics.outbox;
        if state.checked_at.is_some() {
            outbox
                .backlog
                .get_or_create(&labels)
                .set(i64::try_from(state.unsent).unwrap_or(i64::MAX));
            outbox
                .oldest_unsent
                .get_or_create(&labels)
                .set(state.oldest_unsent.map_or(0.0, |d| d.as_secs_f64()));
        }
        outbox
            .backing_off
            .get_or_create(&labels)
            .set(i64::from(state.error.is_some()));
        let mut states = self.0.states.lock().unwrap_or_else(|p| p.into_inner());
        let reported = states.entry(database.to_string()).or_default();
        reported.state = state.clone();
        self.0.check_alert(database, state, &mut reported.alerting);
    }
}
