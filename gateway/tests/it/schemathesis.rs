//! The OpenAPI document against the real gateway: `openapi-spec-validator` validates it, and
//! schemathesis fuzzes every operation of it against the dq-gateway binary (API only, no
//! workers, so no callback is ever called) on a prefix and a RabbitMQ vhost of the test's own:
//! no 5xx, and every status, content type, header and body as the document says. The settings
//! are in `tests/schemathesis/`; both tools are installed by `scripts/setup.sh` into a venv
//! (`DQ_VENV`, default `~/.cache/dq/venv`).
//!
//! The publish and call operations run against a vhost with no queues: most messages are
//! unroutable (422 REJECTED) or go to an exchange that does not exist (404), and a call's
//! wait is cut short by the hooks (504 TIMEOUT, documented).
//!
//! The XA operations run for real, over two empty databases of the test's own named as the
//! document's example names them (`order`, `finance`): a statement fuzzed into SQL fails on
//! its server (409, rolled back) or is refused (422), before anything is prepared; an id fuzzed
//! into the pattern has no prepared branch (404). No xa worker runs (`--no-workers`).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use dq_testkit::mysql::TestDatabases;
use dq_testkit::*;
use support::GatewayProcess;
use tokio::task::block_in_place;

const TOKEN: &str = "schemathesis-token";

/// A program of the test venv; panics saying how to install it when it is missing.
fn tool(name: &str) -> PathBuf {
    let path = dq_testkit::smtp::venv().join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/setup.sh` (it installs schemathesis and openapi-spec-validator into {})",
        path.display(),
        dq_testkit::smtp::venv().display()
    );
    path
}

fn here(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let out = Command::new(tool("openapi-spec-validator"))
        .arg(here("openapi.json"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openapi-spec-validator: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_in_any_operation() {
    let schemathesis = tool("schemathesis");
    let scratch = Scratch::new(&[REDIS]);
    let vhost = TestVhost::new();
    let databases = TestDatabases::new(&["order", "finance", "log"]);
    let dir = TempDir::new();
    let config = dir.write(
        "gateway.toml",
        &format!(
            "mysql = \"{}\"\n[databases]\norder = \"{}\"\nfinance = \"{}\"\n",
            databases.url("log"),
            databases.url("order"),
            databases.url("finance")
        ),
    );
    let amqp = vhost.url();
    let gateway = block_in_place(|| {
        GatewayProcess::start_api_only(
            &config,
            &scratch.prefix,
            &[("DQ_TOKEN", TOKEN), ("DQ_AMQP", &amqp)],
        )
    });
    let base = format!("http://{}", gateway.address);
    let settings = here("tests/schemathesis");
    let out = block_in_place(|| {
        Command::new(&schemathesis)
            .arg("--config-file")
            .arg(settings.join("schemathesis.toml"))
            .arg("--no-color")
            .arg("run")
            .arg(format!("{base}/openapi.json"))
            .args(["--url", &base])
            .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
            .args(["--checks", "all"])
            // Hypothesis's caches go to the temporary directory, removed with it.
            .current_dir(dir.path())
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", &settings)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let warnings: Vec<String> = gateway
        .logs()
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .map(str::to_string)
        .collect();
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}\n--- the gateway's warnings ---\n{}",
        warnings.join("\n")
    );
    let prepared = databases.prepared(&["order", "finance"]);
    assert!(
        prepared.is_empty(),
        "fuzzing left XA branches prepared: {prepared:?}"
    );
    println!("{report}");
}
