//! XA transactions against the real MariaDB: semantics, bad input, a crash of the coordinator at
//! every step of commit (a child process killed by SIGKILL at that step), a server restarted
//! between prepare and commit, recovery racing a live committer, and a soak of transfers under
//! random SIGKILLs that must conserve money.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dq_core::mysql::{MysqlUrl, Pools, SqlValue};
use dq_core::xa::{Action, CommitStep, Databases, Decision, DecisionLog, Recovery, Xa};
use dq_core::{BlockingXa, ErrorKind, XaOptions};
use dq_testkit::mysql::{PrivateMariadb, TestDatabases, mysql};

const ACCOUNTS: &str =
    "CREATE TABLE account (id INT PRIMARY KEY, money BIGINT NOT NULL) ENGINE=InnoDB;
    CREATE TABLE transfer (id VARCHAR(64) PRIMARY KEY, amount INT NOT NULL) ENGINE=InnoDB;
    INSERT INTO account VALUES (1, 1000), (2, 1000), (3, 1000)";

/// Three databases with accounts and a log database, all of the test's own.
struct Bank {
    dbs: TestDatabases,
    /// The log reached as `localhost` while the branches are on `127.0.0.1`: another login, so
    /// the decision is an INSERT of its own rather than a row in a branch.
    log_apart: bool,
}

impl Bank {
    fn new() -> Bank {
        let dbs = TestDatabases::new(&["a", "b", "c", "log"]);
        for suffix in ["a", "b", "c"] {
            dbs.sql(suffix, ACCOUNTS);
        }
        Bank {
            dbs,
            log_apart: false,
        }
    }

    fn with_log_apart() -> Bank {
        Bank {
            log_apart: true,
            ..Bank::new()
        }
    }

    /// This test binary running only the test `name` (a child's side of a test), with this
    /// bank's databases and log, which the child takes back with `of_parent`.
    fn child(&self, name: &str) -> std::process::Command {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env("DQ_TEST_BANK", &self.dbs.prefix)
            .env("DQ_TEST_LOG_APART", if self.log_apart { "1" } else { "" });
        command
    }

    /// In a child started by `child`, the parent's bank (not dropped here); `None` when this
    /// process is no such child.
    fn of_parent() -> Option<Bank> {
        let prefix = std::env::var("DQ_TEST_BANK").ok()?;
        Some(Bank {
            dbs: TestDatabases::adopt(&prefix),
            log_apart: std::env::var("DQ_TEST_LOG_APART").is_ok_and(|v| v == "1"),
        })
    }

    fn log_url(&self) -> String {
        let url = self.dbs.url("log");
        if self.log_apart {
            url.replace("127.0.0.1", "localhost")
        } else {
            url
        }
    }

    /// Branch names are the databases' own (unique) names, so XA RECOVER's rows are this test's.
    fn name(&self, suffix: &str) -> String {
        self.dbs.name(suffix)
    }

    fn databases(&self) -> Databases {
        Databases::new(["a", "b", "c"].map(|s| (self.name(s), self.dbs.url(s)))).unwrap()
    }

    fn options(&self) -> XaOptions {
        XaOptions {
            log: MysqlUrl::parse("log", &self.log_url()).unwrap(),
            timeout: Duration::from_secs(3),
        }
    }

    fn begin(&self) -> BlockingXa {
        BlockingXa::begin(self.databases(), &self.options())
    }

    fn money(&self, suffix: &str, account: u32) -> i64 {
        self.dbs
            .sql(
                suffix,
                &format!("SELECT money FROM account WHERE id = {account}"),
            )
            .trim()
            .parse()
            .unwrap()
    }

    fn transfers(&self, suffix: &str) -> Vec<String> {
        self.dbs
            .sql(suffix, "SELECT id FROM transfer ORDER BY id")
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn prepared(&self) -> Vec<String> {
        let names = [self.name("a"), self.name("b"), self.name("c")];
        self.dbs
            .prepared(&names.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn decisions(&self) -> String {
        let sql = "SELECT id, decision FROM dq_xa";
        dq_testkit::mysql::try_mysql(self.dbs.port, Some(&self.dbs.name("log")), sql)
            .unwrap_or_default()
    }

    /// Moves `amount` from account 1 of a to account 1 of b and c (half each) and records
    /// the transfer in all three.
    fn transfer(&self, xa: &mut BlockingXa, id: &str, amount: i64) {
        let (a, b, c) = (self.name("a"), self.name("b"), self.name("c"));
        let n = xa
            .execute(
                &a,
                "UPDATE account SET money = money - ? WHERE id = 1",
                &[SqlValue::Int(amount)],
            )
            .unwrap();
        assert_eq!(n.affected_rows, 1);
        for db in [&b, &c] {
            xa.execute(
                db,
                "UPDATE account SET money = money + ? WHERE id = 1",
                &[SqlValue::Int(amount / 2)],
            )
            .unwrap();
        }
        for db in [&a, &b, &c] {
            xa.execute(
                db,
                "INSERT INTO transfer VALUES (?, ?)",
                &[SqlValue::Text(id.into()), SqlValue::Int(amount)],
            )
            .unwrap();
        }
    }

    fn recover(&self, older_than: Duration) -> Vec<dq_core::xa::Resolved> {
        BlockingXa::recover(self.databases(), &self.options(), older_than).unwrap()
    }
}

#[test]
fn commit_writes_every_branch_and_leaves_nothing_prepared() {
    let bank = Bank::new();
    let mut xa = bank.begin();
    bank.transfer(&mut xa, "t1", 100);
    let id = xa.id().to_string();
    let committed = xa.commit().unwrap();
    assert!(committed.pending.is_empty());
    assert_eq!(bank.money("a", 1), 900);
    assert_eq!(bank.money("b", 1), 1050);
    assert_eq!(bank.money("c", 1), 1050);
    assert!(bank.prepared().is_empty());
    assert!(
        bank.decisions().contains(&id),
        "the decision was logged: {}",
        bank.decisions()
    );
    // Later transactions of the process delete the finished ones' decisions, 32 at a time.
    for n in 0..32 {
        let mut next = bank.begin();
        bank.transfer(&mut next, &format!("later{n}"), 2);
        next.commit().unwrap();
    }
    assert!(!bank.decisions().contains(&id), "{}", bank.decisions());
    // Used after commit: a clear error.
    let e = xa.execute(&bank.name("a"), "SELECT 1", &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transaction);
    assert!(e.message().contains("already committed"), "{e}");
    assert_eq!(xa.commit().unwrap_err().kind(), ErrorKind::Transaction);
    assert_eq!(xa.rollback().unwrap_err().kind(), ErrorKind::Transaction);
}

#[test]
fn rollback_and_drop_leave_every_database_as_it_was() {
    let bank = Bank::new();
    let mut xa = bank.begin();
    bank.transfer(&mut xa, "t1", 100);
    xa.rollback().unwrap();
    xa.rollback().unwrap();
    let mut dropped = bank.begin();
    bank.transfer(&mut dropped, "t2", 100);
    drop(dropped);
    for db in ["a", "b", "c"] {
        assert_eq!(bank.money(db, 1), 1000);
        assert!(bank.transfers(db).is_empty());
    }
    assert!(bank.prepared().is_empty());
    assert_eq!(xa.commit().unwrap_err().kind(), ErrorKind::Transaction);
}

#[test]
fn one_branch_commits_in_one_phase_without_a_decision() {
    let bank = Bank::new();
    let mut xa = bank.begin();
    xa.execute(
        &bank.name("a"),
        "UPDATE account SET money = 7 WHERE id = 2",
        &[],
    )
    .unwrap();
    xa.commit().unwrap();
    assert_eq!(bank.money("a", 2), 7);
    assert_eq!(bank.decisions().trim(), "");
}

#[test]
fn a_failing_statement_is_a_transaction_error_naming_the_database() {
    let bank = Bank::new();
    let mut xa = bank.begin();
    let a = bank.name("a");
    xa.execute(&a, "INSERT INTO transfer VALUES ('dup', 1)", &[])
        .unwrap();
    let e = xa
        .execute(&a, "INSERT INTO transfer VALUES ('dup', 1)", &[])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transaction);
    assert!(
        e.message().contains(&a) && e.message().contains("1062"),
        "{e}"
    );
    let e = xa.execute(&a, "SELEKT 1", &[]).unwrap_err();
    assert!(e.message().contains("1064"), "{e}");
    xa.rollback().unwrap();
    assert!(bank.transfers("a").is_empty());
}

#[test]
fn a_branch_that_loses_its_connection_rolls_everything_back_at_commit() {
    let bank = Bank::new();
    let mut xa = bank.begin();
    bank.transfer(&mut xa, "t1", 100);
    let rows = xa
        .query(&bank.name("b"), "SELECT CONNECTION_ID() AS id", &[])
        .unwrap();
    let SqlValue::Int(connection) = rows.rows[0][0] else {
        panic!("{rows:?}")
    };
    mysql(3306, None, &format!("KILL {connection}"));
    let e = xa.commit().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transaction, "{e}");
    assert!(
        e.message().contains("rolled back") && e.message().contains(&bank.name("b")),
        "{e}"
    );
    for db in ["a", "b", "c"] {
        assert_eq!(bank.money(db, 1), 1000, "{db}");
    }
    assert!(bank.prepared().is_empty());
}

#[test]
fn values_keep_their_types_and_injection_is_stored_as_text() {
    let bank = Bank::new();
    let a = bank.name("a");
    bank.dbs.sql(
        "a",
        "CREATE TABLE typed (id INT PRIMARY KEY, big BIGINT UNSIGNED, f FLOAT, d DOUBLE, dec_ DECIMAL(10,2),
         s VARCHAR(100), bin VARBINARY(10), n INT NULL, dt DATETIME(3), day DATE, t TIME) ENGINE=InnoDB",
    );
    let mut xa = bank.begin();
    let evil = "x'); DROP TABLE account; --";
    xa.execute(
        &a,
        "INSERT INTO typed VALUES (?, 18446744073709551615, 0.1, ?, ?, ?, ?, ?, '2026-01-02 03:04:05.678', '2026-01-02', '-27:00:01')",
        &[
            SqlValue::Int(1),
            SqlValue::Float(2.5),
            SqlValue::Text("12.30".into()),
            SqlValue::Text(evil.into()),
            SqlValue::Bytes(vec![0, 159, 255]),
            SqlValue::Null,
        ],
    )
    .unwrap();
    let rows = xa
        .query(
            &a,
            "SELECT * FROM typed WHERE s = ?",
            &[SqlValue::Text(evil.into())],
        )
        .unwrap();
    xa.commit().unwrap();
    assert_eq!(rows.columns[0], "id");
    assert_eq!(
        rows.rows[0],
        vec![
            SqlValue::Int(1),
            SqlValue::Text("18446744073709551615".into()),
            SqlValue::Float(0.1),
            SqlValue::Float(2.5),
            SqlValue::Text("12.30".into()),
            SqlValue::Text(evil.into()),
            SqlValue::Bytes(vec![0, 159, 255]),
            SqlValue::Null,
            SqlValue::Text("2026-01-02 03:04:05.678".into()),
            SqlValue::Text("2026-01-02".into()),
            SqlValue::Text("-27:00:01".into()),
        ]
    );
    assert_eq!(
        bank.dbs.sql("a", "SELECT COUNT(*) FROM account").trim(),
        "3"
    );
}

/// A statement that returns rows counts them, rather than repeating the counts of the
/// connection's previous statement.
#[test]
fn a_result_set_counts_its_rows() {
    let bank = Bank::new();
    let a = bank.name("a");
    let mut xa = bank.begin();
    let inserted = xa
        .execute(
            &a,
            "INSERT INTO transfer VALUES ('t1', 1), ('t2', 2), ('t3', 3)",
            &[],
        )
        .unwrap();
    assert_eq!(inserted.affected_rows, 3);
    let selected = xa
        .execute(
            &a,
            "SELECT id FROM account WHERE id < ?",
            &[SqlValue::Int(3)],
        )
        .unwrap();
    assert_eq!(selected.rows.as_ref().map(|r| r.rows.len()), Some(2));
    assert_eq!((selected.affected_rows, selected.last_insert_id), (2, None));
    let empty = xa
        .execute(&a, "SELECT id FROM account WHERE id > 100", &[])
        .unwrap();
    assert_eq!((empty.affected_rows, empty.last_insert_id), (0, None));
    xa.rollback().unwrap();
}

#[test]
fn bad_input_is_refused_with_the_value_named() {
    let bank = Bank::new();
    let e = Databases::new([("or der", "mysql://root@127.0.0.1/x")]).unwrap_err();
    assert!(e.message().contains("\"or der\""), "{e}");
    let e = Databases::new([("order", "mysql://root:pw@127.0.0.1")]).unwrap_err();
    assert!(
        e.message().contains("no database") && !e.message().contains("pw"),
        "{e}"
    );
    let mut xa = bank.begin();
    let e = xa.execute("nope", "SELECT 1", &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("unknown database \"nope\""), "{e}");
    let a = bank.name("a");
    let e = xa.execute(&a, "SELECT ?", &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("1 placeholder"), "{e}");
    let e = xa.execute(&a, "SELECT 1", &[SqlValue::Int(1)]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let huge = SqlValue::Bytes(vec![b'x'; dq_core::mysql::MAX_PARAM_BYTES + 1]);
    let e = xa.execute(&a, "SELECT ?", &[huge]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PayloadTooLarge);
    assert!(e.message().contains("parameter 1"), "{e}");
    let e = xa.execute(&a, "  ", &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    // The transaction is still usable after refused input.
    xa.execute(&a, "UPDATE account SET money = 1 WHERE id = 3", &[])
        .unwrap();
    xa.commit().unwrap();
    assert_eq!(bank.money("a", 3), 1);
}

#[test]
fn a_server_that_is_not_there_fails_fast_with_a_connection_error() {
    let port = dq_testkit::free_port();
    let databases = Databases::new([("gone", format!("mysql://root@127.0.0.1:{port}/x"))]).unwrap();
    let options = XaOptions {
        log: MysqlUrl::parse("log", &format!("mysql://root@127.0.0.1:{port}/dq")).unwrap(),
        timeout: Duration::from_secs(2),
    };
    let mut xa = BlockingXa::begin(databases, &options);
    let started = Instant::now();
    let e = xa.execute("gone", "SELECT 1", &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.message().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// An async caller whose `commit` is dropped after the COMMIT decision was logged (a cancelled
/// HTTP request; here a panic at that step): the branches stay prepared for recovery to commit,
/// they are not rolled back against the log.
#[test]
fn a_commit_dropped_after_its_decision_is_committed_by_recovery() {
    let bank = Bank::with_log_apart();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let databases = Arc::new(bank.databases());
    let log = Arc::new(DecisionLog::new(
        bank.options().log,
        Arc::new(Pools::new()),
        Duration::from_secs(3),
    ));
    let (a, b) = (bank.name("a"), bank.name("b"));
    let task = runtime.spawn(async move {
        let mut xa = Xa::begin(databases, log, Duration::from_secs(3));
        let sql = "UPDATE account SET money = money + ? WHERE id = 1";
        xa.execute(&a, sql, &[SqlValue::Int(-100)]).await.unwrap();
        xa.execute(&b, sql, &[SqlValue::Int(100)]).await.unwrap();
        xa.on_step(Arc::new(|step: CommitStep<'_>| {
            assert_ne!(step, CommitStep::Decided, "the commit is dropped here");
        }));
        let _ = xa.commit().await;
    });
    assert!(runtime.block_on(task).unwrap_err().is_panic());
    assert_eq!(bank.prepared().len(), 2, "both branches are left prepared");
    let done = bank.recover(Duration::from_secs(60));
    assert!(
        done.iter().all(|r| r.action == Action::Committed),
        "{done:?}"
    );
    assert_eq!((bank.money("a", 1), bank.money("b", 1)), (900, 1100));
    assert!(bank.prepared().is_empty());
}

/// The decision log stops answering while the decision is written: `commit` reports the
/// transaction in doubt, its prepared branches are let go with their connections (not pooled,
/// where they would refuse the next transaction's XA START and hide from recovery), and the
/// next transaction works.
#[test]
fn a_transaction_left_in_doubt_does_not_poison_the_pool() {
    let bank = Bank::new();
    let log_server = Arc::new(PrivateMariadb::start());
    let dead_log = XaOptions {
        log: MysqlUrl::parse("log", &log_server.url("dq")).unwrap(),
        timeout: Duration::from_secs(1),
    };
    // A first transaction opens the pooled connection to the log, which then freezes.
    let mut warm = BlockingXa::begin(bank.databases(), &dead_log);
    bank.transfer(&mut warm, "warm", 2);
    warm.commit().unwrap();
    let mut xa = BlockingXa::begin(bank.databases(), &dead_log);
    bank.transfer(&mut xa, "doubt", 100);
    let frozen = Arc::new(std::sync::Mutex::new(None));
    let (server, guard) = (log_server.clone(), frozen.clone());
    xa.on_step(Arc::new(move |step: CommitStep<'_>| {
        if step == CommitStep::AllPrepared {
            *guard.lock().unwrap() = Some(server.freeze());
        }
    }));
    let e = xa.commit().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transaction, "{e}");
    assert!(e.message().contains("in doubt"), "{e}");
    let prepared = bank.prepared();
    assert_eq!(prepared.len(), 3, "{prepared:?}");
    // The same process's next transaction on those databases (rows the first one does not
    // lock), through the same pools.
    let mut next = BlockingXa::begin(bank.databases(), &dead_log);
    for db in ["a", "b"] {
        next.execute(
            &bank.name(db),
            "UPDATE account SET money = 5 WHERE id = 2",
            &[],
        )
        .unwrap();
    }
    next.rollback().unwrap();
    // Nothing holds the branches any more: another session can finish them.
    for data in prepared {
        let (gtrid, bqual) = data.split_at(38);
        mysql(
            bank.dbs.port,
            None,
            &format!("XA ROLLBACK '{gtrid}','{bqual}',{}", dq_core::xa::FORMAT_ID),
        );
    }
    assert!(bank.prepared().is_empty());
    drop(frozen.lock().unwrap().take());
}

/// Runs the transfer in a child process that SIGKILLs itself at `step`; returns the id.
fn crash_at(bank: &Bank, step: &str) -> String {
    let out = bank
        .child("xa::crash_child")
        .env("DQ_TEST_CRASH_AT", step)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9),
        "the child was killed at {step}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split_once("xa id ").map(|(_, id)| id.trim()))
        .expect("the child printed its id")
        .to_string()
}

/// The crashing side of `crash_at` (does nothing when run as a test of its own).
#[test]
fn crash_child() {
    let (Ok(step), Some(bank)) = (std::env::var("DQ_TEST_CRASH_AT"), Bank::of_parent()) else {
        return;
    };
    let mut xa = bank.begin();
    println!("xa id {}", xa.id());
    let wanted = step.clone();
    let first = std::sync::atomic::AtomicBool::new(true);
    xa.on_step(Arc::new(move |at: CommitStep<'_>| {
        let name = match at {
            CommitStep::Preparing => "preparing",
            CommitStep::Prepared(_) => "prepared_one",
            CommitStep::AllPrepared => "all_prepared",
            CommitStep::Decided => "decided",
            CommitStep::Committed(_) => "committed_one",
        };
        if name == wanted && first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            // SAFETY: kill(2) on this process.
            unsafe { libc_kill() };
        }
    }));
    bank.transfer(&mut xa, "crashed", 100);
    let _ = xa.commit();
    panic!("the child was to be killed at {step}");
}

unsafe fn libc_kill() {
    unsafe extern "C" {
        fn getpid() -> i32;
        fn kill(pid: i32, sig: i32) -> i32;
    }
    unsafe {
        kill(getpid(), 9);
    }
}

#[test]
fn a_coordinator_killed_at_any_step_ends_all_or_nothing_after_recovery() {
    coordinator_killed_at_any_step(Bank::new);
}

#[test]
fn a_coordinator_killed_at_any_step_with_the_log_apart_ends_all_or_nothing() {
    coordinator_killed_at_any_step(Bank::with_log_apart);
}

/// With the log on the branches' server, the first branch carries the decision row and commits
/// in one phase (it is never prepared); with the log apart, every branch is prepared and the
/// decision is an INSERT of its own.
fn coordinator_killed_at_any_step(bank: fn() -> Bank) {
    for (step, committed) in [
        ("preparing", false),
        ("prepared_one", false),
        ("all_prepared", false),
        ("decided", true),
        ("committed_one", true),
    ] {
        let bank = bank();
        let all = if bank.log_apart { 3 } else { 2 };
        let id = crash_at(&bank, step);
        // The window was hit: what the servers and the log hold right after the kill.
        let prepared = bank.prepared().len();
        let logged = bank.decisions();
        match step {
            "preparing" => assert_eq!(prepared, 0, "{step}"),
            "prepared_one" => assert!((1..=all).contains(&prepared), "{step}: {prepared}"),
            "all_prepared" => {
                assert_eq!(prepared, all, "{step}");
                assert!(!logged.contains(&id), "{step}: {logged}");
            }
            "decided" => {
                assert_eq!(prepared, all, "{step}");
                assert!(
                    logged.contains(&format!("{id}\tcommit")),
                    "{step}: {logged}"
                );
            }
            // The first committed branch is the decider (logged in its branch) or a prepared one.
            _ => assert!(prepared < 3, "{step}: {prepared}"),
        }
        // Recovery with the default age leaves a young undecided transaction alone...
        if !committed && prepared > 0 {
            let waiting = bank.recover(Duration::from_secs(60));
            assert!(
                waiting.iter().all(|r| r.action == Action::Waiting),
                "{step}: {waiting:?}"
            );
        }
        // ...and finishes everything once it may.
        let done = bank.recover(Duration::ZERO);
        assert!(
            done.iter().all(|r| r.action != Action::Failed),
            "{step}: {done:?}"
        );
        assert!(bank.prepared().is_empty(), "{step}");
        let expected = if committed { (900, 1050) } else { (1000, 1000) };
        assert_eq!(bank.money("a", 1), expected.0, "{step}");
        assert_eq!(bank.money("b", 1), expected.1, "{step}");
        assert_eq!(bank.money("c", 1), expected.1, "{step}");
        let n = usize::from(committed);
        for db in ["a", "b", "c"] {
            assert_eq!(bank.transfers(db).len(), n, "{step} {db}");
        }
    }
}

/// With the log apart, every branch is prepared before the decision: recovery that gives up on
/// the transaction in that window logs a rollback, and the committer, coming late, rolls back.
#[test]
fn recovery_that_gives_up_first_wins_over_a_late_committer() {
    let bank = Bank::with_log_apart();
    let mut xa = bank.begin();
    bank.transfer(&mut xa, "late", 100);
    let databases = Arc::new(bank.databases());
    let log = bank.options().log;
    xa.on_step(Arc::new(move |step: CommitStep<'_>| {
        if step != CommitStep::AllPrepared {
            return;
        }
        // Another process's recovery, on its own runtime and connections.
        let databases = databases.clone();
        let log = log.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let log = Arc::new(DecisionLog::new(
                    log,
                    Arc::new(Pools::new()),
                    Duration::from_secs(3),
                ));
                let recovery = Recovery::new(databases, log, Duration::from_secs(3));
                let done = recovery.run(Duration::ZERO).await.unwrap();
                // It logs the rollback; the branches are still the committer's sessions' (MariaDB
                // lets no other session end them), so it reports them not done yet.
                assert_eq!(done.len(), 3, "{done:?}");
                assert!(
                    done.iter()
                        .all(|r| r.decision == Some(Decision::Rollback)
                            && r.action == Action::Failed),
                    "{done:?}"
                );
            });
        })
        .join()
        .unwrap();
    }));
    let e = xa.commit().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transaction);
    assert!(e.message().contains("recovery logged a rollback"), "{e}");
    assert_eq!(bank.money("a", 1), 1000);
    assert!(bank.prepared().is_empty());
}

/// With the log on the branches' server, the decision row is written inside a branch before
/// the others are prepared: recovery in that window waits on the row's lock, then finds the
/// COMMIT and applies it; both end committed.
#[test]
fn recovery_during_a_deciding_branch_waits_and_commits() {
    let bank = Bank::new();
    let mut xa = bank.begin();
    bank.transfer(&mut xa, "raced", 100);
    let databases = Arc::new(bank.databases());
    let log = bank.options().log;
    let recovered = Arc::new(std::sync::Mutex::new(None));
    let slot = recovered.clone();
    xa.on_step(Arc::new(move |step: CommitStep<'_>| {
        if step != CommitStep::AllPrepared {
            return;
        }
        let (databases, log) = (databases.clone(), log.clone());
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let log = Arc::new(DecisionLog::new(
                    log,
                    Arc::new(Pools::new()),
                    Duration::from_secs(5),
                ));
                Recovery::new(databases, log, Duration::from_secs(5))
                    .run(Duration::ZERO)
                    .await
                    .unwrap()
            })
        });
        std::thread::sleep(Duration::from_millis(300));
        *slot.lock().unwrap() = Some(handle);
    }));
    xa.commit().unwrap();
    let handle = recovered.lock().unwrap().take().unwrap();
    let done = handle.join().unwrap();
    assert!(!done.is_empty(), "recovery saw the prepared branches");
    assert!(
        done.iter().all(|r| r.decision == Some(Decision::Commit)),
        "{done:?}"
    );
    assert_eq!(bank.money("a", 1), 900);
    assert_eq!(bank.money("c", 1), 1050);
    assert!(bank.prepared().is_empty());
}

#[test]
fn a_server_restarted_between_prepare_and_commit_gets_the_decision_when_back() {
    let bank = Bank::new();
    let private = PrivateMariadb::start();
    mysql(
        private.port,
        None,
        &format!("CREATE DATABASE far; USE far; {ACCOUNTS}"),
    );
    let mut databases = vec![(bank.name("a"), bank.dbs.url("a"))];
    databases.push(("far".to_string(), private.url("far")));
    let databases = Databases::new(databases).unwrap();
    let mut xa = BlockingXa::begin(databases.clone(), &bank.options());
    xa.execute(
        &bank.name("a"),
        "UPDATE account SET money = money - 5 WHERE id = 1",
        &[],
    )
    .unwrap();
    xa.execute(
        "far",
        "UPDATE account SET money = money + 5 WHERE id = 1",
        &[],
    )
    .unwrap();
    let port = private.port;
    let server = std::sync::Mutex::new(Some(private));
    let stopped = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = stopped.clone();
    xa.on_step(Arc::new(move |step: CommitStep<'_>| {
        if step == CommitStep::Decided
            && let Some(mut private) = server.lock().unwrap().take()
        {
            private.kill();
            *keep.lock().unwrap() = Some(private);
        }
    }));
    let committed = xa.commit().unwrap();
    assert_eq!(committed.pending, vec!["far".to_string()]);
    assert_eq!(bank.money("a", 1), 995);
    let mut private = stopped.lock().unwrap().take().unwrap();
    private.restart();
    assert_eq!(
        mysql(port, Some("far"), "SELECT money FROM account WHERE id = 1").trim(),
        "1000"
    );
    let done =
        BlockingXa::recover(databases.clone(), &bank.options(), Duration::from_secs(60)).unwrap();
    assert!(
        done.iter().any(|r| r.branch == "far"
            && r.action == Action::Committed
            && r.decision == Some(Decision::Commit)),
        "{done:?}"
    );
    assert_eq!(
        mysql(port, Some("far"), "SELECT money FROM account WHERE id = 1").trim(),
        "1005"
    );
    // The process's pooled connection to the server is now idle; the server restarts again,
    // and the next transaction there reconnects by itself.
    let mut again = BlockingXa::begin(databases.clone(), &bank.options());
    again
        .execute("far", "UPDATE account SET money = 1 WHERE id = 2", &[])
        .unwrap();
    again.commit().unwrap();
    private.kill();
    private.restart();
    let mut after = BlockingXa::begin(databases, &bank.options());
    after
        .execute("far", "UPDATE account SET money = 2 WHERE id = 2", &[])
        .unwrap();
    after.commit().unwrap();
    assert_eq!(
        mysql(port, Some("far"), "SELECT money FROM account WHERE id = 2").trim(),
        "2"
    );
}

/// Workers transferring between a and b in child processes, killed at random; after recovery
/// no money is created or lost and every transfer is in both databases or in neither.
#[test]
fn transfers_under_random_kills_conserve_money() {
    let bank = Bank::new();
    let soak = Duration::from_secs(
        std::env::var("DQ_XA_SOAK_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(6),
    );
    let started = Instant::now();
    let mut kills = 0;
    while started.elapsed() < soak {
        let mut children: Vec<std::process::Child> = (0..3)
            .map(|n| {
                bank.child("xa::soak_child")
                    .env("DQ_TEST_WORKER", n.to_string())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(fastrand::u64(200..900)));
        for child in &mut children {
            let _ = child.kill();
            let _ = child.wait();
            kills += 1;
        }
        // As the gateway's xa worker would: the dead workers' prepared branches hold row locks
        // that the next workers wait on. Every worker is dead now, so nothing is in flight.
        if fastrand::bool() {
            bank.recover(Duration::ZERO);
        }
    }
    bank.recover(Duration::ZERO);
    assert!(bank.prepared().is_empty());
    let total: i64 = [1, 2, 3]
        .iter()
        .map(|n| bank.money("a", *n) + bank.money("b", *n))
        .sum();
    assert_eq!(total, 6000, "money is conserved");
    let (in_a, in_b) = (bank.transfers("a"), bank.transfers("b"));
    assert_eq!(in_a, in_b, "every transfer is in both databases or neither");
    assert!(!in_a.is_empty(), "some transfers committed");
    eprintln!("{} transfers committed, {kills} workers killed", in_a.len());
}

#[test]
fn soak_child() {
    let (Ok(worker), Some(bank)) = (std::env::var("DQ_TEST_WORKER"), Bank::of_parent()) else {
        return;
    };
    let (a, b) = (bank.name("a"), bank.name("b"));
    for n in 0.. {
        let (from, to) = (fastrand::i32(1..=3), fastrand::i32(1..=3));
        let amount = fastrand::i64(1..50);
        let id = format!("w{worker}-{}-{n}", std::process::id());
        let mut xa = bank.begin();
        let moved = (|| {
            let n = xa.execute(
                &a,
                "UPDATE account SET money = money - ? WHERE id = ? AND money >= ?",
                &[
                    SqlValue::Int(amount),
                    SqlValue::Int(from.into()),
                    SqlValue::Int(amount),
                ],
            )?;
            if n.affected_rows != 1 {
                return Ok(false);
            }
            xa.execute(
                &b,
                "UPDATE account SET money = money + ? WHERE id = ?",
                &[SqlValue::Int(amount), SqlValue::Int(to.into())],
            )?;
            for db in [&a, &b] {
                xa.execute(
                    db,
                    "INSERT INTO transfer VALUES (?, ?)",
                    &[SqlValue::Text(id.clone()), SqlValue::Int(amount)],
                )?;
            }
            Ok::<_, dq_core::Error>(true)
        })();
        match moved {
            Ok(true) => {
                let _ = xa.commit();
            }
            _ => {
                let _ = xa.rollback();
            }
        }
    }
}
