//! One HTTP/1.1 connection under hyper, watched: its request heads must arrive within the
//! header-read timeout, it is closed after the idle timeout between requests (or at once when
//! evicted to make room), and the responses hyper writes by itself for requests it cannot parse
//! (400, 414, 431, with empty bodies) are replaced by the API's JSON error bodies.
//!
//! hyper writes such an automatic response only between requests: when every response the
//! router produced has been handed to hyper and flushed to the socket, and no request has
//! started since. [`Connection`] tracks exactly that "boundary"; bytes hyper writes at a
//! boundary are its automatic response.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower::Service;

use super::HttpLimits;

/// A limit the server enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// The connection cap was reached.
    Connections,
    /// `accept` failed: out of file descriptors, most likely.
    Descriptors,
    /// A request head did not arrive in time.
    HeaderReadTimeout,
    /// A keep-alive connection stayed idle too long.
    IdleTimeout,
}

impl Limit {
    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Connections => "max_connections",
            Limit::Descriptors => "descriptors",
            Limit::HeaderReadTimeout => "header_read_timeout",
            Limit::IdleTimeout => "idle_timeout",
        }
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            Limit::Connections => "connection cap reached",
            Limit::Descriptors => "out of file descriptors",
            Limit::HeaderReadTimeout => {
                "a client did not send a request head within http.header_read_timeout; closed"
            }
            Limit::IdleTimeout => {
                "a keep-alive connection stayed idle past http.idle_timeout; closed"
            }
        }
    }
}

/// Where a connection is between and within requests.
struct State {
    /// Requests started whose response body hyper has not finished with.
    busy: usize,
    /// Requests started so far.
    served: u64,
    /// When the last request finished (or the connection opened).
    idle_since: Instant,
    /// First byte of the next request, while idle.
    first_byte: Option<Instant>,
    /// Every response is written and flushed, and no request started since.
    boundary: bool,
}

pub(super) struct Connection {
    limits: HttpLimits,
    state: Mutex<State>,
    /// A request finished or a first byte arrived: deadlines moved.
    changed: tokio::sync::Notify,
    evicted: AtomicBool,
}

impl Connection {
    pub fn new(limits: HttpLimits) -> Connection {
        Connection {
            limits,
            state: Mutex::new(State {
                busy: 0,
                served: 0,
                idle_since: Instant::now(),
                first_byte: None,
                boundary: true,
            }),
            changed: tokio::sync::Notify::new(),
            evicted: AtomicBool::new(false),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How fit the connection is to be closed to make room, the fittest first: idle ones
    /// before those sending a request head, the longest idle first; `None` while it is busy.
    pub fn eviction_order(&self) -> Option<(bool, Instant)> {
        let state = self.state();
        (state.busy == 0).then_some((state.first_byte.is_some(), state.idle_since))
    }

    /// Asks an idle connection to close (the connection cap is reached).
    pub fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// The next deadline and the limit it enforces; none while a request is under way.
    fn deadline(&self) -> Option<(Instant, Limit)> {
        let state = self.state();
        if state.busy > 0 {
            return None;
        }
        let header = self.limits.header_read_timeout;
        Some(match state.first_byte {
            Some(at) => (at + header, Limit::HeaderReadTimeout),
            // The first request's head counts from the connection's start.
            None if state.served == 0 => (state.idle_since + header, Limit::HeaderReadTimeout),
            None => (
                state.idle_since + self.limits.idle_timeout,
                Limit::IdleTimeout,
            ),
        })
    }

    fn request_started(&self) {
        let mut state = self.state();
        state.busy += 1;
        state.served += 1;
        state.first_byte = None;
        state.boundary = false;
    }

    fn request_finished(&self) {
        {
            let mut state = self.state();
            state.busy = state.busy.saturating_sub(1);
            if state.busy == 0 {
                state.idle_since = Instant::now();
            }
        }
        self.changed.notify_one();
    }

    fn bytes_read(&self) {
        let mut state = self.state();
        if state.busy == 0 && state.first_byte.is_none() {
            state.first_byte = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn flushed(&self) {
        let mut state = self.state();
        if state.busy == 0 {
            state.boundary = true;
        }
    }

    fn at_boundary(&self) -> bool {
        let state = self.state();
        state.boundary && state.busy == 0
    }

    /// Serves the connection until the client or a limit closes it, or `stop` turns true
    /// (then requests under way finish first). Returns the limit that closed it, if one did.
    pub async fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        router: Router,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Option<Limit> {
        let io = TokioIo::new(Watched {
            inner: stream,
            connection: self.clone(),
            replacement: None,
        });
        let connection = self.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let busy = Busy::start(connection.clone());
            let mut router = router.clone();
            async move {
                let Ok(response) = router.call(request.map(Body::new)).await;
                Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .header_read_timeout(None)
            .serve_connection(io, service);
        tokio::pin!(conn);
        let mut stopping = false;
        loop {
            let deadline = self.deadline();
            let sleep = async move {
                match deadline {
                    Some((at, _)) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return None;
                }
                () = sleep => {
                    if let Some((at, limit)) = self.deadline()
                        && at <= Instant::now()
                    {
                        return Some(limit);
                    }
                }
                () = self.changed.notified() => {
                    if self.evicted.load(Ordering::Relaxed) && self.eviction_order().is_some() {
                        return None;
                    }
                    self.evicted.store(false, Ordering::Relaxed);
                }
                _ = stop.wait_for(|s| *s), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A request under way, from the router's call until hyper drops the response body (or the
/// call is abandoned).
struct Busy(Arc<Connection>);

impl Busy {
    fn start(connection: Arc<Connection>) -> Busy {
        connection.request_started();
        Busy(connection)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its request counted as under way until hyper is done with it.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket as hyper sees it: notes the first byte of each request, and swaps hyper's
/// automatic error responses for JSON ones.
struct Watched {
    inner: TcpStream,
    connection: Arc<Connection>,
    /// Our response in place of hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl Watched {
    /// Takes hyper's automatic response (`head`: its first bytes) and queues ours instead.
    fn replace(&mut self, head: &[u8]) {
        if self.replacement.is_none() {
            self.replacement = Some((automatic_response(head), 0));
        }
    }

    /// Writes what is left of the replacement.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let Some((bytes, written)) = self.replacement.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    fn swallowing(&self) -> bool {
        self.replacement.is_some() || self.connection.at_boundary()
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.connection.bytes_read();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.swallowing() {
            self.replace(buf);
            // Reported as written: hyper must not send its own bytes after ours.
            let _ = self.poll_drain(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.swallowing() {
            if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
                self.replace(first);
            }
            let _ = self.poll_drain(cx)?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.connection.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Our answer in place of hyper's automatic one, whose first bytes are `head`
/// (`HTTP/1.1 400 Bad Request\r\n...`).
fn automatic_response(head: &[u8]) -> Vec<u8> {
    let status = head
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(400);
    let (code, message) = match status {
        414 => (
            "PAYLOAD_TOO_LARGE",
            "the request URI is too long (at most 65534 bytes)",
        ),
        431 => (
            "PAYLOAD_TOO_LARGE",
            "the request headers are too large: at most 100 headers, about 400 KiB in all",
        ),
        _ => (
            "INVALID_ARGUMENT",
            "the request cannot be parsed: a malformed request line, method, URI or header \
             (bytes outside ASCII in the path must be percent-encoded)",
        ),
    };
    canned_response(status, code, message)
}

/// A whole HTTP/1.1 response with the API's JSON error body, closing the connection.
pub(super) fn canned_response(status: u16, code: &str, message: &str) -> Vec<u8> {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_responses_become_json() {
        let text = String::from_utf8(automatic_response(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n",
        ))
        .unwrap();
        assert!(
            text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{text}"
        );
        let body: serde_json::Value =
            serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
        let text = String::from_utf8(automatic_response(b"HTTP/1.1 400 Bad Request\r\n")).unwrap();
        assert!(text.contains("content-type: application/json"), "{text}");
        assert!(text.contains("connection: close"), "{text}");
    }
}
