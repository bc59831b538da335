//! The loop of a PHP worker (take a message, hand it to the script's handler, settle it) and the
//! rules that stop it, for `Dq\Consumer::consume` and any loop of the same shape:
//!
//! - [`LoopOptions`]: `timeout` (each wait), `max_messages`, `max_seconds`, `max_memory_mb`,
//!   `requeue_on_error`, `on_error`, read from the PHP options array; other keys are refused.
//! - [`StopSignals`]: while one is held, SIGTERM, SIGINT and SIGQUIT set [`STOP`] instead of
//!   ending the process, and are handed on to the handler the script had (pcntl's, which PHP
//!   then dispatches as usual); dropping it puts the previous handlers back. A signal handler
//!   may only set an atomic, so waits look at `STOP` (dq-core's `next_unless`, every 10 ms).
//! - [`Work`]: what a loop takes (a delivery): the PHP object its handler gets, and how it is
//!   settled when the handler returned or threw.
//! - [`run`]: the loop.

use std::ffi::{c_int, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dq_core::input::likely_meant;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::convert::IntoZval;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendCallable, ZendHashTable, ZendObject, Zval};
use ext_php_rs::zend::{BailoutGuard, ExecutorGlobals, ce};

use crate::convert;
use crate::errors::{internal, invalid};
use crate::php_sys;

/// The signals that stop a worker: supervisord's and systemd's stop signals, Ctrl-C, Ctrl-\.
pub const STOP_SIGNALS: [c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT];

/// Set by a stop signal while [`StopSignals`] are held; a wait given it ends when it is set.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// The stop signal that set [`STOP`].
static CAUGHT: AtomicI32 = AtomicI32::new(0);

/// The handler a signal had before dq's, for [`caught`] to hand the signal on to. Atomics,
/// because a signal handler reads them.
struct Previous {
    handler: AtomicUsize,
    siginfo: AtomicBool,
}

static PREVIOUS: [Previous; 3] = [const {
    Previous {
        handler: AtomicUsize::new(libc::SIG_DFL),
        siginfo: AtomicBool::new(false),
    }
}; 3];

/// How many [`StopSignals`] are held: a `next()` inside `consume()`'s handler nests in it.
static HELD: AtomicUsize = AtomicUsize::new(0);
/// What the outermost [`StopSignals`] replaced, per signal (`None`: left alone), put back
/// when it goes.
static REPLACED: Mutex<[Option<libc::sigaction>; 3]> = Mutex::new([None; 3]);

/// dq's handler: only atomics, then the previous handler, as if dq were not there.
extern "C" fn caught(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: errno is this thread's; the previous handler may change it.
    let errno = unsafe { *libc::__errno_location() };
    CAUGHT.store(signal, Ordering::Relaxed);
    STOP.store(true, Ordering::Release);
    if let Some(previous) = slot(signal).map(|i| &PREVIOUS[i]) {
        let handler = previous.handler.load(Ordering::Acquire);
        if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
            // SAFETY: the address and kind of handler that sigaction reported for this signal.
            unsafe {
                if previous.siginfo.load(Ordering::Acquire) {
                    let handler = std::mem::transmute::<
                        usize,
                        extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void),
                    >(handler);
                    handler(signal, info, context);
                } else {
                    let handler = std::mem::transmute::<usize, extern "C" fn(c_int)>(handler);
                    handler(signal);
                }
            }
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn slot(signal: c_int) -> Option<usize> {
    STOP_SIGNALS.iter().position(|&s| s == signal)
}

fn our_handler() -> libc::sighandler_t {
    caught as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as libc::sighandler_t
}

/// Reads and/or sets a signal's handler where PHP keeps it: PHP's own table when it has one
/// (Zend signal handling, through which pcntl installs its handlers), else the kernel's.
fn handler_table(signal: c_int, set: Option<&libc::sigaction>, old: Option<&mut libc::sigaction>) {
    let set = set.map_or(std::ptr::null(), std::ptr::from_ref);
    let old = old.map_or(std::ptr::null_mut(), std::ptr::from_mut);
    // SAFETY: valid pointers or null, as both functions take them.
    unsafe {
        match php_sys::get().and_then(|s| s.zend_sigaction) {
            Some(zend_sigaction) => zend_sigaction(signal, set, old),
            None => {
                libc::sigaction(signal, set, old);
            }
        }
    }
}

fn current_handler(signal: c_int) -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, no flags, empty mask).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    handler_table(signal, None, Some(&mut action));
    action
}

/// While held, the stop signals stop the worker rather than the process (see the module doc).
/// Not `Send`: it belongs to PHP's thread.
pub struct StopSignals {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl StopSignals {
    /// Catches the stop signals until dropped (or [`StopSignals::restore`]). A signal the
    /// process ignores (a background job's SIGINT and SIGQUIT) is left ignored.
    pub fn catch() -> StopSignals {
        if HELD.fetch_add(1, Ordering::AcqRel) == 0 {
            CAUGHT.store(0, Ordering::Relaxed);
            STOP.store(false, Ordering::Release);
            let mut replaced = REPLACED.lock().unwrap_or_else(|p| p.into_inner());
            for (i, &signal) in STOP_SIGNALS.iter().enumerate() {
                replaced[i] = install(i, signal);
            }
        }
        StopSignals {
            _not_send: std::marker::PhantomData,
        }
    }

    /// The stop signal that arrived, if one did.
    pub fn caught(&self) -> Option<c_int> {
        STOP.load(Ordering::Acquire)
            .then(|| CAUGHT.load(Ordering::Relaxed))
    }

    /// Puts the previous handlers back; returns the signal that arrived if the script had left
    /// it to its default action, which would have ended the process without dq: for the caller
    /// to raise again. `None` for a nested hold (the outer one decides).
    pub fn restore(self) -> Option<c_int> {
        let outermost = HELD.load(Ordering::Acquire) == 1;
        let signal = self.caught().filter(|_| outermost);
        let by_default = signal.and_then(slot).is_some_and(|i| {
            let replaced = REPLACED.lock().unwrap_or_else(|p| p.into_inner());
            replaced[i].is_some() && PREVIOUS[i].handler.load(Ordering::Acquire) == libc::SIG_DFL
        });
        drop(self);
        signal.filter(|_| by_default)
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        if HELD.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let mut replaced = REPLACED.lock().unwrap_or_else(|p| p.into_inner());
        for (i, &signal) in STOP_SIGNALS.iter().enumerate() {
            if let Some(previous) = replaced[i].take() {
                // A handler the script installed meanwhile (pcntl_signal() in the handler) stays.
                if current_handler(signal).sa_sigaction == our_handler() {
                    handler_table(signal, Some(&previous), None);
                }
            }
        }
    }
}

/// One wait that a stop signal ends early (`Dq\\Consumer::next`, `Dq\\Client::reserve`): runs
/// `wait` with [`STOP`] while the stop signals are caught. A signal the script had left to its
/// default action is raised again afterwards, so the process ends as it would have without dq.
pub fn interruptible<T>(wait: impl FnOnce(&AtomicBool) -> T) -> T {
    let signals = StopSignals::catch();
    let output = wait(&STOP);
    if let Some(signal) = signals.restore() {
        // SAFETY: raises a signal whose handler is back to what the script had.
        unsafe { libc::raise(signal) };
    }
    output
}

/// Puts dq's handler in place of the signal's; returns what was there (`None` if ignored).
fn install(i: usize, signal: c_int) -> Option<libc::sigaction> {
    let previous = current_handler(signal);
    if previous.sa_sigaction == libc::SIG_IGN {
        return None;
    }
    PREVIOUS[i]
        .siginfo
        .store(previous.sa_flags & libc::SA_SIGINFO != 0, Ordering::Release);
    PREVIOUS[i]
        .handler
        .store(previous.sa_sigaction, Ordering::Release);
    let mut ours = previous;
    ours.sa_sigaction = our_handler();
    ours.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: a sigset_t of our own.
    unsafe {
        libc::sigemptyset(&mut ours.sa_mask);
        for other in STOP_SIGNALS {
            libc::sigaddset(&mut ours.sa_mask, other);
        }
    }
    handler_table(signal, Some(&ours), None);
    Some(previous)
}

/// The loop's options (see the module doc); `what` names the loop in messages.
pub struct LoopOptions<'a> {
    pub what: &'static str,
    /// The longest single wait for a message.
    pub timeout: Duration,
    pub max_messages: Option<u64>,
    pub max_seconds: Option<Duration>,
    pub max_memory_mb: Option<u64>,
    /// Whether a message whose handler threw goes back to the queue (see [`Work::failed`]).
    pub requeue_on_error: bool,
    /// Called with the handler's exception and the message; else `error_log()` reports it.
    pub on_error: Option<ZendCallable<'a>>,
}

const OPTIONS: [&str; 6] = [
    "timeout",
    "max_messages",
    "max_seconds",
    "max_memory_mb",
    "requeue_on_error",
    "on_error",
];
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_TIMEOUT: f64 = 3600.0;

impl<'a> LoopOptions<'a> {
    pub fn read(what: &'static str, options: Option<&'a ZendHashTable>) -> PhpResult<Self> {
        let mut read = LoopOptions {
            what,
            timeout: DEFAULT_TIMEOUT,
            max_messages: None,
            max_seconds: None,
            max_memory_mb: None,
            requeue_on_error: true,
            on_error: None,
        };
        for (key, value) in options.map(convert::entries).into_iter().flatten() {
            let value = value.dereference();
            let key = key.to_string();
            let name = format!("{what}: options['{key}']");
            match key.as_str() {
                "timeout" => read.timeout = seconds(value, &name, Some(MAX_TIMEOUT))?,
                "max_messages" => read.max_messages = Some(count(value, &name)?),
                "max_seconds" => read.max_seconds = Some(seconds(value, &name, None)?),
                "max_memory_mb" => read.max_memory_mb = Some(count(value, &name)?),
                "requeue_on_error" => {
                    read.requeue_on_error = value.bool().ok_or_else(|| {
                        invalid(format!(
                            "{name} {}: expected true or false",
                            convert::described(value)
                        ))
                    })?;
                }
                "on_error" => {
                    read.on_error = Some(ZendCallable::new(value).map_err(|_| {
                        invalid(format!(
                            "{name} {}: expected a callable (given the exception and the message)",
                            convert::described(value)
                        ))
                    })?);
                }
                other => {
                    let hint = likely_meant(other, &OPTIONS)
                        .map(|meant| format!(": did you mean \"{meant}\"?"))
                        .unwrap_or_default();
                    return Err(invalid(format!(
                        "{what}: unknown option \"{other}\"{hint} (options: {})",
                        OPTIONS.join(", ")
                    )));
                }
            }
        }
        Ok(read)
    }

    /// How long the next wait may be, or `None` when a stop rule says the loop is over.
    fn next_wait(&self, started: Instant, handled: u64) -> PhpResult<Option<Duration>> {
        if STOP.load(Ordering::Acquire) || self.max_messages.is_some_and(|max| handled >= max) {
            return Ok(None);
        }
        let mut wait = self.timeout;
        if let Some(max) = self.max_seconds {
            let Some(left) = max.checked_sub(started.elapsed()).filter(|d| !d.is_zero()) else {
                return Ok(None);
            };
            wait = wait.min(left);
        }
        if let Some(max) = self.max_memory_mb
            && memory_usage_mb()? >= max
        {
            return Ok(None);
        }
        Ok(Some(wait))
    }
}

fn count(value: &Zval, name: &str) -> PhpResult<u64> {
    value
        .long()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            invalid(format!(
                "{name} {}: expected a whole number from 1",
                convert::described(value)
            ))
        })
}

fn seconds(value: &Zval, name: &str, max: Option<f64>) -> PhpResult<Duration> {
    let seconds = value.double().or_else(|| value.long().map(|n| n as f64));
    seconds
        .filter(|s| *s > 0.0 && max.is_none_or(|max| *s <= max))
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            let range = match max {
                Some(max) => format!("more than 0 up to {max}"),
                None => "more than 0".to_string(),
            };
            invalid(format!(
                "{name} {}: expected seconds, {range}",
                convert::described(value)
            ))
        })
}

/// PHP's `memory_get_usage(true)` in MiB (what Laravel's `--memory` measures): the memory the
/// engine took from the system.
fn memory_usage_mb() -> PhpResult<u64> {
    let usage = ZendCallable::try_from_name("memory_get_usage")
        .and_then(|f| f.try_call(vec![&true]))
        .map_err(|e| internal(format!("memory_get_usage(): {e}")))?;
    Ok(usage
        .long()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
        / (1024 * 1024))
}

/// What a worker loop takes and hands to the PHP handler.
pub trait Work {
    /// The PHP object the handler (and `on_error`) gets.
    fn to_php(&self) -> PhpResult<Zval>;
    /// Whether the handler settled it itself.
    fn settled(&self) -> bool;
    /// The handler returned and left it unsettled: done with it (ack).
    fn done(&self) -> PhpResult<()>;
    /// The handler threw (`error`: the exception's message) and left it unsettled: settle it as
    /// failed, per `requeue_on_error`. Returns what became of it, for the report.
    fn failed(&self, requeue_on_error: bool, error: &str) -> PhpResult<String>;
}

/// How a call of the handler ended.
enum Called {
    Returned,
    Threw(ZBox<ZendObject>),
    /// `exit()`: PHP unwinds the stack; the loop leaves at once.
    Exiting,
}

/// Runs the loop: `take(wait, &STOP)` for the next piece of work, the handler for each, until a
/// stop signal, `max_messages`, `max_seconds` or `max_memory_mb` ends it (never in the middle
/// of a handler). Returns how many the handler was given.
pub fn run<W: Work>(
    handler: &ZendCallable<'_>,
    options: &LoopOptions<'_>,
    mut take: impl FnMut(Duration, &AtomicBool) -> PhpResult<Option<W>>,
) -> PhpResult<i64> {
    // A fatal error in the handler jumps over this frame: the guard still puts the handlers back.
    let signals = BailoutGuard::new(StopSignals::catch());
    let started = Instant::now();
    let mut handled: u64 = 0;
    while let Some(wait) = options.next_wait(started, handled)? {
        let Some(work) = take(wait, &STOP)? else {
            continue;
        };
        handled += 1;
        let given = work.to_php()?;
        match call(handler, &given)? {
            Called::Returned => {
                if !work.settled() {
                    work.done()?;
                }
            }
            Called::Threw(exception) => {
                let outcome = if work.settled() {
                    Ok("the handler had settled it".to_string())
                } else {
                    work.failed(options.requeue_on_error, &message_of(&exception))
                };
                let told = outcome.as_deref().unwrap_or("settling it failed as well");
                report(options, exception, &given, told)?;
                outcome?;
            }
            Called::Exiting => break,
        }
    }
    drop(signals);
    Ok(i64::try_from(handled).unwrap_or(i64::MAX))
}

/// `get_class($e) . ': ' . $e->getMessage()`, what a job keeps as its last error.
fn message_of(exception: &ZendObject) -> String {
    let message = exception
        .try_call_method("getMessage", vec![])
        .ok()
        .and_then(|text| text.string())
        .unwrap_or_default();
    let class = exception
        .get_class_name()
        .unwrap_or_else(|_| "Throwable".to_string());
    format!("{class}: {message}")
}

fn call(handler: &ZendCallable<'_>, given: &Zval) -> PhpResult<Called> {
    if handler.try_call(vec![given]).is_ok() {
        return Ok(Called::Returned);
    }
    let throwable = {
        let globals = ExecutorGlobals::get();
        globals.exception().map(|e| e.instance_of(ce::throwable()))
    };
    match throwable {
        Some(true) => ExecutorGlobals::take_exception()
            .map(Called::Threw)
            .ok_or_else(|| internal("the handler's exception vanished")),
        Some(false) => Ok(Called::Exiting),
        None => Err(internal("the handler could not be called")),
    }
}

/// Hands the handler's exception to `on_error`, or logs it with `error_log()`. An exception
/// thrown by `on_error` ends the loop: it is left pending for PHP.
fn report(
    options: &LoopOptions<'_>,
    exception: ZBox<ZendObject>,
    given: &Zval,
    outcome: &str,
) -> PhpResult<()> {
    let what = options.what;
    let shown = exception
        .try_call_method("__toString", vec![])
        .ok()
        .and_then(|text| text.string())
        .unwrap_or_else(|| "an exception".to_string());
    let exception = exception
        .into_zval(false)
        .map_err(|e| internal(format!("{what}: {e}")))?;
    let called = match &options.on_error {
        Some(on_error) => on_error.try_call(vec![&exception, given]),
        None => ZendCallable::try_from_name("error_log").and_then(|log| {
            log.try_call(vec![&format!(
                "{what}: the handler threw, and {outcome}: {shown}"
            )])
        }),
    };
    called
        .map(drop)
        .map_err(|e| internal(format!("{what}: on_error: {e}")))
}
