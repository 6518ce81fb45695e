//! The SQL implementation of the store, on SQLite or Postgres.
//!
//! Both dialects share almost every statement: SQLite accepts `$N`
//! parameters, `returning`, partial indexes and `with recursive` like
//! Postgres does. Each method therefore holds its SQL and its arguments
//! ([`args`]) once and runs them on whichever backend is configured, in
//! one of the forms of [`call`]: on SQLite as one task of the writer
//! thread in [`lite`], on Postgres through sqlx's pool. Where the dialects
//! differ (the claim's `for update skip locked`) each side has its own
//! statement.

mod accounts;
mod admins;
mod args;
mod call;
mod console;
mod events;
mod exchange;
mod jobs;
mod links;
mod lite;
mod ops;
mod row;
mod sessions;
mod tokens;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

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

/// Where a store's statements go.
enum Db {
    /// SQLite: the writer thread that owns the connection, and the options
    /// sqlx opens its own connection with to run the migrations.
    Writer { writer: lite::Writer, migrations: Box<SqliteConnectOptions> },
    /// Postgres: sqlx's pool.
    Postgres(PgPool),
}

/// The store over a SQL pool.
pub struct SqlStore {
    db: Db,
    /// Wakes long-polls and the webhook worker after jobs finish.
    notifier: super::JobNotifier,
}

/// How long a Postgres connection may sit idle before it is pinged
/// before use.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

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
                let path = options.get_filename().to_owned();
                if url.contains(":memory:") || url.contains("mode=memory") {
                    // The writer and the migrations would each see their own
                    // empty database.
                    return Err(StoreError::Unavailable(
                        "qbwcd keeps its queue in a SQLite file; give a path (sqlite://qbwcd.db), not :memory:"
                            .to_owned(),
                    ));
                }
                create_private(&path)?;
                let writer = lite::Writer::open(&path, opts.acquire_timeout)?;
                Ok(SqlStore {
                    db: Db::Writer { writer, migrations: Box::new(options) },
                    notifier: super::JobNotifier::new(),
                })
            }
            Some(Backend::Postgres) => {
                let options = PgConnectOptions::from_str(url)?;
                Self::connect_postgres(options, opts).await
            }
            None => Err(StoreError::Unavailable(format!(
                "the database URL must start with sqlite: or postgres:, got {:?}",
                redact_url(url)
            ))),
        }
    }

    /// Connects to Postgres with explicit options (tests use this to pin a
    /// schema through `search_path`).
    ///
    /// # Errors
    /// [`StoreError::Database`] when the server cannot be reached.
    pub async fn connect_postgres(options: PgConnectOptions, opts: &PoolOptions) -> Result<SqlStore> {
        // Every statement qbwcd prepares is written for its indexes, so
        // the generic plan is the plan, and re-planning each execution
        // with its values (Postgres' default for a prepared statement's
        // first runs, and for good whenever the generic plan looks
        // costlier) is work for nothing (BENCHMARKS.md measured it). NOTICEs (such as
        // `relation "_sqlx_migrations" already exists, skipping` on every
        // migration run) tell an operator nothing, and sqlx would log each.
        let options = options.options([("plan_cache_mode", "force_generic_plan"), ("client_min_messages", "warning")]);
        // One connection first, of our own: the pool retries a refused
        // connection until `acquire_timeout` and then says only "pool timed
        // out"; this says why, as soon as it is known.
        match tokio::time::timeout(opts.acquire_timeout, PgConnection::connect_with(&options)).await {
            Err(_) => {
                return Err(unreachable(
                    &options,
                    &format!("no answer within {} s", opts.acquire_timeout.as_secs_f32()),
                ))
            }
            Ok(Err(sqlx::Error::Io(e))) => return Err(unreachable(&options, &io_reason(&e))),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(conn)) => conn.close().await?,
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            // A connection in steady use is known to work; one that sat
            // idle may have been cut by a database restart or a proxy, so
            // only those are pinged before use, not each one on every store
            // call (a round trip).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(SqlStore::from_postgres(pool))
    }

    /// Wraps an existing Postgres pool.
    pub fn from_postgres(pool: PgPool) -> SqlStore {
        SqlStore { db: Db::Postgres(pool), notifier: super::JobNotifier::new() }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Writer { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The Postgres pool, for `LISTEN`/`NOTIFY`.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(pool) => Some(pool),
            Db::Writer { .. } => None,
        }
    }

    /// Applies pending migrations (embedded at build time).
    ///
    /// # Errors
    /// [`StoreError::Migrate`] when a migration fails or the database has
    /// migrations this build does not know.
    pub async fn migrate(&self) -> Result {
        match &self.db {
            Db::Writer { migrations, .. } => {
                // sqlx keeps `_sqlx_migrations`, as it always has: one
                // connection of its own for the run, closed after.
                let mut conn = migrations.connect().await?;
                let run = sqlx::migrate!("migrations/sqlite").run(&mut conn).await;
                conn.close().await?;
                run?;
            }
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        match &self.db {
            Db::Writer { writer, .. } => writer.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Creates a missing SQLite file readable by its owner only (0600), before
/// SQLite opens it: SQLite would create it with the umask's mode (usually
/// world-readable), and it holds password hashes and every company's qbXML.
/// SQLite gives the `-wal` and `-shm` files the database file's mode, so
/// they are private too. An existing file keeps its mode
/// ([`sqlite_readable_by_others`] tells `serve` and `doctor` to say so).
fn create_private(path: &std::path::Path) -> Result {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(StoreError::Unavailable(format!("cannot create the SQLite file {}: {e}", path.display())))
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// For a `sqlite:` URL whose file other users can read: the file and its
/// mode (`644`). `None` for Postgres, a private or missing file, and on
/// systems without Unix permissions.
pub fn sqlite_readable_by_others(url: &str) -> Option<(std::path::PathBuf, String)> {
    if Backend::of_url(url) != Some(Backend::Sqlite) {
        return None;
    }
    let path = SqliteConnectOptions::from_str(url).ok()?.get_filename().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| (path, format!("{mode:o}")))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The server could not be reached: where, and why, in one line.
fn unreachable(options: &PgConnectOptions, why: &str) -> StoreError {
    let at = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    StoreError::Unavailable(format!("cannot reach the database at {at}: {why}"))
}

/// An I/O error as a short reason ("connection refused"), without the
/// operating system's error number.
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::ConnectionReset => "connection reset".into(),
        ErrorKind::ConnectionAborted => "connection aborted".into(),
        ErrorKind::TimedOut => "timed out".into(),
        ErrorKind::NotFound => "no such host or socket".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let text = e.to_string();
            // "No route to host (os error 113)" → "no route to host"
            let text = text.split(" (os error").next().unwrap_or(&text);
            let mut chars = text.chars();
            chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
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

/// Maps a unique-constraint violation, on either backend, to
/// [`StoreError::Conflict`]; other errors pass through.
fn unique_conflict(e: StoreError, what: impl FnOnce() -> String) -> StoreError {
    match e {
        StoreError::Database(e) => conflict_on_unique(e, what),
        e if lite::is_unique_violation(&e) => StoreError::Conflict(what()),
        e => e,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated store on a fresh SQLite file (kept while the directory is).
    async fn migrated_sqlite() -> (tempfile::TempDir, SqlStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("qbwcd.db").display());
        let store = SqlStore::connect(&url, &PoolOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    /// The plans SQLite picks for `statements`, on a migrated database.
    pub(super) async fn plans(statements: Vec<(&'static str, String)>) -> Vec<(&'static str, Vec<String>)> {
        let (_dir, store) = migrated_sqlite().await;
        let Db::Writer { writer, .. } = &store.db else { unreachable!("a SQLite URL") };
        let out = writer
            .call(move |conn| {
                let mut out = Vec::new();
                for (name, sql) in statements {
                    let mut stmt = conn.prepare(&format!("explain query plan {sql}"))?;
                    let mut rows = stmt.raw_query();
                    let mut details = Vec::new();
                    while let Some(row) = rows.next()? {
                        details.push(row.get::<_, String>(3)?);
                    }
                    out.push((name, details));
                }
                Ok(out)
            })
            .await
            .unwrap();
        store.close().await;
        out
    }

    /// A write's claim is synced to disk before it is answered; a read's
    /// claim, a recovery check and a completion are not.
    #[tokio::test]
    async fn only_the_claim_of_a_write_waits_for_the_disk() {
        use crate::qbxml::OnError;
        use crate::queue::{JobKind, NewJob};
        use crate::store::{AccountStore, ExchangeStore, JobStore, NewCompany};
        use crate::types::{CompanySlug, JobId, Ticket};

        let (_dir, store) = migrated_sqlite().await;
        let now = chrono::Utc::now();
        let new_company = NewCompany {
            slug: CompanySlug::parse("acme").unwrap(),
            name: "Acme".into(),
            file_path: None,
            file_id: uuid::Uuid::new_v4(),
            webhook_url: None,
        };
        let company = store.create_company(new_company, now).await.unwrap();
        let job = |kind, name: &str| NewJob {
            id: JobId::new(),
            company_id: company.id,
            request: format!("<{name}/>"),
            qbxml_version: None,
            on_error: OnError::Stop,
            request_names: vec![name.to_owned()],
            kind,
            priority: 0,
            max_attempts: 3,
            idempotency_key: None,
            submission_hash: None,
            depends_on: vec![],
            webhook_url: None,
            iterates: false,
            now,
        };
        store.enqueue(job(JobKind::Read, "CustomerQueryRq")).await.unwrap();
        store.enqueue(job(JobKind::Write, "CustomerAddRq")).await.unwrap();
        let Db::Writer { writer, .. } = &store.db else { unreachable!("a SQLite URL") };
        let ticket = Ticket::generate().hash();
        let lease = now + chrono::Duration::minutes(1);
        let read = store.next_job(company.id, &ticket, now, lease).await.unwrap();
        assert!(matches!(read, Some(crate::store::NextJob::Claimed(j)) if j.kind == JobKind::Read));
        assert_eq!(writer.synced_commits(), 0);
        let write = store.claim_next(company.id, &ticket, now, lease).await.unwrap().unwrap();
        assert_eq!(write.kind, JobKind::Write);
        assert_eq!(writer.synced_commits(), 1);
        store.enqueue(job(JobKind::Write, "InvoiceAddRq")).await.unwrap();
        let next = store.next_job(company.id, &ticket, now, lease).await.unwrap();
        assert!(matches!(next, Some(crate::store::NextJob::Claimed(j)) if j.kind == JobKind::Write));
        assert_eq!(writer.synced_commits(), 2);
        store.close().await;
    }

    /// Partial indexes of live rows only.
    const PARTIAL: [&str; 2] = ["job_leased", "job_held"];

    /// Every statement on the hot path finds its rows through an index: a
    /// full scan of `job` or `session` would make each exchange cost more
    /// as the history grows (the claim-scale benchmark measures it).
    #[tokio::test]
    async fn hot_statements_never_scan_a_table() {
        let statements = vec![
            ("claim", jobs::CLAIM_SQLITE.clone()),
            ("recover or claim", jobs::NEXT_SQLITE.clone()),
            ("leased", jobs::LEASED.clone()),
            ("complete", jobs::COMPLETE.to_owned()),
            ("depth", jobs::DEPTH_AT_MOST.clone()),
            ("release by ticket", jobs::RELEASE_BY_TICKET.to_owned()),
            ("release lapsed", jobs::RELEASE_LAPSED.to_owned()),
            ("fail dependents", jobs::FAIL_DEPENDENTS.to_owned()),
            ("release dependents", jobs::RELEASE_DEPENDENTS.to_owned()),
            ("live session", sessions::LIVE_BY_TICKET.clone()),
            ("touch", sessions::TOUCH_LIVE.to_owned()),
        ];
        for (name, details) in plans(statements).await {
            assert!(!details.is_empty(), "{name}: no plan");
            // A scan over a subquery's own rows (`CO-ROUTINE q` … `SCAN q`),
            // a constant row, or a partial index that holds only live rows
            // (sent or held jobs, never the history) is fine; a scan of a
            // stored table is not.
            let subqueries: Vec<&str> = details
                .iter()
                .filter_map(|d| d.strip_prefix("CO-ROUTINE ").or_else(|| d.strip_prefix("MATERIALIZE ")))
                .collect();
            let scans: Vec<_> = details
                .iter()
                .filter_map(|d| d.strip_prefix("SCAN "))
                .filter(|t| *t != "CONSTANT ROW" && !subqueries.contains(&t.split_whitespace().next().unwrap_or("")))
                .filter(|t| !PARTIAL.iter().any(|i| t.ends_with(&format!("USING INDEX {i}"))))
                .collect();
            assert!(scans.is_empty(), "{name} scans a table: {details:?}");
        }
    }

    /// Job listings walk an index newest first from the cursor: no scan of
    /// `job`, no sort of a company's whole history.
    #[tokio::test]
    async fn job_listings_walk_an_index_newest_first() {
        let statements = vec![
            ("company jobs", jobs::LIST_COMPANY_JOBS.clone()),
            ("all jobs", jobs::LIST_JOBS.clone()),
            ("release by user", jobs::RELEASE_BY_USER.to_owned()),
        ];
        for (name, details) in plans(statements).await {
            assert!(!details.iter().any(|d| d.starts_with("SCAN job")), "{name} scans: {details:?}");
            assert!(!details.iter().any(|d| d.contains("TEMP B-TREE")), "{name} sorts: {details:?}");
            if name == "company jobs" {
                assert!(details.iter().any(|d| d.contains("USING INDEX job_company_seq")), "{name}: {details:?}");
            }
        }
    }

    /// The console's company page reads a company's users and its latest
    /// sent jobs on indexes, with no sort: a page stays fast however many
    /// companies, users and jobs there are.
    #[tokio::test]
    async fn company_page_reads_walk_an_index() {
        let statements = vec![
            ("recent session jobs", console::RECENT_SESSION_JOBS.to_owned()),
            ("company users", accounts::COMPANY_USERS.clone()),
        ];
        for (name, details) in plans(statements).await {
            assert!(!details.iter().any(|d| d.starts_with("SCAN")), "{name} scans: {details:?}");
            assert!(!details.iter().any(|d| d.contains("TEMP B-TREE")), "{name} sorts: {details:?}");
        }
    }

    /// The console's company list reads its page of companies on the
    /// slug's index, and the page's queue counts and open problems in one
    /// read each on `job_claim` and `problem_open`: no scan of `company`,
    /// `job` or `problem`, and no sort but of a page's open problems.
    #[tokio::test]
    async fn company_list_reads_walk_an_index() {
        // A page of the list: 25 companies.
        let page = 25;
        let statements = vec![
            ("company page", console::COMPANY_PAGE.clone()),
            ("job counts", console::job_counts_sql(page)),
            ("open problems", console::open_problems_sql(page)),
        ];
        for (name, details) in plans(statements).await {
            assert!(!details.iter().any(|d| d.starts_with("SCAN")), "{name} scans: {details:?}");
            let index = match name {
                "company page" => "sqlite_autoindex_company_1",
                "job counts" => "job_claim",
                _ => "problem_open",
            };
            assert!(details.iter().any(|d| d.contains(&format!("INDEX {index} "))), "{name}: {details:?}");
            if name != "open problems" {
                assert!(!details.iter().any(|d| d.contains("TEMP B-TREE")), "{name} sorts: {details:?}");
            }
        }
    }

    /// Both lease releases walk the index of leased jobs.
    #[tokio::test]
    async fn lease_releases_use_the_index_of_leased_jobs() {
        let statements = vec![
            ("release by ticket", jobs::RELEASE_BY_TICKET.to_owned()),
            ("release lapsed", jobs::RELEASE_LAPSED.to_owned()),
        ];
        for (name, details) in plans(statements).await {
            assert!(details.iter().any(|d| d.contains("USING INDEX job_leased")), "{name}: {details:?}");
        }
    }
}
