//! MySQL / MariaDB for tests, through the `mariadb` client: databases of a test's own (dropped
//! after it), and a private server on its own port and data directory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TempDir, free_port};

/// The shared server the tests use (scripts/setup.sh starts it).
pub const SHARED_PORT: u16 = 3306;

/// Runs `sql` on the server at `port` (as root, no password), in `database` if given; the
/// output rows, tab-separated, without the header. Panics with the client's message on failure.
pub fn mysql(port: u16, database: Option<&str>, sql: &str) -> String {
    try_mysql(port, database, sql).unwrap_or_else(|e| panic!("mariadb -e {sql:?}: {e}"))
}

pub fn try_mysql(port: u16, database: Option<&str>, sql: &str) -> Result<String, String> {
    let mut command = Command::new("mariadb");
    command
        .args(["-uroot", "-h127.0.0.1", "--batch", "--skip-column-names"])
        .arg(format!("-P{port}"));
    if let Some(database) = database {
        command.arg(format!("-D{database}"));
    }
    let out = command
        .args(["-e", sql])
        .output()
        .map_err(|e| format!("the mariadb client is installed (scripts/setup.sh): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Databases of one test, named `dqt_<random>_<suffix>`, created empty and dropped on drop.
pub struct TestDatabases {
    pub port: u16,
    pub prefix: String,
    suffixes: Vec<String>,
}

impl TestDatabases {
    pub fn new(suffixes: &[&str]) -> TestDatabases {
        TestDatabases::on(SHARED_PORT, suffixes)
    }

    pub fn on(port: u16, suffixes: &[&str]) -> TestDatabases {
        let databases = TestDatabases {
            port,
            prefix: format!("dqt_{:08x}", fastrand::u32(..)),
            suffixes: suffixes.iter().map(|s| s.to_string()).collect(),
        };
        for suffix in suffixes {
            mysql(
                port,
                None,
                &format!("CREATE DATABASE `{}`", databases.name(suffix)),
            );
        }
        databases
    }

    pub fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }

    pub fn url(&self, suffix: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{}", self.port, self.name(suffix))
    }

    /// `sql` run in the database `suffix`.
    pub fn sql(&self, suffix: &str, sql: &str) -> String {
        mysql(self.port, Some(&self.name(suffix)), sql)
    }

    /// Prepared XA branches on the server whose transaction id is one of dq's and whose
    /// branch is one of `names` (XA RECOVER lists the whole server's).
    pub fn prepared(&self, names: &[&str]) -> Vec<String> {
        mysql(self.port, None, "XA RECOVER")
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                let (format, gtrid_len, data) = (fields.first()?, fields.get(1)?, fields.get(3)?);
                let gtrid_len: usize = gtrid_len.parse().ok()?;
                let branch = data.get(gtrid_len..)?;
                (*format == "25713" && names.contains(&branch)).then(|| data.to_string())
            })
            .collect()
    }
}

impl Drop for TestDatabases {
    fn drop(&mut self) {
        if self.suffixes.is_empty() {
            return;
        }
        // A failed test may leave prepared branches (named after these databases), whose locks
        // would make DROP DATABASE wait: roll them back first.
        for line in try_mysql(self.port, None, "XA RECOVER")
            .unwrap_or_default()
            .lines()
        {
            let fields: Vec<&str> = line.split('\t').collect();
            if let (Some(format), Some(gtrid_len), Some(data)) =
                (fields.first(), fields.get(1), fields.get(3))
                && let Ok(gtrid_len) = gtrid_len.parse::<usize>()
                && let (Some(gtrid), Some(bqual)) = (data.get(..gtrid_len), data.get(gtrid_len..))
                && bqual.starts_with(&self.prefix)
            {
                let _ = try_mysql(
                    self.port,
                    None,
                    &format!("XA ROLLBACK '{gtrid}','{bqual}',{format}"),
                );
            }
        }
        for suffix in &self.suffixes {
            let _ = try_mysql(
                self.port,
                None,
                &format!(
                    "SET SESSION lock_wait_timeout = 10; DROP DATABASE IF EXISTS `{}`",
                    self.name(suffix)
                ),
            );
        }
    }
}

/// A mariadbd of the test's own (own port, data directory and socket), root without a password,
/// stopped on drop.
pub struct PrivateMariadb {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl PrivateMariadb {
    pub fn start() -> PrivateMariadb {
        let dir = TempDir::new();
        let data = dir.path().join("data");
        // Seen failing once in a while under load, for no reason it kept: tried again on a
        // fresh data directory, and its output shown if it fails every time.
        let mut output = String::new();
        let installed = (0..3).any(|_| {
            let _ = std::fs::remove_dir_all(&data);
            let out = Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .stdin(Stdio::null())
                .output()
                .expect("mariadb-install-db is installed (scripts/setup.sh)");
            output = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            out.status.success()
        });
        assert!(
            installed,
            "mariadb-install-db failed three times:\n{output}"
        );
        let mut server = PrivateMariadb {
            port: free_port(),
            dir,
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server cleanly (prepared XA branches survive a clean or unclean stop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers. It resumes
    /// (SIGCONT) when the guard is dropped.
    pub fn freeze(&self) -> crate::Frozen {
        crate::freeze(self.child.as_ref())
    }

    /// Kills the server (SIGKILL), as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts (again) on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        let dir = self.dir.path();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--user=root",
                "--bind-address=127.0.0.1",
                "--innodb-buffer-pool-size=16M",
            ])
            .args([
                "--innodb-log-file-size=8M",
                "--performance-schema=OFF",
                "--skip-log-bin",
            ])
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd is installed (scripts/setup.sh)");
        self.child = Some(child);
        let started = Instant::now();
        while try_mysql(self.port, None, "SELECT 1").is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "mariadbd did not start: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateMariadb {
    fn drop(&mut self) {
        self.kill();
    }
}

impl TestDatabases {
    /// Another process's databases (a child of a test), not dropped by this handle.
    pub fn adopt(prefix: &str) -> TestDatabases {
        TestDatabases {
            port: SHARED_PORT,
            prefix: prefix.to_string(),
            suffixes: Vec::new(),
        }
    }
}
