//! XA in the gateway, when `mysql` and `[databases]` are set: the [`Coordinator`] of the
//! transactions `POST /v1/xa` runs (decisions logged in `mysql`, connections in pools of its
//! own), and the `xa` worker ([`XaRecovery`]) that finishes, every `workers.xa_interval`, the
//! transactions whose coordinator died or whose server was away. What the worker's last pass
//! found is kept for `/healthz`, which never asks MySQL itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use dq_core::Result;
use dq_core::alert::Alert;
use dq_core::mysql::Pools;
use dq_core::xa::{
    Action, Databases, Decision, DecisionLog, Gtrid, InDoubt, Pass, Recovery, Resolved, Xa,
};
use tokio::sync::watch;

use crate::GatewayConfig;
use crate::metrics::{ActionLabels, Metrics};

/// The transactions of this gateway over `[databases]`, and their recovery.
pub struct Coordinator {
    databases: Arc<Databases>,
    log: Arc<DecisionLog>,
    recovery: Recovery,
    timeout: Duration,
    interval: Duration,
    older_than: Duration,
    /// The `xa` worker runs (not with `--no-workers`).
    recovering: AtomicBool,
    last: Mutex<Option<LastPass>>,
}

/// What the worker's last pass found.
#[derive(Debug, Clone)]
pub struct LastPass {
    pub at: SystemTime,
    /// Prepared branches left waiting for a decision or whose decision failed to apply.
    pub in_doubt: usize,
    /// The first thing that went wrong: a server not answering, a decision not applied.
    pub error: Option<String>,
}

impl Coordinator {
    /// `None` unless both `mysql` and `[databases]` are set. Nothing connects until used.
    pub fn new(config: &GatewayConfig) -> Option<Coordinator> {
        let mysql = config.mysql.clone()?;
        if config.databases.is_empty() {
            return None;
        }
        let timeout = config.queue.timeout;
        let databases = Arc::new(config.databases.clone());
        let log = Arc::new(DecisionLog::new(mysql, Arc::new(Pools::new()), timeout));
        Some(Coordinator {
            recovery: Recovery::new(databases.clone(), log.clone(), timeout),
            databases,
            log,
            timeout,
            interval: config.xa_interval,
            older_than: config.xa_timeout,
            recovering: AtomicBool::new(false),
            last: Mutex::new(None),
        })
    }

    pub fn databases(&self) -> &Databases {
        &self.databases
    }

    /// A new transaction over `[databases]`.
    pub fn begin(&self) -> Xa {
        Xa::begin(self.databases.clone(), self.log.clone(), self.timeout)
    }

    /// Transactions with prepared branches now (asks every server).
    pub async fn in_doubt(&self) -> Result<Vec<InDoubt>> {
        self.recovery.in_doubt().await
    }

    /// An operator's decision for transaction `id`.
    pub async fn resolve(&self, id: &Gtrid, decision: Decision) -> Result<Vec<Resolved>> {
        self.recovery.resolve(id, decision).await
    }

    /// Whether the `xa` worker runs in this gateway.
    pub fn recovering(&self) -> bool {
        self.recovering.load(Ordering::Relaxed)
    }

    pub fn last_pass(&self) -> Option<LastPass> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_last_pass(&self, pass: LastPass) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(pass);
    }
}

/// The `xa` worker: one recovery pass over `[databases]` every `workers.xa_interval`, rolling
/// back undecided branches older than `workers.xa_timeout`.
pub struct XaRecovery {
    coordinator: Arc<Coordinator>,
    metrics: Arc<Metrics>,
}

impl XaRecovery {
    pub(crate) fn new(coordinator: Arc<Coordinator>, metrics: Arc<Metrics>) -> XaRecovery {
        XaRecovery {
            coordinator,
            metrics,
        }
    }

    /// Passes until `shutdown` turns true; the first one at once. A pass cut short by the
    /// shutdown is harmless: the log decides, and the next start finishes it.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let coordinator = &self.coordinator;
        coordinator.recovering.store(true, Ordering::Relaxed);
        tracing::info!(
            databases = coordinator.databases.names().collect::<Vec<_>>().join(","),
            interval_s = coordinator.interval.as_secs_f64(),
            xa_timeout_s = coordinator.older_than.as_secs_f64(),
            "XA recovery running"
        );
        loop {
            tokio::select! {
                pass = coordinator.recovery.pass(coordinator.older_than) => self.record(pass),
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            tokio::select! {
                () = tokio::time::sleep(coordinator.interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        coordinator.recovering.store(false, Ordering::Relaxed);
    }

    /// Counts what the pass did, keeps it for `/healthz`, and sums it up in one line when it
    /// did anything.
    fn record(&self, pass: Pass) {
        let count = |action: Action| pass.resolved.iter().filter(|r| r.action == action).count();
        let (committed, rolled_back, failed, waiting) = (
            count(Action::Committed),
            count(Action::RolledBack),
            count(Action::Failed),
            count(Action::Waiting),
        );
        for (action, n) in [
            (Action::Committed, committed),
            (Action::RolledBack, rolled_back),
            (Action::Failed, failed),
        ] {
            self.metrics
                .xa_recovered
                .get_or_create(&ActionLabels {
                    action: action.as_str(),
                })
                .inc_by(n as u64);
        }
        self.metrics
            .xa_in_doubt
            .set(i64::try_from(failed + waiting).unwrap_or(i64::MAX));
        self.metrics
            .xa_recovery_errors
            .inc_by(pass.unreachable.len() as u64);
        for resolved in pass.resolved.iter().filter(|r| r.action == Action::Failed) {
            self.metrics.alert(Alert::InDoubt {
                transaction: resolved.id.to_string(),
                branch: format!("{} ({})", resolved.branch, resolved.server),
                error: resolved.error.clone().unwrap_or_default(),
            });
        }
        if committed + rolled_back + failed > 0 {
            tracing::info!(
                committed,
                rolled_back,
                failed,
                waiting,
                "XA recovery finished prepared branches"
            );
        }
        let error = pass
            .unreachable
            .iter()
            .map(|(server, e)| format!("{server}: {e}"))
            .chain(pass.resolved.iter().filter_map(|r| {
                let error = r.error.as_ref()?;
                Some(format!("{} on {}: {error}", r.id, r.branch))
            }))
            .next();
        self.coordinator.set_last_pass(LastPass {
            at: SystemTime::now(),
            in_doubt: failed + waiting,
            error,
        });
    }
}
