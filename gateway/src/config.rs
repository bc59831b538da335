//! The gateway's configuration: a TOML file (the embedded `dq-gateway.toml` by default), then
//! the `DQ_*` environment variables on top.

use std::collections::BTreeMap;
use std::time::Duration;

use dq_core::alert::{AlertConfig, MAX_RECIPIENTS, SmtpUrl, mailbox};
use dq_core::amqp::{AmqpConfig, DEFAULT_AMQP, QueueType};
use dq_core::config::{check_prefix, parse_replicas, parse_timeout};
use dq_core::input::{parse_time_zone, system_time_zone};
use dq_core::mysql::MysqlUrl;
use dq_core::outbox::RelayConfig;
use dq_core::subscription::Subscription;
use dq_core::xa::{Databases, check_name, older_than};
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
    /// dq's own database (`mysql` / `DQ_MYSQL`): the XA decision log.
    pub mysql: Option<MysqlUrl>,
    /// `[databases]`: the application databases an XA transaction may use, by name.
    pub databases: Databases,
    /// How often the `xa` worker looks for prepared branches (`workers.xa_interval`).
    pub xa_interval: Duration,
    /// How old an undecided prepared branch must be before recovery rolls it back
    /// (`workers.xa_timeout`).
    pub xa_timeout: Duration,
    /// `[outbox]`: the databases whose outbox the gateway relays, and how.
    pub outbox: OutboxConfig,
    pub token: Option<String>,
    /// Signs in to a view-only session of the admin UI.
    pub ui_readonly_token: Option<String>,
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
    /// `[[subscription]]`: queues the workers consume and push to HTTP endpoints.
    pub subscriptions: Vec<Subscription>,
    /// `[alerts]`: e-mail alerts, when `smtp` is set.
    pub alerts: Option<AlertConfig>,
}

/// `[outbox]`: the outbox relay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutboxConfig {
    /// Names from `[databases]` whose `dq_outbox` is relayed (and whose `dq_inbox` is tidied).
    pub databases: Vec<String>,
    pub relay: RelayConfig,
    /// An alert when a database's oldest unsent row is older than this.
    pub alert_after: Duration,
    /// Where the alert is POSTed (JSON); without it the alert is a log line and a metric.
    pub alert_webhook: Option<String>,
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
    amqp_queue_type: Option<String>,
    mysql: Option<String>,
    prefix: Option<String>,
    token: Option<String>,
    ui_readonly_token: Option<String>,
    timezone: Option<String>,
    timeout: Option<f64>,
    body_limit: Option<usize>,
    replicas: Option<i64>,
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
    #[serde(default)]
    subscription: Vec<Subscription>,
    databases: Option<BTreeMap<String, String>>,
    #[serde(default)]
    outbox: OutboxFile,
    #[serde(default)]
    alerts: AlertsFile,
}

/// `[alerts]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AlertsFile {
    smtp: Option<String>,
    from: Option<String>,
    to: Option<OneOrMany>,
    alert_interval: Option<f64>,
    timeout: Option<f64>,
    /// A CA certificate file (PEM) for an SMTP server whose certificate a private CA signed.
    ca: Option<String>,
}

/// `[outbox]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OutboxFile {
    databases: Option<Vec<String>>,
    interval: Option<f64>,
    batch: Option<usize>,
    keep_sent: Option<f64>,
    keep_inbox: Option<f64>,
    alert_after: Option<f64>,
    alert_webhook: Option<String>,
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
    xa_interval: Option<f64>,
    xa_timeout: Option<f64>,
}

const XA_INTERVAL: Duration = Duration::from_secs(10);
const XA_TIMEOUT: Duration = Duration::from_secs(60);

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
        let replicas = match file.replicas {
            None => defaults.replicas,
            Some(n) => parse_replicas(n).map_err(|e| format!("{source}: {e}"))?,
        };
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
        let queue_type = match file.amqp_queue_type.as_deref() {
            None => QueueType::Classic,
            Some(t) => QueueType::parse(t).map_err(|e| format!("{source}: {e}"))?,
        };
        let amqp = AmqpConfig::new(
            file.amqp.as_deref().unwrap_or(DEFAULT_AMQP),
            &prefix,
            timeout,
        )
        .map_err(|e| format!("{source}: amqp: {e}"))?
        .with_queue_type(queue_type);
        let xa_interval = match w.xa_interval {
            None => XA_INTERVAL,
            Some(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Duration::from_secs_f64(s),
            Some(s) => {
                return Err(format!(
                    "{source}: workers.xa_interval {s} is invalid: expected seconds above 0 and at most 3600"
                ));
            }
        };
        let xa_timeout = match w.xa_timeout {
            None => XA_TIMEOUT,
            Some(s) => older_than(s).map_err(|_| {
                format!("{source}: workers.xa_timeout {s} is invalid: expected seconds from 0 to 2592000 (30 days)")
            })?,
        };
        let mysql = match file.mysql.as_deref() {
            None | Some("") => None,
            Some(url) => Some(MysqlUrl::parse("mysql", url).map_err(|e| format!("{source}: {e}"))?),
        };
        let databases =
            databases(file.databases.unwrap_or_default()).map_err(|e| format!("{source}: {e}"))?;
        let outbox =
            outbox(file.outbox, &databases, timeout).map_err(|e| format!("{source}: {e}"))?;
        let alerts = alerts(file.alerts).map_err(|e| format!("{source}: {e}"))?;
        let config = GatewayConfig {
            listen: file.listen.unwrap_or_else(|| "127.0.0.1:8088".to_string()),
            queue: QueueConfig {
                redis,
                prefix,
                timeout,
                body_limit,
                replicas,
            },
            amqp_configured: file.amqp.is_some(),
            amqp,
            mysql,
            databases,
            xa_interval,
            xa_timeout,
            outbox,
            token: file.token.filter(|t| !t.is_empty()),
            ui_readonly_token: file.ui_readonly_token.filter(|t| !t.is_empty()),
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
            subscriptions: file.subscription,
            alerts,
        };
        for topic in &config.topics {
            topic
                .validate()
                .map_err(|e| format!("{source}: [[topic]] {}: {e}", topic.name))?;
        }
        for (n, subscription) in config.subscriptions.iter().enumerate() {
            subscription
                .validate()
                .map_err(|e| format!("{source}: [[subscription]] {}: {e}", subscription.name))?;
            if config.subscriptions[..n]
                .iter()
                .any(|s| s.name == subscription.name)
            {
                return Err(format!(
                    "{source}: [[subscription]] {}: the name is used twice",
                    subscription.name
                ));
            }
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
        config.check_xa()?;
        Ok(config)
    }

    /// `[databases]` without `mysql` would be XA without a decision log: refused, unless the
    /// databases are there for the outbox relay (XA is then off).
    pub fn check_xa(&self) -> Result<(), String> {
        if !self.databases.is_empty() && self.mysql.is_none() && self.outbox.databases.is_empty() {
            return Err(
                "[databases] is set but mysql is not: XA transactions over [databases] log their \
                 decisions in dq's own database; set mysql = \"mysql://user:pass@host:port/dq\" \
                 (or DQ_MYSQL), or remove [databases]"
                    .to_string(),
            );
        }
        Ok(())
    }

    /// Applies `DQ_LISTEN`, `DQ_REDIS`, `DQ_REPLICAS`, `DQ_AMQP`, `DQ_MYSQL`, `DQ_PREFIX`, `DQ_TOKEN` as given
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
                .map_err(|e| format!("DQ_AMQP: {e}"))?
                .with_queue_type(self.amqp.queue_type);
            self.amqp_configured = true;
        }
        if let Some(mysql) = var("DQ_MYSQL") {
            self.mysql = match mysql.as_str() {
                "" => None,
                url => Some(MysqlUrl::parse("DQ_MYSQL", url).map_err(|e| e.to_string())?),
            };
        }
        if let Some(prefix) = var("DQ_PREFIX") {
            check_prefix(&prefix).map_err(|e| format!("DQ_PREFIX: {e}"))?;
            self.amqp.prefix = prefix.clone();
            self.queue.prefix = prefix;
        }
        if let Some(queue_type) = var("DQ_AMQP_QUEUE_TYPE") {
            self.amqp.queue_type =
                QueueType::parse(&queue_type).map_err(|e| format!("DQ_AMQP_QUEUE_TYPE: {e}"))?;
        }
        if let Some(replicas) = var("DQ_REPLICAS") {
            self.queue.replicas = replicas
                .trim()
                .parse::<i64>()
                .map_err(|_| {
                    format!(
                        "DQ_REPLICAS: {} is not a number of Redis replicas",
                        dq_core::error::shown(&replicas)
                    )
                })
                .and_then(|n| parse_replicas(n).map_err(|e| format!("DQ_REPLICAS: {e}")))?;
        }
        if let Some(token) = var("DQ_TOKEN") {
            self.token = Some(token).filter(|t| !t.is_empty());
        }
        if let Some(token) = var("DQ_UI_READONLY_TOKEN") {
            self.ui_readonly_token = Some(token).filter(|t| !t.is_empty());
        }
        if let Some(log) = var("DQ_LOG") {
            check_log_filter(&log).map_err(|e| format!("DQ_LOG: {e}"))?;
            self.log = log;
        }
        Ok(())
    }
}

/// `[outbox]`: every database named in `[databases]`, every number in its range.
fn outbox(
    file: OutboxFile,
    databases: &Databases,
    timeout: Duration,
) -> Result<OutboxConfig, String> {
    let defaults = RelayConfig::default();
    let names = file.databases.unwrap_or_default();
    for name in &names {
        if databases.url(name).is_err() {
            let known: Vec<&str> = databases.names().collect();
            return Err(format!(
                "outbox.databases: {name:?} is not in [databases] (which has {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        if names.iter().filter(|n| *n == name).count() > 1 {
            return Err(format!("outbox.databases: {name:?} is named twice"));
        }
    }
    let range = |field: &str, value: Option<f64>, min: f64, max: f64, default: Duration| match value
    {
        None => Ok(default),
        Some(v) if v.is_finite() && v >= min && v <= max => Ok(Duration::from_secs_f64(v)),
        Some(v) => Err(format!(
            "outbox.{field} {v} is invalid: expected seconds from {min} to {max}"
        )),
    };
    let interval = range("interval", file.interval, 0.001, 60.0, defaults.interval)?;
    let batch = match file.batch {
        None => defaults.batch,
        Some(n) if (1..=10_000).contains(&n) => n,
        Some(n) => {
            return Err(format!(
                "outbox.batch {n} is invalid: expected 1 to 10000 rows"
            ));
        }
    };
    const YEAR: f64 = 366.0 * 86_400.0;
    let keep_sent = range("keep_sent", file.keep_sent, 0.0, YEAR, defaults.keep_sent)?;
    let keep_inbox = match file.keep_inbox {
        Some(0.0) => None,
        other => Some(range(
            "keep_inbox",
            other,
            0.0,
            YEAR,
            defaults.keep_inbox.unwrap_or(Duration::ZERO),
        )?),
    };
    let alert_after = range(
        "alert_after",
        file.alert_after,
        1.0,
        YEAR,
        Duration::from_secs(60),
    )?;
    let alert_webhook = match file.alert_webhook.filter(|u| !u.is_empty()) {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url),
        Some(url) => {
            return Err(format!(
                "outbox.alert_webhook {url:?} is invalid: expected an http:// or https:// URL"
            ));
        }
        None => None,
    };
    Ok(OutboxConfig {
        databases: names,
        relay: RelayConfig {
            interval,
            batch,
            keep_sent,
            keep_inbox,
            timeout,
        },
        alert_after,
        alert_webhook,
    })
}

/// `[alerts]`: `None` when it is empty; otherwise `smtp`, `from` and `to` are needed, each
/// address checked, the CA file read.
fn alerts(file: AlertsFile) -> Result<Option<AlertConfig>, String> {
    let to: Vec<String> = match file.to {
        None => Vec::new(),
        Some(OneOrMany::One(list)) => list.split(',').map(str::to_string).collect(),
        Some(OneOrMany::Many(list)) => list,
    };
    let to: Vec<&str> = to
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    let smtp = match file.smtp.as_deref().filter(|s| !s.is_empty()) {
        Some(smtp) => SmtpUrl::parse(smtp).map_err(|e| format!("alerts.{e}"))?,
        None if file.from.is_none() && to.is_empty() => return Ok(None),
        None => {
            return Err(
                "alerts.smtp is missing: alerts are mailed through it; set smtp = \
                 \"smtp://user:pass@host:587\" (or remove [alerts])"
                    .to_string(),
            );
        }
    };
    let from = match file
        .from
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        Some(from) => mailbox("alerts.from", from).map_err(|e| e.to_string())?,
        None => {
            return Err(
                "alerts.from is missing: the sender of alert mails, e.g. from = \
                 \"dq <dq@example.com>\""
                    .to_string(),
            );
        }
    };
    if to.is_empty() {
        return Err(
            "alerts.to is missing: who is mailed the alerts, e.g. to = [\"ops@example.com\"]"
                .to_string(),
        );
    }
    if to.len() > MAX_RECIPIENTS {
        return Err(format!(
            "alerts.to has {} addresses: at most {MAX_RECIPIENTS}",
            to.len()
        ));
    }
    let to = to
        .iter()
        .map(|a| mailbox("alerts.to", a).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let seconds = |field: &str, value: Option<f64>, min: f64, max: f64, default: u64| match value {
        None => Ok(Duration::from_secs(default)),
        Some(v) if v.is_finite() && v >= min && v <= max => Ok(Duration::from_secs_f64(v)),
        Some(v) => Err(format!(
            "alerts.{field} {v} is invalid: expected seconds from {min} to {max}"
        )),
    };
    let ca = match file.ca.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("alerts.ca: cannot read {path:?}: {e}"))?)
        }
    };
    Ok(Some(AlertConfig {
        smtp,
        from,
        to,
        interval: seconds("alert_interval", file.alert_interval, 1.0, 86_400.0, 300)?,
        timeout: seconds("timeout", file.timeout, 1.0, 300.0, 10)?,
        ca,
        source: host_name(),
    }))
}

/// This machine's name, as alert mails sign with it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// `[databases]`: each name checked (it becomes an XA branch qualifier), each URL parsed; an
/// error names the key.
fn databases(table: BTreeMap<String, String>) -> Result<Databases, String> {
    let mut by_name = BTreeMap::new();
    for (name, url) in table {
        check_name(&name).map_err(|e| format!("[databases]: {e}"))?;
        let url = MysqlUrl::parse(&format!("databases.{name}"), &url).map_err(|e| e.to_string())?;
        by_name.insert(name, url);
    }
    Databases::from_urls(by_name).map_err(|e| e.to_string())
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
    fn clusters_replicas_and_quorum_queues() {
        let text = r#"
            redis = "redis+cluster://10.0.0.1:7000,10.0.0.2:7000/?partitions=8"
            replicas = 1
            amqp = "amqp://guest:guest@r1:5672/%2f,amqp://guest:guest@r2:5672/%2f"
            amqp_queue_type = "quorum"
        "#;
        let mut c = GatewayConfig::from_toml(text, "f.toml").unwrap();
        assert_eq!(c.queue.redis[0].cluster().unwrap().partitions, 8);
        assert_eq!(c.queue.replicas, 1);
        assert_eq!(c.amqp.urls.len(), 2);
        assert_eq!(c.amqp.queue_type, QueueType::Quorum);
        // DQ_AMQP keeps the queue type; DQ_REPLICAS and DQ_AMQP_QUEUE_TYPE override.
        c.apply_env(|k| match k {
            "DQ_AMQP" => Some("amqp://guest:guest@r3:5672/%2f".into()),
            "DQ_REPLICAS" => Some("2".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            (c.amqp.urls.len(), c.amqp.queue_type),
            (1, QueueType::Quorum)
        );
        assert_eq!(c.queue.replicas, 2);
        c.apply_env(|k| (k == "DQ_AMQP_QUEUE_TYPE").then(|| "classic".into()))
            .unwrap();
        assert_eq!(c.amqp.queue_type, QueueType::Classic);
        for (bad, says) in [
            ("replicas = -1", "replicas -1"),
            ("replicas = 17", "replicas 17"),
            ("amqp_queue_type = \"stream\"", "amqp_queue_type \"stream\""),
            (
                "redis = \"redis://a:1/0,redis+cluster://b:2\"",
                "must stand alone",
            ),
        ] {
            let e = GatewayConfig::from_toml(bad, "f.toml").unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        for (name, value, says) in [
            ("DQ_REPLICAS", "many", "DQ_REPLICAS: \"many\""),
            (
                "DQ_AMQP_QUEUE_TYPE",
                "lazy",
                "DQ_AMQP_QUEUE_TYPE: amqp_queue_type \"lazy\"",
            ),
        ] {
            let e = c
                .apply_env(|k| (k == name).then(|| value.to_string()))
                .unwrap_err();
            assert!(e.contains(says), "{e}");
        }
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

    #[test]
    fn xa_settings() {
        let text = r#"
            mysql = "mysql://root@127.0.0.1:3306/dq"
            [workers]
            xa_interval = 0.5
            xa_timeout = 0
            [databases]
            order = "mysql://app:secret@db1:3307/db_order"
            "fin.ance" = "mysql://root@127.0.0.1/finance"
        "#;
        let c = GatewayConfig::from_toml(text, "f.toml").unwrap();
        assert_eq!(
            c.databases.names().collect::<Vec<_>>(),
            ["fin.ance", "order"]
        );
        assert_eq!(c.xa_interval, Duration::from_millis(500));
        assert_eq!(c.xa_timeout, Duration::ZERO);
        c.check_xa().unwrap();
        let defaults = GatewayConfig::from_toml(EMBEDDED, "embedded").unwrap();
        assert!(defaults.mysql.is_none() && defaults.databases.is_empty());
        assert_eq!(
            (defaults.xa_interval, defaults.xa_timeout),
            (XA_INTERVAL, XA_TIMEOUT)
        );
    }

    #[test]
    fn xa_mistakes_are_named() {
        let refused = |text: &str, names: &[&str]| {
            let e = GatewayConfig::from_toml(text, "f.toml").unwrap_err();
            for name in names {
                assert!(e.contains(name), "{name} in {e}");
            }
            assert!(!e.contains("secret"), "{e}");
        };
        refused(
            "[databases]\n\"or der\" = \"mysql://h/x\"",
            &["[databases]", "\"or der\""],
        );
        refused(
            "[databases]\norder = \"postgres://u:secret@h/x\"",
            &["databases.order", "scheme"],
        );
        refused(
            "[databases]\norder = \"mysql://u:secret@h\"",
            &["databases.order"],
        );
        refused("[databases]\norder = 3", &["order"]);
        refused(
            "mysql = \"mysql://u:secret@h:1\"",
            &["mysql", "no database"],
        );
        refused("[workers]\nxa_interval = 0", &["workers.xa_interval", "0"]);
        refused("[workers]\nxa_timeout = -1", &["workers.xa_timeout", "-1"]);
        // [databases] without mysql: refused once the environment had its say.
        let file = "[databases]\norder = \"mysql://root@h/x\"";
        let mut c = GatewayConfig::from_toml(file, "f.toml").unwrap();
        let e = c.check_xa().unwrap_err();
        assert!(e.contains("[databases]") && e.contains("mysql"), "{e}");
        c.apply_env(|k| (k == "DQ_MYSQL").then(|| "mysql://root@h/dq".into()))
            .unwrap();
        c.check_xa().unwrap();
        let e = c
            .apply_env(|k| (k == "DQ_MYSQL").then(|| "mysql://u:secret@h".into()))
            .unwrap_err();
        assert!(e.contains("DQ_MYSQL") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn outbox_settings() {
        let c = GatewayConfig::from_toml(
            r#"
            [databases]
            order = "mysql://root@127.0.0.1/db_order"
            [outbox]
            databases = ["order"]
            interval = 0.2
            batch = 1000
            keep_sent = 0
            keep_inbox = 0
            alert_after = 30
            alert_webhook = "http://127.0.0.1:9000/alerts"
            "#,
            "f.toml",
        )
        .unwrap();
        assert_eq!(c.outbox.databases, ["order"]);
        assert_eq!(c.outbox.relay.interval, Duration::from_millis(200));
        assert_eq!(c.outbox.relay.batch, 1000);
        assert_eq!(c.outbox.relay.keep_sent, Duration::ZERO);
        assert_eq!(c.outbox.relay.keep_inbox, None);
        assert_eq!(c.outbox.alert_after, Duration::from_secs(30));
        assert_eq!(
            c.outbox.alert_webhook.as_deref(),
            Some("http://127.0.0.1:9000/alerts")
        );
        // The outbox needs no `mysql`: [databases] for it alone is fine (XA stays off).
        c.check_xa().unwrap();
        let defaults = GatewayConfig::from_toml(EMBEDDED, "built-in").unwrap();
        assert!(defaults.outbox.databases.is_empty());
        assert_eq!(
            defaults.outbox.relay,
            RelayConfig {
                timeout: defaults.queue.timeout,
                ..RelayConfig::default()
            }
        );
    }

    #[test]
    fn alert_settings() {
        assert!(
            GatewayConfig::from_toml("", "f.toml")
                .unwrap()
                .alerts
                .is_none()
        );
        let c = GatewayConfig::from_toml(
            r#"
            [alerts]
            smtp = "smtp://ops:hunter2@mail.example.com:587"
            from = "dq <dq@example.com>"
            to = ["ops@example.com", "Boss <boss@example.com>"]
            alert_interval = 60
            "#,
            "f.toml",
        )
        .unwrap();
        let a = c.alerts.unwrap();
        assert_eq!(
            (a.smtp.host.as_str(), a.smtp.port),
            ("mail.example.com", 587)
        );
        assert_eq!(a.from.email.to_string(), "dq@example.com");
        assert_eq!(a.to.len(), 2);
        assert_eq!(a.interval, Duration::from_secs(60));
        assert_eq!(a.timeout, Duration::from_secs(10));
        let refused = |text: &str, needles: &[&str]| {
            let e = GatewayConfig::from_toml(&format!("[alerts]\n{text}"), "f.toml").unwrap_err();
            for needle in needles {
                assert!(e.contains(needle), "{needle} in {e}");
            }
            assert!(!e.contains("hunter2"), "{e}");
        };
        let ok = "smtp = \"smtp://ops:hunter2@h\"\nfrom = \"dq@x.test\"\n";
        refused("to = [\"a@x.test\"]", &["alerts.smtp is missing"]);
        refused(
            "smtp = \"smtp://ops:hunter2@h\"\nto = [\"a@x.test\"]",
            &["alerts.from is missing"],
        );
        refused(ok, &["alerts.to is missing"]);
        refused(
            &format!("{ok}to = [\"nobody\"]"),
            &["alerts.to \"nobody\" is not an e-mail address"],
        );
        refused(
            "smtp = \"imap://ops:hunter2@h\"\nfrom = \"dq@x.test\"\nto = \"a@x.test\"",
            &["alerts.smtp", "imap"],
        );
        refused(
            &format!("{ok}to = \"a@x.test\"\nalert_interval = 0"),
            &["alerts.alert_interval 0"],
        );
        refused(
            &format!("{ok}to = \"a@x.test\"\nca = \"/nonexistent/ca.pem\""),
            &["alerts.ca", "/nonexistent/ca.pem"],
        );
        refused(
            &format!("{ok}to = \"a@x.test\"\nsmtp_port = 2"),
            &["smtp_port"],
        );
    }

    #[test]
    fn subscriptions() {
        let c = GatewayConfig::from_toml(
            r#"
            [[subscription]]
            name = "credits"
            queue = "transfer.credit"
            exchange = "transfers"
            routing_keys = ["credit.*"]
            callback = "http://127.0.0.1:9000/credit"
            concurrency = 1
            "#,
            "f.toml",
        )
        .unwrap();
        assert_eq!(c.subscriptions.len(), 1);
        assert_eq!(c.subscriptions[0].bindings(), [("transfers", "credit.*")]);
        assert_eq!(c.subscriptions[0].prefetch(), 2);
        let refused = |text: &str, needles: &[&str]| {
            let e = GatewayConfig::from_toml(text, "f.toml").unwrap_err();
            for needle in needles {
                assert!(e.contains(needle), "{needle} in {e}");
            }
        };
        let one = "[[subscription]]\nname = \"a\"\nqueue = \"q\"\ncallback = \"http://h/x\"\n";
        refused(&format!("{one}{one}"), &["[[subscription]] a", "twice"]);
        refused(
            "[[subscription]]\nname = \"a\"\nqueue = \"q\"\ncallback = \"ftp://h\"\n",
            &["[[subscription]] a", "ftp://h"],
        );
        refused(
            "[[subscription]]\nname = \"a\"\nqueue = \"q\"\ncallback = \"http://h\"\nprefech = 3\n",
            &["prefech"],
        );
    }

    #[test]
    fn outbox_mistakes_are_named() {
        let refused = |outbox: &str, names: &[&str]| {
            let text = format!("[databases]\norder = \"mysql://root@h/o\"\n[outbox]\n{outbox}");
            let e = GatewayConfig::from_toml(&text, "f.toml").unwrap_err();
            for name in names {
                assert!(e.contains(name), "{name} in {e}");
            }
        };
        refused(
            "databases = [\"orders\"]",
            &["outbox.databases", "\"orders\"", "order"],
        );
        refused("databases = [\"order\", \"order\"]", &["twice"]);
        refused("interval = 0", &["outbox.interval", "0"]);
        refused("batch = 0", &["outbox.batch"]);
        refused("batch = 20000", &["outbox.batch", "20000"]);
        refused("keep_sent = -1", &["outbox.keep_sent"]);
        refused("alert_after = 0", &["outbox.alert_after"]);
        refused(
            "alert_webhook = \"ftp://x\"",
            &["outbox.alert_webhook", "ftp://x"],
        );
        refused("bach = 3", &["bach"]);
    }
}
