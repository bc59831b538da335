//! What the worker tests share: a programmable HTTP sink that plays a topic's callback (it
//! records every request and answers as a policy says), waiting with a deadline, an observer
//! that counts, and the gateway binary as a child process.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Call {
    /// Position in arrival order, from 0.
    pub index: usize,
    pub method: String,
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Arrival, on the monotonic clock and as unix ms.
    pub at: Instant,
    pub at_ms: i64,
    /// The message id: `X-Dq-Id`, else the `id` of a JSON body, else of the query.
    pub id: Option<String>,
    /// How many requests with this id arrived so far, this one included (1 for the first).
    pub nth: usize,
    /// The status the sink answered; `None` while the request is held, or when the caller
    /// went away first (the handler was dropped).
    pub answered: Option<u16>,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body of call {} is not JSON ({e}): {:?}",
                self.index, self.body
            )
        })
    }

    /// The query parameters, percent-decoded.
    pub fn params(&self) -> HashMap<String, String> {
        parse_query(self.query.as_deref().unwrap_or(""))
    }

    /// `X-Dq-Attempt` as a number.
    pub fn attempt(&self) -> u32 {
        self.header("x-dq-attempt")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("call {} has no X-Dq-Attempt", self.index))
    }

    pub fn succeeded(&self) -> bool {
        self.answered.is_some_and(|s| (200..300).contains(&s))
    }
}

/// How the sink answers one request.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    /// Held this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
        }
    }

    pub fn after(self, delay: Duration) -> Reply {
        Reply { delay, ..self }
    }
}

/// Decides the reply to a call.
pub type Policy = Arc<dyn Fn(&Call) -> Reply + Send + Sync>;

/// Answers `status` at once, always.
pub fn always(status: u16) -> Policy {
    Arc::new(move |_| Reply::status(status))
}

/// Fails the first `n` requests of each id with `status`, then answers 200.
pub fn fail_first(n: usize, status: u16) -> Policy {
    Arc::new(move |call| Reply::status(if call.nth <= n { status } else { 200 }))
}

/// Holds every request for `delay`, then answers 200.
pub fn hold(delay: Duration) -> Policy {
    Arc::new(move |_| Reply::status(200).after(delay))
}

/// Fails with 500 with probability `p`, else 200.
pub fn coin(p: f64) -> Policy {
    Arc::new(move |_| Reply::status(if fastrand::f64() < p { 500 } else { 200 }))
}

/// Requests in flight, by key (the `X-Dq-Topic` header, or the path) and in all, with the
/// highest each count reached.
#[derive(Default)]
struct InFlight {
    now: HashMap<String, usize>,
    max: HashMap<String, usize>,
}

struct Inner {
    calls: Mutex<Vec<Call>>,
    per_id: Mutex<HashMap<String, usize>>,
    policy: Mutex<Policy>,
    in_flight: Mutex<InFlight>,
}

/// An HTTP server on 127.0.0.1 that records every request and answers as its policy says.
/// Stops when dropped.
pub struct Sink {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

const ALL: &str = "*";

impl Sink {
    pub async fn start(policy: Policy) -> Sink {
        let inner = Arc::new(Inner {
            calls: Mutex::new(Vec::new()),
            per_id: Mutex::new(HashMap::new()),
            policy: Mutex::new(policy),
            in_flight: Mutex::new(InFlight::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink {
            addr,
            inner,
            server,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_policy(&self, policy: Policy) {
        *self.inner.policy.lock().unwrap() = policy;
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    pub fn calls_for(&self, id: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.id.as_deref() == Some(id))
            .collect()
    }

    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }

    pub fn count(&self) -> usize {
        self.inner.calls.lock().unwrap().len()
    }

    /// Waits until at least `n` calls arrived; returns them all.
    pub async fn wait_calls(&self, n: usize, within: Duration) -> Vec<Call> {
        eventually(within, &format!("{n} calls at the sink"), || async {
            let calls = self.calls();
            (calls.len() >= n).then_some(calls)
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "expected {n} calls within {within:?}; got {:#?}",
                self.summary()
            )
        })
    }

    /// Waits until at least `n` calls to `path` were answered (or abandoned): returns them.
    pub async fn wait_calls_to(&self, path: &str, n: usize, within: Duration) -> Vec<Call> {
        eventually(within, "calls", || async {
            let calls = self.calls_to(path);
            (calls.len() >= n).then_some(calls)
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "expected {n} calls to {path} within {within:?}; got {:#?}",
                self.summary()
            )
        })
    }

    /// Requests being held right now with `X-Dq-Topic: topic`.
    pub fn in_flight(&self, topic: &str) -> usize {
        let f = self.inner.in_flight.lock().unwrap();
        f.now.get(topic).copied().unwrap_or(0)
    }

    /// The most requests with `X-Dq-Topic: topic` held at once so far.
    pub fn max_in_flight(&self, topic: &str) -> usize {
        let f = self.inner.in_flight.lock().unwrap();
        f.max.get(topic).copied().unwrap_or(0)
    }

    /// The most requests of any topic held at once so far.
    pub fn max_in_flight_all(&self) -> usize {
        self.max_in_flight(ALL)
    }

    /// Ids of the requests held right now.
    pub fn held_ids(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.answered.is_none())
            .filter_map(|c| c.id)
            .collect()
    }

    /// One line per call, for failure messages.
    pub fn summary(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| {
                format!(
                    "#{} {} {} id={:?} attempt={:?} answered={:?}",
                    c.index,
                    c.method,
                    c.path,
                    c.id,
                    c.header("x-dq-attempt"),
                    c.answered
                )
            })
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Takes a request off the in-flight counts when the handler ends, answered or dropped.
struct Held {
    inner: Arc<Inner>,
    keys: [String; 2],
}

impl Held {
    fn new(inner: Arc<Inner>, key: String) -> Held {
        {
            let mut f = inner.in_flight.lock().unwrap();
            for k in [key.as_str(), ALL] {
                let now = f.now.entry(k.to_string()).or_default();
                *now += 1;
                let now = *now;
                let max = f.max.entry(k.to_string()).or_default();
                *max = (*max).max(now);
            }
        }
        Held {
            inner,
            keys: [key, ALL.to_string()],
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut f = self.inner.in_flight.lock().unwrap();
        for k in &self.keys {
            if let Some(now) = f.now.get_mut(k) {
                *now -= 1;
            }
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let at = Instant::now();
    let at_ms = dq_testkit::now_ms();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let query = parts.uri.query().map(str::to_string);
    let id = parts
        .headers
        .get("x-dq-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_string))
        })
        .or_else(|| parse_query(query.as_deref().unwrap_or("")).remove("id"));
    let nth = match &id {
        Some(id) => {
            let mut per_id = inner.per_id.lock().unwrap();
            let n = per_id.entry(id.clone()).or_default();
            *n += 1;
            *n
        }
        None => 0,
    };
    let key = parts
        .headers
        .get("x-dq-topic")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| parts.uri.path().to_string(), str::to_string);
    let held = Held::new(inner.clone(), key);
    let call = {
        let mut calls = inner.calls.lock().unwrap();
        let call = Call {
            index: calls.len(),
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query,
            headers: parts.headers.clone(),
            body,
            at,
            at_ms,
            id,
            nth,
            answered: None,
        };
        calls.push(call.clone());
        call
    };
    let policy = inner.policy.lock().unwrap().clone();
    let reply = policy(&call);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    inner.calls.lock().unwrap()[call.index].answered = Some(reply.status);
    drop(held);
    Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap())
        .body(Body::from("ok"))
        .unwrap()
}

/// The value of `sample` (`name{labels}` exactly as the text writes it) in metrics `text`, 0
/// if absent.
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// `a=1&b=%20x` -> {a: "1", b: " x"}.
pub fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Calls `check` every 10 ms until it returns `Some` or `within` passed (then `None`).
pub async fn eventually<T, F, Fut>(within: Duration, _what: &str, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Counts what the workers report.
#[derive(Default)]
pub struct Counts {
    pub delivered: AtomicUsize,
    pub failed: AtomicUsize,
    pub dead: AtomicUsize,
    pub lost: AtomicUsize,
    pub expired: AtomicUsize,
    /// Each failure's topic and reason, in order.
    pub reasons: Mutex<Vec<(String, dq_core::Failure)>>,
}

impl dq_core::Observer for Counts {
    fn delivered(&self, _topic: &str, _lateness: Duration) {
        self.delivered.fetch_add(1, Ordering::SeqCst);
    }
    fn failed(&self, topic: &str, reason: dq_core::Failure) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        self.reasons
            .lock()
            .unwrap()
            .push((topic.to_string(), reason));
    }
    fn dead(&self, _topic: &dq_core::Topic, _letter: &dq_core::alert::GivenUp<'_>) {
        self.dead.fetch_add(1, Ordering::SeqCst);
    }
    fn lease_lost(&self, _topic: &str) {
        self.lost.fetch_add(1, Ordering::SeqCst);
    }
    fn leases_expired(&self, _topic: &str, count: usize) {
        self.expired.fetch_add(count, Ordering::SeqCst);
    }
}

/// The dq-gateway binary, running with workers on a prefix of the test's own; SIGKILLed (if
/// still running) on drop.
pub struct GatewayProcess {
    child: Child,
    pub address: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Starts the binary with `--config config` on `prefix`; returns once it listens.
    pub fn start(config: &Path, prefix: &str) -> GatewayProcess {
        GatewayProcess::start_with(config, prefix, &[])
    }

    /// The same, with more environment (`DQ_REDIS` to a private server, say).
    pub fn start_with(config: &Path, prefix: &str, env: &[(&str, &str)]) -> GatewayProcess {
        GatewayProcess::spawn(config, prefix, env, &[])
    }

    /// With `--no-workers`: the HTTP API alone, which delivers nothing (and so calls no
    /// callback URL that a test put in a topic).
    pub fn start_api_only(config: &Path, prefix: &str, env: &[(&str, &str)]) -> GatewayProcess {
        GatewayProcess::spawn(config, prefix, env, &["--no-workers"])
    }

    /// With `--workers-only`: returns once the workers run (there is no address).
    pub fn start_workers_only(config: &Path, prefix: &str) -> GatewayProcess {
        GatewayProcess::spawn(config, prefix, &[], &["--workers-only"])
    }

    fn spawn(config: &Path, prefix: &str, env: &[(&str, &str)], args: &[&str]) -> GatewayProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dq-gateway"))
            .arg("--config")
            .arg(config)
            .args(args)
            .env("DQ_LISTEN", "127.0.0.1:0")
            .env("DQ_PREFIX", prefix)
            .env("DQ_REDIS", dq_testkit::test_redis())
            .env("DQ_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = logs.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on http://".len()..];
                    let address = rest.split_whitespace().next().unwrap_or("").to_string();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(address);
                    }
                } else if line.contains("running workers only")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(String::new());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let address = rx.recv_timeout(Duration::from_secs(15));
        let mut gateway = GatewayProcess {
            child,
            address: String::new(),
            logs,
        };
        match address {
            Ok(address) => gateway.address = address,
            Err(_) => panic!(
                "gateway did not listen within 15 s; its log:\n{}",
                gateway.logs()
            ),
        }
        gateway
    }

    /// One HTTP/1.1 request (blocking; call it in `block_in_place` from async tests): the
    /// status and the body.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        );
        std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
        let mut reply = String::new();
        std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
        let status = reply
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {reply:?}"));
        let body = reply
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        (status, body)
    }

    /// The value of one sample of `/metrics` (`name{labels}` exactly as written), 0 if absent.
    pub fn metric(&self, sample: &str) -> f64 {
        let (status, text) = self.request("GET", "/metrics", None);
        assert_eq!(status, 200, "{text}");
        metric(&text, sample)
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal}");
    }

    /// SIGKILL: no shutdown, leases left as they are.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits until a log line contains `text`; panics with the log if none does in time.
    pub fn wait_log(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.logs.lock().unwrap().iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {text:?} within {within:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request on a connection of its own (blocking): the status and the body.
pub fn http_call(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: dq\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    let status = reply
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {reply:?}"));
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// One request to an in-process router (`dq_gateway::app`): the status and the JSON body (a
/// body that is not JSON as a JSON string).
pub async fn call_app(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

/// A new XA transaction id of the decision log at `log` (a `mysql://` URL), as the gateway
/// whose `mysql` it is would give one: its first 10 characters are the same for every
/// transaction that log decides.
pub fn xa_id(log: &str) -> String {
    use dq_core::xa::{Databases, DecisionLog, Xa};
    let timeout = Duration::from_secs(3);
    let log = DecisionLog::new(
        dq_core::mysql::MysqlUrl::parse("log", log).unwrap(),
        Arc::new(dq_core::mysql::Pools::new()),
        timeout,
    );
    Xa::begin(Arc::new(Databases::default()), Arc::new(log), timeout)
        .id()
        .to_string()
}
