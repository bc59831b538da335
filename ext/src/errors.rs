//! The exception classes and the mapping from dq-core's errors: one class per `ErrorKind` family,
//! `getCode()` the kind's stable number.
//!
//! The classes are built with `ClassBuilder` rather than `#[php_class]`, so that they are plain
//! PHP exceptions: `new Dq\TimeoutException("...")` works from PHP and `getFile()`/`getLine()`
//! point at the PHP call site.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use dq_core::{Error, ErrorKind};
use ext_php_rs::args::ArgInfoTables;
use ext_php_rs::builders::ClassBuilder;
use ext_php_rs::exception::PhpException;
use ext_php_rs::zend::{ClassEntry, ce};

use crate::php_sys;

#[derive(Clone, Copy)]
enum Class {
    Base = 0,
    Connection = 1,
    Timeout = 2,
    InvalidArgument = 3,
    UnknownTopic = 4,
    Xa = 5,
}

const NAMES: [&str; 6] = [
    "Dq\\Exception",
    "Dq\\ConnectionException",
    "Dq\\TimeoutException",
    "Dq\\InvalidArgumentException",
    "Dq\\UnknownTopicException",
    "Dq\\XaException",
];

type Registration = fn(&'static mut ClassEntry, ArgInfoTables);

/// Class entries, written by each registration (so they are fresh after a module restart).
static CLASSES: [AtomicPtr<ClassEntry>; 6] = [const { AtomicPtr::new(ptr::null_mut()) }; 6];

fn class(which: Class) -> &'static ClassEntry {
    let entry = CLASSES[which as usize].load(Ordering::Acquire);
    // SAFETY: set at registration to an entry PHP keeps for the life of the module.
    unsafe { entry.as_ref() }.unwrap_or_else(ce::exception)
}

fn runtime_exception() -> &'static ClassEntry {
    php_sys::get()
        // SAFETY: SPL's RuntimeException entry, set before extensions start.
        .and_then(|s| unsafe { (*s.spl_ce_runtime_exception).as_ref() })
        .unwrap_or_else(ce::exception)
}

/// Registers `Dq\Exception extends \RuntimeException` and its subclasses; at module start.
pub fn register() -> ext_php_rs::error::Result<()> {
    ClassBuilder::new(NAMES[0])
        .extends((runtime_exception, "\\RuntimeException"))
        .registration(|entry, _| CLASSES[Class::Base as usize].store(entry, Ordering::Release))
        .register()?;
    let subclasses: [(Class, Registration); 5] = [
        (Class::Connection, |e, _| {
            CLASSES[1].store(e, Ordering::Release)
        }),
        (Class::Timeout, |e, _| {
            CLASSES[2].store(e, Ordering::Release)
        }),
        (Class::InvalidArgument, |e, _| {
            CLASSES[3].store(e, Ordering::Release)
        }),
        (Class::UnknownTopic, |e, _| {
            CLASSES[4].store(e, Ordering::Release)
        }),
        (Class::Xa, |e, _| CLASSES[5].store(e, Ordering::Release)),
    ];
    for (which, store) in subclasses {
        ClassBuilder::new(NAMES[which as usize])
            .extends((|| class(Class::Base), "\\Dq\\Exception"))
            .registration(store)
            .register()?;
    }
    Ok(())
}

/// The PHP exception for a dq-core error: class by kind, code = the kind's number.
pub fn to_php(error: Error) -> PhpException {
    let which = match error.kind() {
        ErrorKind::Connection => Class::Connection,
        ErrorKind::Timeout => Class::Timeout,
        ErrorKind::InvalidArgument | ErrorKind::PayloadTooLarge => Class::InvalidArgument,
        ErrorKind::UnknownTopic => Class::UnknownTopic,
        ErrorKind::Transaction => Class::Xa,
        _ => Class::Base,
    };
    PhpException::new(
        error.message().to_string(),
        error.code() as i32,
        class(which),
    )
}

/// A `Dq\InvalidArgumentException` with this message.
pub fn invalid(message: impl Into<String>) -> PhpException {
    to_php(Error::invalid(message))
}

/// A `Dq\Exception` (code 1, internal) with this message: what should not happen did.
pub fn internal(message: impl Into<String>) -> PhpException {
    to_php(Error::internal(message))
}
