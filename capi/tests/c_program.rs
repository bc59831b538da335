//! capi/tests/c/dq_test.c, compiled with `cc` against include/dq.h and libdq.so and run (under
//! valgrind when it is installed: no leak, no invalid access) against the real Redis, RabbitMQ
//! and MariaDB; then what it published and what its XA transactions wrote are read back here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dq_core::amqp::{AmqpConfig, OutgoingMessage, QueueOptions};
use dq_core::{BlockingDelivery, BlockingProducer};
use dq_testkit::mysql::TestDatabases;
use dq_testkit::{REDIS, Scratch, SilentScripts, TempDir, TestVhost, free_port};
use serde_json::{Map, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The libdq.so cargo built with this test (target/<profile>/deps/, next to the test), else
/// build/libdq.so.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let deps = exe.parent().expect("target/<profile>/deps");
    [deps.to_path_buf(), root().join("build")]
        .into_iter()
        .find(|dir| dir.join("libdq.so").is_file())
        .expect("libdq.so: run make build")
}

fn compile(dir: &Path, lib: &Path) -> PathBuf {
    let program = dir.join("dq_test");
    let out = Command::new("cc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
            "-I",
        ])
        .arg(root().join("include"))
        .arg("-o")
        .arg(&program)
        .arg(root().join("capi/tests/c/dq_test.c"))
        .arg("-L")
        .arg(lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-ldq", "-lpthread"])
        .output()
        .expect("cc is installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    program
}

fn has_valgrind() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Answers every request on `queue` with "pong:" and its body until `stop`.
fn responder(
    producer: &BlockingProducer,
    queue: &str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let consumer = producer.consumer(queue, 10);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Some(request) = consumer.next(Duration::from_millis(100)).unwrap() {
                let mut body = b"pong:".to_vec();
                body.extend_from_slice(request.delivery().body());
                request
                    .reply(OutgoingMessage::new(body, &Map::new()).unwrap())
                    .unwrap();
                request.ack().unwrap();
            }
        }
    })
}

fn take(producer: &BlockingProducer, queue: &str, count: usize) -> Vec<BlockingDelivery> {
    let consumer = producer.consumer(queue, 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < count && Instant::now() < deadline {
        if let Some(d) = consumer.next(Duration::from_millis(200)).unwrap() {
            d.ack().unwrap();
            got.push(d);
        }
    }
    got
}

#[test]
fn c_program_against_libdq() {
    let scratch = Scratch::new(&[REDIS]);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(scratch.queue_with_topics(&["orders"]));
    let vhost = TestVhost::new();
    let config = AmqpConfig::new(&vhost.url(), "dq", Duration::from_secs(3)).unwrap();
    let producer = BlockingProducer::open(&config, true).unwrap();
    let options = QueueOptions {
        durable: false,
        ..QueueOptions::default()
    };
    let queue = producer.declare_queue("c-test.q", &options).unwrap();
    let rpc = producer.declare_queue("c-test.rpc", &options).unwrap();
    let idle = producer.declare_queue("c-test.idle", &options).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let answering = responder(&producer, &rpc, stop.clone());

    let databases = TestDatabases::new(&["a", "b", "log"]);
    for name in ["a", "b"] {
        databases.sql(
            name,
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), b VARBINARY(8)) ENGINE=InnoDB",
        );
    }

    let silent = SilentScripts::start("127.0.0.1:6379");
    let dir = TempDir::new();
    let lib = library_dir();
    let program = compile(dir.path(), &lib);
    let mut command = if has_valgrind() {
        let mut c = Command::new("valgrind");
        c.args([
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect",
        ])
        .arg(&program);
        c
    } else {
        eprintln!("valgrind is not installed: running the C program without it");
        Command::new(&program)
    };
    // cargo's LD_LIBRARY_PATH (which outranks the rpath) may name an older libdq.so.
    let out = command
        .env("LD_LIBRARY_PATH", &lib)
        .env("DQ_TEST_REDIS", REDIS)
        .env("DQ_TEST_PREFIX", &scratch.prefix)
        .env("DQ_TEST_AMQP", vhost.url())
        .env("DQ_TEST_QUEUE", &queue)
        .env("DQ_TEST_RPC", &rpc)
        .env("DQ_TEST_IDLE", &idle)
        .env("DQ_TEST_CLOSED", free_port().to_string())
        .env("DQ_TEST_SILENT", silent.url())
        .env("DQ_TEST_MYSQL_A", databases.url("a"))
        .env("DQ_TEST_MYSQL_B", databases.url("b"))
        .env("DQ_TEST_MYSQL_LOG", databases.url("log"))
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    answering.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.ends_with("0 failed\n"),
        "the C program failed ({}):\n{stdout}\n{stderr}",
        out.status
    );

    // What it published, read back: 5 messages (the delayed one after its 0.2 s).
    let got = take(&producer, &queue, 5);
    let mut bodies: Vec<&[u8]> = got.iter().map(|d| d.delivery().body()).collect();
    bodies.sort();
    let want: [&[u8]; 5] = [b"", b"a\0b\xff", b"last", b"later", b"second"];
    assert_eq!(bodies, want);
    let first = got
        .iter()
        .find(|d| d.delivery().body() == b"a\0b\xff")
        .unwrap()
        .delivery()
        .properties();
    assert_eq!(first["message_id"], "c-1");
    assert_eq!(first["content_type"], "application/octet-stream");
    assert_eq!(first["headers"], json!({"x": 1}));
    assert_eq!(scratch.count_keys(), 1, "only the topic registry is left");
    // What the XA transactions wrote: the committed rows (one of them from 4 threads sharing
    // the transaction), not the rolled-back or freed ones; no branch left prepared.
    assert_eq!(
        databases.sql("a", "SELECT id, HEX(v), HEX(b) FROM t ORDER BY id"),
        "1\t636166C3A9\t00FFFE\n"
    );
    assert_eq!(
        databases.sql("b", "SELECT COUNT(*), MIN(id), MAX(id) FROM t"),
        "41\t2\t139\n"
    );
    assert!(databases.prepared(&["a", "b"]).is_empty());
}
