//! The registry of record in MySQL (the gateway's `mysql` set): each kind in its table of dq's
//! database (`dq_registry_topic`, `dq_registry_subscription`; not php-delayqueue's `dq_topic`,
//! which may be in the same database), a row per name holding the entry as Redis holds it
//! (a definition or a tombstone, JSON) and its stamp. A write keeps the newest stamp, as on the
//! Redis shards, so gateways writing at once converge; `sync` reads the table with the shards
//! and writes back whichever side is stale. Every gateway reads the same rows: a definition
//! changed on one is seen by the others at their next sync (at once, through Redis's wake
//! channel, when they share a Redis).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::{Definition, Entry};
use crate::error::{Error, ErrorKind, Result};
use crate::mysql::{MysqlUrl, Pools, ensure_schema, error};

/// Where a registry keeps its record.
#[derive(Clone)]
pub struct Record {
    pools: Arc<Pools>,
    url: MysqlUrl,
    timeout: Duration,
}

impl Record {
    /// The record in dq's database at `url` (created, with its tables, on first use); each
    /// statement within `timeout`.
    pub fn new(url: MysqlUrl, timeout: Duration) -> Record {
        Record {
            pools: Arc::new(Pools::new()),
            url,
            timeout,
        }
    }

    /// Every row of `T`'s table.
    pub(crate) async fn read_all<T: Definition>(&self) -> Result<BTreeMap<String, Entry<T>>> {
        let sql = format!("SELECT name, entry FROM {}", T::TABLE);
        let rows: Vec<(String, String)> = self
            .run(|mut conn| async move {
                let rows = conn.query(sql).await;
                (conn, rows)
            })
            .await?;
        let mut entries = BTreeMap::new();
        for (name, raw) in rows {
            match Entry::decode(&raw) {
                Ok(entry) => {
                    entries.insert(name, entry);
                }
                Err(e) => {
                    tracing::warn!(kind = T::KIND, name = %name, error = %e, "skipping an unreadable row of the registry of record")
                }
            }
        }
        Ok(entries)
    }

    /// Writes `entry` unless the row holds a newer one.
    pub(crate) async fn write<T: Definition>(&self, entry: &Entry<T>) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} (name, entry, updated_at) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE \
               entry = IF(VALUES(updated_at) > updated_at, VALUES(entry), entry), \
               updated_at = GREATEST(updated_at, VALUES(updated_at))",
            T::TABLE
        );
        let params = (
            entry.name().to_string(),
            entry.encode()?,
            entry.updated_at(),
        );
        self.run(|mut conn| async move {
            let done = conn.exec_drop(sql, params).await;
            (conn, done)
        })
        .await
    }

    /// Runs `work` on a pooled connection within the timeout, the tables made first.
    async fn run<R, F, Fut>(&self, work: F) -> Result<R>
    where
        F: FnOnce(mysql_async::Conn) -> Fut,
        Fut: std::future::Future<Output = (mysql_async::Conn, mysql_async::Result<R>)>,
    {
        ensure_schema(&self.pools, &self.url, self.timeout).await?;
        let conn = self.pools.conn(&self.url, self.timeout).await?;
        match tokio::time::timeout(self.timeout, work(conn)).await {
            Ok((_, Ok(value))) => Ok(value),
            Ok((_, Err(e))) => {
                if crate::mysql::connection_lost(&e) {
                    self.pools.discard(&self.url);
                }
                Err(error(&self.url, &e).context("the registry of record"))
            }
            Err(_) => {
                self.pools.discard(&self.url);
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the registry of record: MySQL {} did not answer within {:.3} s",
                        self.url,
                        self.timeout.as_secs_f64()
                    ),
                ))
            }
        }
    }
}
