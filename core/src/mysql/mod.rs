//! MySQL / MariaDB, on mysql_async: the only module of dq that talks to MySQL.
//!
//! - `url`: [`MysqlUrl`], `mysql://user:pass@host:port/database`, checked and shown masked.
//! - `pool`: [`Pools`], one connection pool per URL, kept for the life of the process (the
//!   blocking facade's are rebuilt after a fork), replaced after a server restart.
//! - `value`: [`SqlValue`] parameters and typed [`Rows`].
//! - `statement`: running one parameterized statement on a connection, within a timeout.
//! - `migrate`: dq's own tables in dq's database, from the numbered files in `migrations/`.

mod migrate;
mod pool;
mod statement;
mod url;
mod value;

pub(crate) use migrate::ensure_schema;
pub use migrate::{APPLICATION, Migrations, OWN};
pub use pool::Pools;
pub(crate) use pool::process_pools;
pub use statement::Executed;
pub(crate) use statement::{Failed, Statement, exec, query_text};
pub use url::MysqlUrl;
pub use value::{MAX_PARAM_BYTES, MAX_SQL_BYTES, Rows, SqlValue};

pub(crate) use mysql_async::Conn;

use crate::error::{Error, ErrorKind};

/// dq's own database when nothing else is configured (php.ini `dq.mysql`).
pub const DEFAULT_MYSQL: &str = "mysql://root@127.0.0.1:3306/dq";

/// A server error's number, when the error is one.
pub(crate) fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(server) => Some(server.code),
        _ => None,
    }
}

/// Whether the connection itself failed (so the statement's outcome on the server is unknown
/// and the connection is unusable), rather than the server refusing a statement.
pub(crate) fn connection_lost(e: &mysql_async::Error) -> bool {
    use mysql_async::DriverError as D;
    match e {
        mysql_async::Error::Io(_) => true,
        mysql_async::Error::Driver(d) => matches!(
            d,
            D::ConnectionClosed
                | D::PoolDisconnected
                | D::PacketOutOfOrder
                | D::UnexpectedPacket { .. }
        ),
        // Server shutdown in progress, connection killed, server gone.
        mysql_async::Error::Server(s) => matches!(s.code, 1053 | 1927 | 2006 | 2013),
        mysql_async::Error::Other(_) | mysql_async::Error::Url(_) => false,
    }
}

/// dq's error for a failed call to the server at `url`: a lost connection is `Connection`, a
/// wrong parameter count `InvalidArgument`, a server's refusal `Backend` with its number and
/// SQLSTATE.
pub(crate) fn error(url: &MysqlUrl, e: &mysql_async::Error) -> Error {
    use mysql_async::DriverError as D;
    match e {
        _ if connection_lost(e) => Error::new(
            ErrorKind::Connection,
            format!("MySQL {url}: the connection failed: {}", describe(e)),
        ),
        mysql_async::Error::Driver(D::StmtParamsMismatch { required, supplied }) => {
            Error::invalid(format!(
                "the statement has {required} placeholder(s) (?) but {supplied} parameter(s) were given"
            ))
        }
        mysql_async::Error::Driver(D::StmtParamsNumberExceedsLimit { supplied }) => Error::invalid(
            format!("{supplied} parameters are more than MySQL accepts (65535)"),
        ),
        mysql_async::Error::Driver(D::PacketTooLarge) => Error::new(
            ErrorKind::PayloadTooLarge,
            format!("MySQL {url}: the statement is larger than max_allowed_packet"),
        ),
        mysql_async::Error::Server(s) if matches!(s.code, 1044 | 1045 | 1049 | 1698) => Error::new(
            ErrorKind::Connection,
            format!("MySQL {url} refused the connection: {}", describe(e)),
        ),
        _ => Error::new(
            ErrorKind::Backend,
            format!("MySQL {url} answered: {}", describe(e)),
        ),
    }
}

/// A server error as MySQL's client prints it (`ERROR 1062 (23000): Duplicate entry ...`),
/// anything else as mysql_async words it.
pub(crate) fn describe(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("ERROR {} ({}): {}", s.code, s.state, s.message),
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => io.to_string(),
        #[allow(unreachable_patterns)]
        mysql_async::Error::Io(io) => io.to_string(),
        mysql_async::Error::Driver(d) => d.to_string(),
        mysql_async::Error::Other(other) => other.to_string(),
        mysql_async::Error::Url(url) => url.to_string(),
    }
}
