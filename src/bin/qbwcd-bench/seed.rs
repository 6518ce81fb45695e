//! The set-up, written straight into the server's database through the
//! qbwcd library: companies, Web Connector users (one argon2 hash shared by
//! all, so ten thousand users take no time), and queued jobs inserted in
//! batches exactly as `qbwcd enqueue` would store them.

use std::str::FromStr;

use anyhow::Context;
use chrono::Utc;
use qbwcd::store::{AccountStore, NewCompany, NewUser, PoolOptions, SqlStore};
use qbwcd::types::{CompanySlug, Username};
use secrecy::SecretString;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// The password of every generated user.
pub const PASSWORD: &str = "bench-password-1";

/// A company and the Web Connector user that serves it.
#[derive(Clone, Debug)]
pub struct Account {
    /// Company row id.
    pub company_id: i64,
    /// The company's FileID.
    pub file_id: uuid::Uuid,
    /// User name.
    pub username: String,
    /// The user's OwnerID.
    pub owner_id: uuid::Uuid,
}

/// A raw pool beside the store, for batched inserts.
pub enum Db {
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
    /// Postgres.
    Postgres(sqlx::PgPool),
}

/// The store and a raw pool on one database.
pub struct Seeder {
    store: SqlStore,
    db: Db,
    hash: String,
    next_request: u64,
    /// Queue customer adds (writes) instead of customer queries.
    pub writes: bool,
}

impl Seeder {
    /// Connects and migrates.
    pub async fn connect(url: &str) -> anyhow::Result<Seeder> {
        let store = SqlStore::connect(url, &PoolOptions::default()).await.context("cannot open the database")?;
        store.migrate().await.context("cannot migrate the database")?;
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?.busy_timeout(std::time::Duration::from_secs(30));
            Db::Sqlite(SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?)
        } else {
            Db::Postgres(PgPoolOptions::new().max_connections(2).connect(url).await?)
        };
        let pw = SecretString::from(PASSWORD.to_owned());
        let hash = tokio::task::spawn_blocking(move || qbwcd::auth::hash_password(&pw)).await??;
        Ok(Seeder { store, db, hash, next_request: 1, writes: false })
    }

    /// Creates `n` companies named `{prefix}{i}`, each with one user when
    /// `with_users` (else the companies only hold jobs).
    pub async fn accounts(&self, prefix: &str, n: usize, with_users: bool) -> anyhow::Result<Vec<Account>> {
        let now = Utc::now();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let slug = CompanySlug::parse(&format!("{prefix}{i}"))?;
            let new = NewCompany {
                slug,
                name: format!("Test Company {i}"),
                file_path: None,
                file_id: uuid::Uuid::new_v4(),
                webhook_url: None,
            };
            let company = self.store.create_company(new, now).await?;
            let username = format!("{prefix}user{i}");
            let owner_id = uuid::Uuid::new_v4();
            if with_users {
                let new = NewUser {
                    username: Username::parse(&username)?,
                    company_id: company.id,
                    password_hash: self.hash.clone(),
                    owner_id,
                };
                self.store.create_user(new, now).await?;
            }
            out.push(Account { company_id: company.id, file_id: company.file_id, username, owner_id });
        }
        Ok(out)
    }

    /// Queues `per_company` customer queries (or, with `writes`, customer
    /// adds) for each company, interleaved (company 1, 2, …, 1, 2, …) as
    /// independent producers would.
    pub async fn jobs(&mut self, company_ids: &[i64], per_company: usize) -> anyhow::Result<u64> {
        const ROWS: usize = 1000;
        let writes = self.writes;
        let template = qbwcd::qbxml::parse_submission(&crate::qbxml::request_of(0, writes))?;
        // As `submit` decides it: anything but queries writes.
        let kind = if template.is_read_only() { "read" } else { "write" };
        let names = template.request_names.join(",");
        let on_error = template.on_error.as_str();
        let total = company_ids.len() * per_company;
        let mut rows = Vec::with_capacity(ROWS);
        let mut done = 0;
        while done < total {
            rows.clear();
            while rows.len() < ROWS && done < total {
                let company = company_ids[done % company_ids.len()];
                let n = self.next_request;
                self.next_request += 1;
                rows.push((uuid::Uuid::new_v4(), company, crate::qbxml::request_of(n, writes)));
                done += 1;
            }
            let mut sql = String::from(
                "insert into job (id, company_id, state, kind, priority, request, on_error, request_names, \
                 max_attempts, created_at, updated_at, iterates) values ",
            );
            for i in 0..rows.len() {
                let b = i * 5;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, 'queued', '{kind}', 0, ${}, '{on_error}', ${}, 3, ${}, ${}, false)",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 5
                ));
            }
            let now = Utc::now();
            macro_rules! run {
                ($pool:expr) => {{
                    let mut q = sqlx::query(&sql);
                    for (id, company, request) in &rows {
                        q = q.bind(*id).bind(*company).bind(request.as_str()).bind(names.as_str()).bind(now);
                    }
                    q.execute($pool).await?;
                }};
            }
            match &self.db {
                Db::Sqlite(p) => run!(p),
                Db::Postgres(p) => run!(p),
            }
        }
        if let Db::Postgres(p) = &self.db {
            // Fresh statistics, as autovacuum would have after a bulk load.
            sqlx::query("analyze job").execute(p).await?;
        }
        Ok(total as u64)
    }

    /// Jobs of a company in `state`.
    pub async fn count(&self, company_id: i64, state: &str) -> anyhow::Result<i64> {
        let sql = "select count(*) from job where company_id = $1 and state = $2";
        Ok(match &self.db {
            Db::Sqlite(p) => sqlx::query_scalar(sql).bind(company_id).bind(state).fetch_one(p).await?,
            Db::Postgres(p) => sqlx::query_scalar(sql).bind(company_id).bind(state).fetch_one(p).await?,
        })
    }

    /// Bytes of the stored responses of a company's done jobs.
    pub async fn stored_response_bytes(&self, company_id: i64) -> anyhow::Result<i64> {
        let sqlite =
            "select coalesce(sum(length(cast(response as blob))), 0) from job where company_id = $1 and state = 'done'";
        let pg =
            "select coalesce(sum(octet_length(response)), 0)::bigint from job where company_id = $1 and state = 'done'";
        Ok(match &self.db {
            Db::Sqlite(p) => sqlx::query_scalar(sqlite).bind(company_id).fetch_one(p).await?,
            Db::Postgres(p) => sqlx::query_scalar(pg).bind(company_id).fetch_one(p).await?,
        })
    }

    /// Closes both pools (before the database is dropped).
    pub async fn close(self) {
        self.store.close().await;
        match self.db {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}
