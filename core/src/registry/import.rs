//! php-delayqueue's registry read for `dq-gateway import-delayqueue`: its `dq_topic` rows
//! (`topic`, `callback`, `delay`, `timeout`, `method`, `status`, `email`, `t_name`) as dq topics,
//! each row that cannot be one with the reason, and its `dq_alert` SMTP settings.
//!
//! A row becomes a push topic named by its `topic` column (what its producers add to), with
//! its `callback`, `delay` (seconds), `timeout` (ms) and `method`; `status` 1 is active, any
//! other value paused (its messages wait until it is resumed). The retry ladder is dq's
//! default (php-delayqueue's own is fixed in its code). `email` becomes the topic's
//! `alert_email` (addresses that are not reported beside the topic); `t_name` is reported.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::{Method, Status, Topic};
use crate::error::{Error, ErrorKind, Result};
use crate::mysql::{MysqlUrl, error};

/// What php-delayqueue's database holds, as dq sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DelayQueueImport {
    pub topics: Vec<ImportedTopic>,
    /// Rows that cannot be a topic: `(row id, topic column, why)`.
    pub refused: Vec<(i64, String, String)>,
    /// `dq_alert`'s SMTP settings, as a URL with the password (`smtp://user:pass@host:port`).
    pub smtp: Option<String>,
}

/// A topic made from a row, and what of the row it does not keep.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedTopic {
    pub topic: Topic,
    pub row: i64,
    /// `t_name`, the row's display name.
    pub title: String,
    /// Addresses of the row's `email` that are not e-mail addresses (the others are the
    /// topic's `alert_email`).
    pub bad_email: Vec<String>,
}

/// Reads php-delayqueue's tables in the database of `url`, each statement within `timeout`.
pub async fn read_delayqueue(url: &MysqlUrl, timeout: Duration) -> Result<DelayQueueImport> {
    let work = async {
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from(url.opts(true))).await?;
        let topics: Vec<mysql_async::Row> = conn
            .query(
                "SELECT id, t_name, delay, callback, timeout, email, topic, status, method \
                 FROM dq_topic ORDER BY id",
            )
            .await?;
        let alert: Vec<(String, i64, String, String)> = conn
            .query("SELECT host, port, user, pwd FROM dq_alert ORDER BY id LIMIT 1")
            .await
            .unwrap_or_default();
        let _ = conn.disconnect().await;
        Ok::<_, mysql_async::Error>((topics, alert))
    };
    let (rows, alert) = match tokio::time::timeout(timeout, work).await {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => {
            return Err(error(url, &e).context("reading php-delayqueue's dq_topic"));
        }
        Err(_) => {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "MySQL {url} did not answer within {:.0} s",
                    timeout.as_secs_f64()
                ),
            ));
        }
    };
    let mut import = DelayQueueImport {
        topics: Vec::new(),
        refused: Vec::new(),
        smtp: alert
            .into_iter()
            .find(|(host, _, _, _)| !host.is_empty())
            .map(|(host, port, user, pwd)| smtp_url(&host, port, &user, &pwd)),
    };
    for row in rows {
        let text = |name: &str| -> String {
            row.get_opt::<String, _>(name)
                .and_then(|v| v.ok())
                .unwrap_or_default()
        };
        let number = |name: &str| -> i64 {
            row.get_opt::<i64, _>(name)
                .and_then(|v| v.ok())
                .unwrap_or(0)
        };
        let id = number("id");
        let name = text("topic");
        match topic_of(
            &name,
            &text("callback"),
            number("delay"),
            number("timeout"),
            &text("method"),
            number("status"),
        ) {
            Ok(mut topic) => {
                let (good, bad): (Vec<String>, Vec<String>) =
                    super::topic::split_addresses(&text("email"))
                        .into_iter()
                        .partition(|a| crate::alert::mailbox("email", a).is_ok());
                topic.alert_email = good;
                topic.alert_email.truncate(crate::alert::MAX_RECIPIENTS);
                import.topics.push(ImportedTopic {
                    topic,
                    row: id,
                    title: text("t_name"),
                    bad_email: bad,
                })
            }
            Err(e) => import.refused.push((id, name, e.message().to_string())),
        }
    }
    Ok(import)
}

/// The dq topic of one php-delayqueue row, checked.
fn topic_of(
    name: &str,
    callback: &str,
    delay: i64,
    timeout_ms: i64,
    method: &str,
    status: i64,
) -> Result<Topic> {
    let mut topic = Topic::new(name.trim(), callback.trim());
    topic.delay = delay.max(0) as f64;
    topic.timeout_ms = u64::try_from(timeout_ms).map_err(|_| {
        Error::invalid(format!(
            "timeout {timeout_ms} is out of range: expected 1 to 600000 ms"
        ))
    })?;
    topic.method = match method.trim().to_ascii_uppercase().as_str() {
        "GET" | "" => Method::Get,
        "POST" => Method::Post,
        other => {
            return Err(Error::invalid(format!(
                "method \"{other}\" is not GET or POST"
            )));
        }
    };
    topic.status = if status == 1 {
        Status::Active
    } else {
        Status::Paused
    };
    topic.validate()?;
    Ok(topic)
}

fn smtp_url(host: &str, port: i64, user: &str, password: &str) -> String {
    let port = if port > 0 { port } else { 25 };
    if user.is_empty() {
        return format!("smtp://{host}:{port}");
    }
    format!(
        "smtp://{}:{}@{host}:{port}",
        crate::config::percent_encode(user),
        crate::config::percent_encode(password)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_topics_or_say_why_not() {
        let t = topic_of(
            "order.close",
            "http://shop.test/close",
            1800,
            3000,
            "get",
            1,
        )
        .unwrap();
        assert_eq!(
            (t.delay, t.timeout_ms, t.method, t.status),
            (1800.0, 3000, Method::Get, Status::Active)
        );
        let paused = topic_of("a", "http://x.test/", 0, 3000, "POST", 0).unwrap();
        assert_eq!(
            (paused.method, paused.status),
            (Method::Post, Status::Paused)
        );
        let why = |r: Result<Topic>| r.unwrap_err().message().to_string();
        assert!(
            why(topic_of("bad name", "http://x.test/", 0, 3000, "GET", 1)).contains("bad name")
        );
        assert!(why(topic_of("a", "x.test/cb", 0, 3000, "GET", 1)).contains("x.test/cb"));
        assert!(why(topic_of("a", "http://x.test/", 0, 0, "GET", 1)).contains("timeout_ms 0"));
        assert!(why(topic_of("a", "http://x.test/", 0, 3000, "PUT", 1)).contains("PUT"));
        assert_eq!(smtp_url("mail.test", 0, "", ""), "smtp://mail.test:25");
        assert_eq!(
            smtp_url("mail.test", 587, "a@b", "p:w"),
            "smtp://a%40b:p%3Aw@mail.test:587"
        );
    }
}
