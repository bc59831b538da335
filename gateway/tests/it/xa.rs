//! `/v1/xa` and the `xa` worker against the real MariaDB, each test with databases of its own:
//! commits across two databases, a failed statement or an `expect_rows` mismatch that leaves
//! nothing written, bad input refused naming the value (and never echoing a URL), the routes
//! without XA configured, transactions left prepared (as by a coordinator that died) listed and
//! resolved by an operator, and the worker of the gateway binary finishing them by itself.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use dq_core::xa::FORMAT_ID;
use dq_core::{DelayQueue, Registry};
use dq_gateway::{AppState, GatewayConfig, app};
use dq_testkit::mysql::TestDatabases;
use dq_testkit::*;
use serde_json::{Value, json};
use support::*;
use tokio::task::block_in_place;

const TABLES: &str =
    "CREATE TABLE account (id INT PRIMARY KEY, money BIGINT NOT NULL) ENGINE=InnoDB;
    CREATE TABLE entry (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100) NOT NULL UNIQUE,
      amount DECIMAL(10,2)) ENGINE=InnoDB;
    INSERT INTO account VALUES (1, 1000), (2, 1000)";

/// Two application databases, `a` and `b`, and dq's own (`log`), all of the test's own. The
/// gateway's `[databases]` names them by their database names (unique per test), so the
/// branches XA RECOVER lists for them are this test's.
struct Setup {
    dbs: TestDatabases,
}

impl Setup {
    fn new() -> Setup {
        let dbs = TestDatabases::new(&["a", "b", "log"]);
        dbs.sql("a", TABLES);
        dbs.sql("b", TABLES);
        Setup { dbs }
    }

    fn name(&self, suffix: &str) -> String {
        self.dbs.name(suffix)
    }

    /// `mysql`, `[workers]` and `[databases]` of a gateway configuration.
    fn toml(&self, xa_interval: f64, xa_timeout: f64) -> String {
        format!(
            "mysql = \"{}\"\n[workers]\nxa_interval = {xa_interval}\nxa_timeout = {xa_timeout}\n[databases]\n\"{}\" = \"{}\"\n\"{}\" = \"{}\"\n",
            self.dbs.url("log"),
            self.name("a"),
            self.dbs.url("a"),
            self.name("b"),
            self.dbs.url("b"),
        )
    }

    fn count(&self, suffix: &str, sql: &str) -> i64 {
        self.dbs.sql(suffix, sql).trim().parse().unwrap()
    }

    fn notes(&self, suffix: &str) -> Vec<String> {
        self.dbs
            .sql(suffix, "SELECT note FROM entry ORDER BY note")
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// What the tests' transactions leave: `a`'s notes, the money of `b`'s account 1, and no
    /// branch prepared.
    fn assert_left(&self, notes: &[&str], money: i64) {
        assert_eq!(self.notes("a"), notes);
        assert_eq!(
            self.count("b", "SELECT money FROM account WHERE id = 1"),
            money
        );
        assert!(self.prepared().is_empty(), "{:?}", self.prepared());
    }

    fn prepared(&self) -> Vec<String> {
        let names = [self.name("a"), self.name("b")];
        self.dbs.prepared(&[names[0].as_str(), names[1].as_str()])
    }

    /// A new id of the gateway's decision log, as a transaction of this gateway would have.
    fn new_id(&self) -> String {
        xa_id(&self.dbs.url("log"))
    }

    /// Leaves transaction `id` prepared as a coordinator that died after XA PREPARE would:
    /// each `(suffix, sql)` runs in a branch through the mariadb client, which then exits.
    fn prepare(&self, id: &str, branches: &[(&str, &str)]) {
        for (suffix, sql) in branches {
            let xid = format!("X'{}',X'{}',{FORMAT_ID}", hex(id), hex(&self.name(suffix)));
            self.dbs.sql(
                suffix,
                &format!("XA START {xid}; {sql}; XA END {xid}; XA PREPARE {xid}"),
            );
        }
    }

    /// Logs `decision` for `id` as its coordinator would have before dying.
    fn log_decision(&self, id: &str, decision: &str) {
        self.dbs.sql(
            "log",
            &format!(
                "INSERT INTO dq_xa (id, decision, branches, decided_by) VALUES ('{id}', '{decision}', '[]', 'a test')"
            ),
        );
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The gateway in-process, with `toml` as its configuration file.
struct Gateway {
    router: Router,
    state: Arc<AppState>,
    _scratch: Scratch,
}

fn gateway(toml: &str) -> Gateway {
    let scratch = Scratch::new(&[REDIS]);
    let mut config = GatewayConfig::from_toml(toml, "test").unwrap();
    config.check_xa().unwrap();
    config.queue = scratch.config();
    let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
    let registry = Arc::new(Registry::new(queue.clone()));
    let state = AppState::new(queue, registry, &config);
    Gateway {
        router: app(state.clone(), 2 * 1024 * 1024),
        state,
        _scratch: scratch,
    }
}

impl Gateway {
    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        call_app(&self.router, method, uri, body.as_ref()).await
    }

    async fn xa(&self, statements: Value) -> (StatusCode, Value) {
        self.call("POST", "/v1/xa", Some(json!({ "statements": statements })))
            .await
    }

    async fn metric(&self, sample: &str) -> f64 {
        let (status, text) = self.call("GET", "/metrics", None).await;
        assert_eq!(status, StatusCode::OK);
        metric(text.as_str().unwrap(), sample)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_across_two_databases_commit_together() {
    let setup = Setup::new();
    let gw = gateway(&setup.toml(10.0, 60.0));
    let (a, b) = (setup.name("a"), setup.name("b"));
    let (status, body) = gw
        .xa(json!([
            {"database": a, "sql": "INSERT INTO entry (note, amount) VALUES (?, ?)", "params": ["t1", "12.50"]},
            {"database": b, "sql": "UPDATE account SET money = money - ? WHERE id = ? AND money >= ?",
             "params": [100, 1, 100], "expect_rows": 1},
            {"database": b, "sql": "SELECT id, money, ? AS yes, ? AS nothing, ? AS half FROM account WHERE id = ?",
             "params": [true, null, 0.5, 1], "expect_rows": 1},
        ]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "committed");
    assert!(
        body["id"].as_str().is_some_and(|id| id.starts_with("dq")),
        "{body}"
    );
    assert_eq!(
        body["results"],
        json!([
            {"affected_rows": 1, "last_insert_id": 1},
            {"affected_rows": 1},
            {"affected_rows": 1, "rows": [{"id": 1, "money": 900, "yes": 1, "nothing": null, "half": 0.5}]},
        ])
    );
    assert!(body.get("pending").is_none(), "{body}");
    block_in_place(|| {
        setup.assert_left(&["t1"], 900);
        assert_eq!(
            setup.dbs.sql("a", "SELECT amount FROM entry").trim(),
            "12.50"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_rolls_back_every_database() {
    let setup = Setup::new();
    let gw = gateway(&setup.toml(10.0, 60.0));
    let (a, b) = (setup.name("a"), setup.name("b"));
    let (status, body) = gw
        .xa(json!([
            {"database": a, "sql": "INSERT INTO entry (note) VALUES (?)", "params": ["x1"]},
            {"database": b, "sql": "UPDATE account SET money = money - 100 WHERE id = 1"},
            {"database": b, "sql": "INSERT INTO account VALUES (?, ?)", "params": [1, 0]},
        ]))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["outcome"], "rolled_back");
    assert_eq!(body["statement"], 2);
    assert_eq!(body["error"]["code"], "TRANSACTION");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("statements[2]: ") && message.contains("1062") && message.contains(&b),
        "{message}"
    );
    block_in_place(|| setup.assert_left(&[], 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expect_rows_mismatch_rolls_back() {
    let setup = Setup::new();
    let gw = gateway(&setup.toml(10.0, 60.0));
    let (a, b) = (setup.name("a"), setup.name("b"));
    let (status, body) = gw
        .xa(json!([
            {"database": a, "sql": "INSERT INTO entry (note) VALUES ('x1')"},
            {"database": b, "sql": "UPDATE account SET money = money - ? WHERE id = 1 AND money >= ?",
             "params": [5000, 5000], "expect_rows": 1},
        ]))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        (&body["outcome"], &body["statement"]),
        (&json!("rolled_back"), &json!(1))
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("statements[1]")
            && message.contains("affected 0 row(s)")
            && message.contains("expect_rows"),
        "{message}"
    );
    // A statement with a result set counts the rows it returned.
    let (status, body) = gw
        .xa(json!([
            {"database": a, "sql": "INSERT INTO entry (note) VALUES ('x2')"},
            {"database": b, "sql": "SELECT id FROM account", "expect_rows": 3},
        ]))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("returned 2 row(s)"), "{message}");
    block_in_place(|| setup.assert_left(&[], 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_naming_the_value_before_anything_runs() {
    let setup = Setup::new();
    let gw = gateway(&setup.toml(10.0, 60.0));
    let (a, b) = (setup.name("a"), setup.name("b"));
    let insert = json!({"database": a, "sql": "INSERT INTO entry (note) VALUES ('ran')"});
    let many: Vec<Value> = (0..101).map(|_| insert.clone()).collect();
    let url = "mysql://root:hunter2@127.0.0.1:3306/elsewhere";
    for (body, named) in [
        (
            json!({"statements": [insert.clone(), {"database": url, "sql": "SELECT 1"}]}),
            vec!["statements[1].database", "URL", a.as_str(), b.as_str()],
        ),
        (
            json!({"statements": [insert.clone(), {"database": "nope", "sql": "SELECT 1"}]}),
            vec![
                "statements[1].database",
                "unknown database \"nope\"",
                a.as_str(),
                b.as_str(),
            ],
        ),
        (
            json!({"statements": [{"database": a, "sql": "SELECT ?, ?", "params": [1, [2]]}]}),
            vec!["statements[0].params[1] is an array"],
        ),
        (
            json!({"statements": [insert.clone(), {"database": a, "sql": "SELECT ?", "params": [{"x": 1}]}]}),
            vec!["statements[1].params[0] is an object"],
        ),
        (json!({"statements": many}), vec!["101 entries", "1 to 100"]),
        (json!({"statements": []}), vec!["0 entries"]),
        (
            json!({"statements": {"database": a}}),
            vec!["statements is an object"],
        ),
        (json!({}), vec!["statements is missing"]),
        (
            json!({"statements": [insert.clone()], "isolation": "serializable"}),
            vec!["unknown field \"isolation\""],
        ),
        (
            json!({"statements": [{"database": a, "sql": "SELECT 1", "db": a}]}),
            vec!["statements[0]: unknown field \"db\""],
        ),
        (
            json!({"statements": [{"database": a, "sql": "SELECT 1", "expect_rows": -1}]}),
            vec!["statements[0].expect_rows -1"],
        ),
        (
            json!({"statements": [{"database": a}]}),
            vec!["statements[0].sql is missing"],
        ),
        (
            json!({"statements": [{"database": a, "sql": " "}]}),
            vec!["statements[0].sql is empty"],
        ),
        (
            json!({"statements": [{"sql": "SELECT 1", "database": 7}]}),
            vec!["statements[0].database is a number"],
        ),
    ] {
        let (status, reply) = gw.call("POST", "/v1/xa", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {reply}");
        assert_eq!(reply["error"]["code"], "INVALID_ARGUMENT", "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        for name in named {
            assert!(message.contains(name), "{name:?} in {message:?}");
        }
        assert!(!message.contains("hunter2"), "{message}");
        assert!(reply.get("outcome").is_none(), "nothing ran: {reply}");
    }
    // Caught by MySQL once the transaction began: rolled back, and said so.
    let (status, reply) = gw
        .xa(json!([insert.clone(), {"database": b, "sql": "SELECT ?"}]))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(
        (&reply["outcome"], &reply["statement"]),
        (&json!("rolled_back"), &json!(1))
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 placeholder"),
        "{reply}"
    );
    block_in_place(|| assert!(setup.notes("a").is_empty(), "nothing was written"));

    let (status, reply) = gw.call("GET", "/v1/xa?state=committed", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"committed\"")
    );
    let (status, reply) = gw.call("POST", "/v1/xa/12345/commit", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"12345\"")
    );
    let unknown = setup.new_id();
    let (status, reply) = gw
        .call("POST", &format!("/v1/xa/{unknown}/rollback"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&unknown)
    );
}

#[tokio::test]
async fn without_mysql_and_databases_the_routes_say_what_to_set() {
    let gw = gateway("");
    let statements = json!([{"database": "order", "sql": "SELECT 1"}]);
    let id = "dq9b1c2d3e0193a4b5c6d78899aabbccddeeff";
    for (method, uri, body) in [
        (
            "POST",
            "/v1/xa".to_string(),
            Some(json!({"statements": statements})),
        ),
        ("GET", "/v1/xa?state=in_doubt".to_string(), None),
        ("POST", format!("/v1/xa/{id}/commit"), None),
    ] {
        let (status, reply) = gw.call(method, &uri, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("mysql") && message.contains("[databases]"),
            "{message}"
        );
    }
    let (_, health) = gw.call("GET", "/healthz", None).await;
    assert!(health.get("xa").is_none(), "{health}");
    assert!(gw.state.xa_recovery().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_left_prepared_are_listed_and_resolved_by_an_operator() {
    let setup = Setup::new();
    // A worker that looks once at start, and not again during the test.
    let gw = gateway(&setup.toml(3600.0, 60.0));
    let (a, b) = (setup.name("a"), setup.name("b"));
    let committed = setup.new_id();
    block_in_place(|| {
        setup.prepare(
            &committed,
            &[
                ("a", "INSERT INTO entry (note) VALUES ('kept')"),
                ("b", "UPDATE account SET money = money + 1 WHERE id = 2"),
            ],
        )
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(gw.state.xa_recovery().unwrap().run(stopped));
    // The worker's pass finds both branches waiting (younger than xa_timeout).
    let health = eventually(Duration::from_secs(10), "a pass", || async {
        let (_, health) = gw.call("GET", "/healthz", None).await;
        (!health["xa"]["last_pass_at"].is_null()).then_some(health)
    })
    .await
    .expect("the worker passed once");
    assert_eq!(health["xa"]["in_doubt"], 2, "{health}");
    assert_eq!(health["xa"]["recovery"], "running", "{health}");
    assert_eq!(health["xa"]["last_error"], Value::Null, "{health}");
    assert_eq!(health["xa"]["databases"], json!([a, b]));
    assert_eq!(gw.metric("dq_xa_in_doubt").await, 2.0);

    let (status, list) = gw.call("GET", "/v1/xa?state=in_doubt", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed: Vec<&Value> = list["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == committed)
        .collect();
    assert_eq!(listed.len(), 1, "{list}");
    let mut branches: Vec<String> = listed[0]["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["database"].as_str().unwrap().to_string())
        .collect();
    branches.sort();
    assert_eq!(branches, [a.clone(), b.clone()]);
    assert_eq!(listed[0]["branches"][0]["server"], "127.0.0.1:3306");
    assert_eq!(listed[0]["decision"], Value::Null);
    assert!(listed[0]["age"].as_f64().unwrap() < 60.0, "{list}");

    let (status, reply) = gw
        .call("POST", &format!("/v1/xa/{committed}/commit"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["decision"], "commit");
    assert_eq!(reply["branches"].as_array().unwrap().len(), 2, "{reply}");
    assert!(
        reply["branches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["action"] == "committed"),
        "{reply}"
    );
    block_in_place(|| {
        assert_eq!(setup.notes("a"), ["kept"]);
        assert_eq!(
            setup.count("b", "SELECT money FROM account WHERE id = 2"),
            1001
        );
    });

    // Rolled back by an operator.
    let dropped = setup.new_id();
    block_in_place(|| {
        setup.prepare(
            &dropped,
            &[("a", "INSERT INTO entry (note) VALUES ('dropped')")],
        )
    });
    let (status, reply) = gw
        .call(
            "POST",
            &format!("/v1/xa/{dropped}/rollback"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["branches"][0]["action"], "rolled_back", "{reply}");

    // The log says commit (its coordinator died after logging it): an operator's rollback is
    // refused, and the logged decision is what happens.
    let decided = setup.new_id();
    block_in_place(|| {
        setup.log_decision(&decided, "commit");
        setup.prepare(
            &decided,
            &[("b", "UPDATE account SET money = money + 10 WHERE id = 1")],
        );
    });
    let (_, list) = gw.call("GET", "/v1/xa", None).await;
    let decision = list["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == decided)
        .map(|t| t["decision"].clone());
    assert_eq!(decision, Some(json!("commit")), "{list}");
    let (status, reply) = gw
        .call("POST", &format!("/v1/xa/{decided}/rollback"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{reply}");
    assert_eq!(reply["error"]["code"], "TRANSACTION");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("logged decision is commit"),
        "{reply}"
    );
    block_in_place(|| setup.assert_left(&["kept"], 1010));
    let (status, reply) = gw
        .call("POST", &format!("/v1/xa/{decided}/commit"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "finished: {reply}");
    let _ = stop.send(true);
    worker.await.unwrap();
}

/// The gateway binary's `xa` worker (every 0.2 s, rolling back undecided branches at once)
/// finishes transactions left prepared: the undecided one rolled back, the one whose COMMIT
/// was logged committed; the metrics, `/healthz` and the log say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_xa_worker_finishes_transactions_left_prepared() {
    let setup = Setup::new();
    let scratch = Scratch::new(&[REDIS]);
    let dir = TempDir::new();
    let config = dir.write("gateway.toml", &setup.toml(0.2, 0.0));
    let gateway = block_in_place(|| GatewayProcess::start(&config, &scratch.prefix));
    let health = |gateway: &GatewayProcess| {
        let (_, body) = gateway.request("GET", "/healthz", None);
        serde_json::from_str::<Value>(&body).unwrap()
    };
    // After the first pass dq's tables exist (the log is ready).
    let first = eventually(Duration::from_secs(10), "a pass", || async {
        let health = block_in_place(|| health(&gateway));
        (!health["xa"]["last_pass_at"].is_null()).then_some(health)
    })
    .await;
    assert!(first.is_some(), "no pass: {}", gateway.logs());

    let (undecided, decided) = (setup.new_id(), setup.new_id());
    block_in_place(|| {
        setup.prepare(
            &undecided,
            &[
                ("a", "INSERT INTO entry (note) VALUES ('undecided')"),
                ("b", "UPDATE account SET money = 0 WHERE id = 1"),
            ],
        );
        // Logged before the branches are prepared, so no pass can find them undecided.
        setup.log_decision(&decided, "commit");
        setup.prepare(
            &decided,
            &[
                ("a", "INSERT INTO entry (note) VALUES ('decided')"),
                ("b", "UPDATE account SET money = money + 5 WHERE id = 2"),
            ],
        );
    });
    let finished = eventually(Duration::from_secs(5), "recovery", || async {
        block_in_place(|| setup.prepared().is_empty()).then_some(())
    })
    .await;
    assert!(
        finished.is_some(),
        "still prepared: {:?}\n{}",
        setup.prepared(),
        gateway.logs()
    );
    block_in_place(|| {
        assert_eq!(setup.notes("a"), ["decided"]);
        assert_eq!(
            setup.count("b", "SELECT money FROM account WHERE id = 1"),
            1000
        );
        assert_eq!(
            setup.count("b", "SELECT money FROM account WHERE id = 2"),
            1005
        );
        gateway.wait_log(
            "XA recovery finished prepared branches",
            Duration::from_secs(5),
        );
        gateway.wait_log("XA branch resolved by recovery", Duration::from_secs(5));
        assert_eq!(
            gateway.metric("dq_xa_recovered_total{action=\"rolled_back\"}"),
            2.0
        );
        assert_eq!(
            gateway.metric("dq_xa_recovered_total{action=\"committed\"}"),
            2.0
        );
        assert_eq!(
            gateway.metric("dq_xa_recovered_total{action=\"failed\"}"),
            0.0
        );
        assert_eq!(gateway.metric("dq_xa_recovery_errors_total"), 0.0);
        assert_eq!(gateway.metric("dq_xa_in_doubt"), 0.0);
        let health = health(&gateway);
        assert_eq!(health["xa"]["in_doubt"], 0, "{health}");
        assert_eq!(health["xa"]["recovery"], "running", "{health}");
        assert_eq!(health["xa"]["last_error"], Value::Null, "{health}");
        assert!(!health["warnings"].to_string().contains("XA"), "{health}");
    });
}
