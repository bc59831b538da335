//! The relay of one database's outbox: takes committed unsent rows in id order, publishes
//! them with publisher confirms (or adds them to the delay queue), and marks them sent in the
//! same transaction that locked them, only after the confirm.
//!
//! - A row is seen only once its writer committed (it is invisible before, and locked while
//!   its transaction runs, so `SKIP LOCKED` passes it by).
//! - Several relays (gateways) may share a database: each takes the next unlocked rows with
//!   `FOR UPDATE SKIP LOCKED`, so no row is published by two healthy relays.
//! - A relay that dies between the confirm and its commit leaves the rows unsent: they are
//!   published again (same `message_id`) by whichever relay takes them next. At least once.
//! - RabbitMQ, Redis or MySQL away: the transaction rolls back, the relay backs off (0.1 s
//!   doubling to 10 s) and tries again; nothing is lost or skipped.
//! - A row the broker refuses on its own account (a nack, an exchange that does not exist, an
//!   unregistered topic, a row not written by dq) stays unsent with its error, its attempts
//!   counted, and is tried again after `retry_at` (2^attempts s, at most 5 min); the rows
//!   behind it go on. Exchanges are asked about (a passive declare, remembered 30 s) before a
//!   batch goes out: a missing one would close the channel under the whole batch.
//! - Two rounds of a relay overlap (one awaits its confirms and commits while the next takes
//!   and sends), taking and sending in turn on one channel, so rows still go out in id order.
//! - A transaction that commits while a take's scan goes over its rows has its first rows
//!   passed by (still locked then) and its later ones taken; a second, non-locking look finds
//!   the rows passed by that are committed now, and they join the batch in their place.
//! - Sessions run in READ COMMITTED: no gap locks, so the relay never makes an application's
//!   INSERT wait.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use tokio::sync::watch;

use super::{Kind, missing_table, stored_message};
use crate::amqp::{ExchangeOptions, InFlight, OutgoingMessage, Producer};
use crate::error::{Error, ErrorKind, Result};
use crate::input::{NewMessage, Schedule};
use crate::mysql::{MysqlUrl, server_code};
use crate::queue::DelayQueue;

/// A row as the relay reads it (`RowTuple`); the age is the server's own clock's, in
/// microseconds.
macro_rules! row_columns {
    () => {
        "SELECT id, kind, target, routing_key, message_id, body, properties, due_at_ms, \
         attempts, \
         CAST((UNIX_TIMESTAMP(NOW(6)) - UNIX_TIMESTAMP(created_at)) * 1000000 AS SIGNED) \
         FROM dq_outbox"
    };
}

/// Which rows are due: unsent, not waiting for a retry.
macro_rules! due {
    () => {
        "sent_at IS NULL AND (retry_at IS NULL OR retry_at <= NOW(6))"
    };
}

/// The rows to relay next: due, in id order, skipping rows other relays hold.
const TAKE: &str = concat!(
    row_columns!(),
    " FORCE INDEX (dq_outbox_unsent) WHERE ",
    due!(),
    " ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED"
);

/// Due rows before a take's last, committed now, nearest first (a consistent read: locks
/// nothing), to find those the take passed by.
const BEFORE: &str = concat!(
    "SELECT id FROM dq_outbox FORCE INDEX (dq_outbox_unsent) WHERE ",
    due!(),
    " AND id < ? ORDER BY id DESC LIMIT ?"
);

/// How many unsent rows, and the age of the oldest (microseconds); non-locking.
const BACKLOG: &str = "SELECT COUNT(*), \
    CAST((UNIX_TIMESTAMP(NOW(6)) - UNIX_TIMESTAMP(MIN(created_at))) * 1000000 AS SIGNED) \
    FROM dq_outbox WHERE sent_at IS NULL";

const REFUSED: &str = "UPDATE dq_outbox SET attempts = attempts + 1, error = ?, \
    retry_at = NOW(6) + INTERVAL ? SECOND WHERE id = ?";

/// Rows deleted per statement when tidying up (sent rows past `keep_sent`, old claims).
const TIDY_CHUNK: u64 = 5000;
const TIDY_EVERY: Duration = Duration::from_secs(30);
const STATS_EVERY: Duration = Duration::from_secs(1);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long an exchange seen to exist is taken to exist without asking again.
const EXCHANGE_SEEN: Duration = Duration::from_secs(30);
/// The longest wait before a refused row is tried again.
const RETRY_MAX_S: u64 = 300;

/// How a relay works.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayConfig {
    /// The wait between two looks at an outbox that had nothing (or less than a batch).
    pub interval: Duration,
    /// Rows per transaction (and the rows a take passed by, found after it: see `take_passed_by`).
    pub batch: usize,
    /// How long sent rows stay (zero: deleted as they are sent).
    pub keep_sent: Duration,
    /// How long inbox claims stay; `None`: for ever.
    pub keep_inbox: Option<Duration>,
    /// Bound on each MySQL statement.
    pub timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> RelayConfig {
        RelayConfig {
            interval: Duration::from_millis(50),
            batch: 500,
            keep_sent: Duration::from_secs(3600),
            keep_inbox: Some(Duration::from_secs(7 * 86400)),
            timeout: Duration::from_secs(5),
        }
    }
}

/// What a relay last found, for `/healthz`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelayState {
    /// Unsent rows (refused ones included), at `checked_at`.
    pub unsent: u64,
    /// The age of the oldest unsent row.
    pub oldest_unsent: Option<Duration>,
    pub checked_at: Option<SystemTime>,
    /// Why the relay is backing off now (`None`: it is not).
    pub error: Option<String>,
}

/// What a relay reports to (the gateway's metrics and health).
pub trait RelayObserver: Send + Sync {
    /// A row was published (or added), `lag` after its insert.
    fn relayed(&self, database: &str, kind: Kind, lag: Duration);
    /// The broker refused a row on its own account; it will be tried again.
    fn refused(&self, database: &str, id: u64, message_id: &str, error: &Error);
    /// The relay's state changed (backlog counted, trouble began or ended).
    fn state(&self, database: &str, state: &RelayState);
}

/// One database's relay.
pub struct Relay {
    name: String,
    url: MysqlUrl,
    producer: Producer,
    queue: Arc<DelayQueue>,
    config: RelayConfig,
    observer: Arc<dyn RelayObserver>,
    /// Exchanges seen to exist, and when.
    exchanges: std::sync::Mutex<HashMap<String, Instant>>,
}

/// One outbox row, as taken.
struct Row {
    id: u64,
    kind: Option<Kind>,
    target: String,
    routing_key: String,
    message_id: String,
    body: Vec<u8>,
    properties: Option<Vec<u8>>,
    due_at_ms: Option<i64>,
    attempts: u32,
    age: Duration,
}

type RowTuple = (
    u64,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<i64>,
    u32,
    Option<i64>,
);

impl Row {
    fn from_tuple(t: RowTuple) -> Row {
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap_or_else(|e| lossy(e.as_bytes()));
        Row {
            id: t.0,
            kind: Kind::parse(&t.1),
            target: text(t.2),
            routing_key: text(t.3),
            message_id: text(t.4),
            body: t.5,
            properties: t.6,
            due_at_ms: t.7,
            attempts: t.8,
            age: Duration::from_micros(t.9.unwrap_or(0).max(0) as u64),
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Rounds of one relay that overlap.
const LANES: usize = 2;

/// What a relay's lanes share.
struct Shared {
    state: std::sync::Mutex<RelayState>,
    /// Held while a lane takes its rows and sends them: batches go out in turn.
    turn: tokio::sync::Mutex<()>,
    /// Per lane, the ids of the rows its round holds.
    held: std::sync::Mutex<[Vec<u64>; LANES]>,
}

/// One round's rows on their way.
struct Batch {
    /// Per row: `None` while (or if) unknown.
    outcomes: Vec<Option<Outcome>>,
    publishes: Vec<(usize, OutgoingMessage)>,
    adds: Vec<(String, Vec<(usize, NewMessage)>)>,
    /// What stopped the round: the broker, Redis.
    trouble: Option<Error>,
}

/// What became of one row this round.
enum Outcome {
    Sent,
    Refused(Error),
}

impl Relay {
    /// The relay of the database `name` at `url`, publishing through `producer` (a connection
    /// of its own is best: a channel the broker closes over one row does not disturb others)
    /// and adding to `queue`.
    pub fn new(
        name: &str,
        url: MysqlUrl,
        producer: Producer,
        queue: Arc<DelayQueue>,
        config: RelayConfig,
        observer: Arc<dyn RelayObserver>,
    ) -> Relay {
        Relay {
            name: name.to_string(),
            url,
            producer,
            queue,
            config,
            observer,
            exchanges: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Relays until `shutdown` turns true. A round under way when it does is finished first
    /// (its confirms awaited and recorded), so a clean stop publishes nothing twice.
    ///
    /// Two rounds overlap (`LANES`, each on a connection of its own): while one awaits its
    /// confirms and commits, the next takes its rows and sends them. Taking and sending are
    /// done under one lock, in turn, on one channel: rows go out in id order.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        tracing::info!(
            database = %self.name,
            url = %self.url,
            batch = self.config.batch,
            interval_s = self.config.interval.as_secs_f64(),
            "outbox relay running"
        );
        let shared = Shared {
            state: std::sync::Mutex::new(RelayState::default()),
            turn: tokio::sync::Mutex::new(()),
            held: std::sync::Mutex::new(Default::default()),
        };
        let lanes = (0..LANES).map(|lane| self.lane(lane, &shared, shutdown.clone()));
        futures_util::future::join_all(lanes).await;
    }

    /// One lane's rounds; lane 0 also counts the backlog and tidies up.
    async fn lane(&self, lane: usize, shared: &Shared, mut shutdown: watch::Receiver<bool>) {
        let mut conn: Option<Conn> = None;
        let mut backoff = BACKOFF_FIRST;
        let mut next_stats = Instant::now();
        let mut next_tidy = Instant::now();
        while !*shutdown.borrow() {
            let round = self.round(&mut conn, shared, lane).await;
            shared.held.lock().unwrap_or_else(|p| p.into_inner())[lane].clear();
            let wait = match round {
                Ok(taken) => {
                    backoff = BACKOFF_FIRST;
                    self.update(shared, |state| {
                        let was = state.error.take();
                        if was.is_some() {
                            tracing::info!(database = %self.name, "outbox relay resumed");
                        }
                        was.is_some()
                    });
                    if taken >= self.config.batch {
                        Duration::ZERO
                    } else {
                        self.config.interval
                    }
                }
                Err(e) => {
                    conn = None;
                    let message = e.to_string();
                    self.update(shared, |state| {
                        if state.error.as_deref() == Some(message.as_str()) {
                            return false;
                        }
                        tracing::warn!(database = %self.name, error = %message, "outbox relay backing off");
                        state.error = Some(message.clone());
                        true
                    });
                    let wait = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    wait
                }
            };
            let now = Instant::now();
            if lane == 0 && now >= next_stats {
                next_stats = now + STATS_EVERY;
                match self.backlog(&mut conn).await {
                    Ok((unsent, oldest)) => self.update(shared, |state| {
                        state.unsent = unsent;
                        state.oldest_unsent = oldest;
                        state.checked_at = Some(SystemTime::now());
                        true
                    }),
                    Err(_) => conn = None,
                }
            }
            let healthy = shared
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .error
                .is_none();
            if lane == 0 && now >= next_tidy && healthy {
                next_tidy = now + TIDY_EVERY;
                if let Err(e) = self.tidy(&mut conn).await {
                    conn = None;
                    tracing::warn!(database = %self.name, error = %e, "outbox tidy-up failed");
                }
            }
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        if let Some(conn) = conn {
            let _ = conn.disconnect().await;
        }
    }

    /// Changes the shared state with `change`; tells the observer when it says it changed.
    fn update(&self, shared: &Shared, change: impl FnOnce(&mut RelayState) -> bool) {
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        if change(&mut state) {
            let state = state.clone();
            self.observer.state(&self.name, &state);
        }
    }

    /// One transaction: takes up to a batch of rows and sends them (in `turn`), awaits their
    /// confirms (or adds them), records what became of each. Returns how many rows it took.
    async fn round(&self, slot: &mut Option<Conn>, shared: &Shared, lane: usize) -> Result<usize> {
        let my_turn = shared.turn.lock().await;
        let started = Instant::now();
        let conn = self.connection(slot).await?;
        self.sql(conn.query_drop("START TRANSACTION")).await?;
        let mut rows: Vec<RowTuple> = self
            .sql(conn.exec(TAKE, (self.config.batch as u64,)))
            .await?;
        if rows.is_empty() {
            drop(my_turn);
            self.sql(conn.query_drop("COMMIT")).await?;
            return Ok(0);
        }
        self.take_passed_by(conn, &mut rows, shared).await?;
        shared.held.lock().unwrap_or_else(|p| p.into_inner())[lane] =
            rows.iter().map(|row| row.0).collect();
        let taken_at = Instant::now();
        let rows: Vec<Row> = rows.into_iter().map(Row::from_tuple).collect();
        let mut batch = self.prepare(&rows).await;
        let in_flight = match &batch.trouble {
            None => self.send_publishes(&rows, &mut batch).await,
            Some(_) => None,
        };
        drop(my_turn);
        if let Some(in_flight) = in_flight {
            self.confirm_publishes(&rows, in_flight, &mut batch).await;
        }
        self.add_rows(&mut batch).await;
        let Batch {
            outcomes, trouble, ..
        } = batch;
        // The rows' age when taken, plus the time their confirms took.
        let sending = taken_at.elapsed();
        self.record(conn, &rows, &outcomes).await?;
        let recorded_at = Instant::now();
        self.sql(conn.query_drop("COMMIT")).await?;
        tracing::debug!(
            database = %self.name,
            rows = rows.len(),
            take_ms = (taken_at - started).as_secs_f64() * 1000.0,
            send_ms = sending.as_secs_f64() * 1000.0,
            record_ms = (recorded_at - taken_at - sending).as_secs_f64() * 1000.0,
            commit_ms = recorded_at.elapsed().as_secs_f64() * 1000.0,
            "outbox round"
        );
        for (row, outcome) in rows.iter().zip(&outcomes) {
            match outcome {
                Some(Outcome::Sent) => {
                    if let Some(kind) = row.kind {
                        self.observer.relayed(&self.name, kind, row.age + sending);
                    }
                }
                Some(Outcome::Refused(e)) => {
                    tracing::warn!(
                        database = %self.name, id = row.id, message_id = %row.message_id,
                        attempts = row.attempts + 1, error = %e,
                        "outbox row refused; it will be tried again"
                    );
                    self.observer
                        .refused(&self.name, row.id, &row.message_id, e);
                }
                None => {}
            }
        }
        match trouble {
            Some(e) => Err(e),
            None => Ok(rows.len()),
        }
    }

    /// Adds to `rows` (taken, in id order) the due rows before their last that the take passed
    /// by though they are committed now, so the batch keeps id order: a transaction that
    /// committed while the take's scan went over its rows had its first rows passed by (locked
    /// then) and its later ones taken. Rows the other lanes hold are not asked for; rows another
    /// relay holds stay passed by. The batch grows by the rows found: any it left out would stay
    /// locked until its commit while the next round took the rows behind them.
    async fn take_passed_by(
        &self,
        conn: &mut Conn,
        rows: &mut Vec<RowTuple>,
        shared: &Shared,
    ) -> Result<()> {
        let last = rows.last().map_or(0, |row| row.0);
        let limit = (self.config.batch * (LANES + 1)) as u64;
        let before: Vec<u64> = self.sql(conn.exec(BEFORE, (last, limit))).await?;
        let passed_by: Vec<String> = {
            let held = shared.held.lock().unwrap_or_else(|p| p.into_inner());
            before
                .into_iter()
                .filter(|id| !rows.iter().any(|row| row.0 == *id))
                .filter(|id| !held.iter().any(|ids| ids.contains(id)))
                .map(|id| id.to_string())
                .collect()
        };
        if passed_by.is_empty() {
            return Ok(());
        }
        // Ids the relay read itself, as numbers: nothing of a caller's becomes SQL text.
        let sql = format!(
            concat!(
                row_columns!(),
                " WHERE id IN ({}) AND ",
                due!(),
                " FOR UPDATE SKIP LOCKED"
            ),
            passed_by.join(",")
        );
        let found: Vec<RowTuple> = self.sql(conn.query(sql)).await?;
        if found.is_empty() {
            return Ok(());
        }
        tracing::debug!(database = %self.name, rows = found.len(), "outbox rows passed by, taken");
        rows.extend(found);
        rows.sort_by_key(|row| row.0);
        Ok(())
    }

    /// Reads the rows' messages; refuses at once those not written by dq and those for an
    /// exchange that does not exist (which would make the broker close the channel under the
    /// whole batch, messages already routed included).
    async fn prepare(&self, rows: &[Row]) -> Batch {
        let mut batch = Batch {
            outcomes: rows.iter().map(|_| None).collect(),
            publishes: Vec::new(),
            adds: Vec::new(),
            trouble: None,
        };
        let mut missing: HashMap<&str, Error> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            match row.kind {
                Some(Kind::Publish) => {
                    let message = match stored_message(row.body.clone(), row.properties.as_deref())
                    {
                        Ok(message) => message,
                        Err(e) => {
                            batch.outcomes[i] = Some(Outcome::Refused(e));
                            continue;
                        }
                    };
                    let exchange = row.target.as_str();
                    if !missing.contains_key(exchange) {
                        match self.check_exchange(exchange).await {
                            Ok(None) => {}
                            Ok(Some(e)) => {
                                missing.insert(exchange, e);
                            }
                            Err(e) => {
                                batch.trouble = Some(e);
                                return batch;
                            }
                        }
                    }
                    match missing.get(exchange) {
                        Some(e) => batch.outcomes[i] = Some(Outcome::Refused(e.clone())),
                        None => batch.publishes.push((i, message)),
                    }
                }
                Some(Kind::Add) => match stored_add(row) {
                    Ok(message) => match batch.adds.iter_mut().find(|(t, _)| *t == row.target) {
                        Some((_, list)) => list.push((i, message)),
                        None => batch.adds.push((row.target.clone(), vec![(i, message)])),
                    },
                    Err(e) => batch.outcomes[i] = Some(Outcome::Refused(e)),
                },
                None => {
                    batch.outcomes[i] = Some(Outcome::Refused(Error::invalid(
                        "kind is neither publish nor add: the row was not written by dq",
                    )))
                }
            }
        }
        batch
    }

    /// Hands the batch's messages to the broker, in order.
    async fn send_publishes(&self, rows: &[Row], batch: &mut Batch) -> Option<InFlight> {
        if batch.publishes.is_empty() {
            return None;
        }
        let list: Vec<(&str, &str, &OutgoingMessage)> = batch
            .publishes
            .iter()
            .map(|(i, m)| (rows[*i].target.as_str(), rows[*i].routing_key.as_str(), m))
            .collect();
        match self.producer.send_each(&list).await {
            Ok(in_flight) => Some(in_flight),
            Err(e) => {
                batch.trouble = Some(e);
                None
            }
        }
    }

    /// Awaits the confirms; messages the batch left unclear (the channel closed under them)
    /// are published again one at a time, to find the one the broker refused.
    async fn confirm_publishes(&self, rows: &[Row], in_flight: InFlight, batch: &mut Batch) {
        let results = match in_flight.confirmed().await {
            Ok(results) => results,
            Err(e) => {
                batch.trouble = Some(e);
                return;
            }
        };
        let mut unclear = Vec::new();
        for ((i, _), result) in batch.publishes.iter().zip(results) {
            match result {
                Ok(()) => batch.outcomes[*i] = Some(Outcome::Sent),
                Err(e) if e.kind() == ErrorKind::Rejected => {
                    batch.outcomes[*i] = Some(Outcome::Refused(e))
                }
                Err(_) => unclear.push(*i),
            }
        }
        for (i, message) in &batch.publishes {
            if !unclear.contains(i) {
                continue;
            }
            let row = &rows[*i];
            match self
                .producer
                .publish(&row.target, &row.routing_key, message)
                .await
            {
                Ok(()) => batch.outcomes[*i] = Some(Outcome::Sent),
                Err(e) if refused_alone(e.kind()) => batch.outcomes[*i] = Some(Outcome::Refused(e)),
                Err(e) => {
                    batch.trouble = Some(e);
                    return;
                }
            }
        }
    }

    /// Adds the batch's delay-queue rows, a topic at a time.
    async fn add_rows(&self, batch: &mut Batch) {
        let adds = std::mem::take(&mut batch.adds);
        for (topic, list) in &adds {
            if let Err(e) = self.add(topic, list, &mut batch.outcomes).await {
                batch.trouble.get_or_insert(e);
            }
        }
    }

    /// Whether `exchange` exists: `None` when it does (or was seen within `EXCHANGE_SEEN`),
    /// the broker's refusal when it does not; an error when the broker cannot say.
    async fn check_exchange(&self, exchange: &str) -> Result<Option<Error>> {
        if exchange.is_empty() || exchange.starts_with("amq.") {
            return Ok(None);
        }
        if self
            .exchanges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(exchange)
            .is_some_and(|seen| seen.elapsed() < EXCHANGE_SEEN)
        {
            return Ok(None);
        }
        let passive = ExchangeOptions {
            passive: true,
            ..ExchangeOptions::default()
        };
        match self
            .producer
            .declare_exchange(exchange, "direct", &passive)
            .await
        {
            Ok(()) => {
                self.exchanges
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(exchange.to_string(), Instant::now());
                Ok(None)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Some(e)),
            Err(e) => Err(e),
        }
    }

    /// Adds one topic's rows; an unregistered topic refuses them all.
    async fn add(
        &self,
        topic: &str,
        list: &[(usize, NewMessage)],
        outcomes: &mut [Option<Outcome>],
    ) -> Result<()> {
        let messages: Vec<NewMessage> = list.iter().map(|(_, m)| m.clone()).collect();
        match self.queue.add_many(topic, &messages).await {
            Ok(_) => {
                for (i, _) in list {
                    outcomes[*i] = Some(Outcome::Sent);
                }
                Ok(())
            }
            Err(e) if refused_alone(e.kind()) => {
                for (i, _) in list {
                    outcomes[*i] = Some(Outcome::Refused(e.clone()));
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Marks sent rows (or deletes them when sent rows are not kept) and refused ones, in the
    /// transaction that locked them.
    async fn record(
        &self,
        conn: &mut Conn,
        rows: &[Row],
        outcomes: &[Option<Outcome>],
    ) -> Result<()> {
        let sent: Vec<String> = rows
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| matches!(o, Some(Outcome::Sent)))
            .map(|(row, _)| row.id.to_string())
            .collect();
        if !sent.is_empty() {
            // Ids the relay read itself, as numbers: nothing of a caller's becomes SQL text.
            // READ COMMITTED: the IN list locks only the rows it changes, all held already.
            let ids = sent.join(",");
            let sql = if self.config.keep_sent.is_zero() {
                format!("DELETE FROM dq_outbox WHERE id IN ({ids})")
            } else {
                format!(
                    "UPDATE dq_outbox SET sent_at = NOW(6), attempts = attempts + 1, \
                     error = NULL, retry_at = NULL WHERE id IN ({ids})"
                )
            };
            self.sql(conn.query_drop(sql)).await?;
        }
        for (row, outcome) in rows.iter().zip(outcomes) {
            if let Some(Outcome::Refused(e)) = outcome {
                let wait = 1u64
                    .checked_shl(row.attempts.min(16))
                    .unwrap_or(RETRY_MAX_S)
                    .min(RETRY_MAX_S);
                let error: String = e.to_string().chars().take(1024).collect();
                self.sql(conn.exec_drop(REFUSED, (error, wait, row.id)))
                    .await?;
            }
        }
        Ok(())
    }

    /// Counts the backlog (a consistent read: locks nothing).
    async fn backlog(&self, slot: &mut Option<Conn>) -> Result<(u64, Option<Duration>)> {
        let conn = self.connection(slot).await?;
        let row: Option<(u64, Option<i64>)> = self.sql(conn.query_first(BACKLOG)).await?;
        let (unsent, oldest) = row.unwrap_or((0, None));
        Ok((
            unsent,
            oldest.map(|us| Duration::from_micros(us.max(0) as u64)),
        ))
    }

    /// Deletes sent rows older than `keep_sent` and claims older than `keep_inbox`, a chunk at a
    /// time (each chunk its own autocommit statement, so no lock is held long).
    async fn tidy(&self, slot: &mut Option<Conn>) -> Result<()> {
        let conn = self.connection(slot).await?;
        let mut deletes = vec![(
            "DELETE FROM dq_outbox WHERE sent_at IS NOT NULL \
             AND sent_at < NOW(6) - INTERVAL ? MICROSECOND ORDER BY sent_at LIMIT ?",
            self.config.keep_sent,
        )];
        if let Some(keep) = self.config.keep_inbox {
            deletes.push((
                "DELETE FROM dq_inbox WHERE claimed_at < NOW(6) - INTERVAL ? MICROSECOND \
                 ORDER BY claimed_at LIMIT ?",
                keep,
            ));
        }
        for (sql, keep) in deletes {
            let keep_us = u64::try_from(keep.as_micros()).unwrap_or(u64::MAX / 2);
            // Bounded: a huge backlog of old rows is worked off over several tidy-ups.
            for _ in 0..20 {
                self.sql(conn.exec_drop(sql, (keep_us, TIDY_CHUNK))).await?;
                if conn.affected_rows() < TIDY_CHUNK {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The relay's connection, opened when there is none (READ COMMITTED, short lock waits).
    async fn connection<'c>(&self, slot: &'c mut Option<Conn>) -> Result<&'c mut Conn> {
        if slot.is_none() {
            let conn = self.sql(Conn::new(Opts::from(self.url.opts(true)))).await?;
            *slot = Some(conn);
            let conn = slot
                .as_mut()
                .ok_or_else(|| Error::internal("no connection"))?;
            self.sql(conn.query_drop(
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; \
                 SET SESSION innodb_lock_wait_timeout = 5",
            ))
            .await?;
        }
        slot.as_mut()
            .ok_or_else(|| Error::internal("no connection"))
    }

    /// Runs one MySQL call within the timeout, its error in dq's words.
    async fn sql<T>(
        &self,
        call: impl std::future::Future<Output = mysql_async::Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.config.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if server_code(&e) == Some(1146) => Err(missing_table(
                "dq_outbox or dq_inbox",
                &format!("in database {:?}", self.url.database()),
            )),
            Ok(Err(e)) => Err(crate::mysql::error(&self.url, &e)),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "MySQL {} did not answer within {:.3} s",
                    self.url,
                    self.config.timeout.as_secs_f64()
                ),
            )),
        }
    }
}

/// Errors that concern one message alone (it is refused; the others go on), rather than the
/// broker or the connection (the round stops and the relay backs off).
fn refused_alone(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Rejected
            | ErrorKind::NotFound
            | ErrorKind::InvalidArgument
            | ErrorKind::PayloadTooLarge
            | ErrorKind::UnknownTopic
            | ErrorKind::Unauthorized
    )
}

/// A stored add row as the delay queue's message: the body must be JSON, as `add` left it.
fn stored_add(row: &Row) -> Result<NewMessage> {
    crate::input::check_id(&row.message_id)?;
    let body = String::from_utf8(row.body.clone())
        .ok()
        .filter(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok())
        .ok_or_else(|| {
            Error::invalid("body is not JSON text: the row was not written by Dq\\Outbox::add")
        })?;
    Ok(NewMessage {
        id: row.message_id.clone(),
        body,
        schedule: row.due_at_ms.map_or(Schedule::TopicDefault, Schedule::At),
    })
}
