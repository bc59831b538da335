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
    let dir = TempDir::new();
    let config = dir.write(
        "gateway.toml",
        &format!(
            "amqp = \"{}\"\n[databases]\napp = \"{}\"\n[outbox]\ndatabases = [\"app\"]\ninterval = 0.02\nalert_after = 1\nalert_webhook = \"{}\"\n",
            vhost.url(),
            dbs.url("app"),
            sink.url("/alerts")
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
