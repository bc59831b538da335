//! E-mail alerts over SMTP (lettre): a dead letter, a backend down and back up, an outbox
//! backlog older than its bound, an XA transaction in doubt.
//!
//! - One [`Alerts`] per gateway. [`Alerts::raise`] never waits: alerts go through a bounded
//!   queue to one task that limits and mails them; what does not fit is counted as failed.
//! - At most one mail per alert key and `interval`: a topic's or a subscription's dead letters,
//!   one backend, one outbox database, one XA transaction. The first alert of a key is mailed
//!   at once; those after it within the interval are held back and counted, and when the
//!   interval ends with some held back, one mail says how many and shows the latest (and a new
//!   interval starts). A burst of 10,000 dead letters is two mails, not 10,000.
//! - `smtp://user:pass@host:port` uses STARTTLS when the server offers it (`?tls=required`
//!   refuses a server that does not, `?tls=none` never asks); `smtps://` is TLS from the first
//!   byte. Certificates are checked against the system's roots, plus `ca` when given.
//! - A mail that fails is tried again (after 1 s, 5 s, 25 s), then logged and counted.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;

use crate::config::mask_password;
use crate::error::{Error, Result};

/// Alerts waiting for the mailing task; more are counted as failed.
const QUEUE: usize = 4096;
/// The waits before a failed mail is tried again.
const RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(25),
];
/// Recipients of one alert at most (the configured ones and a topic's `alert_email`).
pub const MAX_RECIPIENTS: usize = 50;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS when the server offers it (`smtp://`, the default).
    Opportunistic,
    /// STARTTLS or nothing is sent (`smtp://...?tls=required`).
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
    /// Never (`smtp://...?tls=none`).
    Off,
}

/// A checked SMTP server URL; shown with its password masked.
#[derive(Clone, PartialEq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    password: Option<String>,
    pub tls: SmtpTls,
    text: String,
}

impl SmtpUrl {
    /// Reads `smtp://[user[:password]@]host[:port][?tls=required|opportunistic|none]` or
    /// `smtps://...`; the error names the value (its password masked).
    pub fn parse(text: &str) -> Result<SmtpUrl> {
        let shown = mask_password(text);
        let bad = |why: &str| Error::invalid(format!("smtp {shown:?} is invalid: {why}"));
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(bad(&format!(
                    "scheme {other:?}: expected smtp:// or smtps://"
                )));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("it names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !matches!(url.path(), "" | "/") {
            return Err(bad("an SMTP URL has no path"));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad("its user or password is not UTF-8 once decoded"))
        };
        let user = match url.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = url.password().map(decode).transpose()?;
        let mut tls = if implicit {
            SmtpTls::Implicit
        } else {
            SmtpTls::Opportunistic
        };
        for (key, value) in url.query_pairs() {
            tls = match (key.as_ref(), value.as_ref(), implicit) {
                ("tls", "opportunistic", false) => SmtpTls::Opportunistic,
                ("tls", "required", false) => SmtpTls::Required,
                ("tls", "none", false) => SmtpTls::Off,
                ("tls", _, true) => {
                    return Err(bad("smtps:// is always TLS: leave out tls="));
                }
                _ => {
                    return Err(bad(&format!(
                        "unknown option {key}={value}: expected tls=required, tls=opportunistic \
                         or tls=none"
                    )));
                }
            };
        }
        Ok(SmtpUrl {
            host,
            port: url.port().unwrap_or(if implicit { 465 } else { 25 }),
            user,
            password,
            tls,
            text: text.to_string(),
        })
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_password(&self.text))
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}

/// One address (`ops@example.com` or `Ops <ops@example.com>`), checked; the error names it.
pub fn mailbox(what: &str, text: &str) -> Result<Mailbox> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| Error::invalid(format!("{what} {text:?} is not an e-mail address ({e})")))
}

/// Where alerts are mailed, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    pub smtp: SmtpUrl,
    pub from: Mailbox,
    /// Recipients of every alert (a topic's `alert_email` adds its own).
    pub to: Vec<Mailbox>,
    /// At most one mail per alert key within this.
    pub interval: Duration,
    /// Bound on each SMTP exchange.
    pub timeout: Duration,
    /// A CA certificate (PEM) trusted beside the system's roots.
    pub ca: Option<Vec<u8>>,
    /// Names the sender in each mail (the gateway's host name).
    pub source: String,
}

/// Whose dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Topic,
    Subscription,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Topic => "topic",
            Origin::Subscription => "subscription",
        }
    }
}

/// A message given up, as the workers tell their observers.
#[derive(Debug, Clone, Copy)]
pub struct GivenUp<'a> {
    pub id: &'a str,
    /// Attempts made, the last included.
    pub attempts: u32,
    pub status: Option<u16>,
    pub error: &'a str,
    /// The receiver asked for it (410): no alert, it is not a failure.
    pub asked: bool,
}

/// Something an operator must hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum Alert {
    /// A message was given up after its last attempt.
    DeadLetter {
        origin: Origin,
        name: String,
        id: String,
        attempts: u32,
        status: Option<u16>,
        error: String,
        /// The topic's `alert_email`: recipients beside the configured ones.
        recipients: Vec<String>,
    },
    /// A backend stopped answering (`backend` names it: "Redis shard redis://...").
    Down { backend: String, error: String },
    /// A backend answers again after `down_for`.
    Up { backend: String, down_for: Duration },
    /// An outbox's oldest unsent row is older than `bound`.
    OutboxBacklog {
        database: String,
        unsent: u64,
        oldest: Duration,
        bound: Duration,
    },
    /// A prepared branch whose decision could not be applied.
    InDoubt {
        transaction: String,
        branch: String,
        error: String,
    },
}

impl Alert {
    /// The alert for a message given up, unless the receiver asked for it (410).
    pub fn dead_letter(
        origin: Origin,
        name: &str,
        given: &GivenUp<'_>,
        recipients: &[String],
    ) -> Option<Alert> {
        (!given.asked).then(|| Alert::DeadLetter {
            origin,
            name: name.to_string(),
            id: given.id.to_string(),
            attempts: given.attempts,
            status: given.status,
            error: given.error.to_string(),
            recipients: recipients.to_vec(),
        })
    }

    /// The metric label of its kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Alert::DeadLetter { .. } => "dead_letter",
            Alert::Down { .. } => "backend_down",
            Alert::Up { .. } => "backend_up",
            Alert::OutboxBacklog { .. } => "outbox_backlog",
            Alert::InDoubt { .. } => "xa_in_doubt",
        }
    }

    /// What the rate limit counts by: a backend's down and up share one key.
    pub fn key(&self) -> String {
        match self {
            Alert::DeadLetter { origin, name, .. } => format!("dead:{}:{name}", origin.as_str()),
            Alert::Down { backend, .. } | Alert::Up { backend, .. } => format!("backend:{backend}"),
            Alert::OutboxBacklog { database, .. } => format!("outbox:{database}"),
            Alert::InDoubt { transaction, .. } => format!("xa:{transaction}"),
        }
    }

    /// The mail's subject, without the `[dq]` mark.
    pub fn subject(&self) -> String {
        match self {
            Alert::DeadLetter { origin, name, .. } => {
                format!("dead letter in {} {name}", origin.as_str())
            }
            Alert::Down { backend, .. } => format!("{backend} is down"),
            Alert::Up { backend, down_for } => {
                format!("{backend} is up again (down {})", span(*down_for))
            }
            Alert::OutboxBacklog {
                database, oldest, ..
            } => format!(
                "outbox {database}: the oldest unsent row is {} old",
                span(*oldest)
            ),
            Alert::InDoubt { transaction, .. } => format!("XA transaction {transaction} in doubt"),
        }
    }

    /// The mail's text: what happened, and what to look at.
    pub fn text(&self) -> String {
        match self {
            Alert::DeadLetter {
                origin,
                name,
                id,
                attempts,
                status,
                error,
                ..
            } => {
                let status = status.map_or("none".to_string(), |s| s.to_string());
                let (listing, requeue) = match origin {
                    Origin::Topic => (
                        format!("GET /v1/topics/{name}/dead"),
                        format!("POST /v1/topics/{name}/dead/requeue"),
                    ),
                    Origin::Subscription => (
                        format!("GET /v1/subscriptions/{name}/dead"),
                        format!("POST /v1/subscriptions/{name}/dead/requeue"),
                    ),
                };
                format!(
                    "A message of {} {name} was given up after {attempts} attempt(s).\n\n\
                     Message id:   {id}\n\
                     Last status:  {status}\n\
                     Last error:   {error}\n\n\
                     The dead letters: {listing} (or the admin UI's Dead letters page);\n\
                     once the receiver is fixed, {requeue} delivers them again.\n",
                    origin.as_str()
                )
            }
            Alert::Down { backend, error } => format!(
                "{backend} does not answer.\n\nError: {error}\n\n\
                 The gateway keeps trying; another mail says when it answers again.\n"
            ),
            Alert::Up { backend, down_for } => format!(
                "{backend} answers again after {} without an answer.\n",
                span(*down_for)
            ),
            Alert::OutboxBacklog {
                database,
                unsent,
                oldest,
                bound,
            } => format!(
                "The outbox of database {database} has {unsent} unsent row(s); the oldest was \
                 written {} ago (the bound, outbox.alert_after, is {}).\n\n\
                 Look at /healthz (outbox.{database}) for the relay's error: RabbitMQ or Redis \
                 away, or rows refused.\n",
                span(*oldest),
                span(*bound)
            ),
            Alert::InDoubt {
                transaction,
                branch,
                error,
            } => format!(
                "A prepared branch of XA transaction {transaction} on {branch} could not be \
                 finished.\n\nError: {error}\n\n\
                 Recovery tries again every pass; GET /v1/xa?state=in_doubt lists it, and \
                 POST /v1/xa/{transaction}/commit or /rollback decides it by hand.\n"
            ),
        }
    }

    fn recipients(&self) -> &[String] {
        match self {
            Alert::DeadLetter { recipients, .. } => recipients,
            _ => &[],
        }
    }
}

/// A duration as people read it: `850 ms`, `42 s`, `3 min 5 s`, `2 h 10 min`.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        format!("{} ms", d.as_millis())
    } else if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{} h {} min", s / 3600, s % 3600 / 60)
    }
}

/// One mail to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub kind: &'static str,
    pub subject: String,
    pub text: String,
    /// Beside the configured recipients.
    pub recipients: Vec<String>,
}

impl Mail {
    fn of(alert: &Alert) -> Mail {
        Mail {
            kind: alert.kind(),
            subject: alert.subject(),
            text: alert.text(),
            recipients: alert.recipients().to_vec(),
        }
    }
}

/// One key's interval.
struct Window {
    ends: Instant,
    started: SystemTime,
    held: u64,
    latest: Option<Alert>,
}

/// At most one mail per key and interval; what is held back is counted and summed up in one
/// mail when the interval ends. Pure: the caller says what time it is.
pub struct Limiter {
    interval: Duration,
    windows: HashMap<String, Window>,
}

impl Limiter {
    pub fn new(interval: Duration) -> Limiter {
        Limiter {
            interval,
            windows: HashMap::new(),
        }
    }

    /// The mail for `alert` now, or `None` when it is held back.
    pub fn admit(&mut self, alert: Alert, now: Instant) -> Option<Mail> {
        let key = alert.key();
        match self.windows.get_mut(&key) {
            Some(window) if now < window.ends => {
                window.held += 1;
                window.latest = Some(alert);
                None
            }
            _ => {
                self.windows.insert(
                    key,
                    Window {
                        ends: now + self.interval,
                        started: SystemTime::now(),
                        held: 0,
                        latest: None,
                    },
                );
                Some(Mail::of(&alert))
            }
        }
    }

    /// When the next interval ends, if any is open.
    pub fn next_end(&self) -> Option<Instant> {
        self.windows.values().map(|w| w.ends).min()
    }

    /// The summaries of the intervals that ended by `now` with alerts held back (each starts
    /// a new interval); the intervals that ended with none are closed.
    pub fn due(&mut self, now: Instant) -> Vec<Mail> {
        let mut mails = Vec::new();
        let interval = self.interval;
        self.windows.retain(|_, window| {
            if now < window.ends {
                return true;
            }
            let Some(latest) = window.latest.take() else {
                return false;
            };
            let held = std::mem::take(&mut window.held);
            let since = chrono::DateTime::<chrono::Utc>::from(window.started)
                .format("%Y-%m-%d %H:%M:%S UTC");
            let mut mail = Mail::of(&latest);
            mail.subject = format!("{held} more: {}", mail.subject);
            mail.text = format!(
                "{held} more alert(s) like this one since {since} were held back (at most one \
                 mail per {} for each topic, subscription, backend, outbox and transaction).\n\
                 The latest:\n\n{}",
                span(interval),
                mail.text
            );
            mails.push(mail);
            window.ends = now + interval;
            window.started = SystemTime::now();
            true
        });
        mails
    }
}

/// What alerts report to (the gateway's metrics).
pub trait AlertObserver: Send + Sync {
    /// A mail of `kind` was accepted by the SMTP server.
    fn mailed(&self, _kind: &str) {}
    /// An alert of `kind` was held back by the rate limit.
    fn held(&self, _kind: &str) {}
    /// A mail of `kind` could not be sent (after its retries), or the queue was full.
    fn failed(&self, _kind: &str) {}
}

struct NoAlertObserver;
impl AlertObserver for NoAlertObserver {}

/// The gateway's alerts: raise them, and they are limited and mailed.
pub struct Alerts {
    queue: mpsc::Sender<Alert>,
    observer: Arc<dyn AlertObserver>,
}

impl Alerts {
    /// Starts the mailing task (on the current runtime); the error says what in `config`
    /// cannot be used (a CA that is not PEM).
    pub fn start(config: AlertConfig, observer: Option<Arc<dyn AlertObserver>>) -> Result<Alerts> {
        let observer = observer.unwrap_or_else(|| Arc::new(NoAlertObserver));
        let mailer = Arc::new(Mailer::new(&config)?);
        let (queue, alerts) = mpsc::channel(QUEUE);
        tracing::info!(smtp = %config.smtp, to = config.to.len(),
            interval_s = config.interval.as_secs_f64(), "e-mail alerts on");
        tokio::spawn(run(
            alerts,
            Limiter::new(config.interval),
            mailer,
            observer.clone(),
        ));
        Ok(Alerts { queue, observer })
    }

    /// Hands `alert` to the mailing task; never waits.
    pub fn raise(&self, alert: Alert) {
        let kind = alert.kind();
        if self.queue.try_send(alert).is_err() {
            self.observer.failed(kind);
            tracing::warn!(kind, "alert dropped: the mail queue is full");
        }
    }

    /// Sends one test mail now (`dq-gateway alert-test`), bypassing the rate limit.
    pub async fn send_now(config: &AlertConfig, subject: &str, text: &str) -> Result<()> {
        let mailer = Mailer::new(config)?;
        let mail = Mail {
            kind: "test",
            subject: subject.to_string(),
            text: text.to_string(),
            recipients: Vec::new(),
        };
        mailer.send_once(&mail).await
    }
}

/// The mailing task: limits, then sends each mail in a task of its own (a slow server does
/// not hold the others back).
async fn run(
    mut alerts: mpsc::Receiver<Alert>,
    mut limiter: Limiter,
    mailer: Arc<Mailer>,
    observer: Arc<dyn AlertObserver>,
) {
    let send = |mail: Mail| {
        let (mailer, observer) = (mailer.clone(), observer.clone());
        tokio::spawn(async move {
            if mailer.send(&mail).await {
                observer.mailed(mail.kind);
            } else {
                observer.failed(mail.kind);
            }
        });
    };
    loop {
        let next = limiter.next_end();
        tokio::select! {
            alert = alerts.recv() => {
                let Some(alert) = alert else { break };
                let kind = alert.kind();
                match limiter.admit(alert, Instant::now()) {
                    Some(mail) => send(mail),
                    None => observer.held(kind),
                }
            }
            () = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => {
                for mail in limiter.due(Instant::now()) {
                    send(mail);
                }
            }
        }
    }
}

/// The SMTP side.
struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    source: String,
    smtp: String,
}

impl Mailer {
    fn new(config: &AlertConfig) -> Result<Mailer> {
        let smtp = &config.smtp;
        let tls = |what: &str| -> Result<TlsParameters> {
            let mut params = TlsParameters::builder(smtp.host.clone());
            if let Some(pem) = &config.ca {
                let cert = Certificate::from_pem(pem).map_err(|e| {
                    Error::invalid(format!("alerts.ca is not a PEM certificate: {e}"))
                })?;
                params = params.add_root_certificate(cert);
            }
            params
                .build_rustls()
                .map_err(|e| Error::invalid(format!("{what} for {smtp}: {e}")))
        };
        let tls = match smtp.tls {
            SmtpTls::Off => Tls::None,
            SmtpTls::Opportunistic => Tls::Opportunistic(tls("STARTTLS")?),
            SmtpTls::Required => Tls::Required(tls("STARTTLS")?),
            SmtpTls::Implicit => Tls::Wrapper(tls("TLS")?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .timeout(Some(config.timeout))
            .tls(tls);
        if let Some(user) = &smtp.user {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                smtp.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: config.from.clone(),
            to: config.to.clone(),
            source: config.source.clone(),
            smtp: smtp.to_string(),
        })
    }

    /// Sends `mail`, trying again after each of `RETRIES`; whether it went.
    async fn send(&self, mail: &Mail) -> bool {
        let mut waits = RETRIES.iter();
        loop {
            match self.send_once(mail).await {
                Ok(()) => {
                    tracing::info!(kind = mail.kind, subject = %mail.subject, "alert mailed");
                    return true;
                }
                Err(e) => match waits.next() {
                    Some(wait) => {
                        tracing::debug!(kind = mail.kind, error = %e, retry_in_s = wait.as_secs(), "alert mail failed");
                        tokio::time::sleep(*wait).await;
                    }
                    None => {
                        tracing::warn!(kind = mail.kind, subject = %mail.subject, smtp = %self.smtp,
                            error = %e, "alert mail failed; given up");
                        return false;
                    }
                },
            }
        }
    }

    async fn send_once(&self, mail: &Mail) -> Result<()> {
        let mut to: Vec<Mailbox> = self.to.clone();
        for extra in &mail.recipients {
            // Checked when the topic was written; one that fails now is left out.
            if let Ok(address) = mailbox("alert_email", extra)
                && !to.iter().any(|t| t.email == address.email)
            {
                to.push(address);
            }
        }
        to.truncate(MAX_RECIPIENTS);
        if to.is_empty() {
            return Err(Error::invalid(
                "the alert has no recipient: set [alerts] to",
            ));
        }
        let when = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
        let message = Message::builder()
            .from(self.from.clone())
            .mailbox(lettre::message::header::To::from(
                to.into_iter().collect::<Mailboxes>(),
            ))
            .subject(format!("[dq] {}", mail.subject))
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "{}\n-- \ndq-gateway on {}, {when}\n",
                mail.text, self.source
            ))
            .map_err(|e| Error::internal(format!("the alert mail cannot be built: {e}")))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| {
            Error::new(
                crate::ErrorKind::Connection,
                format!("SMTP {}: {e}", self.smtp),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(name: &str, id: &str) -> Alert {
        Alert::DeadLetter {
            origin: Origin::Topic,
            name: name.to_string(),
            id: id.to_string(),
            attempts: 6,
            status: Some(500),
            error: "HTTP 500".to_string(),
            recipients: vec!["owner@example.com".to_string()],
        }
    }

    #[test]
    fn the_first_alert_of_a_key_is_mailed_and_the_rest_are_summed_up_when_the_interval_ends() {
        let mut limiter = Limiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let first = limiter
            .admit(dead("a", "1"), t0)
            .expect("the first is mailed");
        assert_eq!(first.subject, "dead letter in topic a");
        assert!(first.text.contains("Message id:   1"), "{}", first.text);
        assert_eq!(first.recipients, ["owner@example.com"]);
        for i in 2..=10 {
            assert!(limiter.admit(dead("a", &i.to_string()), t0).is_none());
        }
        // Another key has its own interval.
        assert!(limiter.admit(dead("b", "1"), t0).is_some());
        assert!(limiter.due(t0 + Duration::from_secs(59)).is_empty());
        let due = limiter.due(t0 + Duration::from_secs(60));
        assert_eq!(due.len(), 1, "b held nothing back: no summary");
        assert_eq!(due[0].subject, "9 more: dead letter in topic a");
        assert!(due[0].text.contains("Message id:   10"), "the latest shown");
        // The summary opened a new interval: the next alert is held back again.
        assert!(
            limiter
                .admit(dead("a", "11"), t0 + Duration::from_secs(61))
                .is_none()
        );
        // b's interval closed without anything: its next alert goes at once.
        assert!(
            limiter
                .admit(dead("b", "2"), t0 + Duration::from_secs(61))
                .is_some()
        );
        let due = limiter.due(t0 + Duration::from_secs(120));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].subject, "1 more: dead letter in topic a");
        // An interval that ends with nothing held back closes; the next alert goes at once.
        assert!(limiter.due(t0 + Duration::from_secs(180)).is_empty());
        assert_eq!(limiter.next_end(), None);
        assert!(
            limiter
                .admit(dead("a", "12"), t0 + Duration::from_secs(181))
                .is_some()
        );
    }

    #[test]
    fn a_backend_going_down_and_up_shares_one_key() {
        let mut limiter = Limiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let down = Alert::Down {
            backend: "Redis shard redis://127.0.0.1:1".into(),
            error: "refused".into(),
        };
        let up = Alert::Up {
            backend: "Redis shard redis://127.0.0.1:1".into(),
            down_for: Duration::from_secs(75),
        };
        assert_eq!(
            limiter.admit(down, t0).unwrap().subject,
            "Redis shard redis://127.0.0.1:1 is down"
        );
        assert!(limiter.admit(up, t0 + Duration::from_secs(1)).is_none());
        let due = limiter.due(t0 + Duration::from_secs(60));
        assert_eq!(
            due[0].subject,
            "1 more: Redis shard redis://127.0.0.1:1 is up again (down 1 min 15 s)"
        );
    }

    #[test]
    fn smtp_urls_are_read_and_bad_ones_named_with_the_password_masked() {
        let url = SmtpUrl::parse("smtp://ops%40example.com:s3cr%2Ft@mail.example.com:587").unwrap();
        assert_eq!(url.host, "mail.example.com");
        assert_eq!(url.port, 587);
        assert_eq!(url.user.as_deref(), Some("ops@example.com"));
        assert_eq!(url.password.as_deref(), Some("s3cr/t"));
        assert_eq!(url.tls, SmtpTls::Opportunistic);
        assert!(!url.to_string().contains("s3cr"), "{url}");
        let url = SmtpUrl::parse("smtps://mail.example.com").unwrap();
        assert_eq!((url.port, url.tls), (465, SmtpTls::Implicit));
        assert_eq!(SmtpUrl::parse("smtp://h").unwrap().port, 25);
        assert_eq!(
            SmtpUrl::parse("smtp://h?tls=required").unwrap().tls,
            SmtpTls::Required
        );
        assert_eq!(
            SmtpUrl::parse("smtp://h?tls=none").unwrap().tls,
            SmtpTls::Off
        );
        for (bad, words) in [
            ("http://u:hunter2@h", "scheme \"http\""),
            ("smtp://u:hunter2@h/x", "no path"),
            ("smtp://u:hunter2@h?tls=maybe", "tls=maybe"),
            ("smtps://u:hunter2@h?tls=none", "always TLS"),
            ("smtp://", "no host"),
        ] {
            let e = SmtpUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains(words), "{bad}: {e}");
            assert!(!e.contains("hunter2"), "{bad}: {e}");
        }
    }

    #[test]
    fn addresses_are_checked() {
        assert_eq!(
            mailbox("to", "Ops <ops@example.com>")
                .unwrap()
                .email
                .to_string(),
            "ops@example.com"
        );
        let e = mailbox("alert_email", "not an address").unwrap_err();
        assert!(
            e.to_string().contains("alert_email \"not an address\""),
            "{e}"
        );
    }

    #[test]
    fn spans_read_well() {
        assert_eq!(span(Duration::from_millis(850)), "850 ms");
        assert_eq!(span(Duration::from_secs(42)), "42 s");
        assert_eq!(span(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(span(Duration::from_secs(7800)), "2 h 10 min");
    }
}
