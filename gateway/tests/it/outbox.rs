//! The outbox in the gateway binary: `dq-gateway migrate` (dq's tables in `mysql` and in the
//! databases of `[outbox]`, once, saying what it did), and a relay facing a row the broker
//! refuses: metrics, `/healthz`, and the backlog alert POSTed when it fires and when it ends.

use crate::support;

use std::process::Command;
use std::time::Duration;

use dq_testkit::mysql::TestDatabases;
use dq_testkit::*;
use serde_json::Value;
use support::*;
use tokio::task::block_in_place;

fn migrate(config: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dq-gateway"))
        .arg("migrate")
        .arg("--config")
        .arg(config)
        .env("DQ_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_creates_the_tables_once_and_says_what_it_did() {
    let dbs = TestDatabases::new(&["app"]);
    // dq's own database does not exist yet: migrate creates it.
    let own = format!("{}_dq", dbs.prefix);
    let dir = TempDir::new();
    let config = dir.write(
        "gateway.toml",
        &format!(
            "mysql = \"mysql://root@127.0.0.1:3306/{own}\"\n[databases]\napp = \"{}\"\n[outbox]\ndatabases = [\"app\"]\n",
            dbs.url("app")
        ),
    );
    let (ok, stdout, stderr) = migrate(&config);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "mysql (mysql://root@127.0.0.1:3306/{own}): applied dq_xa"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("databases.app (") && stdout.contains("): applied dq_outbox_inbox"),
        "{stdout}"
    );
    let tables = dbs.sql("app", "SHOW TABLES");
    for table in ["dq_outbox", "dq_inbox", "dq_app_migration"] {
        assert!(tables.lines().any(|t| t == table), "{table} in {tables}");
    }
    let (ok, stdout, _) = migrate(&config);
    assert!(ok);
    assert_eq!(stdout.matches("up to date").count(), 2, "{stdout}");
    let _ = dq_testkit::mysql::try_mysql(3306, None, &format!("DROP DATABASE `{own}`"));

    // An application database that does not exist is not created: named, exit 1.
    let config = dir.write(
        "missing.toml",
        &format!(
            "[databases]\napp = \"mysql://root@127.0.0.1:3306/{}_nope\"\n[outbox]\ndatabases = [\"app\"]\n",
            dbs.prefix
        ),
    );
    let (ok, _, stderr) = migrate(&config);
    assert!(!ok);
    assert!(
        stderr.contains("databases.app") && stderr.contains("does not exist"),
        "{stderr}"
    );
    // Nothing to migrate: said so, exit 1.
    let config = dir.write("empty.toml", "");
    let (ok, _, stderr) = migrate(&config);
    assert!(!ok);
    assert!(stderr.contains("nothing to migrate"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_row_shows_in_metrics_and_healthz_and_fires_the_backlog_alert() {
    let dbs = TestDatabases::new(&["app"]);
    let vhost = TestVhost::new();
    let sink = Sink::start(always(200)).await;
    let smtp = dq_testkit::smtp::SmtpSink::start();
    let dir = TempDir::new();
    let config = dir.write(
        "gateway.toml",
        &format!(
            "amqp = \"{}\"\n[databases]\napp = \"{}\"\n[outbox]\ndatabases = [\"app\"]\ninterval = 0.02\nalert_after = 1\nalert_webhook = \"{}\"\n\
             [alerts]\nsmtp = \"smtp://127.0.0.1:{}\"\nfrom = \"dq@gateway.test\"\nto = \"ops@shop.test\"\n",
            vhost.url(),
            dbs.url("app"),
            sink.url("/alerts"),
            smtp.port
        ),
    );
    let (ok, stdout, stderr) = migrate(&config);
    assert!(ok, "{stdout}{stderr}");
    let scratch = Scratch::new(&[REDIS]);
    let gateway = GatewayProcess::start(&config, &scratch.prefix);
    dbs.sql(
        "app",
        "INSERT INTO dq_outbox (kind, target, routing_key, message_id, body, properties) \
         VALUES ('publish', 'no.such.exchange', 'k', 'stuck-1', 'x', '{}')",
    );
    let fired = sink
        .wait_calls_to("/alerts", 1, Duration::from_secs(10))
        .await;
    let alert = fired[0].json();
    assert_eq!(alert["alert"], "outbox_backlog");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["database"], "app");
    assert_eq!(alert["unsent"], 1);
    assert!(alert["oldest_unsent_s"].as_f64().unwrap() > 1.0, "{alert}");
    // And mailed.
    let mails = block_in_place(|| smtp.wait_for(1, Duration::from_secs(10)));
    assert!(
        mails[0]
            .subject()
            .starts_with("[dq] outbox app: the oldest unsent row is "),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0].data.contains("1 unsent row(s)"),
        "{}",
        mails[0].data
    );
    let (status, body) = block_in_place(|| gateway.request("GET", "/healthz", None));
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "warn", "{health}");
    let outbox = &health["outbox"]["app"];
    assert_eq!(outbox["relay"], "running", "{health}");
    assert_eq!(outbox["unsent"], 1);
    let refused = outbox["last_refused"].as_str().unwrap();
    assert!(
        refused.contains("stuck-1") && refused.contains("no.such.exchange"),
        "{refused}"
    );
    let warnings = health["warnings"].to_string();
    assert!(
        warnings.contains("outbox app: the oldest unsent row"),
        "{warnings}"
    );
    block_in_place(|| {
        assert!(gateway.metric("dq_outbox_refused_total{database=\"app\"}") >= 1.0);
        assert_eq!(gateway.metric("dq_outbox_backlog{database=\"app\"}"), 1.0);
        assert_eq!(
            gateway.metric("dq_outbox_alerts_total{database=\"app\"}"),
            1.0
        );
        assert_eq!(
            gateway.metric("dq_outbox_relay_backing_off{database=\"app\"}"),
            0.0
        );
    });
    let row = dbs.sql(
        "app",
        "SELECT attempts > 0, error LIKE '%no.such.exchange%' FROM dq_outbox",
    );
    assert_eq!(row.trim(), "1\t1");
    // The operator gives up on the row: the alert ends.
    dbs.sql("app", "DELETE FROM dq_outbox WHERE message_id = 'stuck-1'");
    let calls = sink
        .wait_calls_to("/alerts", 2, Duration::from_secs(10))
        .await;
    assert_eq!(calls[1].json()["state"], "resolved");
    drop(gateway);
    drop(scratch);
}

/// `dq-gateway import-delayqueue`: php-delayqueue's `dq_topic` rows (its schema, made here)
/// become topics of the registry, Redis and the registry of record; each row that cannot be
/// one is named with why (exit 3); `dq_alert`'s SMTP settings are shown with the password
/// masked. Run again, it imports the same (idempotent).
#[test]
fn import_delayqueue_brings_php_delayqueues_topics() {
    let dbs = TestDatabases::new(&["old", "dq"]);
    dbs.sql(
        "old",
        "CREATE TABLE dq_alert (id int AUTO_INCREMENT PRIMARY KEY, host varchar(255) NOT NULL DEFAULT '', \
           port int NOT NULL DEFAULT 0, user varchar(255) NOT NULL DEFAULT '', pwd varchar(255) NOT NULL DEFAULT '', \
           ext varchar(2048) NOT NULL DEFAULT '');
         CREATE TABLE dq_topic (id int AUTO_INCREMENT PRIMARY KEY, t_name varchar(1024) NOT NULL DEFAULT '', \
           delay int NOT NULL DEFAULT 0, callback varchar(1024) NOT NULL DEFAULT '', timeout int NOT NULL DEFAULT 3000, \
           email varchar(1024) NOT NULL DEFAULT '', topic varchar(255) NOT NULL DEFAULT '', \
           re_notify_flag varchar(1024) NOT NULL DEFAULT '', createor varchar(1024) NOT NULL DEFAULT '', \
           status tinyint NOT NULL DEFAULT 1, method varchar(32) NOT NULL DEFAULT 'GET', priority int NOT NULL DEFAULT 2);
         INSERT INTO dq_alert (host, port, user, pwd) VALUES ('smtp.shop.test', 587, 'ops', 'hunter2');
         INSERT INTO dq_topic (t_name, delay, callback, timeout, email, topic, status, method) VALUES
           ('Order close', 1800, 'http://shop.test/close', 3000, 'ops@shop.test; boss@shop.test,nope', 'order.close', 1, 'GET'),
           ('Pay notify', 0, 'https://shop.test/notify', 5000, '', 'pay.notify', 0, 'POST'),
           ('Broken', 0, 'shop.test/nohttp', 3000, '', 'broken', 1, 'GET'),
           ('Spaces', 0, 'http://shop.test/x', 3000, '', 'bad name', 1, 'GET');",
    );
    let scratch = Scratch::new(&[REDIS]);
    let dir = TempDir::new();
    let config = dir.write(
        "gateway.toml",
        &format!(
            "mysql = \"{}\"\nprefix = \"{}\"\n",
            dbs.url("dq"),
            scratch.prefix
        ),
    );
    let import = || {
        Command::new(env!("CARGO_BIN_EXE_dq-gateway"))
            .arg("--config")
            .arg(&config)
            .arg("import-delayqueue")
            .arg(dbs.url("old"))
            .env("DQ_LOG", "warn")
            .env_remove("DQ_PREFIX")
            .env_remove("DQ_MYSQL")
            .output()
            .unwrap()
    };
    let out = import();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("imported  order.close (row 1, \"Order close\"): GET http://shop.test/close delay 1800 s"), "{stdout}");
    assert!(
        stdout
            .contains("alert e-mail ops@shop.test, boss@shop.test; left out, not addresses: nope"),
        "{stdout}"
    );
    assert!(
        stdout.contains("imported  pay.notify (row 2, \"Pay notify\"): POST"),
        "{stdout}"
    );
    assert!(stdout.contains("Paused"), "status 0 is paused: {stdout}");
    assert!(
        stdout.contains("not imported broken (row 3): callback \"shop.test/nohttp\""),
        "{stdout}"
    );
    assert!(stdout.contains("not imported bad name (row 4)"), "{stdout}");
    assert!(
        stdout.contains("SMTP smtp://ops:***@smtp.shop.test:587"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "the password is not printed");
    assert!(stdout.contains("2 of 4 rows imported"), "{stdout}");
    // In the registry (Redis) and in the registry of record.
    let rows = dbs.sql("dq", "SELECT name FROM dq_registry_topic ORDER BY name");
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        ["order.close", "pay.notify"]
    );
    let registry = dq_core::Registry::new(scratch.queue());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(registry.sync())
        .unwrap();
    let topic = registry.get("order.close").unwrap();
    assert_eq!((topic.delay, topic.timeout_ms), (1800.0, 3000));
    assert_eq!(topic.alert_email, ["ops@shop.test", "boss@shop.test"]);
    assert_eq!(
        registry.get("pay.notify").unwrap().status,
        dq_core::Status::Paused
    );
    // Again: the same.
    let again = import();
    assert!(String::from_utf8_lossy(&again.stdout).contains("2 of 4 rows imported"));
}
