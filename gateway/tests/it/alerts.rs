//! E-mail alerts from a running gateway to a real SMTP receiver (aiosmtpd): a topic's dead
//! letter mailed to `[alerts] to` and the topic's `alert_email`, and a private Redis shard
//! killed and started again mailed as down and up.

use std::time::{Duration, Instant};

use dq_testkit::smtp::SmtpSink;
use dq_testkit::{PrivateRedis, Scratch, TempDir};

use crate::support::{GatewayProcess, http_call};

#[test]
fn dead_letters_and_a_redis_shard_down_and_up_are_mailed() {
    let smtp = SmtpSink::start();
    let mut redis = PrivateRedis::start();
    let scratch = Scratch::new(&[&redis.url()]);
    let dir = TempDir::new();
    let config = dir.write(
        "gateway.toml",
        &format!(
            "timeout = 0.5\n\
             [alerts]\n\
             smtp = \"smtp://127.0.0.1:{}\"\n\
             from = \"dq <dq@gateway.test>\"\n\
             to = [\"ops@shop.test\"]\n\
             alert_interval = 1\n\
             [[topic]]\n\
             name = \"pay.notify\"\n\
             callback = \"http://127.0.0.1:9/refused\"\n\
             retry = []\n\
             alert_email = \"owner@shop.test, ops@shop.test\"\n",
            smtp.port
        ),
    );
    let url = redis.url();
    let gateway = GatewayProcess::start_with(&config, &scratch.prefix, &[("DQ_REDIS", &url)]);
    let (status, body) = http_call(
        &gateway.address,
        "POST",
        "/v1/topics/pay.notify/messages",
        Some(r#"{"id":"order-7","body":{"amount":5}}"#),
        &[],
    );
    assert_eq!(status, 201, "{body}");
    let mails = smtp.wait_for(1, Duration::from_secs(15));
    let dead = &mails[0];
    assert_eq!(dead.subject(), "[dq] dead letter in topic pay.notify");
    assert!(dead.data.contains("Message id:   order-7"), "{}", dead.data);
    let mut to = dead.to.clone();
    to.sort();
    assert_eq!(to, ["ops@shop.test", "owner@shop.test"]);

    // The shard goes away: a mail once two checks (5 s apart) failed; back: another.
    redis.stop();
    let stopped = Instant::now();
    let mails = smtp.wait_for(2, Duration::from_secs(30));
    assert_eq!(
        mails[1].subject(),
        format!("[dq] Redis shard {url} is down"),
        "{}",
        gateway.logs()
    );
    assert!(
        stopped.elapsed() >= Duration::from_secs(4),
        "not at the first failed check"
    );
    redis.restart();
    let mails = smtp.wait_for(3, Duration::from_secs(30));
    let up = mails[2].subject();
    assert!(
        up.starts_with(&format!("[dq] Redis shard {url} is up again (down ")),
        "{up}"
    );
    let (_, metrics) = http_call(&gateway.address, "GET", "/metrics", None, &[]);
    for kind in ["dead_letter", "backend_down", "backend_up"] {
        assert!(
            metrics.contains(&format!(
                "dq_alerts_total{{kind=\"{kind}\",outcome=\"mailed\"}} 1"
            )),
            "{kind}: {metrics}"
        );
    }
}

#[test]
fn alert_test_sends_one_mail_or_says_why_not() {
    let smtp = SmtpSink::start();
    let dir = TempDir::new();
    let run = |toml: &str| {
        let config = dir.write("gateway.toml", toml);
        std::process::Command::new(env!("CARGO_BIN_EXE_dq-gateway"))
            .arg("--config")
            .arg(&config)
            .arg("alert-test")
            .env("DQ_LOG", "warn")
            .output()
            .unwrap()
    };
    let alerts = |smtp: &str| {
        format!(
            "[alerts]\nsmtp = \"{smtp}\"\nfrom = \"dq@gateway.test\"\nto = [\"ops@shop.test\"]\n"
        )
    };
    let out = run(&alerts(&format!("smtp://127.0.0.1:{}", smtp.port)));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("to ops@shop.test"), "{stdout}");
    assert_eq!(smtp.mails()[0].subject(), "[dq] test alert");
    let out = run(&alerts(&format!(
        "smtp://ops:hunter2@127.0.0.1:{}",
        dq_testkit::free_port()
    )));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("SMTP smtp://ops:***@127.0.0.1:"),
        "{stderr}"
    );
    let out = run("");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[alerts] is not set"));
}
