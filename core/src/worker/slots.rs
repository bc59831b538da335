//! The gateway's delivery slots: `concurrency` in all, shared by the notifiers of every shard
//! and fairly among topics, so that topics whose callbacks hang cannot starve the others.
//!
//! The rule, with `n` the active topics (those holding slots or with ready messages, counting
//! the one that leases) and a share of `concurrency / (n + 1)` slots (at least 1):
//! - a topic leases while it holds less than one share (and less than its own concurrency);
//! - a lease never leaves fewer than one share free: that share waits for a topic that becomes
//!   ready next, which then finds slots at once even when every other topic's callbacks hang;
//! - a topic that holds no slot may always take one that is free, so none starves outright.
//!
//! Slots in use are never taken back (a hung callback holds its slot until its timeout): a topic
//! above its share because more topics became active leases nothing until it is below again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::Observer;

pub(super) struct Slots {
    /// Changed by a reload; slots in use above a lowered limit go back as deliveries finish.
    limit: AtomicUsize,
    held: Mutex<Held>,
    /// A slot was given back: notifiers waiting for capacity may look again.
    pub freed: Notify,
    observer: Arc<dyn Observer>,
}

/// Slots in use, in all and per topic (topics holding none are not listed).
#[derive(Default)]
struct Held {
    total: usize,
    per_topic: HashMap<String, usize>,
}

/// Slots reserved for one topic's lease; those not made into a [`Slot`] go back when dropped.
pub(super) struct Grant {
    slots: Arc<Slots>,
    topic: String,
    count: usize,
}

/// One delivery's slot, given back when dropped.
pub(super) struct Slot {
    slots: Arc<Slots>,
    topic: String,
}

impl Slots {
    pub fn new(limit: usize, observer: Arc<dyn Observer>) -> Arc<Slots> {
        Arc::new(Slots {
            limit: AtomicUsize::new(limit.max(1)),
            held: Mutex::new(Held::default()),
            freed: Notify::new(),
            observer,
        })
    }

    /// Whether every slot is in use.
    pub fn full(&self) -> bool {
        self.lock().total >= self.limit()
    }

    fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// A new number of slots in all (a reloaded configuration).
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit.max(1), Ordering::Relaxed);
        self.freed.notify_waiters();
    }

    /// How many topics are active given the `ready` ones a notifier sees: those holding slots
    /// and those ready.
    pub fn active(&self, ready: &[&str]) -> usize {
        let held = self.lock();
        let waiting = ready
            .iter()
            .filter(|t| !held.per_topic.contains_key(**t))
            .count();
        held.per_topic.len() + waiting
    }

    /// Reserves up to `want` slots for `topic` by the fairness rule, with `active` topics (from
    /// [`Slots::active`]; corrected upwards when `topic` is new to it) and `topic_limit` the
    /// topic's own concurrency.
    pub fn reserve(
        self: &Arc<Self>,
        topic: &str,
        topic_limit: usize,
        want: usize,
        active: usize,
    ) -> Grant {
        let mut held = self.lock();
        let topic_held = held.per_topic.get(topic).copied().unwrap_or(0);
        let active = active.max(held.per_topic.len() + usize::from(topic_held == 0));
        let count = allowance(
            self.limit(),
            held.total,
            topic_held,
            active,
            topic_limit.max(1),
        )
        .min(want);
        if count > 0 {
            held.total += count;
            let now = topic_held + count;
            held.per_topic.insert(topic.to_string(), now);
            self.observer.in_flight(topic, now);
        }
        Grant {
            slots: self.clone(),
            topic: topic.to_string(),
            count,
        }
    }

    fn give_back(&self, topic: &str, count: usize) {
        if count == 0 {
            return;
        }
        {
            let mut held = self.lock();
            held.total = held.total.saturating_sub(count);
            let left = held
                .per_topic
                .get(topic)
                .map_or(0, |n| n.saturating_sub(count));
            if left == 0 {
                held.per_topic.remove(topic);
            } else {
                held.per_topic.insert(topic.to_string(), left);
            }
            self.observer.in_flight(topic, left);
        }
        self.freed.notify_waiters();
    }

    /// The counts stay right even if a thread panicked while holding the lock: every change
    /// under it is complete before anything that could panic.
    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How many slots a topic holding `topic_held` may take now, by the rule of the module doc.
fn allowance(
    limit: usize,
    total_held: usize,
    topic_held: usize,
    active: usize,
    topic_limit: usize,
) -> usize {
    let free = limit.saturating_sub(total_held);
    let share = (limit / (active + 1)).max(1);
    let own_room = share.min(topic_limit).saturating_sub(topic_held);
    let fair = own_room.min(free.saturating_sub(share));
    if fair == 0 && topic_held == 0 && free > 0 {
        return 1;
    }
    fair
}

impl Grant {
    pub fn count(&self) -> usize {
        self.count
    }

    /// One of the reserved slots, for one delivery.
    pub fn take(&mut self) -> Option<Slot> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        Some(Slot {
            slots: self.slots.clone(),
            topic: self.topic.clone(),
        })
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.slots.give_back(&self.topic, self.count);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.give_back(&self.topic, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::NoObserver;

    fn slots(limit: usize) -> Arc<Slots> {
        Slots::new(limit, Arc::new(NoObserver))
    }

    #[test]
    fn a_lone_topic_keeps_half_free() {
        assert_eq!(allowance(256, 0, 0, 1, 64), 64);
        assert_eq!(allowance(256, 0, 0, 1, 1000), 128);
        assert_eq!(allowance(256, 128, 128, 1, 1000), 0);
    }

    #[test]
    fn hung_topics_leave_a_share_for_the_next() {
        let slots = slots(256);
        let ready = ["a", "b", "c", "d"];
        let mut grants = Vec::new();
        for topic in ready {
            let active = slots.active(&ready);
            grants.push(slots.reserve(topic, 64, 100, active));
        }
        let counts: Vec<usize> = grants.iter().map(Grant::count).collect();
        assert_eq!(counts, [51, 51, 51, 51]);
        // A fifth topic becomes ready: it finds slots, and the others are over their share.
        let ready = ["a", "b", "c", "d", "e"];
        let active = slots.active(&ready);
        assert_eq!(active, 5);
        assert_eq!(slots.reserve("e", 64, 100, active).count(), 10);
        assert_eq!(slots.reserve("a", 64, 100, active).count(), 0);
    }

    #[test]
    fn topics_arriving_one_by_one_still_find_slots() {
        let slots = slots(256);
        let mut grants = Vec::new();
        let mut ready = Vec::new();
        for topic in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            ready.push(topic);
            let grant = slots.reserve(topic, 1000, 1000, slots.active(&ready));
            assert!(grant.count() > 0, "{topic} got a slot");
            grants.push(grant);
        }
        assert!(!slots.full(), "a share is kept free");
    }

    #[test]
    fn a_topic_holding_none_gets_a_free_slot() {
        let slots = slots(3);
        let ready = ["a", "b", "c"];
        let mut grants = Vec::new();
        for topic in ready {
            grants.push(slots.reserve(topic, 64, 100, slots.active(&ready)));
        }
        assert_eq!(grants.iter().map(Grant::count).sum::<usize>(), 3);
        assert!(slots.full());
        assert_eq!(slots.reserve("d", 64, 100, 4).count(), 0, "none free");
    }

    #[test]
    fn slots_go_back_when_dropped() {
        let slots = slots(10);
        let mut grant = slots.reserve("a", 64, 3, 1);
        assert_eq!(grant.count(), 3);
        let slot = grant.take().unwrap();
        drop(grant);
        assert_eq!(slots.active(&[]), 1);
        drop(slot);
        assert_eq!(slots.active(&[]), 0);
        assert_eq!(slots.lock().total, 0);
    }
}
