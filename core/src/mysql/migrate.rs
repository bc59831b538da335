//! dq's tables, from numbered files applied in order, each once, under a named lock so that
//! processes starting together do not race. Landed files are never edited; a change is a new
//! file.
//!
//! - [`OWN`]: dq's own tables in dq's database (`dq.mysql`, the gateway's `mysql`), which is
//!   created when missing (`migrations/`, versions in `dq_migration`).
//! - [`APPLICATION`]: `dq_outbox` and `dq_inbox` in an application database, which must exist
//!   (`migrations/application/`, versions in `dq_app_migration`, so that an application
//!   database that is also dq's keeps both histories apart). Only `dq-gateway migrate` applies
//!   them: dq never runs DDL on a connection an application uses.

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

/// A numbered list of migrations and where its history is kept.
pub struct Migrations {
    /// The table that lists the versions applied.
    table: &'static str,
    migrations: &'static [Migration],
    /// Whether the database is created when missing.
    create_database: bool,
}

/// dq's own tables (`dq_xa`, the registries of record `dq_registry_topic` and
/// `dq_registry_subscription`), in dq's database.
pub const OWN: Migrations = Migrations {
    table: "dq_migration",
    migrations: &[
        Migration {
            version: 1,
            name: "dq_xa",
            sql: include_str!("migrations/0001_dq_xa.sql"),
        },
        Migration {
            version: 2,
            name: "dq_registry_topic",
            sql: include_str!("migrations/0002_dq_registry_topic.sql"),
        },
        Migration {
            version: 3,
            name: "dq_registry_subscription",
            sql: include_str!("migrations/0003_dq_registry_subscription.sql"),
        },
    ],
    create_database: true,
};

/// `dq_outbox` and `dq_inbox`, in an application database.
pub const APPLICATION: Migrations = Migrations {
    table: "dq_app_migration",
    migrations: &[Migration {
        version: 1,
        name: "dq_outbox_inbox",
        sql: include_str!("migrations/application/0001_dq_outbox_inbox.sql"),
    }],
    create_database: false,
};

impl Migrations {
    /// Every migration's SQL, in order: what `migrate` applies, for those who migrate by hand.
    pub fn sql(&self) -> String {
        self.migrations
            .iter()
            .map(|m| m.sql.trim_end())
            .collect::<Vec<_>>()
            .join("\n\n")
            + "\n"
    }

    /// Applies what is missing in the database of `url` now, within `timeout` per statement
    /// (waiting for the lock included). Returns the names of the migrations it applied.
    pub async fn apply(&self, url: &MysqlUrl, timeout: Duration) -> Result<Vec<&'static str>> {
        let work = async {
            let mut conn = Conn::new(Opts::from(url.opts(false))).await?;
            let done = self.migrate(&mut conn, url, timeout).await;
            let _ = conn.disconnect().await;
            done
        };
        match tokio::time::timeout(timeout * 4, work).await {
            Ok(Ok(applied)) => Ok(applied),
            Ok(Err(e)) => Err(error(url, &e).context("cannot prepare dq's tables")),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("cannot prepare dq's tables: MySQL {url} did not answer in time"),
            )),
        }
    }

    async fn migrate(
        &self,
        conn: &mut Conn,
        url: &MysqlUrl,
        timeout: Duration,
    ) -> mysql_async::Result<Vec<&'static str>> {
        let database = quoted(url.database());
        let exists: Option<String> = conn
            .exec_first(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (url.database(),),
            )
            .await?;
        if exists.is_none() {
            if !self.create_database {
                return Err(mysql_async::Error::Other(
                    format!("database {database} does not exist: create it first").into(),
                ));
            }
            conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {database}"))
                .await?;
        }
        conn.query_drop(format!("USE {database}")).await?;
        // Named per database: GET_LOCK is server-wide.
        let lock = format!("dq_migrate:{}", url.database());
        let locked: Option<Option<i64>> = conn
            .exec_first("SELECT GET_LOCK(?, ?)", (&lock, timeout.as_secs().max(1)))
            .await?;
        if locked.flatten() != Some(1) {
            return Err(mysql_async::Error::Other(
                format!("another process holds the lock {lock} for longer than the timeout").into(),
            ));
        }
        let applied = self.apply_missing(conn).await;
        let _ = conn.exec_drop("DO RELEASE_LOCK(?)", (&lock,)).await;
        applied
    }

    async fn apply_missing(&self, conn: &mut Conn) -> mysql_async::Result<Vec<&'static str>> {
        let table = self.table;
        conn.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS {table} (
               version INT UNSIGNED NOT NULL PRIMARY KEY,
               name VARCHAR(255) NOT NULL,
               applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
             ) ENGINE=InnoDB"
        ))
        .await?;
        let done: Vec<u32> = conn.query(format!("SELECT version FROM {table}")).await?;
        let mut applied = Vec::new();
        for migration in self
            .migrations
            .iter()
            .filter(|m| !done.contains(&m.version))
        {
            conn.query_drop(migration.sql).await?;
            conn.exec_drop(
                format!("INSERT INTO {table} (version, name) VALUES (?, ?)"),
                (migration.version, migration.name),
            )
            .await?;
            tracing::info!(
                version = migration.version,
                name = migration.name,
                table,
                "dq table migration applied"
            );
            applied.push(migration.name);
        }
        Ok(applied)
    }
}

/// Makes sure dq's database at `url` exists and has every table, once per process.
pub(crate) async fn ensure_schema(pools: &Pools, url: &MysqlUrl, timeout: Duration) -> Result<()> {
    if pools.is_ready(url) {
        return Ok(());
    }
    OWN.apply(url, timeout).await?;
    pools.set_ready(url);
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
        for set in [&OWN, &APPLICATION] {
            for (n, migration) in set.migrations.iter().enumerate() {
                assert_eq!(migration.version as usize, n + 1, "{}", migration.name);
            }
        }
        assert!(
            APPLICATION
                .sql()
                .contains("CREATE TABLE IF NOT EXISTS dq_outbox")
        );
    }
}
