//! Test helpers for dq's crates: a key prefix of its own per test (removed afterwards), and
//! private Redis servers for tests that stop and start Redis, and MySQL databases and servers of
//! a test's own (`mysql`). Tests only.

pub mod mysql;
pub mod smtp;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dq_core::{DelayQueue, QueueConfig, RedisServer, Registry, Topic};

pub const REDIS: &str = "redis://127.0.0.1:6379/0";

/// A unique prefix; every key under it is deleted from the listed servers on drop.
pub struct Scratch {
    pub prefix: String,
    servers: Vec<String>,
}

impl Scratch {
    pub fn new(servers: &[&str]) -> Scratch {
        Scratch {
            prefix: format!("dqtest-{}-{:x}", std::process::id(), fastrand::u64(..)),
            servers: servers.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn config(&self) -> QueueConfig {
        QueueConfig {
            redis: self
                .servers
                .iter()
                .map(|s| RedisServer::parse(s).unwrap())
                .collect(),
            prefix: self.prefix.clone(),
            timeout: Duration::from_secs(2),
            ..QueueConfig::default()
        }
    }

    pub fn queue(&self) -> Arc<DelayQueue> {
        Arc::new(DelayQueue::new(&self.config()).unwrap())
    }

    /// A queue whose registry holds `topics` (callbacks to a closed port: nothing delivers).
    pub async fn queue_with_topics(&self, topics: &[&str]) -> (Arc<DelayQueue>, Registry) {
        let queue = self.queue();
        let registry = Registry::new(queue.clone());
        for name in topics {
            registry
                .put(Topic::new(name, "http://127.0.0.1:9/never"))
                .await
                .unwrap();
        }
        (queue, registry)
    }

    pub fn count_keys(&self) -> usize {
        self.servers
            .iter()
            .map(|s| keys_of(s, &self.prefix).len())
            .sum()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for server in &self.servers {
            let Ok(client) = redis::Client::open(server.as_str()) else {
                continue;
            };
            let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
                continue;
            };
            for key in keys_of(server, &self.prefix) {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&key).query(&mut conn);
            }
        }
    }
}

pub fn keys_of(server: &str, prefix: &str) -> Vec<String> {
    let Ok(client) = redis::Client::open(server) else {
        return vec![];
    };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return vec![];
    };
    redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut conn)
        .unwrap_or_default()
}

/// Runs a redis command on `server` synchronously (for inspecting and breaking things).
pub fn redis_cmd<T: redis::FromRedisValue>(server: &str, args: &[&str]) -> T {
    let client = redis::Client::open(server).unwrap();
    let mut conn = client.get_connection().unwrap();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut conn).unwrap()
}

/// A redis-server of the test's own on a free port, stopped on drop.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        let port = free_port();
        let mut redis = PrivateRedis { port, child: None };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers, as with a Redis
    /// that hangs. It resumes (SIGCONT) when the guard is dropped.
    pub fn freeze(&self) -> Frozen {
        freeze(self.child.as_ref())
    }

    /// Starts (again) on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh)");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Freezes a private server's process (SIGSTOP) until the guard is dropped.
fn freeze(server: Option<&Child>) -> Frozen {
    let pid = server.expect("the server is running").id().to_string();
    signal("STOP", &pid);
    Frozen { pid }
}

/// A process frozen by SIGSTOP, resumed (SIGCONT) on drop.
pub struct Frozen {
    pid: String,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("CONT", &self.pid);
    }
}

fn signal(name: &str, pid: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid)
        .status()
        .expect("kill is installed");
    assert!(sent.success(), "kill -{name} {pid}");
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A directory of the test's own under the system's temp dir (config files and the like),
/// removed with its contents on drop.
pub struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "dqtest-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Writes `text` to `name` in the directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let file = self.path.join(name);
        std::fs::write(&file, text).unwrap();
        file
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A RabbitMQ vhost of the test's own (guest may use it), deleted with everything in it on drop.
pub struct TestVhost {
    pub name: String,
}

impl TestVhost {
    pub fn new() -> TestVhost {
        let name = format!("dqtest-{}-{:x}", std::process::id(), fastrand::u32(..));
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        TestVhost { name }
    }

    /// The AMQP URL of this vhost as guest.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Default for TestVhost {
    fn default() -> Self {
        TestVhost::new()
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `rabbitmqctl -q ARGS`, panicking with its output if it fails.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .expect("rabbitmqctl is installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TCP proxy in front of a Redis server that passes every command on but swallows the reply to
/// a script call (`EVALSHA`, `EVAL`): the script runs, the caller hears nothing and times out.
/// For tests of what a timeout after a write means. A `NOSCRIPT` reply is passed on, so the
/// caller loads the script and calls it again. Stops when dropped.
pub struct SilentScripts {
    pub port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
    sockets: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl SilentScripts {
    /// A proxy to Redis at `target` ("127.0.0.1:6379").
    pub fn start(target: &str) -> SilentScripts {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sockets = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (target, stopping, kept) = (target.to_string(), stop.clone(), sockets.clone());
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                let _ = client.set_nonblocking(false);
                kept.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                silent_scripts_relay(client, server);
            }
        });
        SilentScripts {
            port,
            stop,
            sockets,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for SilentScripts {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for socket in self.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Relays one connection both ways, muting replies after a script call (see `SilentScripts`).
fn silent_scripts_relay(client: std::net::TcpStream, server: std::net::TcpStream) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    let muted = Arc::new(AtomicBool::new(false));
    let (mut from_client, mut to_server) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut from_server, mut to_client) = (server, client);
    let up = muted.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_client.read(&mut buf) {
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            let script = [&b"$7\r\nEVALSHA\r\n"[..], b"$4\r\nEVAL\r\n"]
                .iter()
                .any(|call| {
                    chunk
                        .windows(call.len())
                        .any(|w| w.eq_ignore_ascii_case(call))
                });
            if script {
                up.store(true, Ordering::SeqCst);
            }
            if to_server.write_all(chunk).is_err() {
                break;
            }
        }
        let _ = to_server.shutdown(std::net::Shutdown::Both);
    });
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_server.read(&mut buf) {
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            if muted.load(Ordering::SeqCst) {
                if !chunk.starts_with(b"-NOSCRIPT") {
                    continue;
                }
                muted.store(false, Ordering::SeqCst);
            }
            if to_client.write_all(chunk).is_err() {
                break;
            }
        }
        let _ = to_client.shutdown(std::net::Shutdown::Both);
    });
}
