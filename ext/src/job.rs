//! `Dq\Job`: a pull topic's message reserved by `Dq\Client::reserve`, settled once with `ack`,
//! `retry` or `fail`.

use std::time::Duration;

use dq_core::{BlockingQueue, Job as Reserved, Retried};
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;

use crate::convert;
use crate::errors::{invalid, to_php};

/// A reserved job. Its lease lasts the topic's `timeout_ms`; a job not settled by then is
/// reserved again (and `ack` then throws, code 11).
#[php_class]
#[php(name = "Dq\\Job")]
#[php(flags = ClassFlags::Final)]
pub struct Job {
    queue: BlockingQueue,
    job: Reserved,
    /// How it was settled, once it was.
    settled: Option<&'static str>,
}

impl Job {
    pub(crate) fn new(queue: BlockingQueue, job: Reserved) -> Job {
        Job {
            queue,
            job,
            settled: None,
        }
    }

    /// Settles the job once: a second settlement is refused, naming the first. A settlement
    /// that failed on the way (Redis unreachable) may be tried again; one that found the lease
    /// gone may not.
    fn settle<T>(
        &mut self,
        how: &'static str,
        call: impl FnOnce(&BlockingQueue, &Reserved) -> dq_core::Result<T>,
    ) -> PhpResult<T> {
        if let Some(done) = self.settled {
            return Err(invalid(format!(
                "job \"{}\" of topic \"{}\" was {done} already: a job is settled once (ack, retry or fail)",
                self.job.id, self.job.topic
            )));
        }
        let result = call(&self.queue, &self.job);
        match &result {
            Ok(_) => self.settled = Some(how),
            Err(e) if e.kind() == dq_core::ErrorKind::LeaseLost => self.settled = Some("lost"),
            Err(_) => {}
        }
        result.map_err(to_php)
    }
}

#[php_impl]
impl Job {
    pub fn id(&self) -> String {
        self.job.id.clone()
    }

    pub fn topic(&self) -> String {
        self.job.topic.clone()
    }

    /// The body as it was added (arrays and objects come back as arrays).
    pub fn body(&self) -> PhpResult<Zval> {
        convert::to_zval(&self.job.body_value().map_err(to_php)?)
    }

    /// This attempt's number, 1 for the first.
    pub fn attempt(&self) -> i64 {
        i64::from(self.job.attempt)
    }

    /// Attempts in all that the topic allows.
    pub fn max_attempts(&self) -> i64 {
        i64::from(self.job.max_attempts)
    }

    /// When it was due, unix seconds.
    pub fn due_at(&self) -> f64 {
        self.job.due_at_ms as f64 / 1000.0
    }

    /// Names the reservation (the HTTP routes' `{lease}`).
    pub fn lease(&self) -> String {
        self.job.lease.clone()
    }

    /// When the lease expires and the job may be reserved again, unix seconds.
    pub fn lease_expires_at(&self) -> f64 {
        self.job.lease_expires_at_ms as f64 / 1000.0
    }

    /// Whether it was settled (ack, retry or fail).
    pub fn settled(&self) -> bool {
        self.settled.is_some()
    }

    /// Done: the job is removed.
    pub fn ack(&mut self) -> PhpResult<()> {
        self.settle("acked", |queue, job| queue.ack(&job.topic, &job.lease))
    }

    /// Again later: after `$delay` seconds, or the topic's retry ladder. False when that was
    /// the topic's last attempt and the job became a dead letter instead.
    #[php(defaults(delay = None))]
    pub fn retry(&mut self, delay: Option<f64>) -> PhpResult<bool> {
        let delay = delay
            .map(|d| dq_core::input::delay_from_seconds("delay", d, dq_core::input::MAX_ADD_DELAY))
            .transpose()
            .map_err(to_php)?;
        let retried = self.settle("retried", |queue, job| {
            queue.retry(&job.topic, &job.lease, delay, "retry asked by the worker")
        })?;
        Ok(matches!(retried, Retried::Scheduled(_)))
    }

    /// Given up: the job becomes a dead letter with `$reason` as its last error.
    pub fn fail(&mut self, reason: &str) -> PhpResult<()> {
        self.settle("failed", |queue, job| {
            queue.fail(&job.topic, &job.lease, reason)
        })
    }
}

/// `Dq\Client::reserve`'s wait, checked.
pub(crate) fn reserve_wait(timeout: f64) -> PhpResult<Duration> {
    dq_core::input::delay_from_seconds("timeout", timeout, dq_core::MAX_RESERVE_WAIT)
        .map_err(to_php)
}
