//! The HTTP server under the router: every limit a server needs, set on purpose.
//!
//! - [`Listener`]: binds with a listen backlog of its own, raises the descriptor limit, and
//!   caps open connections below it.
//! - `connection`: one connection's life: header-read and idle timeouts, eviction when the cap
//!   is reached, and JSON bodies for the errors hyper answers by itself (a request it cannot
//!   parse: 400, 414, 431).
//!
//! When the cap is reached, the oldest idle keep-alive connection is closed to make room, as
//! nginx does; when none is idle, the new connection gets a 503 at once rather than waiting in
//! the backlog, so `/healthz` keeps answering while clients hog connections.

mod connection;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket};

pub use connection::Limit;
use connection::{Connection, canned_response};

/// How the server treats connections; `[http]` in the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpLimits {
    /// A request's head (request line and headers) must arrive within this, counted from the
    /// connection's start or the request's first byte.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request under way is closed after this.
    pub idle_timeout: Duration,
    /// Open connections at most; `None`: derived from the descriptor limit at start.
    pub max_connections: Option<usize>,
    /// The kernel's queue of connections not yet accepted.
    pub backlog: u32,
    /// How long requests under way may finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
            backlog: 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What the server reports, for metrics.
pub trait ServerEvents: Send + Sync + 'static {
    /// Connections open now changed.
    fn connections(&self, _open: usize) {}
    /// A limit was hit.
    fn limit_hit(&self, _limit: Limit) {}
}

/// Descriptors kept for everything but client connections: Redis, RabbitMQ, callbacks' idle
/// pool (one per delivery slot), logs, the listener.
const RESERVED_FDS: u64 = 128;

/// Raises the soft descriptor limit to the hard one (where allowed) and returns the connection
/// cap: `wanted` when it fits, else what the limit leaves after `reserved` descriptors.
pub fn connection_cap(wanted: Option<usize>, reserved: usize) -> usize {
    let fds = raise_fd_limit();
    let room = fds
        .saturating_sub(RESERVED_FDS + reserved as u64)
        .max(16)
        .min(usize::MAX as u64) as usize;
    match wanted {
        Some(n) if n <= room => n,
        Some(n) => {
            tracing::warn!(
                max_connections = n,
                descriptor_limit = fds,
                "http.max_connections is above what the descriptor limit allows; using {room}"
            );
            room
        }
        None => room,
    }
}

/// The soft `RLIMIT_NOFILE` after raising it to the hard limit.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write and read the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) == 0 {
                limit.rlim_cur = raised.rlim_cur;
            }
        }
    }
    limit.rlim_cur
}

/// Binds `address` with `backlog` pending connections (the kernel may cap it at somaxconn).
pub async fn bind(address: &str, backlog: u32) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(address).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(backlog)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{address} resolves to no address"),
        )
    }))
}

/// The open connections, so the oldest idle one can be closed when the cap is reached.
#[derive(Default)]
struct Open {
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    next: AtomicU64,
}

impl Open {
    fn len(&self) -> usize {
        self.connections.lock().map_or(0, |c| c.len())
    }

    fn add(&self, connection: Arc<Connection>) -> (u64, usize) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let Ok(mut connections) = self.connections.lock() else {
            return (id, 0);
        };
        connections.insert(id, connection);
        (id, connections.len())
    }

    fn remove(&self, id: u64) -> usize {
        let Ok(mut connections) = self.connections.lock() else {
            return 0;
        };
        connections.remove(&id);
        connections.len()
    }

    /// Asks the connection idle the longest to close (one that is sending a request head only
    /// when none is just idle); false if every connection has a request under way.
    fn evict_idle(&self) -> bool {
        let Ok(connections) = self.connections.lock() else {
            return false;
        };
        let oldest = connections
            .values()
            .filter_map(|c| c.eviction_order().map(|order| (order, c)))
            .min_by_key(|(order, _)| *order);
        match oldest {
            Some((_, connection)) => {
                connection.evict();
                true
            }
            None => false,
        }
    }
}

/// Logs a limit the first time it is hit and then at most once per interval, with the count.
struct LimitLog {
    last: Mutex<HashMap<Limit, (Instant, u64)>>,
}

const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl LimitLog {
    fn hit(&self, limit: Limit, detail: &str) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let now = Instant::now();
        let entry = last.entry(limit).or_insert((now - LIMIT_LOG_INTERVAL, 0));
        entry.1 += 1;
        if now.duration_since(entry.0) >= LIMIT_LOG_INTERVAL {
            tracing::warn!(
                limit = limit.name(),
                times = entry.1,
                "HTTP limit hit: {detail}"
            );
            *entry = (now, 0);
        }
    }
}

/// Serves `router` on `listener` with `limits` until `shutdown` completes, then lets requests
/// under way finish for at most `limits.shutdown_grace`. `max_connections` is the cap to keep.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    max_connections: usize,
    events: Arc<dyn ServerEvents>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Open::default());
    let log = Arc::new(LimitLog {
        last: Mutex::new(HashMap::new()),
    });
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a connection reset before accept:
                    // make room and try again shortly rather than spin.
                    events.limit_hit(Limit::Descriptors);
                    log.hit(Limit::Descriptors, &format!("cannot accept: {e}"));
                    open.evict_idle();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        if open.len() >= max_connections && !open.evict_idle() {
            events.limit_hit(Limit::Connections);
            log.hit(
                Limit::Connections,
                &format!("{max_connections} connections open, none idle: answering 503"),
            );
            tokio::spawn(refuse(stream));
            continue;
        } else if open.len() >= max_connections {
            events.limit_hit(Limit::Connections);
            log.hit(
                Limit::Connections,
                &format!("{max_connections} connections open: closing the longest idle"),
            );
        }
        let _ = stream.set_nodelay(true);
        let connection = Arc::new(Connection::new(limits.clone()));
        let (id, count) = open.add(connection.clone());
        events.connections(count);
        let (router, open, events, log, stop) = (
            router.clone(),
            open.clone(),
            events.clone(),
            log.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            if let Some(limit) = connection.serve(stream, router, stop).await {
                events.limit_hit(limit);
                log.hit(limit, limit.describe());
            }
            events.connections(open.remove(id));
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            grace_s = limits.shutdown_grace.as_secs_f64(),
            "requests still in flight after the grace period; stopping anyway"
        );
    }
    Ok(())
}

/// Answers a connection over the cap with a 503 and closes it. What the client sent is read
/// first (briefly), so closing does not reset the connection before it reads the answer.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let response = canned_response(
        503,
        "CONNECTION",
        "the gateway has too many open connections; retry shortly",
    );
    let mut head = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut head)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
        while matches!(stream.read(&mut head).await, Ok(n) if n > 0) {}
    })
    .await;
}
