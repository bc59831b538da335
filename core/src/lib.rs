//! dq-core: the engine behind `dq.so`, `libdq.so` and `dq-gateway`, and the only crate that
//! talks to Redis, RabbitMQ, MySQL and callback URLs.
//!
//! - [`alert`]: e-mail alerts over SMTP, rate-limited per topic, backend and database.
//! - [`config`]: checked configuration values (Redis URLs, prefix, timeouts).
//! - [`error`]: [`Error`] and [`ErrorKind`], whose numbers every facade shares.
//! - [`input`]: checks of topics, ids and message fields, one set of rules for all facades.
//! - [`json`]: the strict JSON reader for what callers send (duplicate keys refused).
//! - [`amqp`]: RabbitMQ: [`amqp::Producer`] (publish, delayed, batch, RPC, topology) and
//!   [`amqp::Consumer`].
//! - `queue`: the delay queue ([`DelayQueue`]): add, get, del, add many, stats.
//! - `registry`: topics ([`Topic`]) and the gateway's [`Registry`], published into Redis.
//! - `worker`: the [`Workers`] that deliver due messages: timer, notifier, lease reaper.
//! - [`mysql`]: MySQL / MariaDB connections ([`mysql::Pools`]), URLs, typed values.
//! - [`xa`]: [`xa::Xa`], transactions across databases, its decision log and recovery.
//! - [`outbox`]: the transactional outbox's rows, the inbox, and the [`outbox::Relay`].
//! - [`subscription`]: RabbitMQ queues pushed to HTTP: [`subscription::Subscription`] and the
//!   request each message becomes.
//! - `runtime` and [`blocking`]: the process's runtime and the synchronous facade
//!   ([`BlockingQueue`]) that the extension and the C ABI call.

pub mod alert;
pub mod amqp;
pub mod blocking;
pub mod config;
pub mod error;
pub mod input;
pub mod json;
pub mod mysql;
pub mod outbox;
mod queue;
mod registry;
mod runtime;
pub mod subscription;
mod worker;
pub mod xa;

pub use blocking::{
    BlockingConsumer, BlockingDelivery, BlockingProducer, BlockingQueue, BlockingXa, XaOptions,
};
pub use config::{QueueConfig, RedisServer, mask_password};
pub use error::{Error, ErrorKind, Result};
pub use input::{InputRules, MessageFields, NewMessage, Schedule};
pub use queue::{
    Added, ConnectionMode, DeadLetter, DeadPage, DeadQuery, DelayQueue, DeliverNow, Job,
    MAX_RESERVE_WAIT, Message, Retried, ServerFacts, ServerReport, ShardHealth, State, Stats,
    StatusFilter, TopicSource,
};
pub use registry::{
    DEFAULT_RETRY, DEFAULT_TIMEOUT_MS, Definition, DelayQueueImport, ImportedTopic, Method, Mode,
    Record, Registry, RegistryObserver, Status, Topic, read_delayqueue, same_definition,
};
pub use worker::{Callbacks, Failure, NoObserver, Observer, WorkerConfig, Workers, sign};

/// The time zone type `fix_time` strings are read in.
pub use chrono_tz::Tz;
