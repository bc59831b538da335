//! One parameterized statement on one connection. Every statement is prepared (mysql_async
//! caches it per connection), so parameters never become SQL text and rows come back typed.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params};

use super::{MAX_PARAM_BYTES, MAX_SQL_BYTES, MysqlUrl, Rows, SqlValue, error};
use crate::error::{Error, ErrorKind, Result, shown};

/// A statement as a caller gave it, checked before it goes anywhere.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Statement<'a> {
    pub sql: &'a str,
    pub params: &'a [SqlValue],
}

impl Statement<'_> {
    /// Refuses empty or oversized SQL and oversized parameters, naming which.
    pub(crate) fn check(&self) -> Result<()> {
        if self.sql.trim().is_empty() {
            return Err(Error::invalid("sql is empty"));
        }
        if self.sql.len() > MAX_SQL_BYTES {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "sql is {} bytes, over the limit of {MAX_SQL_BYTES}: send large values as parameters",
                    self.sql.len()
                ),
            ));
        }
        if self.sql.contains('\0') {
            return Err(Error::invalid(format!(
                "sql {} contains a NUL character",
                shown(self.sql)
            )));
        }
        if let Some((n, param)) = self
            .params
            .iter()
            .enumerate()
            .find(|(_, p)| p.len() > MAX_PARAM_BYTES)
        {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "parameter {} is {} bytes, over the limit of {MAX_PARAM_BYTES} (max_allowed_packet)",
                    n + 1,
                    param.len()
                ),
            ));
        }
        Ok(())
    }

    fn params(&self) -> Params {
        if self.params.is_empty() {
            Params::Empty
        } else {
            Params::Positional(self.params.iter().map(SqlValue::to_mysql).collect())
        }
    }
}

/// What a statement did: rows when it returned a result set, else the affected count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Executed {
    /// Rows changed; for a statement that returned rows, how many it returned.
    pub affected_rows: u64,
    /// The AUTO_INCREMENT value the statement generated; never for one that returned rows.
    pub last_insert_id: Option<u64>,
    pub rows: Option<Rows>,
}

/// Runs `statement` on `conn` within `timeout`. The error keeps mysql_async's so that callers
/// can tell a lost connection from a refused statement.
pub(crate) async fn exec(
    conn: &mut Conn,
    statement: Statement<'_>,
    timeout: Duration,
) -> std::result::Result<Executed, Failed> {
    let run = async {
        // Prepared first (from the connection's cache when it was before), so that a wrong
        // parameter count is refused here and never sent.
        let prepared = conn.prep(statement.sql).await?;
        let required = usize::from(prepared.num_params());
        if required != statement.params.len() {
            return Err(mysql_async::Error::Driver(
                mysql_async::DriverError::StmtParamsMismatch {
                    required: prepared.num_params(),
                    supplied: statement.params.len(),
                },
            ));
        }
        let mut result = conn.exec_iter(prepared, statement.params()).await?;
        let columns = result.columns();
        // The connection's last OK packet: this statement's, unless it returned rows (then an
        // earlier statement's, so the counts come from the rows instead).
        let mut affected_rows = result.affected_rows();
        let mut last_insert_id = result.last_insert_id();
        let rows = match columns {
            Some(columns) if !columns.is_empty() => {
                let raw: Vec<mysql_async::Row> = result.collect().await?;
                let names: std::sync::Arc<[String]> =
                    columns.iter().map(|c| c.name_str().into_owned()).collect();
                let rows: Vec<Vec<SqlValue>> = raw
                    .into_iter()
                    .map(|row| {
                        row.unwrap()
                            .into_iter()
                            .zip(columns.iter())
                            .map(|(value, column)| SqlValue::from_mysql(value, column))
                            .collect()
                    })
                    .collect();
                // As MySQL's mysql_affected_rows() counts a SELECT.
                affected_rows = rows.len() as u64;
                last_insert_id = None;
                Some(Rows {
                    columns: names,
                    rows,
                })
            }
            _ => None,
        };
        result.drop_result().await?;
        Ok::<_, mysql_async::Error>(Executed {
            affected_rows,
            last_insert_id,
            rows,
        })
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(Failed::Mysql(e)),
        Err(_) => Err(Failed::Timeout(timeout)),
    }
}

/// A text-protocol statement dq wrote itself (XA commands, which MySQL cannot prepare), within
/// `timeout`; its rows as text.
pub(crate) async fn query_text(
    conn: &mut Conn,
    sql: &str,
    timeout: Duration,
) -> std::result::Result<Vec<mysql_async::Row>, Failed> {
    match tokio::time::timeout(timeout, conn.query::<mysql_async::Row, _>(sql)).await {
        Ok(Ok(rows)) => Ok(rows),
        Ok(Err(e)) => Err(Failed::Mysql(e)),
        Err(_) => Err(Failed::Timeout(timeout)),
    }
}

/// Why a statement failed: the server or the connection (mysql_async's error), or no answer
/// in time (the connection is then unusable: its answer may still arrive).
#[derive(Debug)]
pub(crate) enum Failed {
    Mysql(mysql_async::Error),
    Timeout(Duration),
}

impl Failed {
    pub(crate) fn to_error(&self, url: &MysqlUrl) -> Error {
        match self {
            Failed::Mysql(e) => error(url, e),
            Failed::Timeout(t) => Error::new(
                ErrorKind::Timeout,
                format!("MySQL {url} did not answer within {:.3} s", t.as_secs_f64()),
            ),
        }
    }

    /// Whether the connection cannot be used again.
    pub(crate) fn broke_connection(&self) -> bool {
        match self {
            Failed::Mysql(e) => super::connection_lost(e),
            Failed::Timeout(_) => true,
        }
    }

    pub(crate) fn server_code(&self) -> Option<u16> {
        match self {
            Failed::Mysql(e) => super::server_code(e),
            Failed::Timeout(_) => None,
        }
    }
}
