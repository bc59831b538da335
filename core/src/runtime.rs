//! The tokio runtime behind the blocking facade, and fork detection.
//!
//! One runtime per process, created on first use (never at module load: PHP-FPM and Swoole fork
//! after loading extensions) and created anew in a forked child, which leaks its parent's
//! runtime rather than touch its threads or sockets. Forks are counted by a `pthread_atfork`
//! child handler, so checking for one costs an atomic load rather than a `getpid` call.
//! dq's threads block the process's signals, which thus reach the program's own thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};

use tokio::runtime::{Builder, Runtime};

use crate::error::{Error, Result};

static FORKS: AtomicU64 = AtomicU64::new(0);
static WATCH_FORKS: Once = Once::new();

extern "C" fn forked_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Identifies this process among the processes forked from it: it changes in a forked child.
pub(crate) fn process() -> u64 {
    WATCH_FORKS.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic; glibc removes it if this
        // library is unloaded.
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
    });
    FORKS.load(Ordering::Relaxed)
}

struct Owned {
    process: u64,
    runtime: Option<Arc<Runtime>>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.process != process() {
            std::mem::forget(self.runtime.take());
        }
    }
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);
static AMQP_RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// This process's runtime for Redis: a current-thread runtime, driven by the calling thread
/// inside each `block_on`, so a PHP worker that only uses the delay queue has no extra threads.
pub(crate) fn runtime() -> Result<Arc<Runtime>> {
    owned_runtime(&RUNTIME, || {
        Builder::new_current_thread().enable_all().build()
    })
}

/// This process's runtime for RabbitMQ: one worker thread keeps heartbeats, confirms and
/// prefetched deliveries flowing between calls, so an idle PHP-FPM worker keeps its connection.
pub(crate) fn amqp_runtime() -> Result<Arc<Runtime>> {
    owned_runtime(&AMQP_RUNTIME, || {
        Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dq-amqp")
            .on_thread_start(leave_signals_to_the_caller)
            .enable_all()
            .build()
    })
}

/// Blocks the process-directed signals in dq's own threads, so that the kernel delivers them
/// to the embedding program's threads: PHP's handlers (pcntl's, PHP-FPM's, dq's worker loop's)
/// then run on PHP's thread, as they were written to. Faults stay deliverable.
fn leave_signals_to_the_caller() {
    // SAFETY: plain sigset operations on a local set, then this thread's own mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for fault in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGSYS,
            libc::SIGABRT,
        ] {
            libc::sigdelset(&mut set, fault);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn owned_runtime(
    slot: &Mutex<Option<Owned>>,
    build: impl FnOnce() -> std::io::Result<Runtime>,
) -> Result<Arc<Runtime>> {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    let current = process();
    if let Some(Owned {
        process: owner,
        runtime: Some(runtime),
    }) = slot.as_ref()
        && *owner == current
    {
        return Ok(runtime.clone());
    }
    let runtime = build()
        .map(Arc::new)
        .map_err(|e| Error::internal(format!("cannot start the dq runtime: {e}")))?;
    *slot = Some(Owned {
        process: current,
        runtime: Some(runtime.clone()),
    });
    Ok(runtime)
}
