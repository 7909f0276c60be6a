//! Database connection and migrations. SQLite is the embedded default (a file,
//! created on first start); PostgreSQL is the production database. Statement
//! logging of the driver is off: statements carry personal data as parameters.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::Config;

pub mod replica;

/// The pool of a command-line task: no statement timeout (a migration, a
/// retention run or a verification may rightly run long).
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let acquire = Duration::from_millis(config.db_acquire_timeout_ms);
    connect_with(&config.database_url, config.db_max_connections, acquire, None).await
}

/// The pool of the server: on PostgreSQL every connection has
/// `statement_timeout` (`GEPI_DB_STATEMENT_TIMEOUT_MS`), so that a statement
/// stuck behind a lock or a sick plan ends, and its request is answered
/// `UNAVAILABLE`, before the request timeout cuts it without a word.
pub async fn connect_serving(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let acquire = Duration::from_millis(config.db_acquire_timeout_ms);
    let statements = Some(Duration::from_millis(config.db_statement_timeout_ms)).filter(|d| !d.is_zero());
    connect_with(&config.database_url, config.db_max_connections, acquire, statements).await
}

/// The pool of the server's own chores (sequencing the audit trail, the
/// hourly purges and escalations): two connections, no statement timeout (a
/// rebase of the trail after a restore, a purge with a backlog may rightly run
/// long), apart from the requests' pool so that neither starves the other.
pub async fn connect_chores(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let acquire = Duration::from_millis(config.db_acquire_timeout_ms);
    connect_with(&config.database_url, 2, acquire, None).await
}

/// The pool of the replica's reads (`GEPI_DATABASE_REPLICA_URL`): the
/// request pool's size and statement timeout, every transaction read-only (a
/// URL that names a primary by mistake still takes no write), and an acquire
/// timeout of at most 2 s, so that a replica gone quiet soon hands its reads
/// back to the primary.
pub async fn connect_replica(config: &Config, url: &str) -> Result<DatabaseConnection, DbErr> {
    let acquire = Duration::from_millis(config.db_acquire_timeout_ms.min(2_000));
    let statements = Some(Duration::from_millis(config.db_statement_timeout_ms)).filter(|d| !d.is_zero());
    // Lazy: a replica down when the server starts does not stop it (its reads
    // go to the primary until the replica answers).
    let mut opts = options(url, config.db_max_connections, acquire, statements, true);
    opts.connect_lazy(true);
    Database::connect(opts).await
}

pub async fn connect_url(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, max_connections, Duration::from_secs(10), None).await
}

async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(url, max_connections, acquire_timeout, statement_timeout, false)).await
}

fn options(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Option<Duration>,
    read_only: bool,
) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(acquire_timeout)
        .acquire_timeout(acquire_timeout)
        // A connection idle for 30 s is pinged before use (a server, proxy or
        // firewall may have dropped it); a hot one is not: the driver's default
        // pings on every checkout, a round trip before every statement.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    // Per-connection settings go into the driver's connect options, so that
    // every connection of the pool has them (a PRAGMA sent through the pool
    // reaches one connection only). WAL lets readers proceed while a writer
    // commits; the schema relies on foreign keys.
    opts.map_sqlx_sqlite_opts(|o| o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal).foreign_keys(true));
    // PostgreSQL on this host (loopback or a Unix socket): plaintext unless the
    // URL asks for `sslmode`. TLS there protects nothing, and costs a stall:
    // the driver's sockets have no TCP_NODELAY, so a statement spanning two TLS
    // records waits for the server's delayed ACK (about 40 ms; a 100-row audit
    // insert is one). A remote server keeps the driver's `prefer`.
    let explicit_ssl = url.contains("sslmode=");
    opts.map_sqlx_postgres_opts(move |o| {
        let o = if !explicit_ssl && on_this_host(o.get_host()) {
            o.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
        } else {
            o
        };
        let o = match statement_timeout {
            Some(t) => o.options([("statement_timeout", t.as_millis().to_string())]),
            None => o,
        };
        if read_only {
            o.options([("default_transaction_read_only", "on")])
        } else {
            o
        }
    });
    opts
}

/// Whether a PostgreSQL host is this machine: a loopback name or address, or a
/// Unix socket directory.
fn on_this_host(host: &str) -> bool {
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Applies every pending migration, all or nothing (see [`migrate_with`]).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    migrate_with::<Migrator>(db).await
}

/// The migrations of this build not yet applied to `db`, oldest first (an
/// error when `db` has one applied that this build does not know: a newer
/// build migrated it).
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.iter().map(|m| m.name().to_string()).collect())
}

/// Rolls back `steps` migrations (all when `None`), all or nothing.
pub async fn rollback(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    rollback_with::<Migrator>(db, steps).await
}

/// Runs the pending migrations of `M` in one transaction, hence on one
/// connection of the pool. sea-orm-migration runs a migration outside any
/// transaction on SQLite, statement by statement on whichever pooled
/// connection is free, so a chain could fail half way (and did, under load:
/// a statement ran on a connection whose view of the schema was older than the
/// previous statement's) and leave a schema that is neither the old nor the
/// new one. Here a failure rolls everything back: the schema and the migration
/// table stay as they were. On PostgreSQL a transaction-scoped advisory lock
/// makes instances that start together migrate one after the other.
pub async fn migrate_with<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = migration_transaction(db).await?;
    M::up(&txn, None).await?;
    txn.commit().await
}

/// The rollback counterpart of [`migrate_with`].
pub async fn rollback_with<M: MigratorTrait>(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    let txn = migration_transaction(db).await?;
    M::down(&txn, steps).await?;
    txn.commit().await
}

/// Key of the advisory lock that serialises migrations on PostgreSQL.
const MIGRATION_LOCK_KEY: i64 = 0x6765_7069_6d69_6772; // "gepimigr"

async fn migration_transaction(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    // SQLite: IMMEDIATE takes the write lock at BEGIN, so two processes
    // migrating one file wait for each other instead of failing on the upgrade
    // of a read lock (the second then finds nothing pending).
    let options =
        TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() };
    let txn = db.begin_with_options(options).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        // The server's pool has a statement timeout; a migration may rightly
        // run longer (an index on a large table), and the lock waits for
        // another instance's migration.
        txn.execute_unprepared("SET LOCAL statement_timeout = 0").await?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")).await?;
    }
    Ok(txn)
}

/// What a [`listen`]er hears.
pub enum Heard<'a> {
    /// Listening (again), `LISTEN` confirmed: whatever was sent while nobody
    /// listened is lost.
    Listening,
    /// A notification on `channel`.
    Notified { channel: &'a str, payload: &'a str },
    /// Not listening: the connection was lost or could not be made (the
    /// listener tries again every second).
    Lost,
}

/// On PostgreSQL, listens on `channels` over a connection of its own (never one
/// of a serving pool), reconnecting every second after a loss, and hands what
/// it hears to `on`. Ends when `on` answers false (its owner is gone), at the
/// next thing heard.
pub fn listen(
    url: String,
    channels: &'static [&'static str],
    mut on: impl FnMut(Heard<'_>) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    use sea_orm::sqlx::postgres::PgListener;
    tokio::spawn(async move {
        loop {
            let connected = async {
                let conn = connect_url(&url, 1).await.map_err(|e| e.to_string())?;
                let mut l =
                    PgListener::connect_with(conn.get_postgres_connection_pool()).await.map_err(|e| e.to_string())?;
                l.listen_all(channels.iter().copied()).await.map_err(|e| e.to_string())?;
                Ok::<_, String>((conn, l))
            }
            .await;
            match connected {
                Ok((_conn, mut l)) => {
                    if !on(Heard::Listening) {
                        return;
                    }
                    loop {
                        match l.try_recv().await {
                            Ok(Some(n)) => {
                                if !on(Heard::Notified { channel: n.channel(), payload: n.payload() }) {
                                    return;
                                }
                            }
                            // The connection was lost (the listener would
                            // reconnect by itself, but unseen): connect
                            // again here, to know when it listens.
                            Ok(None) => {
                                tracing::warn!(?channels, "a listener lost its connection");
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, ?channels, "a listener lost its connection");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, ?channels, "a listener cannot connect"),
            }
            if !on(Heard::Lost) {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// Liveness of the database, for `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts_and_sockets_are_this_host() {
        for h in ["localhost", "LOCALHOST", "127.0.0.1", "127.0.0.2", "::1", "[::1]", "/var/run/postgresql"] {
            assert!(super::on_this_host(h), "{h}");
        }
        for h in ["db.example.it", "10.0.0.5", "192.168.1.2", "::ffff:10.0.0.1", "localhost.example.it"] {
            assert!(!super::on_this_host(h), "{h}");
        }
    }
}
