//! Recovery: finishes the transactions whose coordinator died (a PHP process, the gateway) or
//! whose server was away when it committed. `XA RECOVER` on each server lists dq's prepared
//! branches; each gets its transaction's logged decision. A branch without one is rolled back
//! once its transaction is older than `older_than`, after logging the rollback first, so that a
//! committer still alive cannot log a commit afterwards. `XAER_NOTA` proves nothing by itself:
//! only the log decides.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::log::{Decision, DecisionLog};
use super::xid::{Gtrid, Prepared, parse_recover, xid_sql};
use super::{Databases, ER_XAER_NOTA};
use crate::error::{Error, ErrorKind, Result, shown};
use crate::mysql::{MysqlUrl, query_text};

/// Decision rows are kept this long after their transaction, at least.
const KEEP_DECISIONS: Duration = Duration::from_secs(3600);

/// What recovery did with one prepared branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Committed,
    RolledBack,
    /// No decision yet and younger than `older_than`: left for a later pass.
    Waiting,
    /// The decision could not be applied now (the server refused or went away): tried again
    /// on the next pass.
    Failed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Committed => "committed",
            Action::RolledBack => "rolled_back",
            Action::Waiting => "waiting",
            Action::Failed => "failed",
        }
    }
}

/// One prepared branch and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub id: Gtrid,
    /// The branch's database name, as the transaction named it.
    pub branch: String,
    /// The server (`host:port`) on which the branch was found.
    pub server: String,
    pub decision: Option<Decision>,
    pub action: Action,
    pub age: Duration,
    pub error: Option<String>,
}

/// A transaction in doubt: prepared branches, and the logged decision if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InDoubt {
    pub id: Gtrid,
    /// Each prepared branch: its database name, and the server (`host:port`) it is on.
    pub branches: Vec<(String, String)>,
    pub decision: Option<Decision>,
    pub age: Duration,
}

/// What one pass of recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Every prepared branch of dq's it found, and what became of it.
    pub resolved: Vec<Resolved>,
    /// The servers (`host:port`) that could not be asked, and why.
    pub unreachable: Vec<(String, Error)>,
}

/// Recovery over a set of databases (their servers, each looked at once).
pub struct Recovery {
    databases: Arc<Databases>,
    log: Arc<DecisionLog>,
    timeout: Duration,
}

struct Found {
    server: String,
    url: MysqlUrl,
    prepared: Prepared,
}

impl Recovery {
    pub fn new(databases: Arc<Databases>, log: Arc<DecisionLog>, timeout: Duration) -> Recovery {
        Recovery {
            databases,
            log,
            timeout,
        }
    }

    /// One URL per server among the databases (XA RECOVER lists a whole server's branches).
    fn servers(&self) -> BTreeMap<String, MysqlUrl> {
        let mut servers = BTreeMap::new();
        for (_, url) in self.databases.iter() {
            servers.entry(url.server()).or_insert_with(|| url.clone());
        }
        servers
    }

    /// dq's prepared branches on every server; a server that cannot be reached is an error
    /// in the list, not a stop.
    async fn scan(&self) -> (Vec<Found>, Vec<(String, Error)>) {
        let mut found = Vec::new();
        let mut unreachable = Vec::new();
        for (server, url) in self.servers() {
            match self.recover_on(&url).await {
                Ok(prepared) => found.extend(prepared.into_iter().map(|prepared| Found {
                    server: server.clone(),
                    url: url.clone(),
                    prepared,
                })),
                Err(e) => unreachable.push((server, e)),
            }
        }
        (found, unreachable)
    }

    async fn recover_on(&self, url: &MysqlUrl) -> Result<Vec<Prepared>> {
        let pools = self.log.pools();
        let mut conn = pools.conn(url, self.timeout).await?;
        match query_text(&mut conn, "XA RECOVER", self.timeout).await {
            Ok(rows) => {
                let ours = self.log.tag();
                Ok(parse_recover(rows)
                    .into_iter()
                    .filter(|p| p.gtrid.log() == ours)
                    .collect())
            }
            Err(failed) => {
                if failed.broke_connection() {
                    pools.discard(url);
                }
                Err(failed.to_error(url).context("XA RECOVER"))
            }
        }
    }

    /// Transactions with prepared branches now, and their logged decisions.
    pub async fn in_doubt(&self) -> Result<Vec<InDoubt>> {
        let (found, mut unreachable) = self.scan().await;
        if found.is_empty() && !unreachable.is_empty() {
            return Err(unreachable.swap_remove(0).1);
        }
        let mut by_id: BTreeMap<Gtrid, InDoubt> = BTreeMap::new();
        for f in found {
            let entry = by_id
                .entry(f.prepared.gtrid.clone())
                .or_insert_with(|| InDoubt {
                    id: f.prepared.gtrid.clone(),
                    branches: Vec::new(),
                    decision: None,
                    age: f.prepared.gtrid.age(),
                });
            entry.branches.push((
                String::from_utf8_lossy(&f.prepared.bqual).into_owned(),
                f.server,
            ));
        }
        for entry in by_id.values_mut() {
            entry.decision = self.log.get(&entry.id).await?;
        }
        Ok(by_id.into_values().collect())
    }

    /// One pass: applies logged decisions, rolls back undecided branches older than
    /// `older_than`, deletes old decision rows no branch needs. Returns every prepared branch
    /// it saw and what it did. Errors only when no server could be asked at all.
    pub async fn run(&self, older_than: Duration) -> Result<Vec<Resolved>> {
        let mut pass = self.pass(older_than).await;
        if pass.resolved.is_empty()
            && pass.unreachable.len() == self.servers().len()
            && let Some((_, e)) = pass.unreachable.pop()
        {
            return Err(e);
        }
        Ok(pass.resolved)
    }

    /// As [`Recovery::run`], and the servers it could not look at (a worker reports them).
    pub async fn pass(&self, older_than: Duration) -> Pass {
        let (found, unreachable) = self.scan().await;
        for (server, e) in &unreachable {
            tracing::warn!(%server, error = %e, "XA recovery could not look at a server");
        }
        let mut resolved = Vec::with_capacity(found.len());
        let mut still_prepared = Vec::new();
        for f in &found {
            let outcome = self.resolve_branch(f, older_than, None).await;
            if outcome.action != Action::Committed && outcome.action != Action::RolledBack {
                still_prepared.push(f.prepared.gtrid.clone());
            }
            resolved.push(outcome);
        }
        if unreachable.is_empty() {
            let servers: Vec<String> = self.servers().into_keys().collect();
            if let Err(e) = self
                .log
                .forget_old(KEEP_DECISIONS, &still_prepared, &servers)
                .await
            {
                tracing::warn!(error = %e, "XA recovery could not delete old decisions");
            }
        }
        Pass {
            resolved,
            unreachable,
        }
    }

    /// An operator's decision for transaction `id`: applied to its prepared branches, after
    /// logging it if none is logged. A different decision already logged is a `Transaction`
    /// error (the log is the truth); `NotFound` when no branch of `id` is prepared.
    pub async fn resolve(&self, id: &Gtrid, decision: Decision) -> Result<Vec<Resolved>> {
        let (found, unreachable) = self.scan().await;
        let mine: Vec<&Found> = found.iter().filter(|f| &f.prepared.gtrid == id).collect();
        if mine.is_empty() {
            if let Some((server, e)) = unreachable.into_iter().next() {
                return Err(e.context(format!("cannot look for {id} on {server}")));
            }
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("XA transaction {id} has no prepared branch on these databases"),
            ));
        }
        let mut resolved = Vec::new();
        for f in mine {
            resolved.push(self.resolve_branch(f, Duration::ZERO, Some(decision)).await);
        }
        if let Some(conflict) = resolved
            .iter()
            .find(|r| r.decision.is_some_and(|d| d != decision))
        {
            return Err(Error::new(
                ErrorKind::Transaction,
                format!(
                    "XA transaction {id}: the logged decision is {}, not {}; it was applied",
                    conflict.decision.map_or("none", Decision::as_str),
                    decision.as_str()
                ),
            ));
        }
        Ok(resolved)
    }

    async fn resolve_branch(
        &self,
        found: &Found,
        older_than: Duration,
        wanted: Option<Decision>,
    ) -> Resolved {
        let id = &found.prepared.gtrid;
        let branch = String::from_utf8_lossy(&found.prepared.bqual).into_owned();
        let mut resolved = Resolved {
            id: id.clone(),
            branch,
            server: found.server.clone(),
            decision: None,
            action: Action::Failed,
            age: id.age(),
            error: None,
        };
        let decision = match self.log.get(id).await {
            Ok(Some(decision)) => decision,
            Ok(None) if resolved.age < older_than && wanted.is_none() => {
                resolved.action = Action::Waiting;
                return resolved;
            }
            Ok(None) => {
                let wanted = wanted.unwrap_or(Decision::Rollback);
                let branches =
                    serde_json::json!([{"database": resolved.branch, "server": found.server}])
                        .to_string();
                match self.log.decide(id, wanted, &branches, &recoverer()).await {
                    Ok(logged) => logged.decision(),
                    Err(not_logged) => {
                        resolved.error = Some(not_logged.error.to_string());
                        return resolved;
                    }
                }
            }
            Err(e) => {
                resolved.error = Some(e.to_string());
                return resolved;
            }
        };
        resolved.decision = Some(decision);
        let xid = xid_sql(id, &found.prepared.bqual);
        let sql = match decision {
            Decision::Commit => format!("XA COMMIT {xid}"),
            Decision::Rollback => format!("XA ROLLBACK {xid}"),
        };
        let pools = self.log.pools();
        let outcome = match pools.conn(&found.url, self.timeout).await {
            Ok(mut conn) => match query_text(&mut conn, &sql, self.timeout).await {
                Ok(_) => Ok(()),
                // XAER_NOTA: finished by another recoverer (or its committer) since XA RECOVER,
                // or still held by a session that has not ended (MariaDB answers NOTA from
                // other sessions then): only gone from XA RECOVER is it done.
                Err(failed) if failed.server_code() == Some(ER_XAER_NOTA) => {
                    let listed = query_text(&mut conn, "XA RECOVER", self.timeout)
                        .await
                        .map(|rows| parse_recover(rows).contains(&found.prepared));
                    match listed {
                        Ok(false) => Ok(()),
                        Ok(true) => Err((
                            None,
                            Error::new(
                                ErrorKind::Backend,
                                format!(
                                    "the branch is still held by a session on {} (its coordinator's connection has not closed yet)",
                                    found.server
                                ),
                            ),
                        )),
                        Err(again) => Err((None, again.to_error(&found.url))),
                    }
                }
                Err(failed) => {
                    if failed.broke_connection() {
                        pools.discard(&found.url);
                    }
                    Err((failed.server_code(), failed.to_error(&found.url)))
                }
            },
            Err(e) => Err((None, e)),
        };
        match outcome {
            Ok(()) => {
                resolved.action = match decision {
                    Decision::Commit => Action::Committed,
                    Decision::Rollback => Action::RolledBack,
                };
                tracing::info!(xa = %id, branch = %resolved.branch, server = %found.server,
                    decision = decision.as_str(), age_s = resolved.age.as_secs(), "XA branch resolved by recovery");
            }
            Err((_, e)) => {
                tracing::warn!(xa = %id, branch = %resolved.branch, server = %found.server,
                    error = %e, "XA recovery could not apply the decision; will try again");
                resolved.error = Some(e.to_string());
            }
        }
        resolved
    }
}

fn recoverer() -> String {
    format!("recovery pid {}", std::process::id())
}

/// `older_than` from seconds given by a caller.
pub fn older_than(seconds: f64) -> Result<Duration> {
    if seconds.is_finite() && (0.0..=86_400.0 * 30.0).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(Error::invalid(format!(
            "older_than {} is invalid: expected seconds from 0 to 2592000 (30 days)",
            shown(&seconds.to_string())
        )))
    }
}
