//! The dq-gateway binary as an operator runs it: start, serve, stop on SIGTERM; bad config.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dq_testkit::*;

const BIN: &str = env!("CARGO_BIN_EXE_dq-gateway");

/// Starts the gateway on a free port; returns it and its address once it listens.
fn start(prefix: &str, extra_env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .env("DQ_LISTEN", "127.0.0.1:0")
        .env("DQ_PREFIX", prefix)
        .env("DQ_LOG", "info")
        .envs(extra_env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("gateway exited before listening")
            .unwrap();
        if let Some(at) = line.find("listening on http://") {
            let rest = &line[at + "listening on http://".len()..];
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

fn http(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < within {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn serves_then_stops_cleanly_on_sigterm() {
    let scratch = Scratch::new(&[REDIS]);
    let (mut child, address) = start(&scratch.prefix, &[]);
    let reply = http(
        &address,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let body = r#"{"callback":"http://127.0.0.1:9/x"}"#;
    let reply = http(
        &address,
        &format!(
            "PUT /v1/topics/t HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");

    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let _ = idle.read(&mut [0u8; 512]).unwrap();

    unsafe { libc_kill(child.id() as i32, 15) };
    let status = wait_exit(&mut child, Duration::from_secs(5))
        .expect("gateway did not stop within 5 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(
        TcpStream::connect(&address).is_err(),
        "still listening after exit"
    );
}

/// Under systemd (`Type=notify`): READY=1 once it listens, RELOADING=1 then READY=1 on SIGHUP,
/// STOPPING=1 on SIGTERM, each a datagram to $NOTIFY_SOCKET.
#[test]
fn tells_systemd_when_ready_reloading_and_stopping() {
    let scratch = Scratch::new(&[REDIS]);
    let path = std::env::temp_dir().join(format!("{}.notify", scratch.prefix));
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let notify_socket = path.to_str().unwrap().to_string();
    let (mut child, _address) = start(&scratch.prefix, &[("NOTIFY_SOCKET", &notify_socket)]);
    let next = || {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("no datagram from the gateway");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1\nSTATUS=serving");
    unsafe { libc_kill(child.id() as i32, 1) };
    assert_eq!(next(), "RELOADING=1");
    assert_eq!(next(), "READY=1\nSTATUS=serving");
    unsafe { libc_kill(child.id() as i32, 15) };
    assert_eq!(next(), "STOPPING=1\nSTATUS=stopping");
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("did not stop");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn bad_configuration_exits_2_naming_the_problem() {
    let dir = std::env::temp_dir().join(format!("dq-gw-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nlistn = \"typo\"\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listn"), "{stderr}");

    let out = Command::new(BIN)
        .env("DQ_PREFIX", "bad prefix")
        .env("DQ_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DQ_PREFIX"));

    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn print_config_is_a_usable_config_file() {
    let out = Command::new(BIN).arg("--print-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8088\""));
    dq_gateway::GatewayConfig::from_toml(&text, "printed").unwrap();
}

#[test]
fn file_topics_are_published_at_start() {
    let scratch = Scratch::new(&[REDIS]);
    let dir = std::env::temp_dir().join(format!("dq-gw-topics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("topics.toml");
    std::fs::write(
        &file,
        "[[topic]]\nname = \"from.file\"\ncallback = \"http://127.0.0.1:9/x\"\ndelay = 5\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .env("DQ_LISTEN", "127.0.0.1:0")
        .env("DQ_PREFIX", &scratch.prefix)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let key = format!("{}:topics", scratch.prefix);
    let started = Instant::now();
    let mut held: Option<String> = None;
    while held.is_none() && started.elapsed() < Duration::from_secs(5) {
        held = redis_cmd(REDIS, &["HGET", &key, "from.file"]);
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(held.expect("topic not published").contains("\"delay\":5"));
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

#[test]
fn one_redis_named_twice_exits_2_naming_both() {
    let out = Command::new(BIN)
        .env("DQ_LISTEN", "127.0.0.1:0")
        .env(
            "DQ_REDIS",
            "redis://127.0.0.1:6379/0,redis://localhost:6379/0",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("same server"), "{stderr}");
    assert!(stderr.contains("redis://localhost:6379/0"), "{stderr}");
}

#[test]
fn help_lists_the_environment_variables() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "DQ_LISTEN",
        "DQ_REDIS",
        "DQ_AMQP",
        "DQ_MYSQL",
        "DQ_PREFIX",
        "DQ_TOKEN",
        "DQ_LOG",
    ] {
        // A line of its own: the name, then what it sets.
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{var} ")))
            .unwrap_or_else(|| panic!("{var} has no line of its own in --help:\n{help}"));
        assert!(
            line.trim_start()[var.len()..].trim().len() > 10,
            "{var} is not described: {line:?}"
        );
    }
}
