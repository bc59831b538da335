//! The tokio runtime behind the blocking facade: one per process, created on first use (never
//! at module load: PHP-FPM and Swoole fork after loading extensions) and created anew in a
//! forked child, which leaks its parent's runtime rather than touch its threads or sockets.

use std::sync::{Arc, Mutex};

use tokio::runtime::{Builder, Runtime};

use crate::error::{Error, Result};

struct Owned {
    pid: u32,
    runtime: Option<Arc<Runtime>>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            std::mem::forget(self.runtime.take());
        }
    }
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// This process's runtime: a current-thread runtime, driven by the calling thread inside each
/// `block_on`, so a PHP worker has no extra threads while idle.
pub(crate) fn runtime() -> Result<Arc<Runtime>> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some(Owned {
        pid: owner,
        runtime: Some(runtime),
    }) = slot.as_ref()
        && *owner == pid
    {
        return Ok(runtime.clone());
    }
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|e| Error::internal(format!("cannot start the dq runtime: {e}")))?;
    *slot = Some(Owned {
        pid,
        runtime: Some(runtime.clone()),
    });
    Ok(runtime)
}
