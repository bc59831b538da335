//! Connection pools, one per URL. The blocking facade's pools belong to the process and are
//! created anew in a forked child (whose parent's sockets it must not touch); the gateway owns
//! its own. After a connection fails, the URL's pool is replaced, so connections a restarted
//! server dropped are not handed out again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::{Conn, Pool, PoolConstraints, PoolOpts};

use super::{MysqlUrl, error};
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::process;

/// Connections kept open per URL: a PHP worker uses one per database at a time; the gateway
/// serves concurrent requests with more.
const MAX_CONNECTIONS: usize = 32;

/// An idle connection is closed after this long.
const IDLE_TTL: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Pools {
    pools: Mutex<HashMap<MysqlUrl, Pool>>,
    /// dq's databases whose tables exist (created or checked once per process).
    ready: Mutex<HashSet<MysqlUrl>>,
}

impl Pools {
    pub fn new() -> Pools {
        Pools::default()
    }

    fn pool(&self, url: &MysqlUrl) -> Pool {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .entry(url.clone())
            .or_insert_with(|| {
                let constraints = PoolConstraints::new(0, MAX_CONNECTIONS).unwrap_or_default();
                let options = PoolOpts::default()
                    .with_constraints(constraints)
                    .with_inactive_connection_ttl(IDLE_TTL)
                    // Keeps each connection's prepared statements across uses; dq leaves no
                    // transaction open on a connection it gives back.
                    .with_reset_connection(false);
                Pool::new(url.opts(true).pool_opts(options))
            })
            .clone()
    }

    /// A connection to `url`, opened within `timeout` if none is idle.
    pub(crate) async fn conn(&self, url: &MysqlUrl, timeout: Duration) -> Result<Conn> {
        let pool = self.pool(url);
        match tokio::time::timeout(timeout, pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => {
                self.discard(url);
                Err(error(url, &e).context("cannot connect"))
            }
            Err(_) => {
                self.discard(url);
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "cannot connect: MySQL {url} did not answer within {:.3} s",
                        timeout.as_secs_f64()
                    ),
                ))
            }
        }
    }

    /// Forgets `url`'s pool after a connection to it failed: its idle connections may all be
    /// dead (a server restart), and the next `conn` opens a fresh one.
    pub(crate) fn discard(&self, url: &MysqlUrl) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.remove(url);
    }

    pub(crate) fn is_ready(&self, url: &MysqlUrl) -> bool {
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(url)
    }

    pub(crate) fn set_ready(&self, url: &MysqlUrl) {
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(url.clone());
    }

    /// How many connections this process holds per URL (open, idle or in use).
    pub fn open_connections(&self) -> Vec<(MysqlUrl, usize)> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .iter()
            .map(|(url, pool)| {
                let metrics = pool.metrics();
                let open = metrics
                    .connection_count
                    .load(std::sync::atomic::Ordering::Relaxed);
                (url.clone(), open)
            })
            .collect()
    }
}

struct Owned {
    process: u64,
    pools: Arc<Pools>,
}

static PROCESS_POOLS: Mutex<Option<Owned>> = Mutex::new(None);

/// The process's pools for the blocking facade; new ones in a forked child, whose inherited
/// pools are leaked rather than dropped (their sockets are the parent's).
pub(crate) fn process_pools() -> Arc<Pools> {
    let mut slot = PROCESS_POOLS.lock().unwrap_or_else(|p| p.into_inner());
    let current = process();
    match slot.as_ref() {
        Some(owned) if owned.process == current => owned.pools.clone(),
        _ => {
            if let Some(old) = slot.take() {
                std::mem::forget(old.pools);
            }
            let pools = Arc::new(Pools::new());
            *slot = Some(Owned {
                process: current,
                pools: pools.clone(),
            });
            pools
        }
    }
}
