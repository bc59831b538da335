//! The HTTP server under the router, over real sockets: what a client that hogs, stalls or
//! sends garbage gets, and that the gateway keeps answering everyone else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dq_core::{DelayQueue, Registry};
use dq_gateway::{AppState, GatewayConfig, run};
use dq_testkit::*;
use serde_json::Value;

/// The gateway's API on 127.0.0.1 in this process, with `extra` TOML on top of the defaults.
struct Served {
    address: String,
    _scratch: Scratch,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Served {
    async fn start(extra: &str) -> Served {
        let scratch = Scratch::new(&[REDIS]);
        let mut config = GatewayConfig::from_toml(extra, "test").unwrap();
        config.queue = scratch.config();
        let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
        let registry = Arc::new(Registry::new(queue.clone()));
        let state = AppState::new(queue, registry, &config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            run(listener, state, &config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Served {
            address,
            _scratch: scratch,
            stop: Some(stop),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Sends raw bytes, reads until the server closes or `within` passes.
fn exchange(address: &str, request: &[u8], within: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

/// The status and JSON body of one HTTP/1.1 response.
fn parse(reply: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(reply).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let status = head[9..12].parse().unwrap();
    let json =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"));
    (status, head.to_ascii_lowercase(), json)
}

fn assert_json_error(reply: &[u8], status: u16, code: &str, says: &str) {
    let (got, head, body) = parse(reply);
    assert_eq!(got, status, "{}", String::from_utf8_lossy(reply));
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{message:?} should say {says:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_a_json_body_even_below_the_router() {
    let served = Served::start("").await;
    let address = served.address.clone();
    tokio::task::spawn_blocking(move || {
        let wait = Duration::from_secs(5);
        let reply = exchange(&address, b"NOT HTTP AT ALL\r\n\r\n", wait);
        assert_json_error(&reply, 400, "INVALID_ARGUMENT", "cannot be parsed");
        let reply = exchange(&address, b"GET /v1/topics/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", wait);
        assert_json_error(&reply, 400, "INVALID_ARGUMENT", "percent-encoded");
        let reply = exchange(
            &address,
            b"GET /v1/topics/%FF%FE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            wait,
        );
        assert_json_error(&reply, 400, "INVALID_ARGUMENT", "UTF-8");
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
        let reply = exchange(&address, long.as_bytes(), wait);
        assert_json_error(&reply, 414, "PAYLOAD_TOO_LARGE", "URI is too long");
        let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
        let reply = exchange(
            &address,
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
            wait,
        );
        assert_json_error(&reply, 431, "PAYLOAD_TOO_LARGE", "headers are too large");
        let reply = exchange(
            &address,
            b"POST /v1/topics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            wait,
        );
        assert_json_error(&reply, 405, "INVALID_ARGUMENT", "method POST is not allowed");
        assert!(
            String::from_utf8_lossy(&reply)
                .to_ascii_lowercase()
                .contains("allow: get,head"),
            "{}",
            String::from_utf8_lossy(&reply)
        );

        // A body announced over request_limit is refused before it is sent: no 100 Continue.
        let reply = exchange(
            &address,
            b"POST /v1/topics/t/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000000\r\nExpect: 100-continue\r\n\r\n",
            wait,
        );
        assert!(
            reply.starts_with(b"HTTP/1.1 413"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
        assert_json_error(&reply, 413, "PAYLOAD_TOO_LARGE", "3000000000");

        // A good response on a keep-alive connection, then garbage: both answered, in order.
        let reply = exchange(
            &address,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
            wait,
        );
        let text = String::from_utf8_lossy(&reply);
        let second = text.find("HTTP/1.1 400").expect("the garbage got an answer");
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert_json_error(&reply[second..], 400, "INVALID_ARGUMENT", "cannot be parsed");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_idle_connections_are_closed() {
    let served = Served::start("[http]\nheader_read_timeout = 1\nidle_timeout = 2").await;
    let address = served.address.clone();
    tokio::task::spawn_blocking(move || {
        // Half a request head, then nothing: closed after the header-read timeout.
        let started = Instant::now();
        let reply = exchange(
            &address,
            b"GET /healthz HTTP/1.1\r\nHost",
            Duration::from_secs(10),
        );
        assert!(reply.is_empty(), "{}", String::from_utf8_lossy(&reply));
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "not closed: {:?}",
            started.elapsed()
        );

        // Connected, nothing sent: the first request's head counts from the connection.
        let started = Instant::now();
        let reply = exchange(&address, b"", Duration::from_secs(10));
        assert!(reply.is_empty());
        assert!(started.elapsed() < Duration::from_secs(8));

        // A keep-alive connection serves several requests, then is closed once idle.
        let mut stream = TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for _ in 0..3 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            std::thread::sleep(Duration::from_millis(300));
        }
        let started = Instant::now();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "idle connection not closed: {:?}",
            started.elapsed()
        );
    })
    .await
    .unwrap();
}

/// The gateway binary with the descriptor limit systemd gives services by default (1,024).
struct LimitedGateway {
    child: Child,
    address: String,
    logs: Arc<std::sync::Mutex<Vec<String>>>,
}

impl LimitedGateway {
    fn start(prefix: &str, config: &std::path::Path) -> LimitedGateway {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 1024 && exec \"$0\" --config \"$1\"")
            .arg(env!("CARGO_BIN_EXE_dq-gateway"))
            .arg(config)
            .env("DQ_LISTEN", "127.0.0.1:0")
            .env("DQ_PREFIX", prefix)
            .env("DQ_REDIS", REDIS)
            .env("DQ_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = logs.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on http://".len()..];
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("gateway did not listen");
        LimitedGateway {
            child,
            address,
            logs,
        }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for LimitedGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises this test process's own descriptor limit, so it can hold the connections.
fn allow_descriptors(n: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        if limit.rlim_cur < n {
            limit.rlim_cur = n.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[test]
fn idle_connections_do_not_take_the_gateway_down() {
    allow_descriptors(4096);
    let scratch = Scratch::new(&[REDIS]);
    let dir = TempDir::new();
    // Long timeouts, so only the cap protects the gateway during the test.
    let config = dir.write(
        "gateway.toml",
        "[http]\nheader_read_timeout = 120\nidle_timeout = 120\n",
    );
    let gateway = LimitedGateway::start(&scratch.prefix, &config);
    let mut hogs = Vec::new();
    for i in 0..1_100 {
        let mut stream = TcpStream::connect(&gateway.address).unwrap();
        // A third made a request and kept the connection; the rest never send anything.
        if i % 3 == 0 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
        }
        hogs.push(stream);
    }
    let reply = exchange(
        &gateway.address,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let (status, _, body) = parse(&reply);
    assert_eq!(status, 200, "{body}\n{}", gateway.logs());

    let reply = exchange(
        &gateway.address,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let hits = text
        .lines()
        .find(|l| l.starts_with("dq_http_limit_hits_total{limit=\"max_connections\"}"))
        .unwrap_or_else(|| panic!("no limit hit counted:\n{text}"));
    assert!(!hits.ends_with(" 0"), "{hits}");
    let open: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("dq_http_connections "))
        .expect("dq_http_connections")
        .parse()
        .unwrap();
    assert!(
        open < 1024.0,
        "{open} connections open under a 1,024 descriptor limit"
    );
    assert!(
        gateway.logs().contains("HTTP limit hit"),
        "no log line: {}",
        gateway.logs()
    );
    drop(hogs);
}
