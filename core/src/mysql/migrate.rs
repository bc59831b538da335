//! dq's own tables in dq's database (`dq.mysql`, the gateway's `mysql`): the database is created
//! when missing, then the numbered files of `migrations/` are applied in order, each once,
//! under a named lock so that processes starting together do not race. Landed files are never
//! edited; a change is a new file.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

use super::{MysqlUrl, Pools, error};
use crate::error::{Error, ErrorKind, Result};

struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "dq_xa",
    sql: include_str!("migrations/0001_dq_xa.sql"),
}];

const LOCK: &str = "dq_migrate";

/// Makes sure dq's database at `url` exists and has every table, once per process.
pub(crate) async fn ensure_schema(pools: &Pools, url: &MysqlUrl, timeout: Duration) -> Result<()> {
    if pools.is_ready(url) {
        return Ok(());
    }
    let work = async {
        let mut conn = Conn::new(Opts::from(url.opts(false))).await?;
        let done = migrate(&mut conn, url, timeout).await;
        let _ = conn.disconnect().await;
        done
    };
    match tokio::time::timeout(timeout * 4, work).await {
        Ok(Ok(())) => {
            pools.set_ready(url);
            Ok(())
        }
        Ok(Err(e)) => Err(error(url, &e).context("cannot prepare dq's tables")),
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("cannot prepare dq's tables: MySQL {url} did not answer in time"),
        )),
    }
}

async fn migrate(conn: &mut Conn, url: &MysqlUrl, timeout: Duration) -> mysql_async::Result<()> {
    let database = quoted(url.database());
    let exists: Option<String> = conn
        .exec_first(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (url.database(),),
        )
        .await?;
    if exists.is_none() {
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {database}"))
            .await?;
    }
    conn.query_drop(format!("USE {database}")).await?;
    let locked: Option<Option<i64>> = conn
        .exec_first("SELECT GET_LOCK(?, ?)", (LOCK, timeout.as_secs().max(1)))
        .await?;
    if locked.flatten() != Some(1) {
        return Err(mysql_async::Error::Other(
            format!("another process holds the lock {LOCK} for longer than the timeout").into(),
        ));
    }
    let applied = apply(conn).await;
    let _ = conn.exec_drop("DO RELEASE_LOCK(?)", (LOCK,)).await;
    applied
}

async fn apply(conn: &mut Conn) -> mysql_async::Result<()> {
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS dq_migration (
           version INT UNSIGNED NOT NULL PRIMARY KEY,
           name VARCHAR(255) NOT NULL,
           applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
         ) ENGINE=InnoDB",
    )
    .await?;
    let applied: Vec<u32> = conn.query("SELECT version FROM dq_migration").await?;
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        conn.query_drop(migration.sql).await?;
        conn.exec_drop(
            "INSERT INTO dq_migration (version, name) VALUES (?, ?)",
            (migration.version, migration.name),
        )
        .await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "dq table migration applied"
        );
    }
    Ok(())
}

/// An identifier in backticks; `check_database_name` already refused backticks.
fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (n, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, n + 1, "{}", migration.name);
        }
    }
}
