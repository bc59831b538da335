//! The decision log: table `dq_xa` in dq's database. A transaction is committed once its COMMIT
//! row exists; the row's primary key is the transaction id, so the committer and a recoverer
//! that gave up waiting race on one INSERT and exactly one decision wins.
//!
//! Cost: one autocommit INSERT per transaction (one round trip; InnoDB groups the log flushes
//! of concurrent commits). Rows of transactions whose branches all committed are deleted by a
//! later commit of the same process, beside its own branch commits (no extra wait), and by
//! recovery once they are old.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::xid::{Gtrid, LogTag};
use crate::error::{Error, ErrorKind, Result};
use crate::mysql::{MysqlUrl, Pools, connection_lost, describe, ensure_schema, server_code};

/// Duplicate key: another decision for the same transaction is already logged.
const ER_DUP_ENTRY: u16 = 1062;

/// Finished rows deleted by one statement at most.
const DELETE_BATCH: usize = 200;

/// Finished rows wait until there are this many, then one DELETE removes them all.
const TIDY_AT: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Commit,
    Rollback,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Commit => "commit",
            Decision::Rollback => "rollback",
        }
    }

    fn parse(text: &str) -> Option<Decision> {
        match text {
            "commit" => Some(Decision::Commit),
            "rollback" => Some(Decision::Rollback),
            _ => None,
        }
    }
}

/// A decision that could not be logged.
#[derive(Debug)]
pub(crate) struct NotLogged {
    pub error: Error,
    /// The INSERT reached the server, or may have: its outcome is unknown.
    pub maybe_written: bool,
}

/// Where a decision stands after trying to log one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Logged {
    /// This decision is the transaction's.
    Ours(Decision),
    /// Another one was logged first (recovery rolled back, or the committer committed).
    Theirs(Decision),
}

impl Logged {
    pub(crate) fn decision(&self) -> Decision {
        match self {
            Logged::Ours(d) | Logged::Theirs(d) => *d,
        }
    }
}

/// The log at one URL, shared by every transaction of a process (or of the gateway).
pub struct DecisionLog {
    url: MysqlUrl,
    pools: Arc<Pools>,
    timeout: Duration,
    /// Transactions whose branches all committed: their rows can go.
    finished: Mutex<Vec<Gtrid>>,
}

impl DecisionLog {
    pub fn new(url: MysqlUrl, pools: Arc<Pools>, timeout: Duration) -> DecisionLog {
        DecisionLog {
            url,
            pools,
            timeout,
            finished: Mutex::new(Vec::new()),
        }
    }

    pub fn url(&self) -> &MysqlUrl {
        &self.url
    }

    /// The tag in the ids of the transactions this log decides.
    pub(crate) fn tag(&self) -> LogTag {
        LogTag::of(&self.url.server(), self.url.database())
    }

    /// Creates the log's table when missing (once per process); an error when the log cannot
    /// be reached.
    pub(crate) async fn ready(&self) -> Result<()> {
        ensure_schema(&self.pools, &self.url, self.timeout).await
    }

    pub(crate) fn pools(&self) -> &Arc<Pools> {
        &self.pools
    }

    fn failed(&self, what: &str, e: &mysql_async::Error) -> Error {
        let kind = if connection_lost(e) {
            ErrorKind::Connection
        } else {
            ErrorKind::Backend
        };
        Error::new(
            kind,
            format!(
                "the XA decision log at {} {what}: {}",
                self.url,
                describe(e)
            ),
        )
    }

    fn timed_out(&self) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!(
                "the XA decision log at {} did not answer within {:.3} s",
                self.url,
                self.timeout.as_secs_f64()
            ),
        )
    }

    /// Logs `decision` for `id` unless one is logged already, and says which one stands. On
    /// failure, whether the INSERT may have been written all the same (the connection broke or
    /// timed out after sending it) rather than surely not (no connection, or refused).
    pub(crate) async fn decide(
        &self,
        id: &Gtrid,
        decision: Decision,
        branches: &str,
        decided_by: &str,
    ) -> std::result::Result<Logged, NotLogged> {
        let surely = |error| NotLogged {
            error,
            maybe_written: false,
        };
        self.ready().await.map_err(surely)?;
        let mut conn = self
            .pools
            .conn(&self.url, self.timeout)
            .await
            .map_err(surely)?;
        let insert = conn.exec_drop(
            "INSERT INTO dq_xa (id, decision, branches, decided_by) VALUES (?, ?, ?, ?)",
            (id.as_str(), decision.as_str(), branches, decided_by),
        );
        let inserted = match tokio::time::timeout(self.timeout, insert).await {
            Ok(inserted) => inserted,
            Err(_) => {
                self.pools.discard(&self.url);
                return Err(NotLogged {
                    error: self.timed_out(),
                    maybe_written: true,
                });
            }
        };
        match inserted {
            Ok(()) => Ok(Logged::Ours(decision)),
            Err(e) if server_code(&e) == Some(ER_DUP_ENTRY) => {
                match self.read(&mut conn, id).await {
                    Ok(Some(theirs)) => Ok(Logged::Theirs(theirs)),
                    Ok(None) => Err(surely(Error::internal(format!(
                        "the XA decision log at {} refused {id} as a duplicate but has no row for it",
                        self.url
                    )))),
                    Err(error) => Err(NotLogged {
                        error,
                        maybe_written: true,
                    }),
                }
            }
            Err(e) => {
                let lost = connection_lost(&e);
                if lost {
                    self.pools.discard(&self.url);
                }
                Err(NotLogged {
                    error: self.failed("refused the decision", &e),
                    maybe_written: lost,
                })
            }
        }
    }

    /// The logged decision for `id`, if any.
    pub(crate) async fn get(&self, id: &Gtrid) -> Result<Option<Decision>> {
        ensure_schema(&self.pools, &self.url, self.timeout).await?;
        let work = async {
            let mut conn = self.pools.conn(&self.url, self.timeout).await?;
            self.read(&mut conn, id).await
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
    }

    async fn read(&self, conn: &mut mysql_async::Conn, id: &Gtrid) -> Result<Option<Decision>> {
        let row: Option<String> = conn
            .exec_first("SELECT decision FROM dq_xa WHERE id = ?", (id.as_str(),))
            .await
            .map_err(|e| {
                if connection_lost(&e) {
                    self.pools.discard(&self.url);
                }
                self.failed("could not be read", &e)
            })?;
        Ok(row.as_deref().and_then(Decision::parse))
    }

    /// `INSERT` of a decision row, the table named with its database, for a connection of a
    /// branch on the log's server (so the row commits with that branch).
    pub(crate) fn insert_sql(&self) -> String {
        format!(
            "INSERT INTO {}.dq_xa (id, decision, branches, decided_by) VALUES (?, ?, ?, ?)",
            quoted(self.url.database())
        )
    }

    /// The deletion of finished rows: one `DELETE ... WHERE id = '...'` per row, as one
    /// multi-statement text (one round trip). An equality on the primary key locks that row
    /// only, where an `IN (...)` list on a small table may be run as a scan that locks every
    /// row (and deadlocks with concurrent commits). The ids are dq's own (`dq` and hex digits,
    /// checked by `Gtrid`), so writing them into the text is safe.
    pub(crate) fn delete_sql(&self, ids: &[Gtrid]) -> String {
        let table = format!("{}.dq_xa", quoted(self.url.database()));
        ids.iter()
            .map(|id| format!("DELETE FROM {table} WHERE id = '{}'", id.as_str()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Up to a batch of finished transactions whose rows can be deleted now: none until
    /// `TIDY_AT` wait, so one DELETE serves many transactions.
    pub(crate) fn take_finished(&self) -> Vec<Gtrid> {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        if finished.len() < TIDY_AT {
            return Vec::new();
        }
        let take = finished.len().min(DELETE_BATCH);
        finished.drain(..take).collect()
    }

    /// Gives back what `take_finished` took, when deleting it failed.
    pub(crate) fn restore_finished(&self, batch: Vec<Gtrid>) {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        finished.extend(batch);
    }

    /// Remembers that every branch of `id` committed; its row goes with a later `tidy`.
    pub(crate) fn finished(&self, id: Gtrid) {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        finished.push(id);
    }

    /// Deletes the rows of finished transactions. Best effort: a row left behind is harmless
    /// (recovery deletes old ones) and is tried again next time.
    pub(crate) async fn tidy(&self) {
        let batch = self.take_finished();
        if batch.is_empty() {
            return;
        }
        // The decision's connection was just given back: let the pool's recycler take it, so
        // this reuses it rather than opening a second one.
        tokio::task::yield_now().await;
        let sql = format!("START TRANSACTION; {}; COMMIT", self.delete_sql(&batch));
        let work = async {
            let mut conn = self.pools.conn(&self.url, self.timeout).await.ok()?;
            conn.query_drop(sql).await.ok()
        };
        if tokio::time::timeout(self.timeout, work)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            self.restore_finished(batch);
        }
    }

    /// Deletes decision rows older than `age` whose ids are not in `keep` and whose branches all
    /// live on `servers` (those recovery just looked at): no branch of theirs can still be
    /// prepared. Returns how many went.
    pub(crate) async fn forget_old(
        &self,
        age: Duration,
        keep: &[Gtrid],
        servers: &[String],
    ) -> Result<usize> {
        ensure_schema(&self.pools, &self.url, self.timeout).await?;
        let work = async {
            let mut conn = self.pools.conn(&self.url, self.timeout).await?;
            let old: Vec<(String, String)> = conn
                .exec(
                    "SELECT id, branches FROM dq_xa WHERE decided_at < NOW(3) - INTERVAL ? SECOND LIMIT 1000",
                    (age.as_secs(),),
                )
                .await
                .map_err(|e| self.failed("could not be read", &e))?;
            let mut gone = 0;
            for (id, branches) in old {
                let Some(id) = Gtrid::parse(&id) else {
                    continue;
                };
                if keep.contains(&id) || !branches_on(&branches, servers) {
                    continue;
                }
                conn.exec_drop("DELETE FROM dq_xa WHERE id = ?", (id.as_str(),))
                    .await
                    .map_err(|e| self.failed("refused a delete", &e))?;
                gone += 1;
            }
            Ok(gone)
        };
        tokio::time::timeout(self.timeout * 4, work)
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
    }
}

/// An identifier in backticks (database names cannot hold backticks: `check_database_name`).
fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Whether every branch listed in a row's `branches` JSON is on one of `servers`.
fn branches_on(branches: &str, servers: &[String]) -> bool {
    let Ok(serde_json::Value::Array(list)) = serde_json::from_str::<serde_json::Value>(branches)
    else {
        return false;
    };
    list.iter().all(|branch| {
        branch
            .get("server")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|server| servers.iter().any(|s| s == server))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_forgotten_only_when_every_server_was_looked_at() {
        let row = r#"[{"database":"a","server":"h:1"},{"database":"b","server":"h:2"}]"#;
        assert!(branches_on(row, &["h:1".into(), "h:2".into()]));
        assert!(!branches_on(row, &["h:1".into()]));
        assert!(!branches_on("not json", &["h:1".into()]));
    }
}
