//! XA transactions across MySQL / MariaDB databases, coordinated from the calling process.
//!
//! - this file: [`Xa`], one global transaction: a branch per database it touches (started on
//!   first use), `commit` (prepare all in parallel, log the decision, commit all in parallel),
//!   `rollback`; [`Databases`], the names a transaction may use.
//! - `xid`: transaction ids and the XA command text.
//! - `log`: [`DecisionLog`], the durable decision (`dq_xa` in dq's database).
//! - `recover`: [`Recovery`], which applies logged decisions to prepared branches found by
//!   `XA RECOVER`, and rolls back those without one once they are old enough.

mod log;
mod recover;
mod xid;

pub use log::{Decision, DecisionLog};
pub use recover::{Action, InDoubt, Pass, Recovery, Resolved, older_than};
pub use xid::{FORMAT_ID, Gtrid};

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use crate::error::{Error, ErrorKind, Result, shown};
use crate::mysql::{Conn, Executed, Failed, MysqlUrl, Rows, SqlValue, Statement, exec, query_text};
use log::{Logged, NotLogged};
use xid::xid_sql;

/// The databases a transaction may write to, by the names the caller uses for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Databases {
    by_name: BTreeMap<String, MysqlUrl>,
}

impl Databases {
    /// Checks each name (1 to 64 of `A-Za-z0-9_.-`) and URL.
    pub fn new<N: AsRef<str>, U: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, U)>,
    ) -> Result<Databases> {
        let mut by_name = BTreeMap::new();
        for (name, url) in pairs {
            let name = name.as_ref();
            check_name(name)?;
            let url = MysqlUrl::parse(&format!("database {}", shown(name)), url.as_ref())?;
            by_name.insert(name.to_string(), url);
        }
        Ok(Databases { by_name })
    }

    pub fn from_urls(by_name: BTreeMap<String, MysqlUrl>) -> Result<Databases> {
        for name in by_name.keys() {
            check_name(name)?;
        }
        Ok(Databases { by_name })
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &MysqlUrl)> {
        self.by_name.iter().map(|(n, u)| (n.as_str(), u))
    }

    /// The URL of `name`, or an error listing the names there are.
    pub fn url(&self, name: &str) -> Result<&MysqlUrl> {
        self.by_name.get(name).ok_or_else(|| {
            let known: Vec<String> = self.by_name.keys().map(|n| shown(n)).collect();
            Error::invalid(format!(
                "unknown database {}: the databases of this transaction are {}",
                shown(name),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }
}

/// A database name: 1 to 64 of `A-Za-z0-9_.-` (it becomes the branch qualifier).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "database name {} is invalid: expected 1 to 64 of A-Z a-z 0-9 _ . -",
            shown(name)
        )))
    }
}

/// A step of `commit`, for a hook that watches them (logs, or a test that crashes there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitStep<'a> {
    /// About to end and prepare the branches.
    Preparing,
    /// This branch is prepared (the others may or may not be yet).
    Prepared(&'a str),
    /// Every branch is prepared; the decision is not logged yet.
    AllPrepared,
    /// The COMMIT decision is logged; no branch is committed yet.
    Decided,
    /// This branch is committed (the others may or may not be yet).
    Committed(&'a str),
}

pub type StepHook = Arc<dyn Fn(CommitStep<'_>) + Send + Sync>;

/// What `commit` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// Branches whose XA COMMIT failed after the decision (their server went away): recovery
    /// commits them; the transaction is committed.
    pub pending: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Active,
    /// A branch lost its connection (so its server rolled it back): commit can only roll back.
    Doomed(String),
    Committed,
    RolledBack,
    /// The outcome is not known here (the decision could not be logged nor read, or `commit`
    /// was dropped midway): recovery finishes the transaction.
    InDoubt,
}

struct Branch {
    name: String,
    url: MysqlUrl,
    /// `None` once the connection broke (the server then rolled the branch back).
    conn: Option<Conn>,
}

/// One global transaction. Dropping it before `commit` rolls it back.
pub struct Xa {
    id: Gtrid,
    databases: Arc<Databases>,
    log: Arc<DecisionLog>,
    timeout: Duration,
    branches: Vec<Branch>,
    state: State,
    hook: Option<StepHook>,
    decided_by: String,
    /// The process that started it (`runtime::process`): a forked child inherits the object
    /// but must not touch its branches, whose connections are its parent's.
    process: u64,
}

impl Xa {
    /// A transaction over `databases`, logging its decision in `log`. Nothing is opened until
    /// the first statement.
    pub fn begin(databases: Arc<Databases>, log: Arc<DecisionLog>, timeout: Duration) -> Xa {
        Xa {
            id: Gtrid::generate(log.tag()),
            databases,
            log,
            timeout,
            branches: Vec::new(),
            state: State::Active,
            hook: None,
            decided_by: decided_by(),
            process: crate::runtime::process(),
        }
    }

    /// Calls `hook` at each step of `commit`.
    pub fn on_step(&mut self, hook: StepHook) {
        self.hook = Some(hook);
    }

    pub fn id(&self) -> &Gtrid {
        &self.id
    }

    /// Whether it still takes statements.
    pub fn is_active(&self) -> bool {
        matches!(self.state, State::Active | State::Doomed(_))
    }

    /// Whether its outcome is left to recovery: `commit` failed after the branches were
    /// prepared and before the outcome was known (the decision log or a server did not answer).
    pub fn is_in_doubt(&self) -> bool {
        self.state == State::InDoubt
    }

    fn step(&self, step: CommitStep<'_>) {
        if let Some(hook) = &self.hook {
            hook(step);
        }
    }

    fn ended(&self) -> Option<Error> {
        if self.process != crate::runtime::process() {
            return Some(transaction(format!(
                "XA transaction {} belongs to the process that started it: a forked child cannot use it (start a new one in the child)",
                self.id
            )));
        }
        let how = match self.state {
            State::Active | State::Doomed(_) => return None,
            State::Committed => "committed",
            State::RolledBack => "rolled back",
            State::InDoubt => "left to recovery",
        };
        Some(transaction(format!(
            "XA transaction {} was already {how}: start a new one",
            self.id
        )))
    }

    /// Runs a statement on `database`'s branch (started with XA START on first use).
    pub async fn execute(
        &mut self,
        database: &str,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Executed> {
        if let Some(e) = self.ended() {
            return Err(e);
        }
        let statement = Statement { sql, params };
        statement.check()?;
        let index = self.branch(database).await?;
        let timeout = self.timeout;
        let branch = &mut self.branches[index];
        let Some(conn) = branch.conn.as_mut() else {
            return Err(transaction(format!(
                "XA transaction {}: the branch on {} lost its connection and was rolled back by its server; roll back and start again",
                self.id,
                shown(database)
            )));
        };
        match exec(conn, statement, timeout).await {
            Ok(done) => Ok(done),
            Err(failed) => {
                let error = failed.to_error(&branch.url);
                if failed.broke_connection() {
                    branch.conn = None;
                    self.log.pools().discard(&branch.url);
                    self.state = State::Doomed(format!(
                        "the branch on {} lost its connection",
                        shown(database)
                    ));
                    return Err(error.context(format!(
                        "XA transaction {} on {}",
                        self.id,
                        shown(database)
                    )));
                }
                if error.kind() != ErrorKind::Backend {
                    return Err(error);
                }
                Err(transaction(format!(
                    "XA transaction {}: the statement on {} failed: {}",
                    self.id,
                    shown(database),
                    error.message()
                )))
            }
        }
    }

    /// Runs a statement and returns its rows (none for a statement without a result set).
    pub async fn query(&mut self, database: &str, sql: &str, params: &[SqlValue]) -> Result<Rows> {
        Ok(self
            .execute(database, sql, params)
            .await?
            .rows
            .unwrap_or_default())
    }

    /// The branch for `database`, started if new.
    async fn branch(&mut self, database: &str) -> Result<usize> {
        if let Some(index) = self.branches.iter().position(|b| b.name == database) {
            return Ok(index);
        }
        let url = self.databases.url(database)?.clone();
        let pools = self.log.pools().clone();
        let start = format!("XA START {}", xid_sql(&self.id, database.as_bytes()));
        // A pooled connection may be dead (server restarted): once, start over on a new one.
        let mut attempt = 0;
        let cannot_start = |e: Error| {
            e.context(format!(
                "XA transaction {}: cannot start the branch on {}",
                self.id,
                shown(database)
            ))
        };
        let conn = loop {
            let mut conn = pools.conn(&url, self.timeout).await.map_err(cannot_start)?;
            match query_text(&mut conn, &start, self.timeout).await {
                Ok(_) => break conn,
                Err(failed) if failed.broke_connection() && attempt == 0 => {
                    pools.discard(&url);
                    attempt += 1;
                }
                Err(failed) => {
                    if failed.broke_connection() {
                        pools.discard(&url);
                    }
                    return Err(failed.to_error(&url).context(format!(
                        "XA transaction {}: cannot start the branch on {}",
                        self.id,
                        shown(database)
                    )));
                }
            }
        };
        self.branches.push(Branch {
            name: database.to_string(),
            url,
            conn: Some(conn),
        });
        Ok(self.branches.len() - 1)
    }

    /// Commits every branch, or none: see the module's doc. Errors with `Transaction` when it
    /// rolled back instead (a branch failed to prepare, or recovery decided first).
    pub async fn commit(&mut self) -> Result<Committed> {
        if let Some(e) = self.ended() {
            return Err(e);
        }
        if let State::Doomed(why) = self.state.clone() {
            self.rollback_branches().await;
            self.state = State::RolledBack;
            return Err(transaction(format!(
                "XA transaction {} rolled back: {why}",
                self.id
            )));
        }
        match self.branches.len() {
            0 => {
                self.state = State::Committed;
                Ok(Committed::default())
            }
            1 => self.commit_one_phase().await,
            _ => self.commit_two_phase().await,
        }
    }

    /// One branch needs no decision log: XA COMMIT ONE PHASE is atomic by itself.
    async fn commit_one_phase(&mut self) -> Result<Committed> {
        let xid = xid_sql(&self.id, self.branches[0].name.as_bytes());
        let timeout = self.timeout;
        let branch = &mut self.branches[0];
        let Some(conn) = branch.conn.as_mut() else {
            self.state = State::RolledBack;
            return Err(transaction(format!(
                "XA transaction {} rolled back: its branch lost its connection",
                self.id
            )));
        };
        // Dropped midway, the connection is closed rather than rolled back (see `Drop`).
        self.state = State::InDoubt;
        // Two statements, one round trip; the second runs only if the first succeeded.
        let outcome = query_text(
            conn,
            &format!("XA END {xid}; XA COMMIT {xid} ONE PHASE"),
            timeout,
        )
        .await;
        match outcome {
            Ok(_) => {
                self.state = State::Committed;
                self.release();
                Self::settle_pools().await;
                Ok(Committed::default())
            }
            Err(failed) if failed.broke_connection() => {
                branch.conn = None;
                self.log.pools().discard(&branch.url);
                self.state = State::InDoubt;
                Err(failed.to_error(&branch.url).context(format!(
                    "XA transaction {}: the connection to {} broke during the one-phase commit, whose outcome is unknown",
                    self.id,
                    shown(&branch.name)
                )))
            }
            Err(failed) => {
                let error = failed.to_error(&branch.url);
                let name = branch.name.clone();
                self.rollback_branches().await;
                self.state = State::RolledBack;
                Err(transaction(format!(
                    "XA transaction {} rolled back: the branch on {} failed to commit: {}",
                    self.id,
                    shown(&name),
                    error.message()
                )))
            }
        }
    }

    async fn commit_two_phase(&mut self) -> Result<Committed> {
        // A log that cannot be reached is found before any branch is prepared (and holds its
        // locks until recovery): the transaction then simply rolls back.
        if let Err(e) = self.log.ready().await {
            self.rollback_branches().await;
            self.state = State::RolledBack;
            return Err(transaction(format!(
                "XA transaction {} rolled back: the decision log cannot be used: {}",
                self.id,
                e.message()
            )));
        }
        self.step(CommitStep::Preparing);
        // A branch on the log's server (same login) carries the decision row itself: its
        // one-phase commit is the decision, so the decision costs no transaction of its own
        // and that branch no prepare.
        let decider = self
            .branches
            .iter()
            .position(|b| b.conn.is_some() && b.url.same_login(self.log.url()));
        let tidied = match decider {
            Some(_) => self.log.take_finished(),
            None => Vec::new(),
        };
        if let Err(e) = self.prepare(decider, &tidied).await {
            self.log.restore_finished(tidied);
            self.rollback_branches().await;
            self.state = State::RolledBack;
            return Err(e);
        }
        self.step(CommitStep::AllPrepared);
        // From here a COMMIT may be logged: dropped midway, the transaction is left to recovery,
        // never rolled back by `Drop`.
        self.state = State::InDoubt;
        let decided = match decider {
            Some(index) => self.decide_in_branch(index).await,
            None => self.decide_in_log().await,
        };
        let decision = match decided {
            Ok(decision) => decision,
            Err(e) => {
                self.log.restore_finished(tidied);
                return Err(e);
            }
        };
        if decision == Decision::Rollback {
            self.log.restore_finished(tidied);
            self.rollback_branches().await;
            self.state = State::RolledBack;
            let why = match decider {
                Some(_) => "the log holds a rollback for it (its deciding commit did not happen)",
                None => {
                    "recovery logged a rollback for it first (it found its branches prepared for longer than its timeout)"
                }
            };
            return Err(transaction(format!(
                "XA transaction {} rolled back: {why}",
                self.id
            )));
        }
        self.step(CommitStep::Decided);
        if let Some(index) = decider {
            self.step(CommitStep::Committed(&self.branches[index].name));
        }
        let pending = self.commit_prepared(decider).await;
        if pending.is_empty() {
            self.log.finished(self.id.clone());
        }
        self.state = State::Committed;
        // A branch whose XA COMMIT failed may still be prepared on its connection: closed, not
        // pooled (`abandon`); the others go back to their pools.
        for branch in &mut self.branches {
            if pending.contains(&branch.name)
                && let Some(conn) = branch.conn.take()
            {
                let _ = conn.disconnect().await;
            }
        }
        self.release();
        Self::settle_pools().await;
        Ok(Committed { pending })
    }

    /// XA END + XA PREPARE on every branch but `decider` (in parallel); the decider instead
    /// writes the COMMIT row (and deletes the `tidied` rows of finished transactions) in its
    /// branch and ends it. The error names the first branch that failed.
    async fn prepare(&mut self, decider: Option<usize>, tidied: &[Gtrid]) -> Result<()> {
        let id = &self.id;
        let timeout = self.timeout;
        let hook = self.hook.as_ref();
        let log: &DecisionLog = &self.log;
        let decided_by = self.decided_by.as_str();
        // The decision row's `branches`, for the decider only.
        let branches = decider.map(|_| branches_json(&self.branches));
        let branches = branches.as_deref().unwrap_or_default();
        let prepares = self.branches.iter_mut().enumerate().map(|(index, branch)| {
            let xid = xid_sql(id, branch.name.as_bytes());
            async move {
                let conn = branch.conn.as_mut()?;
                let outcome = if Some(index) == decider {
                    // Ended with its one-phase commit (`decide_in_branch`).
                    write_decision(conn, log, id, branches, decided_by, tidied, timeout).await
                } else {
                    let prepared =
                        query_text(conn, &format!("XA END {xid}; XA PREPARE {xid}"), timeout).await;
                    if prepared.is_ok()
                        && let Some(hook) = hook
                    {
                        hook(CommitStep::Prepared(&branch.name));
                    }
                    prepared.map(drop)
                };
                outcome.err().map(|failed| {
                    let duplicate = failed.server_code() == Some(ER_DUP_ENTRY);
                    let error = failed.to_error(&branch.url);
                    if failed.broke_connection() {
                        branch.conn = None;
                    }
                    (branch.name.clone(), error, duplicate)
                })
            }
        });
        let failures: Vec<(String, Error, bool)> =
            join_all(prepares).await.into_iter().flatten().collect();
        let Some((name, error, duplicate)) = failures.into_iter().next() else {
            return Ok(());
        };
        if duplicate {
            return Err(transaction(format!(
                "XA transaction {id} rolled back: recovery logged a rollback for it first (it found its branches prepared for longer than its timeout)"
            )));
        }
        Err(transaction(format!(
            "XA transaction {id} rolled back: the branch on {} failed to prepare: {}",
            shown(&name),
            error.message()
        )))
    }

    /// The decision by the decider branch's one-phase commit. When its connection broke on
    /// the way, the log (read on a connection of its own) tells what happened.
    async fn decide_in_branch(&mut self, index: usize) -> Result<Decision> {
        let xid = xid_sql(&self.id, self.branches[index].name.as_bytes());
        let timeout = self.timeout;
        let branch = &mut self.branches[index];
        let Some(conn) = branch.conn.as_mut() else {
            return Err(Error::internal("the deciding branch has no connection"));
        };
        let decide = format!("XA END {xid}; XA COMMIT {xid} ONE PHASE");
        let failed = match query_text(conn, &decide, timeout).await {
            Ok(_) => return Ok(Decision::Commit),
            Err(failed) => failed,
        };
        let error = failed.to_error(&branch.url);
        let name = branch.name.clone();
        if !failed.broke_connection() {
            // Refused (a deadlock rolled the branch back, say): no decision row exists.
            self.rollback_branches().await;
            self.state = State::RolledBack;
            return Err(transaction(format!(
                "XA transaction {} rolled back: the branch on {} failed to commit: {}",
                self.id,
                shown(&name),
                error.message()
            )));
        }
        branch.conn = None;
        self.log.pools().discard(&branch.url);
        // Unknown: the row is there if the commit happened. Absent, a ROLLBACK row settles it
        // (it waits for the branch's lock on the id while the server still finishes it).
        match self.log_decision(Decision::Rollback).await {
            Ok(logged) => Ok(logged.decision()),
            Err(NotLogged {
                error: log_error, ..
            }) => {
                self.state = State::InDoubt;
                self.abandon().await;
                Err(transaction(format!(
                    "XA transaction {} is in doubt: the connection to {} broke during the commit that decides ({}), and the decision log cannot tell ({}); recovery (Dq\\Xa::recover or the gateway's xa worker) will apply whatever the log holds",
                    self.id,
                    shown(&name),
                    error.message(),
                    log_error.message()
                )))
            }
        }
    }

    /// The decision as an INSERT of its own into the log.
    async fn decide_in_log(&mut self) -> Result<Decision> {
        let id = self.id.clone();
        match self.log_decision(Decision::Commit).await {
            Ok(logged) => Ok(logged.decision()),
            Err(NotLogged {
                error,
                maybe_written: false,
            }) => {
                self.rollback_branches().await;
                self.state = State::RolledBack;
                Err(transaction(format!(
                    "XA transaction {id} rolled back: the decision could not be logged: {}",
                    error.message()
                )))
            }
            Err(NotLogged {
                error,
                maybe_written: true,
            }) => {
                self.state = State::InDoubt;
                self.abandon().await;
                Err(transaction(format!(
                    "XA transaction {id} is in doubt: every branch is prepared and the decision log stopped answering while the decision was written ({}); recovery (Dq\\Xa::recover or the gateway's xa worker) will apply whatever the log holds",
                    error.message()
                )))
            }
        }
    }

    /// XA COMMIT on every prepared branch (all but `decider`), in parallel, with the deletion
    /// of finished rows when the log is apart. Returns the branches left to recovery.
    async fn commit_prepared(&mut self, decider: Option<usize>) -> Vec<String> {
        let id = &self.id;
        let timeout = self.timeout;
        let hook = self.hook.as_ref();
        let commits = self.branches.iter_mut().enumerate().map(|(index, branch)| {
            let xid = xid_sql(id, branch.name.as_bytes());
            async move {
                if Some(index) == decider {
                    return None;
                }
                let Some(conn) = branch.conn.as_mut() else {
                    return Some(branch.name.clone());
                };
                match query_text(conn, &format!("XA COMMIT {xid}"), timeout).await {
                    Ok(_) => {
                        if let Some(hook) = hook {
                            hook(CommitStep::Committed(&branch.name));
                        }
                        None
                    }
                    Err(failed) => {
                        tracing::warn!(xa = %id, database = %branch.name, error = %failed.to_error(&branch.url),
                            "XA COMMIT failed after the decision; recovery will commit the branch");
                        if failed.broke_connection() {
                            branch.conn = None;
                        }
                        Some(branch.name.clone())
                    }
                }
            }
        });
        let tidy = async {
            if decider.is_none() {
                self.log.tidy().await;
            }
        };
        let (pending, ()) = futures_util::join!(join_all(commits), tidy);
        pending.into_iter().flatten().collect()
    }

    /// Logs `decision`; when the INSERT's fate is unknown (the connection to the log broke),
    /// reads the log again until it answers or the timeout passes.
    async fn log_decision(&self, decision: Decision) -> std::result::Result<Logged, NotLogged> {
        let branches = branches_json(&self.branches);
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut last = match self
            .log
            .decide(&self.id, decision, &branches, &self.decided_by)
            .await
        {
            Err(unknown) if unknown.maybe_written => unknown,
            done => return done,
        };
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match self.log.get(&self.id).await {
                Ok(Some(found)) => return Ok(Logged::Theirs(found)),
                // Surely not written: this time, written or refused for sure.
                Ok(None) => {
                    return self
                        .log
                        .decide(&self.id, decision, &branches, &self.decided_by)
                        .await;
                }
                Err(e) => last.error = e,
            }
        }
        Err(last)
    }

    /// Rolls back: every branch ends and rolls back (in parallel). Rolling back twice is
    /// harmless; after `commit` it is an error.
    pub async fn rollback(&mut self) -> Result<()> {
        if let Some(e) = self
            .ended()
            .filter(|_| self.process != crate::runtime::process())
        {
            return Err(e);
        }
        match self.state {
            State::RolledBack => return Ok(()),
            State::Committed | State::InDoubt => {
                return Err(self.ended().unwrap_or_else(|| Error::internal("ended")));
            }
            State::Active | State::Doomed(_) => {}
        }
        self.rollback_branches().await;
        self.state = State::RolledBack;
        Ok(())
    }

    /// XA END + XA ROLLBACK on each branch that still has its connection. A branch whose
    /// connection broke needs nothing: its server rolled back an unprepared branch on the
    /// disconnect, and recovery rolls back a prepared one that has no decision.
    async fn rollback_branches(&mut self) {
        let id = &self.id;
        let timeout = self.timeout;
        let rollbacks = self.branches.iter_mut().map(|branch| {
            let xid = xid_sql(id, branch.name.as_bytes());
            async move {
                let Some(conn) = branch.conn.as_mut() else { return };
                // XA END fails harmlessly on a branch already ended or prepared.
                let _ = query_text(conn, &format!("XA END {xid}"), timeout).await;
                if let Err(failed) = query_text(conn, &format!("XA ROLLBACK {xid}"), timeout).await {
                    // XAER_NOTA: the server already rolled it back (a deadlock, a failed prepare).
                    if failed.server_code() != Some(ER_XAER_NOTA) {
                        tracing::warn!(xa = %id, database = %branch.name, error = %failed.to_error(&branch.url),
                            "XA ROLLBACK failed; the branch is rolled back by its server or by recovery");
                        if let Some(conn) = branch.conn.take() {
                            let _ = conn.disconnect().await;
                        }
                    }
                }
            }
        });
        join_all(rollbacks).await;
        self.release();
        Self::settle_pools().await;
    }

    /// Gives the connections back to their pools.
    fn release(&mut self) {
        for branch in &mut self.branches {
            branch.conn = None;
        }
    }

    /// Closes the connections that are left instead of pooling them: a branch prepared on a
    /// connection stays tied to it (MariaDB refuses other statements there, and answers
    /// XAER_NOTA to recovery's XA COMMIT from another one) until the connection closes.
    async fn abandon(&mut self) {
        join_all(abandoned(&mut self.branches)).await;
    }

    /// Lets the pools' recycler take back the released connections before the caller's next
    /// statement, so a PHP worker (whose runtime runs only during its calls) reuses them rather
    /// than opening more.
    async fn settle_pools() {
        tokio::task::yield_now().await;
    }
}

/// The `branches` column of a decision row.
fn branches_json(branches: &[Branch]) -> String {
    serde_json::Value::Array(
        branches
            .iter()
            .map(|b| serde_json::json!({"database": b.name, "server": b.url.server()}))
            .collect(),
    )
    .to_string()
}

/// The COMMIT row and the deletion of finished rows, on the deciding branch's connection.
async fn write_decision(
    conn: &mut Conn,
    log: &DecisionLog,
    id: &Gtrid,
    branches_json: &str,
    decided_by: &str,
    tidied: &[Gtrid],
    timeout: Duration,
) -> std::result::Result<(), Failed> {
    let insert = log.insert_sql();
    let params = [
        SqlValue::Text(id.as_str().to_string()),
        SqlValue::Text(Decision::Commit.as_str().to_string()),
        SqlValue::Text(branches_json.to_string()),
        SqlValue::Text(decided_by.to_string()),
    ];
    exec(
        conn,
        Statement {
            sql: &insert,
            params: &params,
        },
        timeout,
    )
    .await?;
    if !tidied.is_empty() {
        query_text(conn, &log.delete_sql(tidied), timeout).await?;
    }
    Ok(())
}

/// Duplicate key: the decision row exists already (recovery's rollback).
const ER_DUP_ENTRY: u16 = 1062;

/// Disconnects of the branches' connections, taken from them.
fn abandoned(branches: &mut [Branch]) -> Vec<impl Future<Output = ()> + use<>> {
    branches
        .iter_mut()
        .filter_map(|b| b.conn.take())
        .map(|conn| async move {
            let _ = conn.disconnect().await;
        })
        .collect()
}

/// XAER_NOTA: unknown XID.
pub(crate) const ER_XAER_NOTA: u16 = 1397;

impl Drop for Xa {
    /// An unfinished transaction is rolled back: on the caller's runtime when there is one (a
    /// gateway request that was cancelled), else on the process's (PHP, C).
    fn drop(&mut self) {
        if self.process != crate::runtime::process() {
            // Inherited through a fork: the connections are the parent's; leave them be.
            for branch in self.branches.drain(..) {
                std::mem::forget(branch.conn);
            }
            return;
        }
        if self.branches.iter().all(|b| b.conn.is_none()) {
            return;
        }
        if self.state == State::InDoubt {
            // `commit` was dropped midway: its branches' fate is the log's, and recovery's.
            let closing = join_all(abandoned(&mut self.branches));
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => drop(handle.spawn(closing)),
                Err(_) => {
                    let _ = crate::blocking::block_on(async move {
                        closing.await;
                        Ok::<(), Error>(())
                    });
                }
            }
            return;
        }
        if !self.is_active() {
            return;
        }
        let mut orphan = Xa {
            id: self.id.clone(),
            databases: self.databases.clone(),
            log: self.log.clone(),
            timeout: self.timeout,
            branches: std::mem::take(&mut self.branches),
            state: State::Active,
            hook: None,
            decided_by: String::new(),
            process: self.process,
        };
        self.state = State::RolledBack;
        orphan.state = State::Active;
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let _ = orphan.rollback().await;
                });
            }
            Err(_) => {
                let _ = crate::blocking::block_on(async move { orphan.rollback().await });
            }
        }
    }
}

/// A `Transaction` error (PHP `Dq\XaException`).
fn transaction(message: String) -> Error {
    Error::new(ErrorKind::Transaction, message)
}

/// Who logs a decision: host and process, for operators reading `dq_xa`.
fn decided_by() -> String {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let host = HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_string()
    });
    format!("{host} pid {}", std::process::id())
}
