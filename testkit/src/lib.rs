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

/// What a test's `REDIS` stands for: the shared server, or what `DQ_TEST_REDIS` names (the
/// suites run again on a private Redis Cluster that way: `scripts/cluster-tests.sh`).
pub fn test_redis() -> String {
    std::env::var("DQ_TEST_REDIS")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| REDIS.to_string())
}

/// Whether the tests run on a Redis Cluster (`DQ_TEST_REDIS`).
pub fn on_cluster() -> bool {
    test_redis().starts_with("redis+cluster://")
}

/// A unique prefix; every key under it is deleted from the listed servers on drop.
pub struct Scratch {
    pub prefix: String,
    servers: Vec<String>,
}

impl Scratch {
    /// `REDIS` among `servers` is [`test_redis`].
    pub fn new(servers: &[&str]) -> Scratch {
        Scratch {
            prefix: format!("dqtest-{}-{:x}", std::process::id(), fastrand::u64(..)),
            servers: servers
                .iter()
                .map(|s| {
                    if *s == REDIS {
                        test_redis()
                    } else {
                        s.to_string()
                    }
                })
                .collect(),
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
        for server in self.servers.iter().flat_map(|s| nodes_of(s)) {
            let Ok(client) = redis::Client::open(server.as_str()) else {
                continue;
            };
            let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
                continue;
            };
            for key in keys_of(&server, &self.prefix) {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&key).query(&mut conn);
            }
        }
    }
}

/// The keys under `prefix` on a server, or on every master of a `redis+cluster://` URL.
pub fn keys_of(server: &str, prefix: &str) -> Vec<String> {
    nodes_of(server)
        .iter()
        .flat_map(|node| {
            let Ok(client) = redis::Client::open(node.as_str()) else {
                return vec![];
            };
            let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
                return vec![];
            };
            redis::cmd("KEYS")
                .arg(format!("{prefix}:*"))
                .query::<Vec<String>>(&mut conn)
                .unwrap_or_default()
        })
        .collect()
}

/// The server itself, or a cluster's masters (as its first node that answers lists them).
fn nodes_of(server: &str) -> Vec<String> {
    let Some(seeds) = server.strip_prefix("redis+cluster://") else {
        return vec![server.to_string()];
    };
    let seeds = seeds.split(['/', '?']).next().unwrap_or_default();
    for seed in seeds.split(',') {
        let Ok(client) = redis::Client::open(format!("redis://{seed}")) else {
            continue;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let Ok(nodes) = redis::cmd("CLUSTER")
            .arg("NODES")
            .query::<String>(&mut conn)
        else {
            continue;
        };
        return nodes
            .lines()
            .filter(|line| {
                let flags = line.split(' ').nth(2).unwrap_or_default();
                flags.contains("master") && !flags.contains("fail")
            })
            .filter_map(|line| line.split(' ').nth(1)?.split('@').next())
            .map(|address| format!("redis://{address}"))
            .collect();
    }
    Vec::new()
}

/// A Redis Cluster of the test's own (`scripts/redis-cluster.sh`): masters and replicas on
/// free loopback ports below 55535, stopped and removed on drop.
pub struct RedisCluster {
    dir: std::path::PathBuf,
    url: String,
    /// Every node's port, masters first (as created).
    pub ports: Vec<u16>,
}

impl RedisCluster {
    pub fn start(masters: usize, replicas: usize) -> RedisCluster {
        let dir = std::env::temp_dir().join(format!(
            "dqtest-cluster-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis-cluster.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg("start")
            .arg(&dir)
            .arg(masters.to_string())
            .arg(replicas.to_string())
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs scripts/redis-cluster.sh");
        assert!(
            out.status.success(),
            "scripts/redis-cluster.sh start failed"
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let ports = std::fs::read_to_string(dir.join("ports"))
            .unwrap()
            .lines()
            .map(|p| p.parse().unwrap())
            .collect();
        RedisCluster { dir, url, ports }
    }

    /// `redis+cluster://` and the masters' addresses.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Runs a command on the node at `port` (`None`: it did not answer).
    pub fn node_cmd<T: redis::FromRedisValue>(&self, port: u16, args: &[&str]) -> Option<T> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut conn).ok()
    }

    /// The port of the master that serves `key` now.
    pub fn master_of(&self, key: &str) -> u16 {
        let port = self.ports[0];
        let slot: i64 = self.node_cmd(port, &["CLUSTER", "KEYSLOT", key]).unwrap();
        let slots: Vec<redis::Value> = self
            .ports
            .iter()
            .find_map(|&p| self.node_cmd(p, &["CLUSTER", "SLOTS"]))
            .unwrap();
        for range in slots {
            let redis::Value::Array(range) = range else {
                continue;
            };
            let (Some(redis::Value::Int(low)), Some(redis::Value::Int(high))) =
                (range.first(), range.get(1))
            else {
                continue;
            };
            if (*low..=*high).contains(&slot)
                && let Some(redis::Value::Array(master)) = range.get(2)
                && let Some(redis::Value::Int(port)) = master.get(1)
            {
                return *port as u16;
            }
        }
        panic!("no master serves slot {slot}")
    }

    /// Kills the node at `port` (SIGKILL: nothing is flushed, as with a crash).
    pub fn kill(&self, port: u16) {
        let pid = std::fs::read_to_string(self.dir.join(format!("redis-{port}.pid"))).unwrap();
        signal("KILL", pid.trim());
    }

    /// Waits until the nodes that answer say the cluster is ok (a failover finished).
    pub fn wait_ok(&self, within: Duration) {
        let started = Instant::now();
        loop {
            let states: Vec<String> = self
                .ports
                .iter()
                .filter_map(|&p| self.node_cmd::<String>(p, &["CLUSTER", "INFO"]))
                .collect();
            if !states.is_empty() && states.iter().all(|s| s.contains("cluster_state:ok")) {
                return;
            }
            assert!(
                started.elapsed() < within,
                "the cluster is not ok: {states:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `redis-cli --cluster` with `args` against the first node that answers.
    pub fn cli(&self, args: &[&str]) -> String {
        let port = self
            .ports
            .iter()
            .copied()
            .find(|&p| self.node_cmd::<String>(p, &["PING"]).is_some())
            .unwrap();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg(args[0])
            .arg(format!("127.0.0.1:{port}"))
            .args(&args[1..])
            .output()
            .expect("redis-cli is installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis-cluster.sh");
        let _ = Command::new("bash")
            .arg(script)
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
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
