//! The `dq.*` php.ini settings, read at call time (so `ini_set()` and `-d` apply), and the
//! `php --ri dq` table.

use std::ffi::{CStr, c_int};
use std::time::Duration;

use dq_core::config::{mask_password, parse_timeout};
use dq_core::mysql::{DEFAULT_MYSQL, MysqlUrl};
use dq_core::{Error, RedisServer};
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::zend::{IniEntryDef, IniEntryDefs, ModuleEntry};
use ext_php_rs::{info_table_end, info_table_header, info_table_row, info_table_start};

use crate::php_sys;

pub static ENTRIES: IniEntryDefs<8> = IniEntryDefs::new([
    IniEntryDef::new(
        c"dq.redis",
        c"redis://127.0.0.1:6379/0",
        IniEntryPermission::All,
    ),
    IniEntryDef::new(
        c"dq.amqp",
        c"amqp://guest:guest@127.0.0.1:5672/%2f",
        IniEntryPermission::All,
    ),
    IniEntryDef::new(c"dq.prefix", c"dq", IniEntryPermission::All),
    IniEntryDef::new(c"dq.timeout", c"3.0", IniEntryPermission::All),
    IniEntryDef::new(c"dq.replicas", c"0", IniEntryPermission::All),
    IniEntryDef::new(c"dq.amqp_queue_type", c"classic", IniEntryPermission::All),
    IniEntryDef::new(
        c"dq.mysql",
        c"mysql://root@127.0.0.1:3306/dq",
        IniEntryPermission::All,
    ),
    IniEntryDef::end(),
]);

/// The directives of `ENTRIES`, in the same order: the rows of the `php --ri dq` table.
const DIRECTIVES: [&CStr; 7] = [
    c"dq.redis",
    c"dq.amqp",
    c"dq.prefix",
    c"dq.timeout",
    c"dq.replicas",
    c"dq.amqp_queue_type",
    c"dq.mysql",
];

/// The current value of an ini setting, `None` if it is not registered.
pub fn string(name: &CStr) -> Option<String> {
    value(name, false)
}

/// The local (current) value of an ini setting, or with `master` its php.ini / `-d` value.
fn value(name: &CStr, master: bool) -> Option<String> {
    let symbols = php_sys::get()?;
    let mut exists = false;
    // SAFETY: a NUL-terminated name and its length; PHP owns the returned string.
    let value = unsafe {
        (symbols.zend_ini_string_ex)(
            name.as_ptr(),
            name.count_bytes(),
            c_int::from(master),
            &raw mut exists,
        )
    };
    if !exists || value.is_null() {
        return None;
    }
    // SAFETY: ini values are NUL-terminated C strings.
    Some(
        unsafe { CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// `dq.redis`: the shards.
pub fn redis() -> Result<Vec<RedisServer>, Error> {
    let redis = string(c"dq.redis").unwrap_or_else(|| dq_core::config::DEFAULT_REDIS.to_string());
    RedisServer::parse_list(&redis).map_err(|e| e.context("dq.redis"))
}

/// `dq.prefix`.
pub fn prefix() -> Result<String, Error> {
    let prefix =
        string(c"dq.prefix").unwrap_or_else(|| dq_core::config::DEFAULT_PREFIX.to_string());
    dq_core::config::check_prefix(&prefix).map_err(|e| e.context("dq.prefix"))?;
    Ok(prefix)
}

/// `dq.mysql`: dq's own database (the XA decision log).
pub fn mysql() -> Result<MysqlUrl, Error> {
    let url = string(c"dq.mysql").unwrap_or_else(|| DEFAULT_MYSQL.to_string());
    MysqlUrl::parse("dq.mysql", &url)
}

/// `dq.timeout`.
pub fn timeout() -> Result<Duration, Error> {
    let text = string(c"dq.timeout").unwrap_or_else(|| "3.0".to_string());
    let seconds = text
        .trim()
        .parse::<f64>()
        .map_err(|_| Error::invalid(format!("dq.timeout \"{text}\" is not a number of seconds")))?;
    parse_timeout(seconds).map_err(|e| e.context("dq.timeout"))
}

/// `dq.replicas`: replicas that must confirm an add.
pub fn replicas() -> Result<u32, Error> {
    let text = string(c"dq.replicas").unwrap_or_else(|| "0".to_string());
    let value = text.trim().parse::<i64>().map_err(|_| {
        Error::invalid(format!(
            "dq.replicas {} is not a number of Redis replicas",
            dq_core::error::shown(&text)
        ))
    })?;
    dq_core::config::parse_replicas(value).map_err(|e| e.context("dq.replicas"))
}

/// `dq.amqp_queue_type`: the kind of queue dq declares for itself on RabbitMQ.
pub fn amqp_queue_type() -> Result<dq_core::amqp::QueueType, Error> {
    let text = string(c"dq.amqp_queue_type").unwrap_or_else(|| "classic".to_string());
    dq_core::amqp::QueueType::parse(text.trim()).map_err(|e| e.context("dq.amqp_queue_type"))
}

/// A setting as `phpinfo()` may show it: the password of every URL masked (`dq.redis` and
/// `dq.amqp` are comma-separated lists of servers or nodes).
fn shown(name: &CStr, value: &str) -> String {
    if name == c"dq.redis" || name == c"dq.amqp" {
        value.split(',').map(masked).collect::<Vec<_>>().join(",")
    } else if name == c"dq.mysql"
        && let Ok(url) = MysqlUrl::parse("dq.mysql", value)
    {
        // A MySQL user without a password is no secret: only the password is masked.
        url.to_string()
    } else {
        masked(value)
    }
}

/// `mask_password`, and when it found no user info although an `@` follows the scheme (a
/// password with a raw `/`, which ends the URL's authority early), everything up to that `@`.
fn masked(url: &str) -> String {
    let masked = mask_password(url);
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if masked == url && at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => masked,
    }
}

/// `phpinfo()` / `php --ri dq`: version, effective settings, then the directive table with the
/// columns of PHP's own (`display_ini_entries`), which is not used because it would print the
/// passwords in the URLs.
pub extern "C" fn info(_module: *mut ModuleEntry) {
    let _ = std::panic::catch_unwind(|| {
        let effective = |name: &CStr| shown(name, &string(name).unwrap_or_default());
        let timeout =
            timeout().map_or_else(|e| e.to_string(), |t| format!("{:.3} s", t.as_secs_f64()));
        info_table_start!();
        info_table_header!("dq support", "enabled");
        info_table_row!("Version", env!("CARGO_PKG_VERSION"));
        info_table_row!("Effective Redis", effective(c"dq.redis"));
        info_table_row!("Effective RabbitMQ", effective(c"dq.amqp"));
        info_table_row!("Effective prefix", effective(c"dq.prefix"));
        info_table_row!("Effective MySQL (XA log)", effective(c"dq.mysql"));
        info_table_row!("Effective timeout", timeout);
        info_table_row!(
            "Runtime",
            "created on first use, per process (rebuilt after fork)"
        );
        info_table_end!();

        // As PHP prints an empty value: "no value".
        let cell = |name: &CStr, master: bool| match value(name, master) {
            Some(v) if !v.is_empty() => shown(name, &v),
            _ => "no value".to_string(),
        };
        info_table_start!();
        info_table_header!("Directive", "Local Value", "Master Value");
        for name in DIRECTIVES {
            info_table_row!(name.to_bytes(), cell(name, false), cell(name, true));
        }
        info_table_end!();
    });
}
