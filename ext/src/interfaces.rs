//! The interfaces of the PHP API, so that a test can hand a mock (PHPUnit's, or a class of its
//! own) to code that type-hints them: `Dq\ClientInterface`, `Dq\ProducerInterface`,
//! `Dq\ConsumerInterface`, `Dq\DeliveryInterface`, `Dq\JobInterface`. Only their PHP declarations are used: each
//! trait below becomes an interface (`PhpInterface<Trait>`), which the classes name in
//! `#[php(implements(...))]`; PHP checks at module start that every method is compatible.
//!
//! One more interface: a trait here with `#[php_interface]` and the methods' PHP signatures
//! (argument names, types and defaults as the class spells them), `.interface::<PhpInterface…>()`
//! in `get_module` (lib.rs, before the classes), `#[php(implements(PhpInterface…))]` on the
//! class, and the interface in `ext/dq.stub.php` (php-tests/016-stubs.phpt compares them).

// Parameter names are PHP's (named arguments): camelCase, as the contract spells them. The traits
// are never implemented in Rust: the classes' own methods implement the PHP interfaces.
#![allow(non_snake_case, dead_code)]

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendCallable, ZendHashTable, Zval};

use crate::client::Options;

/// `Dq\Client`'s delay queue operations.
#[php_interface]
#[php(name = "Dq\\ClientInterface")]
pub trait ClientInterface {
    fn add(&self, topic: &str, data: &ZendHashTable) -> PhpResult<bool>;

    fn get(&self, topic: &str, id: &Zval) -> PhpResult<Option<ZBox<ZendHashTable>>>;

    fn del(&self, topic: &str, id: &Zval) -> PhpResult<bool>;

    fn add_many(&self, topic: &str, items: &ZendHashTable) -> PhpResult<i64>;

    fn stats(&self, topic: &str) -> PhpResult<ZBox<ZendHashTable>>;

    #[php(defaults(timeout = 1.0))]
    fn reserve(&self, topic: &str, timeout: f64) -> PhpResult<Option<PhpInterfaceJobInterface>>;

    #[php(defaults(options = Options(None)))]
    fn work(&self, topic: &str, handler: ZendCallable<'_>, options: Options<'_>) -> PhpResult<i64>;
}

/// `Dq\Producer`'s publishing.
#[php_interface]
#[php(name = "Dq\\ProducerInterface")]
pub trait ProducerInterface {
    #[php(defaults(properties = Options(None)))]
    fn publish(
        &self,
        exchange: &str,
        routingKey: &str,
        body: &Zval,
        properties: Options<'_>,
    ) -> PhpResult<()>;

    /// `$delay` in seconds.
    #[php(defaults(properties = Options(None)))]
    fn publish_delayed(
        &self,
        exchange: &str,
        routingKey: &str,
        body: &Zval,
        delay: f64,
        properties: Options<'_>,
    ) -> PhpResult<()>;
}

/// `Dq\Consumer`: one delivery at a time, or the worker loop.
#[php_interface]
#[php(name = "Dq\\ConsumerInterface")]
pub trait ConsumerInterface {
    #[php(defaults(timeout = 1.0))]
    fn next(&self, timeout: f64) -> PhpResult<Option<PhpInterfaceDeliveryInterface>>;

    #[php(defaults(options = Options(None)))]
    fn consume(&self, handler: ZendCallable<'_>, options: Options<'_>) -> PhpResult<i64>;
}

/// `Dq\Delivery`: a message taken from a queue.
#[php_interface]
#[php(name = "Dq\\DeliveryInterface")]
pub trait DeliveryInterface {
    fn body(&self) -> Binary<u8>;

    fn properties(&self) -> PhpResult<ZBox<ZendHashTable>>;

    fn routing_key(&self) -> String;

    fn exchange(&self) -> String;

    fn redelivered(&self) -> bool;

    fn ack(&self) -> PhpResult<()>;

    #[php(defaults(requeue = false))]
    fn nack(&self, requeue: bool) -> PhpResult<()>;

    fn reply(&self, body: &Zval) -> PhpResult<()>;
}

/// `Dq\Job`: a pull topic's reserved job.
#[php_interface]
#[php(name = "Dq\\JobInterface")]
pub trait JobInterface {
    fn id(&self) -> String;

    fn topic(&self) -> String;

    fn body(&self) -> PhpResult<Zval>;

    fn attempt(&self) -> i64;

    fn max_attempts(&self) -> i64;

    fn due_at(&self) -> f64;

    fn lease(&self) -> String;

    fn lease_expires_at(&self) -> f64;

    fn settled(&self) -> bool;

    fn ack(&self) -> PhpResult<()>;

    #[php(defaults(delay = None))]
    fn retry(&self, delay: Option<f64>) -> PhpResult<bool>;

    fn fail(&self, reason: &str) -> PhpResult<()>;
}
