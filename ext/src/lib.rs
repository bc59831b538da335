//! dq.so, the PHP extension: `Dq\Client` (alias `DqClient`), `Dq\Producer`, `Dq\Consumer` and
//! `Dq\Delivery`, `Dq\Xa` (transactions across MySQL databases), `Dq\Outbox` and `Dq\Inbox` (reliable messages in
//! the caller's own transaction), the interfaces they implement (`interfaces`), the worker loop of
//! `Dq\Consumer::consume` (`worker_loop`), the `Dq\*Exception` classes and the `dq.*` ini
//! settings, all over dq-core. The tokio runtime and the connections are created
//! on first use, never at module start: PHP-FPM forks its workers after that.

mod client;
mod consumer;
mod convert;
mod errors;
mod ini;
mod interfaces;
mod job;
mod outbox;
mod php_sys;
mod producer;
mod worker_loop;
mod xa;

use ext_php_rs::prelude::*;
use ext_php_rs::zend::IniEntryDef;

use client::Client;

/// Module start (MINIT): ini entries, exception classes, the alias hook. Nothing here may
/// panic into PHP, nothing here connects anywhere.
pub fn startup(ty: i32, module_number: i32) -> i32 {
    // Panics are turned into PHP `Error`s at every call; keep the default hook from also
    // printing them on stderr unless asked (DQ_PANIC_STDERR=1).
    std::panic::set_hook(Box::new(|info| {
        if std::env::var_os("DQ_PANIC_STDERR").is_some() {
            eprintln!("dq: {info}");
        }
    }));
    let started = std::panic::catch_unwind(|| {
        php_sys::init()?;
        IniEntryDef::register(ini::ENTRIES.as_slice(), module_number);
        errors::register().map_err(|e| format!("cannot register the exception classes: {e}"))?;
        const MODULE_PERSISTENT: i32 = 1;
        if ty == MODULE_PERSISTENT {
            client::install_alias_hook();
        }
        Ok::<(), String>(())
    });
    match started {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("dq: {e}");
            -1
        }
        Err(_) => {
            eprintln!("dq: module start-up panicked");
            -1
        }
    }
}

#[php_module]
#[php(startup = "startup")]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    module
        .name("dq")
        .version(env!("CARGO_PKG_VERSION"))
        // Interfaces are registered before the classes that implement them; Delivery before
        // Consumer, whose next() returns one where ConsumerInterface says DeliveryInterface.
        .interface::<interfaces::PhpInterfaceJobInterface>()
        .interface::<interfaces::PhpInterfaceClientInterface>()
        .interface::<interfaces::PhpInterfaceProducerInterface>()
        .interface::<interfaces::PhpInterfaceConsumerInterface>()
        .interface::<interfaces::PhpInterfaceDeliveryInterface>()
        // Dq\Job before Dq\Client, whose reserve() returns one; Delivery before Consumer.
        .class::<job::Job>()
        .class::<Client>()
        .class::<producer::Producer>()
        .class::<consumer::Delivery>()
        .class::<consumer::Consumer>()
        .class::<xa::Xa>()
        .class::<outbox::Outbox>()
        .class::<outbox::Inbox>()
        .request_startup_function(client::request_startup)
        .info_function(ini::info)
}
