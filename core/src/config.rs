//! Configuration values and their parsing. Reading php.ini, the environment or files is the
//! facades' business; this module only turns strings into checked values.

use std::time::Duration;

use crate::error::{Error, Result, shown};

pub const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379/0";
pub const DEFAULT_PREFIX: &str = "dq";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Slots a topic is spread over in a Redis Cluster, unless the URL says `?partitions=N`.
pub const DEFAULT_PARTITIONS: usize = 16;
/// The most partitions a cluster URL may ask for.
pub const MAX_PARTITIONS: usize = 1024;
/// The most replicas an add may wait for.
pub const MAX_REPLICAS: u32 = 16;

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
    /// Replicas that must confirm an add (`WAIT`) before it is acknowledged; 0: none.
    pub replicas: u32,
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
            replicas: 0,
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
    /// (also `host` alone, port 6379); and `redis+cluster://host:port,host:port/?partitions=N`,
    /// a Redis Cluster given by some of its nodes.
    pub fn parse(spec: &str) -> Result<RedisServer> {
        let spec = spec.trim();
        if is_cluster_url(spec) {
            ClusterSpec::parse(spec)?;
            return Ok(RedisServer {
                display: mask_password(spec),
                url: spec.to_string(),
            });
        }
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

    /// Several servers separated by commas: the shards, in order. A cluster URL, whose nodes
    /// are separated by commas too, stands alone.
    pub fn parse_list(specs: &str) -> Result<Vec<RedisServer>> {
        let specs = specs.trim();
        if is_cluster_url(specs) {
            return Ok(vec![RedisServer::parse(specs)?]);
        }
        if let Some(at) = specs.find("+cluster://") {
            let start = specs[..at].rfind(',').map_or(0, |comma| comma + 1);
            return Err(Error::invalid(format!(
                "Redis servers {}: a cluster URL ({}) must stand alone: a Redis Cluster spreads the keys itself, so it cannot be one shard among others",
                shown(&mask_password(specs)),
                shown(&mask_password(specs[start..].trim()))
            )));
        }
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
    /// The cluster this URL names, if it is a `redis+cluster://` URL.
    pub fn cluster(&self) -> Option<ClusterSpec> {
        is_cluster_url(&self.url)
            .then(|| ClusterSpec::parse(&self.url).ok())
            .flatten()
    }

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

fn is_cluster_url(spec: &str) -> bool {
    let lower = spec.get(..17).unwrap_or(spec).to_ascii_lowercase();
    lower.starts_with("redis+cluster://") || lower.starts_with("rediss+cluster://")
}

/// A Redis Cluster as a `redis+cluster://[user:password@]host:port,host:port/?partitions=N` URL
/// names it: the nodes to ask first (any of its nodes; the others are learnt from them) and how
/// many slots each topic is spread over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// `redis://[user:password@]host:port`, one per node given.
    pub seeds: Vec<String>,
    /// The same, passwords masked.
    pub displays: Vec<String>,
    pub partitions: usize,
    /// `[user]:password` of the URL, if it has one.
    pub auth: Option<String>,
}

impl ClusterSpec {
    pub fn parse(spec: &str) -> Result<ClusterSpec> {
        let shown_spec = || shown(&mask_password(spec));
        let expected =
            "expected redis+cluster://[user:password@]host:port,host:port[/?partitions=N]";
        let scheme_end = spec.find("://").unwrap_or(0);
        if spec[..scheme_end].eq_ignore_ascii_case("rediss+cluster") {
            return Err(Error::invalid(format!(
                "Redis Cluster {}: TLS (rediss+cluster://) is not supported by this build; {expected}",
                shown_spec()
            )));
        }
        let rest = &spec[scheme_end + 3..];
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let mut seeds = Vec::new();
        let mut displays = Vec::new();
        for node in hosts.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let (host, port) = node.rsplit_once(':').unwrap_or((node, "6379"));
            if host.is_empty()
                || host.contains(['/', '@', ' ', ':'])
                || port.parse::<u16>().map_or(true, |p| p == 0)
            {
                return Err(Error::invalid(format!(
                    "Redis Cluster {}: node {} is not host:port; {expected}",
                    shown_spec(),
                    shown(node)
                )));
            }
            let url = match userinfo {
                Some(userinfo) => format!("redis://{userinfo}@{host}:{port}"),
                None => format!("redis://{host}:{port}"),
            };
            displays.push(mask_password(&url));
            seeds.push(url);
        }
        if seeds.is_empty() {
            return Err(Error::invalid(format!(
                "Redis Cluster {} names no node; {expected}",
                shown_spec()
            )));
        }
        let mut partitions = DEFAULT_PARTITIONS;
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        if !matches!(path, "" | "/" | "/0") {
            return Err(Error::invalid(format!(
                "Redis Cluster {}: a cluster has only database 0, not {}; {expected}",
                shown_spec(),
                shown(path.trim_start_matches('/'))
            )));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "partitions" => {
                    partitions = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_PARTITIONS).contains(n))
                        .ok_or_else(|| {
                            Error::invalid(format!(
                                "Redis Cluster {}: partitions {} is invalid: expected a whole number from 1 to {MAX_PARTITIONS}",
                                shown_spec(),
                                shown(value)
                            ))
                        })?;
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "Redis Cluster {}: unknown parameter {}; {expected}",
                        shown_spec(),
                        shown(name)
                    )));
                }
            }
        }
        Ok(ClusterSpec {
            seeds,
            displays,
            partitions,
            auth: userinfo.map(str::to_string),
        })
    }
}

/// A number of replicas to wait for: 0 to `MAX_REPLICAS`.
pub fn parse_replicas(value: i64) -> Result<u32> {
    u32::try_from(value)
        .ok()
        .filter(|n| *n <= MAX_REPLICAS)
        .ok_or_else(|| {
            Error::invalid(format!(
                "replicas {value} is invalid: expected a number of Redis replicas from 0 to {MAX_REPLICAS}"
            ))
        })
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
    fn cluster_urls() {
        let list = RedisServer::parse_list(
            " redis+cluster://:pw@10.0.0.1:7000, 10.0.0.2:7001/?partitions=4",
        )
        .unwrap();
        assert_eq!(list.len(), 1);
        assert!(!list[0].display.contains("pw"), "{}", list[0].display);
        let cluster = list[0].cluster().unwrap();
        assert_eq!(
            cluster.seeds,
            ["redis://:pw@10.0.0.1:7000", "redis://:pw@10.0.0.2:7001"]
        );
        assert_eq!(cluster.partitions, 4);
        let one = RedisServer::parse("redis+cluster://h:1").unwrap();
        assert_eq!(one.cluster().unwrap().partitions, DEFAULT_PARTITIONS);
        assert!(
            RedisServer::parse("redis://h:1")
                .unwrap()
                .cluster()
                .is_none()
        );
        for (bad, says) in [
            ("redis://a:1,redis+cluster://b:2", "must stand alone"),
            ("redis+cluster://a:1,redis://b:2", "node \"redis:"),
            ("redis+cluster://", "names no node"),
            ("redis+cluster://a:x", "node \"a:x\""),
            ("redis+cluster://a:1/2", "only database 0"),
            ("redis+cluster://a:1/?partitions=0", "partitions \"0\""),
            (
                "redis+cluster://a:1/?partitions=5000",
                "partitions \"5000\"",
            ),
            (
                "redis+cluster://a:1/?shards=2",
                "unknown parameter \"shards\"",
            ),
            ("rediss+cluster://a:1", "TLS"),
        ] {
            let e = RedisServer::parse_list(bad).unwrap_err();
            assert!(e.message().contains(says), "{bad}: {e}");
        }
        assert!(parse_replicas(-1).is_err());
        assert!(parse_replicas(17).is_err());
        assert_eq!(parse_replicas(2).unwrap(), 2);
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
