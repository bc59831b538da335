//! The gateway's configuration: a TOML file (the embedded `dq-gateway.toml` by default), then
//! the `DQ_*` environment variables on top.

use std::time::Duration;

use dq_core::amqp::{AmqpConfig, DEFAULT_AMQP};
use dq_core::config::{check_prefix, parse_timeout};
use dq_core::input::{parse_time_zone, system_time_zone};
use dq_core::{QueueConfig, RedisServer, Topic, Tz, WorkerConfig};
use serde::Deserialize;

use crate::server::HttpLimits;

/// The defaults, built into the binary.
pub const EMBEDDED: &str = include_str!("../dq-gateway.toml");

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: String,
    pub queue: QueueConfig,
    pub amqp: AmqpConfig,
    /// `amqp` was set (file or `DQ_AMQP`): `/healthz` checks RabbitMQ from the start.
    pub amqp_configured: bool,
    pub mysql: Option<String>,
    pub token: Option<String>,
    pub time_zone: Tz,
    pub request_limit: usize,
    pub shutdown_timeout: Duration,
    pub registry_sync_interval: Duration,
    /// How often the INFO line of what happened (adds, deliveries, failures, ...) is logged.
    pub log_summary_interval: Duration,
    pub workers: WorkerConfig,
    pub http: HttpLimits,
    /// The log filter (`info`, `dq_gateway=debug,info`); `DQ_LOG` overrides it.
    pub log: String,
    pub topics: Vec<Topic>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    redis: Option<OneOrMany>,
    amqp: Option<String>,
    mysql: Option<String>,
    prefix: Option<String>,
    token: Option<String>,
    timezone: Option<String>,
    timeout: Option<f64>,
    body_limit: Option<usize>,
    request_limit: Option<usize>,
    shutdown_timeout: Option<f64>,
    registry_sync_interval: Option<f64>,
    log: Option<String>,
    log_summary_interval: Option<f64>,
    #[serde(default)]
    workers: WorkersFile,
    #[serde(default)]
    http: HttpFile,
    #[serde(default)]
    topic: Vec<Topic>,
}

/// `[http]`: the HTTP server's limits.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    header_read_timeout: Option<f64>,
    idle_timeout: Option<f64>,
    max_connections: Option<usize>,
    backlog: Option<u32>,
}

/// `[workers]`: how due messages are delivered.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WorkersFile {
    concurrency: Option<usize>,
    topic_concurrency: Option<usize>,
    batch: Option<usize>,
    lease_margin_ms: Option<u64>,
    dead_keep: Option<usize>,
    dead_max_age_days: Option<f64>,
}

impl GatewayConfig {
    /// Reads a TOML config; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<GatewayConfig, String> {
        let file: File = toml::from_str(text).map_err(|e| format!("{source}: {e}"))?;
        let defaults = QueueConfig::default();
        let redis = match file.redis {
            None => defaults.redis.clone(),
            Some(OneOrMany::One(list)) => {
                RedisServer::parse_list(&list).map_err(|e| format!("{source}: redis: {e}"))?
            }
            Some(OneOrMany::Many(urls)) => RedisServer::parse_list(&urls.join(","))
                .map_err(|e| format!("{source}: redis: {e}"))?,
        };
        let prefix = file.prefix.unwrap_or(defaults.prefix);
        check_prefix(&prefix).map_err(|e| format!("{source}: {e}"))?;
        let seconds = |field: &str, value: Option<f64>, default: Duration| match value {
            None => Ok(default),
            Some(v) => parse_timeout(v).map_err(|e| format!("{source}: {field}: {e}")),
        };
        let time_zone = match file.timezone.as_deref() {
            None | Some("") => system_time_zone(),
            Some(name) => parse_time_zone(name).map_err(|e| format!("{source}: {e}"))?,
        };
        let body_limit = file.body_limit.unwrap_or(defaults.body_limit);
        let shutdown_timeout = seconds(
            "shutdown_timeout",
            file.shutdown_timeout,
            Duration::from_secs(10),
        )?;
        let worker_defaults = WorkerConfig::default();
        let positive = |field: &str, value: Option<usize>, default: usize| match value {
            Some(0) => Err(format!("{source}: workers.{field} must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let w = &file.workers;
        let workers = WorkerConfig {
            concurrency: positive("concurrency", w.concurrency, worker_defaults.concurrency)?,
            topic_concurrency: positive(
                "topic_concurrency",
                w.topic_concurrency,
                worker_defaults.topic_concurrency,
            )?,
            batch: positive("batch", w.batch, worker_defaults.batch)?,
            lease_margin: w
                .lease_margin_ms
                .map_or(worker_defaults.lease_margin, Duration::from_millis),
            dead_keep: positive("dead_keep", w.dead_keep, worker_defaults.dead_keep)?,
            dead_max_age: match w.dead_max_age_days {
                Some(days) if days.is_finite() && days > 0.0 => {
                    Duration::from_secs_f64(days * 86_400.0)
                }
                Some(days) => {
                    return Err(format!(
                        "{source}: workers.dead_max_age_days {days} must be above 0"
                    ));
                }
                None => worker_defaults.dead_max_age,
            },
            shutdown_grace: shutdown_timeout,
        };
        let http_defaults = HttpLimits::default();
        let http = HttpLimits {
            header_read_timeout: seconds(
                "http.header_read_timeout",
                file.http.header_read_timeout,
                http_defaults.header_read_timeout,
            )?,
            idle_timeout: seconds(
                "http.idle_timeout",
                file.http.idle_timeout,
                http_defaults.idle_timeout,
            )?,
            max_connections: match file.http.max_connections {
                Some(0) => {
                    return Err(format!("{source}: http.max_connections must be at least 1"));
                }
                other => other,
            },
            backlog: file.http.backlog.unwrap_or(http_defaults.backlog).max(1),
            shutdown_grace: shutdown_timeout,
        };
        let timeout = seconds("timeout", file.timeout, defaults.timeout)?;
        let amqp = AmqpConfig::new(
            file.amqp.as_deref().unwrap_or(DEFAULT_AMQP),
            &prefix,
            timeout,
        )
        .map_err(|e| format!("{source}: amqp: {e}"))?;
        let config = GatewayConfig {
            listen: file.listen.unwrap_or_else(|| "127.0.0.1:8088".to_string()),
            queue: QueueConfig {
                redis,
                prefix,
                timeout,
                body_limit,
            },
            amqp_configured: file.amqp.is_some(),
            amqp,
            mysql: file.mysql.filter(|m| !m.is_empty()),
            token: file.token.filter(|t| !t.is_empty()),
            time_zone,
            request_limit: file
                .request_limit
                .unwrap_or(2 * 1024 * 1024)
                .max(body_limit + 4096),
            shutdown_timeout,
            registry_sync_interval: seconds(
                "registry_sync_interval",
                file.registry_sync_interval,
                Duration::from_secs(5),
            )?,
            log_summary_interval: seconds(
                "log_summary_interval",
                file.log_summary_interval,
                Duration::from_secs(60),
            )?,
            workers,
            http,
            log: match file.log {
                Some(filter) => {
                    check_log_filter(&filter).map_err(|e| format!("{source}: log: {e}"))?;
                    filter
                }
                None => "info".to_string(),
            },
            topics: file.topic,
        };
        for topic in &config.topics {
            topic
                .validate()
                .map_err(|e| format!("{source}: [[topic]] {}: {e}", topic.name))?;
        }
        Ok(config)
    }

    /// The file at `path` (the built-in defaults without one), then the environment as `var`
    /// gives it.
    pub fn load(
        path: Option<&std::path::Path>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<GatewayConfig, String> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                GatewayConfig::from_toml(&text, &path.display().to_string())?
            }
            None => GatewayConfig::from_toml(EMBEDDED, "built-in defaults")?,
        };
        config.apply_env(var)?;
        Ok(config)
    }

    /// Applies `DQ_LISTEN`, `DQ_REDIS`, `DQ_AMQP`, `DQ_MYSQL`, `DQ_PREFIX`, `DQ_TOKEN` as given
    /// by `var` (the process environment in `main`, a map in tests).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(listen) = var("DQ_LISTEN") {
            self.listen = listen;
        }
        if let Some(redis) = var("DQ_REDIS") {
            self.queue.redis =
                RedisServer::parse_list(&redis).map_err(|e| format!("DQ_REDIS: {e}"))?;
        }
        if let Some(amqp) = var("DQ_AMQP") {
            self.amqp = AmqpConfig::new(&amqp, &self.amqp.prefix, self.amqp.timeout)
                .map_err(|e| format!("DQ_AMQP: {e}"))?;
            self.amqp_configured = true;
        }
        if let Some(mysql) = var("DQ_MYSQL") {
            self.mysql = Some(mysql).filter(|m| !m.is_empty());
        }
        if let Some(prefix) = var("DQ_PREFIX") {
            check_prefix(&prefix).map_err(|e| format!("DQ_PREFIX: {e}"))?;
            self.amqp.prefix = prefix.clone();
            self.queue.prefix = prefix;
        }
        if let Some(token) = var("DQ_TOKEN") {
            self.token = Some(token).filter(|t| !t.is_empty());
        }
        if let Some(log) = var("DQ_LOG") {
            check_log_filter(&log).map_err(|e| format!("DQ_LOG: {e}"))?;
            self.log = log;
        }
        Ok(())
    }
}

/// A `tracing` filter such as `info` or `dq_gateway=debug,info`.
fn check_log_filter(filter: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| ())
        .map_err(|e| format!("{filter:?} is not a log filter ({e}): expected e.g. \"info\" or \"dq_gateway=debug,info\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults() {
        let c = GatewayConfig::from_toml(EMBEDDED, "embedded").unwrap();
        assert_eq!(c.listen, "127.0.0.1:8088");
        assert_eq!(c.queue.prefix, "dq");
        assert_eq!(c.queue.redis[0].url, "redis://127.0.0.1:6379/0");
        assert!(c.token.is_none() && c.topics.is_empty());
    }

    #[test]
    fn file_and_environment() {
        let text = r#"
            redis = ["redis://a:1/0", "redis://b:2/0"]
            timezone = "Asia/Shanghai"
            [[topic]]
            name = "pay"
            callback = "http://x.test/pay"
            retry = [1, 3]
        "#;
        let mut c = GatewayConfig::from_toml(text, "f.toml").unwrap();
        assert_eq!(c.queue.redis.len(), 2);
        assert_eq!(c.time_zone, Tz::Asia__Shanghai);
        assert_eq!(c.topics[0].retry, vec![1.0, 3.0]);
        c.apply_env(|k| match k {
            "DQ_PREFIX" => Some("other".into()),
            "DQ_TOKEN" => Some("t0k".into()),
            "DQ_REDIS" => Some("redis://c:3/0".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.queue.prefix, "other");
        assert_eq!(c.token.as_deref(), Some("t0k"));
        assert_eq!(c.queue.redis.len(), 1);
    }

    #[test]
    fn mistakes_are_named() {
        let e = GatewayConfig::from_toml("listn = \"x\"", "f.toml").unwrap_err();
        assert!(e.contains("listn"), "{e}");
        let e = GatewayConfig::from_toml(
            "[[topic]]\nname = \"a b\"\ncallback = \"http://x\"",
            "f.toml",
        )
        .unwrap_err();
        assert!(e.contains("\"a b\""), "{e}");
        let e = GatewayConfig::from_toml("[workers]\nconcurrency = 0", "f.toml").unwrap_err();
        assert!(e.contains("workers.concurrency"), "{e}");
        let e = GatewayConfig::from_toml("timezone = \"Mars/Base\"", "f.toml").unwrap_err();
        assert!(e.contains("Mars/Base"), "{e}");
        let mut c = GatewayConfig::from_toml("", "f").unwrap();
        assert!(
            c.apply_env(|k| (k == "DQ_PREFIX").then(|| "bad prefix".into()))
                .is_err()
        );
    }
}
