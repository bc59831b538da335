//! A subscription's dead letters, in its queue `<prefix>.dead.<name>`: listed without taking
//! them (browsed, then put back in their places), requeued to the subscription's queue (attempts
//! counted from zero; a dead letter is removed only once its copy is confirmed), or removed.
//!
//! A dead letter is named by the id dq gave it when it died (`x-dq-dead-id`); one that came
//! another way (published to the dead-letter queue by hand) is named by its `message_id`.
//! Requeueing and removing read the queue from the front until they find the letter: a few
//! thousand letters take a moment, and at most [`SCAN_LIMIT`] are read per call.

use std::collections::BTreeSet;

use lapin::BasicProperties;
use serde_json::{Map, Value};

use super::verdict::OWN_HEADERS;
use super::{
    ATTEMPTS, DEAD_ID, DIED_AT, LAST_ERROR, LAST_STATUS, ORIGIN_EXCHANGE, ORIGIN_ROUTING_KEY,
    Subscription, header_number, header_text, requeue_copy,
};
use crate::amqp::{Browsed, Browser, Producer, properties_json};
use crate::error::{Error, ErrorKind, Result};

/// The most messages one call reads from a dead-letter queue.
pub const SCAN_LIMIT: usize = 100_000;

/// A dead letter as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// What `requeue` and `delete` name it by.
    pub id: String,
    pub body: Vec<u8>,
    /// Its AMQP properties (`content_type`, `message_id`, `headers` without dq's own, ...).
    pub properties: Map<String, Value>,
    /// The exchange and routing key it first came with.
    pub exchange: String,
    pub routing_key: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// When it was given up (unix ms).
    pub died_at_ms: Option<i64>,
}

/// A page of dead letters, and how many the queue holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadPage {
    pub letters: Vec<DeadLetter>,
    pub total: u32,
}

/// The dead letters of one subscription.
pub struct DeadLetters<'a> {
    producer: &'a Producer,
    subscription: &'a Subscription,
    queue: String,
}

impl<'a> DeadLetters<'a> {
    /// The dead letters of `subscription`, in `<prefix>.dead.<name>`, over `producer`'s
    /// connection.
    pub fn new(
        producer: &'a Producer,
        subscription: &'a Subscription,
        prefix: &str,
    ) -> DeadLetters<'a> {
        DeadLetters {
            producer,
            subscription,
            queue: subscription.dead_queue(prefix),
        }
    }

    /// How many letters the queue holds (0 when it does not exist yet).
    pub async fn count(&self) -> Result<u32> {
        let Some(browser) = self.open().await? else {
            return Ok(0);
        };
        let count = browser.count();
        browser.close().await;
        Ok(count)
    }

    /// Letters `offset..offset + limit`, oldest first; every letter stays in the queue.
    pub async fn list(&self, offset: usize, limit: usize) -> Result<DeadPage> {
        self.list_matching(offset, limit, None).await
    }

    /// As [`DeadLetters::list`], among the letters `matches` accepts (looked for among the
    /// first 100,000); `total` is then how many of those match.
    pub async fn list_matching(
        &self,
        offset: usize,
        limit: usize,
        matches: Option<&(dyn Fn(&DeadLetter) -> bool + Sync)>,
    ) -> Result<DeadPage> {
        let Some(browser) = self.open().await? else {
            return Ok(DeadPage {
                letters: Vec::new(),
                total: 0,
            });
        };
        let mut total = browser.count();
        let mut letters = Vec::new();
        let mut seen = 0;
        let mut read_all = 0;
        let read = async {
            loop {
                let wanted = seen < offset.saturating_add(limit);
                if (matches.is_none() && !wanted) || read_all >= SCAN_LIMIT {
                    break;
                }
                let Some(message) = browser.next().await? else {
                    break;
                };
                read_all += 1;
                let letter = letter(&message);
                if matches.is_some_and(|m| !m(&letter)) {
                    continue;
                }
                if seen >= offset && letters.len() < limit {
                    letters.push(letter);
                }
                seen += 1;
            }
            Ok::<_, Error>(())
        };
        let outcome = read.await;
        browser.close().await;
        outcome?;
        if matches.is_some() {
            total = u32::try_from(seen).unwrap_or(u32::MAX);
        }
        Ok(DeadPage { letters, total })
    }

    /// Sends the letters `ids` (every letter with `None`) back to the subscription's queue;
    /// how many went.
    pub async fn requeue(&self, ids: Option<&BTreeSet<String>>) -> Result<u32> {
        let Some(browser) = self.open().await? else {
            return Ok(0);
        };
        let outcome = self.each(&browser, ids, Act::Requeue).await;
        browser.close().await;
        outcome
    }

    /// Removes the letter `id`; whether it was there.
    pub async fn delete(&self, id: &str) -> Result<bool> {
        let Some(browser) = self.open().await? else {
            return Ok(false);
        };
        let ids = BTreeSet::from([id.to_string()]);
        let outcome = self.each(&browser, Some(&ids), Act::Delete).await;
        browser.close().await;
        outcome.map(|n| n > 0)
    }

    /// Does `act` to the letters `ids` (every letter with `None`) while reading the queue from
    /// the front; how many it was done to. Stops at the first failure, and once every letter
    /// named was found.
    async fn each(
        &self,
        browser: &Browser,
        ids: Option<&BTreeSet<String>>,
        act: Act,
    ) -> Result<u32> {
        // What was there when we started: letters requeued and dead again are not read twice.
        let present = usize::try_from(browser.count()).unwrap_or(usize::MAX);
        let mut done = 0;
        for _ in 0..present.min(SCAN_LIMIT) {
            let Some(message) = browser.next().await? else {
                break;
            };
            let named = |ids: &BTreeSet<String>| {
                letter_id(message.properties()).is_some_and(|id| ids.contains(&id))
            };
            if ids.is_none_or(named) {
                if act == Act::Requeue {
                    let copy = requeue_copy(message.body(), message.properties());
                    self.producer
                        .publish("", &self.subscription.queue, &copy)
                        .await?;
                }
                browser.ack(&message).await?;
                done += 1;
                if ids.is_some_and(|ids| done as usize >= ids.len()) {
                    break;
                }
            }
        }
        Ok(done)
    }

    /// A browser of the dead-letter queue; `None` when it does not exist (nothing died yet).
    async fn open(&self) -> Result<Option<Browser>> {
        match self.producer.browse(&self.queue).await {
            Ok(browser) => Ok(Some(browser)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.context(format!("reading the dead letters in \"{}\"", self.queue))),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Act {
    Requeue,
    Delete,
}

/// The id of a dead letter: the one dq gave it, else its `message_id`.
fn letter_id(properties: &BasicProperties) -> Option<String> {
    header_text(properties, DEAD_ID)
        .or_else(|| properties.message_id().as_ref().map(|id| id.to_string()))
}

fn letter(message: &Browsed) -> DeadLetter {
    let properties = message.properties();
    let mut shown = properties_json(properties);
    if let Some(Value::Object(headers)) = shown.get_mut("headers") {
        for own in OWN_HEADERS {
            headers.remove(own);
        }
        if headers.is_empty() {
            shown.remove("headers");
        }
    }
    let text = |name: &str| header_text(properties, name);
    DeadLetter {
        id: letter_id(properties).unwrap_or_default(),
        body: message.body().to_vec(),
        properties: shown,
        exchange: text(ORIGIN_EXCHANGE).unwrap_or_else(|| message.exchange().to_string()),
        routing_key: text(ORIGIN_ROUTING_KEY).unwrap_or_else(|| message.routing_key().to_string()),
        attempts: header_number(properties, ATTEMPTS)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        last_status: header_number(properties, LAST_STATUS).and_then(|n| u16::try_from(n).ok()),
        last_error: text(LAST_ERROR),
        died_at_ms: header_number(properties, DIED_AT),
    }
}
