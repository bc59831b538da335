//! SIGHUP: the configuration file read again (with the same environment on top) and applied
//! where it can change while running: topics, subscriptions, `[workers]`, `token`, `timezone`, `log`. The
//! settings that cannot (listen address, backends, prefix, limits) keep their running values,
//! and the log line names them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dq_core::{Registry, WorkerConfig};

use crate::{AppState, GatewayConfig};

/// Applies a log filter (`info`, `dq_gateway=debug`).
pub type SetLogFilter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;
/// Applies new worker settings.
pub type SetWorkers = Box<dyn Fn(&WorkerConfig) + Send + Sync>;

pub struct Reloader {
    path: Option<PathBuf>,
    running: Mutex<GatewayConfig>,
    state: Arc<AppState>,
    registry: Arc<Registry>,
    set_log: SetLogFilter,
    set_workers: Option<SetWorkers>,
}

impl Reloader {
    /// `running` is the configuration the gateway started with, read from `path`.
    pub fn new(
        path: Option<PathBuf>,
        running: GatewayConfig,
        state: Arc<AppState>,
        set_log: SetLogFilter,
        set_workers: Option<SetWorkers>,
    ) -> Reloader {
        Reloader {
            path,
            running: Mutex::new(running),
            registry: state.registry.clone(),
            state,
            set_log,
            set_workers,
        }
    }

    /// Reads the file again and applies it; a file that does not load changes nothing.
    pub async fn reload(&self) {
        let Some(path) = self.path.as_deref() else {
            tracing::info!("SIGHUP: no --config file was given; nothing to reload");
            return;
        };
        let new = match GatewayConfig::load(Some(path), |name| std::env::var(name).ok()) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: the configuration does not load; keeping the running one");
                return;
            }
        };
        let fixed = {
            let Ok(mut running) = self.running.lock() else {
                return;
            };
            let fixed = needs_restart(&running, &new);
            // What changes live is taken; what does not keeps its running value.
            running.token = new.token.clone();
            running.time_zone = new.time_zone;
            running.log = new.log.clone();
            running.workers = new.workers.clone();
            running.topics = new.topics.clone();
            running.subscriptions = new.subscriptions.clone();
            fixed
        };
        if !fixed.is_empty() {
            tracing::warn!(
                settings = %fixed.join(", "),
                "SIGHUP: these settings changed but only take effect after a restart; keeping the running values"
            );
        }
        self.state.set_live(&new);
        if let Err(e) = (self.set_log)(&new.log) {
            tracing::error!(error = %e, "SIGHUP: cannot apply the log filter");
        }
        if let Some(set) = &self.set_workers {
            set(&new.workers);
        }
        match self.registry.declare(new.topics.clone()).await {
            Ok(kept) => {
                for name in kept {
                    tracing::warn!(topic = %name,
                        "SIGHUP: topic no longer in the file but changed through the API since; kept (remove it with DELETE /v1/topics/{name})");
                }
            }
            Err(e) => tracing::error!(error = %e, "SIGHUP: cannot publish the topics of the file"),
        }
        let subscriptions = &self.state.subscriptions.registry;
        match subscriptions.declare(new.subscriptions.clone()).await {
            Ok(kept) => {
                for name in kept {
                    tracing::warn!(subscription = %name,
                        "SIGHUP: subscription no longer in the file but changed through the API since; kept (remove it with DELETE /v1/subscriptions/{name})");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: cannot publish the subscriptions of the file")
            }
        }
        tracing::info!(
            file = %path.display(),
            topics = new.topics.len(),
            subscriptions = new.subscriptions.len(),
            auth = new.token.is_some(),
            log = %new.log,
            "SIGHUP: configuration reloaded"
        );
    }
}

/// The settings that differ between `running` and `new` and cannot change live.
fn needs_restart(running: &GatewayConfig, new: &GatewayConfig) -> Vec<&'static str> {
    let q = (&running.queue, &new.queue);
    [
        ("listen", running.listen != new.listen),
        ("redis", q.0.redis != q.1.redis),
        ("prefix", q.0.prefix != q.1.prefix),
        ("timeout", q.0.timeout != q.1.timeout),
        ("body_limit", q.0.body_limit != q.1.body_limit),
        ("amqp", running.amqp.url != new.amqp.url),
        ("mysql", running.mysql != new.mysql),
        ("[databases]", running.databases != new.databases),
        (
            "workers.xa_interval",
            running.xa_interval != new.xa_interval,
        ),
        ("workers.xa_timeout", running.xa_timeout != new.xa_timeout),
        ("[outbox]", running.outbox != new.outbox),
        ("request_limit", running.request_limit != new.request_limit),
        (
            "shutdown_timeout",
            running.shutdown_timeout != new.shutdown_timeout,
        ),
        (
            "registry_sync_interval",
            running.registry_sync_interval != new.registry_sync_interval,
        ),
        ("[http]", running.http != new.http),
        (
            "log_summary_interval",
            running.log_summary_interval != new.log_summary_interval,
        ),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_needs_a_restart_and_subscriptions_do_not() {
        let base = "[databases]\norder = \"mysql://root@h/o\"\n";
        let running = GatewayConfig::from_toml(base, "a.toml").unwrap();
        let new = GatewayConfig::from_toml(
            &format!(
                "{base}[outbox]\ndatabases = [\"order\"]\n[[subscription]]\nname = \"s\"\nqueue = \"q\"\ncallback = \"http://h/x\"\n"
            ),
            "b.toml",
        )
        .unwrap();
        assert_eq!(needs_restart(&running, &new), ["[outbox]"]);
        assert!(needs_restart(&running, &running).is_empty());
    }
}
