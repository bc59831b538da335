//! `mysql://user:pass@host:port/database` URLs: checked once, shown with the password masked.

use std::fmt;

use mysql_async::OptsBuilder;

use crate::config::mask_password;
use crate::error::{Error, Result, shown};

const DEFAULT_PORT: u16 = 3306;

/// A checked MySQL / MariaDB URL. Two URLs naming the same server, user and database compare
/// equal whatever their spelling, so they share one pool.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MysqlUrl {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
    socket: Option<String>,
}

impl MysqlUrl {
    /// Accepts `mysql://[user[:password]@]host[:port]/database`, with `?socket=/path` for a Unix
    /// socket. `what` names the setting in errors (`dq.mysql`, `database "order"`).
    pub fn parse(what: &str, spec: &str) -> Result<MysqlUrl> {
        let spec = spec.trim();
        let bad = |why: &str| {
            Error::invalid(format!(
                "{what}: {} is not a MySQL URL ({why}): expected mysql://user:password@host:port/database",
                shown(&mask_password(spec))
            ))
        };
        if spec.is_empty() {
            return Err(bad("it is empty"));
        }
        let url = url::Url::parse(spec).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "mysql" | "mariadb") {
            return Err(bad(&format!("scheme {} is not mysql", shown(url.scheme()))));
        }
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.trim_matches(['[', ']']).to_string(),
            _ => return Err(bad("no host")),
        };
        let decode = |part: &str| {
            percent_decode(part).ok_or_else(|| bad("the user or password is not valid UTF-8"))
        };
        let user = if url.username().is_empty() {
            "root".to_string()
        } else {
            decode(url.username())?
        };
        let password = url.password().map(decode).transpose()?;
        let path = url.path().trim_start_matches('/');
        if path.is_empty() {
            return Err(bad("no database after the host"));
        }
        let database = decode(path)?;
        check_database_name(&database).map_err(|why| bad(&why))?;
        let mut socket = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "socket" if !value.is_empty() => socket = Some(value.into_owned()),
                other => {
                    return Err(bad(&format!(
                        "unknown parameter {}: only socket is accepted",
                        shown(other)
                    )));
                }
            }
        }
        Ok(MysqlUrl {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            user,
            password,
            database,
            socket,
        })
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// `host:port` (or the socket): which server, as XA RECOVER sees it.
    pub fn server(&self) -> String {
        match &self.socket {
            Some(socket) => format!("{}:{}?socket={socket}", self.host, self.port),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    /// Whether a connection for `self` can also reach `other`'s database: the same server and
    /// the same login (a database on one server is reached as `db`.`table` from any of its
    /// connections).
    pub fn same_login(&self, other: &MysqlUrl) -> bool {
        self.host == other.host
            && self.port == other.port
            && self.socket == other.socket
            && self.user == other.user
            && self.password == other.password
    }

    /// The same server and credentials with another database.
    pub fn with_database(&self, database: &str) -> MysqlUrl {
        MysqlUrl {
            database: database.to_string(),
            ..self.clone()
        }
    }

    /// mysql_async's options; `database: false` connects without selecting one.
    pub(crate) fn opts(&self, database: bool) -> OptsBuilder {
        let builder = OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(self.password.clone())
            .db_name(database.then(|| self.database.clone()))
            .prefer_socket(false)
            .tcp_nodelay(true);
        match &self.socket {
            Some(socket) => builder.socket(Some(socket.clone())),
            None => builder,
        }
    }
}

impl fmt::Display for MysqlUrl {
    /// The URL with the password masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mysql://{}", self.user)?;
        if self.password.is_some() {
            f.write_str(":***")?;
        }
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "@{host}:{}/{}", self.port, self.database)
    }
}

impl fmt::Debug for MysqlUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A database name dq may put in DDL (quoted): 1 to 64 characters, no NUL, no backtick, no
/// slash, not ending in a space.
pub(crate) fn check_database_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err(format!(
            "database name {} must have 1 to 64 characters",
            shown(name)
        ));
    }
    if name.contains(['\0', '`', '/', '\\', '.']) || name.ends_with(' ') {
        return Err(format!(
            "database name {} may not contain NUL, `, /, \\ or . nor end with a space",
            shown(name)
        ));
    }
    Ok(())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        let url =
            MysqlUrl::parse("dq.mysql", "mysql://app:s%40cret@db.example:3307/orders").unwrap();
        assert_eq!(url.user, "app");
        assert_eq!(url.password.as_deref(), Some("s@cret"));
        assert_eq!(url.port, 3307);
        assert_eq!(url.database(), "orders");
        assert_eq!(url.to_string(), "mysql://app:***@db.example:3307/orders");
        let url = MysqlUrl::parse("x", "mysql://root@127.0.0.1/dq").unwrap();
        assert_eq!(url.to_string(), "mysql://root@127.0.0.1:3306/dq");
        assert_eq!(url.server(), "127.0.0.1:3306");
        assert_eq!(
            url,
            MysqlUrl::parse("x", "mysql://root@127.0.0.1:3306/dq").unwrap()
        );
    }

    #[test]
    fn bad_urls_are_named_without_their_password() {
        for (spec, why) in [
            ("", "empty"),
            ("postgres://a@b/c", "scheme"),
            ("mysql://root:secret@127.0.0.1:3306", "no database"),
            ("mysql://root:secret@127.0.0.1:99999/x", "invalid port"),
            ("mysql://root:secret@h/x?pool_max=3", "unknown parameter"),
            ("mysql://root:secret@h/a`b", "may not contain"),
        ] {
            let e = MysqlUrl::parse("database \"order\"", spec).unwrap_err();
            assert!(e.message().contains(why), "{spec}: {e}");
            assert!(e.message().starts_with("database \"order\": "), "{e}");
            assert!(!e.message().contains("secret"), "{e}");
        }
    }
}
