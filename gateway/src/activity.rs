//! What the gateway did lately, as one INFO line per interval (`log_summary_interval`) instead
//! of a line per message: messages added over HTTP, delivered, failed (by reason), dead
//! letters, lost and expired leases, and the lateness of deliveries (p50, p99); and the
//! subscriptions' messages delivered, failed attempts and dead letters. Nothing is
//! logged for an interval in which nothing happened. Per-message lines are at DEBUG.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use dq_core::Failure;

/// Lateness samples kept per interval; beyond that a uniform sample of them (reservoir).
const SAMPLES: usize = 4096;

#[derive(Default)]
pub struct Activity {
    tally: Mutex<Tally>,
}

/// What became of a subscription's message.
pub enum SubscriptionOutcome {
    Delivered,
    Failed,
    Dead,
}

/// Counts of one interval.
#[derive(Default, Debug)]
pub struct Tally {
    pub added: u64,
    pub delivered: u64,
    pub failed: BTreeMap<&'static str, u64>,
    pub dead: u64,
    pub leases_lost: u64,
    pub leases_expired: u64,
    lateness_ms: Vec<u64>,
    /// The subscriptions': messages delivered, failed attempts, dead letters.
    pub subscription_delivered: u64,
    pub subscription_failed: u64,
    pub subscription_dead: u64,
}

impl Activity {
    pub fn added(&self) {
        self.lock().added += 1;
    }

    pub fn delivered(&self, lateness: Duration) {
        let mut tally = self.lock();
        tally.delivered += 1;
        let seen = tally.delivered;
        let ms = lateness.as_millis() as u64;
        if tally.lateness_ms.len() < SAMPLES {
            tally.lateness_ms.push(ms);
        } else if let Some(slot) = usize::try_from(fastrand::u64(..seen))
            .ok()
            .and_then(|i| tally.lateness_ms.get_mut(i))
        {
            *slot = ms;
        }
    }

    pub fn failed(&self, reason: Failure) {
        *self.lock().failed.entry(reason.as_str()).or_default() += 1;
    }

    pub fn dead(&self) {
        self.lock().dead += 1;
    }

    /// A subscription's message was delivered, failed an attempt, or died.
    pub fn subscription(&self, outcome: SubscriptionOutcome) {
        let mut tally = self.lock();
        match outcome {
            SubscriptionOutcome::Delivered => tally.subscription_delivered += 1,
            SubscriptionOutcome::Failed => tally.subscription_failed += 1,
            SubscriptionOutcome::Dead => tally.subscription_dead += 1,
        }
    }

    pub fn lease_lost(&self) {
        self.lock().leases_lost += 1;
    }

    pub fn leases_expired(&self, count: usize) {
        self.lock().leases_expired += count as u64;
    }

    /// The interval so far, and a new one begun.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.lock())
    }

    /// A tally is plain counters, whole after every change, so a poisoned lock is still good.
    fn lock(&self) -> MutexGuard<'_, Tally> {
        self.tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Tally {
    pub fn is_empty(&self) -> bool {
        self.added == 0
            && self.delivered == 0
            && self.failed.is_empty()
            && self.dead == 0
            && self.leases_lost == 0
            && self.leases_expired == 0
            && self.subscription_delivered == 0
            && self.subscription_failed == 0
            && self.subscription_dead == 0
    }

    /// The `q`-quantile (0 to 1) of the deliveries' lateness in ms; `None` without deliveries.
    pub fn lateness_ms(&mut self, q: f64) -> Option<u64> {
        if self.lateness_ms.is_empty() {
            return None;
        }
        self.lateness_ms.sort_unstable();
        let last = self.lateness_ms.len() - 1;
        let at = ((last as f64) * q).round() as usize;
        self.lateness_ms.get(at.min(last)).copied()
    }

    fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// `timeout:3 status_5xx:2`, or `-` when none failed.
    fn failed_by_reason(&self) -> String {
        if self.failed.is_empty() {
            return "-".to_string();
        }
        let parts: Vec<String> = self
            .failed
            .iter()
            .map(|(r, n)| format!("{r}:{n}"))
            .collect();
        parts.join(" ")
    }

    fn log(mut self, every: Duration) {
        let p50 = self.lateness_ms(0.5).unwrap_or(0);
        let p99 = self.lateness_ms(0.99).unwrap_or(0);
        tracing::info!(
            interval_s = every.as_secs_f64(),
            added = self.added,
            delivered = self.delivered,
            failed = self.failed_total(),
            failed_by_reason = %self.failed_by_reason(),
            dead = self.dead,
            leases_lost = self.leases_lost,
            leases_expired = self.leases_expired,
            lateness_p50_ms = p50,
            lateness_p99_ms = p99,
            subscription_delivered = self.subscription_delivered,
            subscription_failed = self.subscription_failed,
            subscription_dead = self.subscription_dead,
            "activity"
        );
    }
}

/// Logs the activity of each interval of `every`, when there was any. Runs until dropped.
pub async fn log_every(activity: std::sync::Arc<Activity>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once; the first summary comes after one whole interval.
    tick.tick().await;
    loop {
        tick.tick().await;
        let tally = activity.take();
        if !tally.is_empty() {
            tally.log(every);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_counts_and_starts_afresh() {
        let activity = Activity::default();
        assert!(activity.take().is_empty());
        activity.added();
        for ms in 1..=100 {
            activity.delivered(Duration::from_millis(ms));
        }
        activity.failed(Failure::Timeout);
        activity.failed(Failure::Timeout);
        activity.failed(Failure::Status5xx);
        activity.leases_expired(3);
        activity.subscription(SubscriptionOutcome::Failed);
        let mut tally = activity.take();
        assert_eq!(tally.subscription_failed, 1);
        assert_eq!(
            (tally.added, tally.delivered, tally.leases_expired),
            (1, 100, 3)
        );
        assert_eq!(tally.failed_by_reason(), "status_5xx:1 timeout:2");
        assert_eq!(tally.lateness_ms(0.5), Some(51));
        assert_eq!(tally.lateness_ms(0.99), Some(99));
        assert!(activity.take().is_empty());
    }

    #[test]
    fn lateness_is_sampled_beyond_the_reservoir() {
        let activity = Activity::default();
        for _ in 0..SAMPLES * 3 {
            activity.delivered(Duration::from_millis(7));
        }
        let mut tally = activity.take();
        assert_eq!(tally.delivered, (SAMPLES * 3) as u64);
        assert_eq!(tally.lateness_ms.len(), SAMPLES);
        assert_eq!(tally.lateness_ms(0.99), Some(7));
    }
}
