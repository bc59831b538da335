//! Configuration values and their parsing. Reading php.ini, the environment or files is the
//! facades' business; this module only turns strings into checked values.

use std::time::Duration;

use crate::error::{Error, Result, shown};

pub const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379/0";
pub const DEFAULT_PREFIX: &str = "dq";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How the delay queue reaches Redis and names its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// One entry per shard; the order decides which shard holds which message.
    pub redis: Vec<RedisServer>,
    /// Namespace of every key dq creates.
    pub prefix: String,
    /// Bound on each operation, connecting included.
    pub timeout: Duration,
    /// Largest accepted message body, in bytes of JSON.
    pub body_limit: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            redis: vec![RedisServer {
                url: DEFAULT_REDIS.to_string(),
                display: DEFAULT_REDIS.to_string(),
            }],
            prefix: DEFAULT_PREFIX.to_string(),
            timeout: DEFAULT_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

/// One Redis server: the URL dq connects to and the same URL with any password masked, for
/// messages and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedisServer {
    pub url: String,
    pub display: String,
}

impl RedisServer {
    /// Accepts `redis://`, `rediss://` and `unix://` URLs, and php-delayqueue's `host:port[:auth]`
    /// (also `host` alone, port 6379).
    pub fn parse(spec: &str) -> Result<RedisServer> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(Error::invalid(
                "Redis server is empty: expected redis://host:port/db or host:port",
            ));
        }
        let url = if spec.contains("://") {
            spec.to_string()
        } else {
            host_port_auth_url(spec)?
        };
        let parsed = url::Url::parse(&url).map_err(|e| {
            Error::invalid(format!(
                "Redis server {} is not a valid URL ({e}): expected redis://[:password@]host:port/db or host:port[:auth]",
                shown(&mask_password(spec))
            ))
        })?;
        if !matches!(parsed.scheme(), "redis" | "rediss" | "unix" | "redis+unix") {
            return Err(Error::invalid(format!(
                "Redis server {} has scheme {}: expected redis://, rediss:// or unix://",
                shown(&mask_password(spec)),
                shown(parsed.scheme())
            )));
        }
        Ok(RedisServer {
            display: mask_password(&url),
            url,
        })
    }

    /// Several servers separated by commas: the shards, in order.
    pub fn parse_list(specs: &str) -> Result<Vec<RedisServer>> {
        let servers = specs
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(RedisServer::parse)
            .collect::<Result<Vec<_>>>()?;
        if servers.is_empty() {
            return Err(Error::invalid(
                "no Redis server given: expected one or more of redis://host:port/db, comma-separated",
            ));
        }
        Ok(servers)
    }
}

fn host_port_auth_url(spec: &str) -> Result<String> {
    let mut parts = spec.splitn(3, ':');
    let host = parts.next().unwrap_or_default();
    let port = parts.next().unwrap_or("6379");
    let auth = parts.next();
    RedisServer::from_parts(host, port, auth, 0)
        .map(|server| server.url)
        .map_err(|_| {
            Error::invalid(format!(
                "Redis server {} is not host:port[:auth]",
                shown(&mask_password(spec))
            ))
        })
}

impl RedisServer {
    /// A server from its parts, as PHP arrays give them (`['host','port','auth','db']`).
    pub fn from_parts(host: &str, port: &str, auth: Option<&str>, db: u32) -> Result<RedisServer> {
        if host.is_empty() || host.contains(['/', '@', ' ']) || port.parse::<u16>().is_err() {
            return Err(Error::invalid(format!(
                "Redis server host {} port {} is invalid",
                shown(host),
                shown(port)
            )));
        }
        let url = match auth {
            Some(auth) if !auth.is_empty() => {
                format!("redis://:{}@{host}:{port}/{db}", percent_encode(auth))
            }
            _ => format!("redis://{host}:{port}/{db}"),
        };
        Ok(RedisServer {
            display: mask_password(&url),
            url,
        })
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (URL userinfo, query values).
pub(crate) fn percent_encode(raw: impl AsRef<[u8]>) -> String {
    let raw = raw.as_ref();
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `redis://user:secret@host` -> `redis://user:***@host`; `host:port:auth` -> `host:port:***`.
pub fn mask_password(spec: &str) -> String {
    if let Some(scheme_end) = spec.find("://") {
        let rest = &spec[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_string()
            };
            return format!("{}{masked}{}", &spec[..scheme_end + 3], &rest[at..]);
        }
        return spec.to_string();
    }
    let mut parts = spec.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(host), Some(port), Some(_)) => format!("{host}:{port}:***"),
        _ => spec.to_string(),
    }
}

/// A key prefix: `[A-Za-z0-9_.:-]{1,64}`.
pub fn check_prefix(prefix: &str) -> Result<()> {
    crate::input::check_name("prefix", prefix, 64)
}

/// An operation timeout in seconds: finite, above zero, at most an hour.
pub fn parse_timeout(seconds: f64) -> Result<Duration> {
    if seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(Error::invalid(format!(
            "timeout {seconds} is invalid: expected seconds above 0 and at most 3600"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_delayqueue_server_specs() {
        let s = RedisServer::parse("127.0.0.1:6380").unwrap();
        assert_eq!(s.url, "redis://127.0.0.1:6380/0");
        let s = RedisServer::parse("10.0.0.1:6379:p@ss").unwrap();
        assert_eq!(s.url, "redis://:p%40ss@10.0.0.1:6379/0");
        assert_eq!(s.display, "redis://:***@10.0.0.1:6379/0");
        let s = RedisServer::parse("localhost").unwrap();
        assert_eq!(s.url, "redis://localhost:6379/0");
    }

    #[test]
    fn urls_and_lists() {
        let list = RedisServer::parse_list("redis://a:1/0, redis://:pw@b:2/3").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].display, "redis://:***@b:2/3");
        assert!(RedisServer::parse_list(" , ").is_err());
    }

    #[test]
    fn bad_specs_name_the_value_without_the_password() {
        let e = RedisServer::parse("host:notaport:secret").unwrap_err();
        assert!(e.message().contains("host:notaport:***"), "{e}");
        assert!(!e.message().contains("secret"));
        let e = RedisServer::parse("http://x:1").unwrap_err();
        assert!(e.message().contains("\"http\""), "{e}");
    }

    #[test]
    fn prefix_and_timeout() {
        assert!(check_prefix("dq").is_ok());
        assert!(check_prefix("dq test").is_err());
        assert!(check_prefix("").is_err());
        assert!(parse_timeout(0.0).is_err());
        assert!(parse_timeout(f64::NAN).is_err());
        assert_eq!(parse_timeout(1.5).unwrap(), Duration::from_millis(1500));
    }
}
