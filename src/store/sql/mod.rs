//! The SQL implementation of the store, on SQLite or Postgres.
//!
//! Both dialects share almost every statement: SQLite accepts `$N`
//! parameters, `returning`, partial indexes and `with recursive` like
//! Postgres does. Each method is therefore written once and run on whichever
//! pool is configured (see [`on_pool!`]); where the dialects differ (the
//! claim's `for update skip locked`, SQLite's `begin immediate`) the code
//! branches on [`Dialect`].

mod accounts;
mod events;
mod exchange;
mod jobs;
mod links;
mod lite;
mod ops;
mod sessions;
mod tokens;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{Result, StoreError};

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// Postgres server.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// SQL dialect inside [`on_pool!`] bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// How a write transaction starts. SQLite's default deferred `begin`
    /// can fail with SQLITE_BUSY when it upgrades from reading to writing
    /// while another process (the CLI beside the server) writes; `begin
    /// immediate` takes the write lock up front and waits its turn instead.
    fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite => "begin immediate",
            Dialect::Postgres => "begin",
        }
    }
}

enum Pool {
    Sqlite { pool: SqlitePool, lite: lite::Lite },
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool and `$d` to its
/// [`Dialect`]. The body is type-checked once per backend.
macro_rules! on_pool {
    ($self:expr, $p:ident, $d:ident => $body:expr) => {
        match &$self.pool {
            $crate::store::sql::Pool::Sqlite { pool: $p, .. } => {
                #[allow(unused_variables)]
                let $d = $crate::store::sql::Dialect::Sqlite;
                $body
            }
            $crate::store::sql::Pool::Postgres($p) => {
                #[allow(unused_variables)]
                let $d = $crate::store::sql::Dialect::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// Runs a store call on whichever backend is configured: on SQLite the
/// closure `|$c| $lite` runs on the writer thread as one transaction (so
/// everything it captures is moved in and must be owned); on Postgres
/// `$pg` runs with `$p` bound to the pool. Both evaluate to `Result<T>`,
/// and in both `return` ends the call, not the enclosing method.
macro_rules! by_backend {
    ($self:expr, |$c:ident| $lite:expr, |$p:ident| $pg:expr) => {
        match &$self.pool {
            $crate::store::sql::Pool::Sqlite { lite, .. } => {
                lite.call(move |$c: &rusqlite::Connection| -> $crate::store::Result<_> { $lite }).await
            }
            $crate::store::sql::Pool::Postgres($p) => {
                // A block of its own, so `return` and `?` in `$pg` end the
                // Postgres call as they end the SQLite closure.
                let result: $crate::store::Result<_> = async { $pg }.await;
                result
            }
        }
    };
}
pub(crate) use by_backend;

/// The store over a SQL pool.
pub struct SqlStore {
    pool: Pool,
    /// Wakes long-polls and the webhook worker after jobs finish.
    notifier: super::JobNotifier,
}

/// Pool sizing and timeouts.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Postgres connections per process.
    pub max_connections: u32,
    /// How long to wait for a connection (and, on SQLite, for the write lock).
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions { max_connections: 16, acquire_timeout: Duration::from_secs(10) }
    }
}

impl SqlStore {
    /// Connects to `url` (`sqlite://path.db` or `postgres://…`), creating a
    /// missing SQLite file.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the URL is unusable or the server
    /// cannot be reached.
    pub async fn connect(url: &str, opts: &PoolOptions) -> Result<SqlStore> {
        match Backend::of_url(url) {
            Some(Backend::Sqlite) => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(opts.acquire_timeout);
                // One connection: SQLite has one writer at a time anyway, and
                // a single connection never meets SQLITE_BUSY from itself.
                // No liveness ping before each acquire: a file connection
                // does not go stale, and the ping was a second round trip to
                // the connection's thread for every statement.
                let path = options.get_filename().to_owned();
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(options)
                    .await?;
                let lite = lite::Lite::open(&path, opts.acquire_timeout)?;
                Ok(SqlStore { pool: Pool::Sqlite { pool, lite }, notifier: super::JobNotifier::new() })
            }
            Some(Backend::Postgres) => {
                let options = PgConnectOptions::from_str(url)?;
                Self::connect_postgres(options, opts).await
            }
            None => Err(StoreError::Database(sqlx::Error::Configuration(
                format!("database URL must start with sqlite: or postgres:, got {:?}", redact_url(url)).into(),
            ))),
        }
    }

    /// Connects to Postgres with explicit options (tests use this to pin a
    /// schema through `search_path`).
    ///
    /// # Errors
    /// [`StoreError::Database`] when the server cannot be reached.
    pub async fn connect_postgres(options: PgConnectOptions, opts: &PoolOptions) -> Result<SqlStore> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(SqlStore::from_postgres(pool))
    }

    /// Wraps an existing Postgres pool.
    pub fn from_postgres(pool: PgPool) -> SqlStore {
        SqlStore { pool: Pool::Postgres(pool), notifier: super::JobNotifier::new() }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The Postgres pool, for `LISTEN`/`NOTIFY`.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite { .. } => None,
        }
    }

    /// Applies pending migrations (embedded at build time).
    ///
    /// # Errors
    /// [`StoreError::Migrate`] when a migration fails or the database has
    /// migrations this build does not know.
    pub async fn migrate(&self) -> Result {
        match &self.pool {
            Pool::Sqlite { pool, .. } => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Pool::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite { pool, lite } => {
                lite.close().await;
                pool.close().await;
            }
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// The SQLite writer, when this store is on SQLite.
    fn lite(&self) -> Option<&lite::Lite> {
        match &self.pool {
            Pool::Sqlite { lite, .. } => Some(lite),
            Pool::Postgres(_) => None,
        }
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
fn conflict_on_unique(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::Database(e),
    }
}

/// Maps `rows_affected == 0` to [`StoreError::NotFound`].
fn found(rows: u64, what: impl FnOnce() -> String) -> Result {
    if rows == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}
