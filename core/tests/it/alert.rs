//! E-mail alerts against a real SMTP receiver (aiosmtpd, started by each test): mails with
//! their recipients, the rate limit's held-back count in the summary that follows, STARTTLS
//! with a private CA and AUTH, and what a server that cannot be trusted or signed in to makes
//! of a mail.

use std::time::Duration;

use dq_core::alert::{Alert, AlertConfig, Alerts, Origin, SmtpUrl, mailbox};
use dq_testkit::TempDir;
use dq_testkit::smtp::{SinkOptions, SmtpSink, localhost_certificate};

fn config(smtp: &str, interval: Duration) -> AlertConfig {
    AlertConfig {
        smtp: SmtpUrl::parse(smtp).unwrap(),
        from: mailbox("from", "dq <dq@gateway.test>").unwrap(),
        to: vec![mailbox("to", "ops@shop.test").unwrap()],
        interval,
        timeout: Duration::from_secs(5),
        ca: None,
        source: "test-host".to_string(),
    }
}

fn dead(topic: &str, id: &str) -> Alert {
    Alert::DeadLetter {
        origin: Origin::Topic,
        name: topic.to_string(),
        id: id.to_string(),
        attempts: 6,
        status: Some(503),
        error: "HTTP 503".to_string(),
        recipients: vec!["owner@shop.test".to_string(), "ops@shop.test".to_string()],
    }
}

#[tokio::test]
async fn dead_letters_are_mailed_once_per_interval_and_the_rest_summed_up() {
    let sink = SmtpSink::start();
    let url = format!("smtp://127.0.0.1:{}", sink.port);
    let alerts = Alerts::start(config(&url, Duration::from_secs(2)), None).unwrap();
    for i in 1..=5 {
        alerts.raise(dead("pay.notify", &format!("order-{i}")));
    }
    alerts.raise(dead("order.close", "o-1"));
    let mails = tokio::task::spawn_blocking(move || {
        let first = sink.wait_for(2, Duration::from_secs(10));
        // Nothing more until the interval ends.
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(sink.mails().len(), 2, "held back within the interval");
        let all = sink.wait_for(3, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(
            sink.mails().len(),
            3,
            "order.close held nothing back: no summary"
        );
        drop(first);
        all
    })
    .await
    .unwrap();
    let pay = mails
        .iter()
        .find(|m| m.subject() == "[dq] dead letter in topic pay.notify")
        .expect("pay.notify's first dead letter");
    assert!(pay.data.contains("Message id:   order-1"), "{}", pay.data);
    assert!(pay.data.contains("Last status:  503"), "{}", pay.data);
    assert!(pay.data.contains("dq-gateway on test-host"), "{}", pay.data);
    assert_eq!(pay.from, "dq@gateway.test");
    let mut to = pay.to.clone();
    to.sort();
    assert_eq!(to, ["ops@shop.test", "owner@shop.test"], "no address twice");
    assert!(!pay.tls, "the receiver offers no STARTTLS: plain");
    let summary = &mails[2];
    assert_eq!(
        summary.subject(),
        "[dq] 4 more: dead letter in topic pay.notify"
    );
    assert!(summary.data.contains("Message id:   order-5"), "the latest");
}

#[tokio::test]
async fn starttls_with_a_private_ca_and_auth() {
    let dir = TempDir::new();
    let (ca, cert, key) = localhost_certificate(dir.path());
    let sink = SmtpSink::with(SinkOptions {
        tls: Some((&cert, &key)),
        auth: Some(("ops", "s3cret/pw")),
    });
    let mut trusted = config(
        &format!(
            "smtp://ops:s3cret%2Fpw@localhost:{}?tls=required",
            sink.port
        ),
        Duration::from_secs(60),
    );
    trusted.ca = Some(std::fs::read(&ca).unwrap());
    Alerts::send_now(&trusted, "test", "a test alert")
        .await
        .unwrap();
    let mails = tokio::task::spawn_blocking(move || sink.wait_for(1, Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(mails[0].tls, "sent over STARTTLS");
    assert_eq!(mails[0].auth.as_deref(), Some("ops"));
    assert_eq!(mails[0].subject(), "[dq] test");
}

#[tokio::test]
async fn an_untrusted_certificate_or_a_wrong_password_is_an_error_that_says_so() {
    let dir = TempDir::new();
    let (ca, cert, key) = localhost_certificate(dir.path());
    let sink = SmtpSink::with(SinkOptions {
        tls: Some((&cert, &key)),
        auth: Some(("ops", "right")),
    });
    // STARTTLS offered, the certificate not trusted: nothing is sent in the clear instead.
    let untrusted = config(
        &format!("smtp://ops:right@localhost:{}", sink.port),
        Duration::from_secs(60),
    );
    let e = Alerts::send_now(&untrusted, "x", "x").await.unwrap_err();
    assert!(e.to_string().contains("smtp://ops:***@localhost"), "{e}");
    assert!(!e.to_string().contains("right"), "{e}");
    let mut wrong = config(
        &format!("smtp://ops:wrong@localhost:{}", sink.port),
        Duration::from_secs(60),
    );
    wrong.ca = Some(std::fs::read(&ca).unwrap());
    let e = Alerts::send_now(&wrong, "x", "x").await.unwrap_err();
    assert!(
        e.to_string().contains("535") || e.to_string().contains("uthentication"),
        "{e}"
    );
    assert!(sink.mails().is_empty());
    // Nobody listening.
    let closed = config(
        &format!("smtp://127.0.0.1:{}", dq_testkit::free_port()),
        Duration::from_secs(60),
    );
    let e = Alerts::send_now(&closed, "x", "x").await.unwrap_err();
    assert!(e.to_string().contains("SMTP smtp://127.0.0.1:"), "{e}");
}
