//! `Dq\Job`: a pull topic's message reserved by `Dq\Client::reserve`, settled once with `ack`,
//! `retry` or `fail`; and the job as the worker loop of `Dq\Client::work` takes it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dq_core::{BlockingQueue, ErrorKind, Job as Reserved, Retried};
use ext_php_rs::convert::IntoZval;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;

use crate::convert;
use crate::errors::{internal, invalid, to_php};
use crate::interfaces::PhpInterfaceJobInterface;
use crate::worker_loop::Work;

/// A reserved job, shared by its PHP object and the worker loop that handed it out.
pub(crate) struct Held {
    queue: BlockingQueue,
    job: Reserved,
    /// How it was settled, once it was.
    settled: Mutex<Option<&'static str>>,
}

impl Held {
    pub(crate) fn new(queue: BlockingQueue, job: Reserved) -> Arc<Held> {
        Arc::new(Held {
            queue,
            job,
            settled: Mutex::new(None),
        })
    }

    fn settled_as(&self) -> Option<&'static str> {
        *self.settled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Settles the job once: a second settlement is refused, naming the first. A settlement
    /// that failed on the way (Redis unreachable) may be tried again; one that found the lease
    /// gone may not.
    fn settle<T>(
        &self,
        how: &'static str,
        call: impl FnOnce(&BlockingQueue, &Reserved) -> dq_core::Result<T>,
    ) -> PhpResult<T> {
        let mut settled = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(done) = *settled {
            return Err(invalid(format!(
                "job \"{}\" of topic \"{}\" was {done} already: a job is settled once (ack, retry or fail)",
                self.job.id, self.job.topic
            )));
        }
        let result = call(&self.queue, &self.job);
        match &result {
            Ok(_) => *settled = Some(how),
            Err(e) if e.kind() == ErrorKind::LeaseLost => *settled = Some("lost"),
            Err(_) => {}
        }
        result.map_err(to_php)
    }

    fn ack(&self) -> PhpResult<()> {
        self.settle("acked", |queue, job| queue.ack(&job.topic, &job.lease))
    }

    fn retry(&self, delay: Option<Duration>, error: &str) -> PhpResult<Retried> {
        self.settle("retried", |queue, job| {
            queue.retry(&job.topic, &job.lease, delay, error)
        })
    }
}

/// A reserved job. Its lease lasts the topic's `timeout_ms`; a job not settled by then is
/// reserved again (and `ack` then throws, code 11).
#[php_class]
#[php(name = "Dq\\Job")]
#[php(flags = ClassFlags::Final)]
#[php(implements(PhpInterfaceJobInterface))]
pub struct Job {
    held: Arc<Held>,
}

#[php_impl]
impl Job {
    pub fn id(&self) -> String {
        self.held.job.id.clone()
    }

    pub fn topic(&self) -> String {
        self.held.job.topic.clone()
    }

    /// The body as it was added (arrays and objects come back as arrays).
    pub fn body(&self) -> PhpResult<Zval> {
        convert::to_zval(&self.held.job.body_value().map_err(to_php)?)
    }

    /// This attempt's number, 1 for the first.
    pub fn attempt(&self) -> i64 {
        i64::from(self.held.job.attempt)
    }

    /// Attempts in all that the topic allows.
    pub fn max_attempts(&self) -> i64 {
        i64::from(self.held.job.max_attempts)
    }

    /// When it was due, unix seconds.
    pub fn due_at(&self) -> f64 {
        self.held.job.due_at_ms as f64 / 1000.0
    }

    /// Names the reservation (the HTTP routes' `{lease}`).
    pub fn lease(&self) -> String {
        self.held.job.lease.clone()
    }

    /// When the lease expires and the job may be reserved again, unix seconds.
    pub fn lease_expires_at(&self) -> f64 {
        self.held.job.lease_expires_at_ms as f64 / 1000.0
    }

    /// Whether it was settled (ack, retry or fail).
    pub fn settled(&self) -> bool {
        self.held.settled_as().is_some()
    }

    /// Done: the job is removed.
    pub fn ack(&self) -> PhpResult<()> {
        self.held.ack()
    }

    /// Again later: after `$delay` seconds, or the topic's retry ladder. False when that was
    /// the topic's last attempt and the job became a dead letter instead.
    #[php(defaults(delay = None))]
    pub fn retry(&self, delay: Option<f64>) -> PhpResult<bool> {
        let delay = delay
            .map(|d| dq_core::input::delay_from_seconds("delay", d, dq_core::input::MAX_ADD_DELAY))
            .transpose()
            .map_err(to_php)?;
        let retried = self.held.retry(delay, "retry asked by the worker")?;
        Ok(matches!(retried, Retried::Scheduled(_)))
    }

    /// Given up: the job becomes a dead letter with `$reason` as its last error.
    pub fn fail(&self, reason: &str) -> PhpResult<()> {
        self.held.settle("failed", |queue, job| {
            queue.fail(&job.topic, &job.lease, reason)
        })
    }
}

impl Job {
    pub(crate) fn new(held: Arc<Held>) -> Job {
        Job { held }
    }
}

/// A job in the worker loop of `Dq\Client::work`: acked when the handler returns; when it
/// throws, retried on the topic's ladder (`requeue_on_error`, the default) or failed at once.
impl Work for Arc<Held> {
    fn to_php(&self) -> PhpResult<Zval> {
        Job::new(self.clone())
            .into_zval(false)
            .map_err(|e| internal(format!("cannot make a Dq\\Job: {e}")))
    }

    fn settled(&self) -> bool {
        self.settled_as().is_some()
    }

    fn done(&self) -> PhpResult<()> {
        self.ack()
    }

    fn failed(&self, requeue_on_error: bool, error: &str) -> PhpResult<String> {
        if !requeue_on_error {
            self.settle("failed", |queue, job| {
                queue.fail(&job.topic, &job.lease, error)
            })?;
            return Ok("the job became a dead letter: requeue_on_error is false".to_string());
        }
        Ok(match self.retry(None, error)? {
            Retried::Scheduled(_) => format!(
                "the job was scheduled again on the topic's retry ladder (attempt {} of {} next)",
                self.job.attempt + 1,
                self.job.max_attempts
            ),
            Retried::Dead => format!(
                "the job became a dead letter: that was the last of its {} attempts",
                self.job.max_attempts
            ),
        })
    }
}

/// `Dq\Client::reserve`'s wait, checked.
pub(crate) fn reserve_wait(timeout: f64) -> PhpResult<Duration> {
    dq_core::input::delay_from_seconds("timeout", timeout, dq_core::MAX_RESERVE_WAIT)
        .map_err(to_php)
}
