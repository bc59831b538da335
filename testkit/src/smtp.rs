//! An SMTP receiver of the test's own (Python's aiosmtpd, from the venv scripts/setup.sh
//! makes): every mail it accepts is kept, with its envelope, whether it came over TLS and who
//! signed in. Stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TempDir, free_port};

const SINK: &str = include_str!("smtp_sink.py");

/// A mail as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent.
    pub data: String,
    /// It came over STARTTLS.
    pub tls: bool,
    /// Who signed in (AUTH), if anyone.
    pub auth: Option<String>,
}

impl Received {
    /// The `Subject:` header.
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }
}

/// What the receiver demands.
#[derive(Default)]
pub struct SinkOptions<'a> {
    /// Certificate and key (PEM files): STARTTLS offered and required.
    pub tls: Option<(&'a Path, &'a Path)>,
    /// AUTH required with this user and password.
    pub auth: Option<(&'a str, &'a str)>,
}

pub struct SmtpSink {
    pub port: u16,
    out: PathBuf,
    child: Child,
    _stdin: ChildStdin,
    _dir: TempDir,
}

/// The venv scripts/setup.sh makes: `DQ_VENV`, else `$XDG_CACHE_HOME/dq/venv`, else
/// `~/.cache/dq/venv`.
pub fn venv() -> PathBuf {
    if let Some(venv) = std::env::var_os("DQ_VENV") {
        return PathBuf::from(venv);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"),
        PathBuf::from,
    );
    cache.join("dq").join("venv")
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::with(SinkOptions::default())
    }

    pub fn with(options: SinkOptions<'_>) -> SmtpSink {
        let dir = TempDir::new();
        let script = dir.write("smtp_sink.py", SINK);
        let out = dir.path().join("mails.jsonl");
        let port = free_port();
        let python = venv().join("bin").join("python");
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .args(["--port", &port.to_string()])
            .arg("--out")
            .arg(&out);
        if let Some((cert, key)) = options.tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some((user, password)) = options.auth {
            command.args(["--user", user, "--password", password]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} (aiosmtpd, from scripts/setup.sh) could not start: {e}",
                    python.display()
                )
            });
        let stdin = child.stdin.take().unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready", "the SMTP receiver did not start");
        SmtpSink {
            port,
            out,
            child,
            _stdin: stdin,
            _dir: dir,
        }
    }

    /// The mails received so far.
    pub fn mails(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|v| Received {
                from: v["from"].as_str().unwrap_or_default().to_string(),
                to: v["to"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                data: v["data"].as_str().unwrap_or_default().to_string(),
                tls: v["tls"].as_bool().unwrap_or(false),
                auth: v["auth"].as_str().map(str::to_string),
            })
            .collect()
    }

    /// Waits until `n` mails were received (at most `within`); returns them all.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                started.elapsed() < within,
                "{n} mail(s) not received within {within:?}; got {}: {:?}",
                mails.len(),
                mails.iter().map(|m| m.subject()).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1 (openssl), in `dir`:
/// `(ca.pem, cert.pem, key.pem)`.
pub fn localhost_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=dq test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "cert.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}
