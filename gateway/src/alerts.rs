//! The backends' watch for e-mail alerts: every `CHECK_EVERY`, each Redis shard is pinged and
//! RabbitMQ (once it is in use) checked; one that fails twice in a row is down (an alert), and
//! the first answer after that is up again (another, with how long it was down). Dead letters,
//! outbox backlogs and XA branches in doubt are raised where they happen (metrics, outbox, xa).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dq_core::alert::Alert;
use tokio::sync::watch;

use crate::AppState;

/// How often the backends are checked.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Failed checks in a row before a backend counts as down.
const DOWN_AFTER: u32 = 2;
/// How long a RabbitMQ check may take.
const BROKER_CHECK: Duration = Duration::from_secs(3);

/// One backend's watch.
#[derive(Default)]
struct Watched {
    /// Failed checks in a row, and when the first of them was.
    failures: u32,
    since: Option<Instant>,
    /// A down alert was raised and no up alert yet.
    down: bool,
}

impl Watched {
    /// Notes a check; the alert it makes, if any.
    fn note(&mut self, backend: &str, result: Result<(), String>) -> Option<Alert> {
        match result {
            Ok(()) => {
                let since = self.since.take();
                self.failures = 0;
                if !std::mem::take(&mut self.down) {
                    return None;
                }
                tracing::info!(backend, "backend answers again");
                Some(Alert::Up {
                    backend: backend.to_string(),
                    down_for: since.map_or(Duration::ZERO, |s| s.elapsed()),
                })
            }
            Err(error) => {
                self.failures += 1;
                self.since.get_or_insert_with(Instant::now);
                if self.down || self.failures < DOWN_AFTER {
                    return None;
                }
                self.down = true;
                tracing::warn!(backend, error, "backend down");
                Some(Alert::Down {
                    backend: backend.to_string(),
                    error,
                })
            }
        }
    }
}

/// Watches the backends until `shutdown` turns true; nothing to do without e-mail alerts.
pub async fn watch_backends(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    if !state.metrics.alerting() {
        return;
    }
    let mut watched: HashMap<String, Watched> = HashMap::new();
    loop {
        let (servers, broker) = crate::routes::health::probe(&state, BROKER_CHECK).await;
        let mut results: Vec<(String, Result<(), String>)> = servers
            .iter()
            .map(|report| {
                (
                    format!("Redis shard {}", report.server),
                    report
                        .result
                        .as_ref()
                        .map(|_| ())
                        .map_err(|e| e.message().to_string()),
                )
            })
            .collect();
        if let Some(broker) = broker {
            results.push((
                format!("RabbitMQ {}", state.producer.config().display),
                broker.map(|_| ()).map_err(|e| e.message().to_string()),
            ));
        }
        for (backend, result) in results {
            let alert = watched
                .entry(backend.clone())
                .or_default()
                .note(&backend, result);
            if let Some(alert) = alert {
                state.metrics.alert(alert);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_is_down_after_two_failures_and_up_at_the_first_answer() {
        let mut w = Watched::default();
        assert_eq!(w.note("r", Ok(())), None);
        assert_eq!(
            w.note("r", Err("refused".into())),
            None,
            "one failure is not down"
        );
        assert_eq!(w.note("r", Ok(())), None, "and it answered again");
        assert_eq!(w.note("r", Err("refused".into())), None);
        assert!(matches!(
            w.note("r", Err("refused".into())),
            Some(Alert::Down { ref error, .. }) if error == "refused"
        ));
        assert_eq!(w.note("r", Err("refused".into())), None, "down once");
        assert!(matches!(w.note("r", Ok(())), Some(Alert::Up { .. })));
        assert_eq!(w.note("r", Ok(())), None);
    }
}
