//! The test harness: a fresh database per test on each backend, the server
//! on a random port, and typed helpers for arranging data.

use std::str::FromStr;
use std::sync::Arc;

use qbwcd::app::{self, AppState};
use qbwcd::clock::ManualClock;
use qbwcd::config::Settings;
use qbwcd::queue::Job;
use qbwcd::store::{AccountStore, Company, NewCompany, NewUser, PoolOptions, SqlStore, Store};
use qbwcd::submit::{submit, SubmitOptions};
use qbwcd::types::{CompanySlug, Username};
use secrecy::SecretString;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::oneshot;

use crate::fake_qbwc::FakeWebConnector;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The Postgres server tests may use (CI sets it). Read when the tests run;
/// the value seen at build time (see `build.rs`) stands in when the
/// variable is gone by then, since that build decided the Postgres tests
/// are not ignored.
pub fn postgres_url() -> Option<String> {
    std::env::var("QBWCD_TEST_POSTGRES_URL")
        .ok()
        .or_else(|| option_env!("QBWCD_TEST_POSTGRES_URL").map(str::to_owned))
        .filter(|s| !s.trim().is_empty())
}

/// Runs a test body once per backend: SQLite always, Postgres when
/// `QBWCD_TEST_POSTGRES_URL` was set for the build (`build.rs` turns on
/// `qbwcd_test_postgres`); without it the Postgres test is compiled
/// `#[ignore]`d, so the runner reports it as ignored, never as passed.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(qbwcd_test_postgres), ignore = "set QBWCD_TEST_POSTGRES_URL to run it on Postgres")]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

/// A database that lives as long as the test: a SQLite file in a temporary
/// directory, or a Postgres schema dropped afterwards.
pub struct TestDb {
    pub url: String,
    pub store: Arc<SqlStore>,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("qbwcd.db").display());
                let store = SqlStore::connect(&url, &PoolOptions::default()).await.expect("open sqlite");
                store.migrate().await.expect("migrate sqlite");
                TestDb { url, store: Arc::new(store), _dir: Some(dir), pg_schema: None }
            }
            Backend::Postgres => {
                let base = postgres_url().expect("QBWCD_TEST_POSTGRES_URL");
                let schema = format!("qbwcd_t_{}", uuid::Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(&base).await.expect("connect postgres");
                sqlx::query(&format!("create schema {schema}")).execute(&admin).await.expect("create schema");
                admin.close().await;
                let options =
                    PgConnectOptions::from_str(&base).expect("url").options([("search_path", schema.as_str())]);
                let opts = PoolOptions { max_connections: 8, ..PoolOptions::default() };
                let store = SqlStore::connect_postgres(options, &opts).await.expect("connect postgres");
                store.migrate().await.expect("migrate postgres");
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                TestDb { url, store: Arc::new(store), _dir: None, pg_schema: Some((base, schema)) }
            }
        }
    }
}

impl TestDb {
    /// Another pool on the same database (a second process, a replica);
    /// the original keeps ownership of the files or schema.
    pub async fn share(&self) -> TestDb {
        let store = match &self.pg_schema {
            None => SqlStore::connect(&self.url, &PoolOptions::default()).await.expect("reopen sqlite"),
            Some((base, schema)) => {
                let options =
                    PgConnectOptions::from_str(base).expect("url").options([("search_path", schema.as_str())]);
                SqlStore::connect_postgres(options, &PoolOptions { max_connections: 8, ..PoolOptions::default() })
                    .await
                    .expect("reconnect postgres")
            }
        };
        TestDb { url: self.url.clone(), store: Arc::new(store), _dir: None, pg_schema: None }
    }
}

/// Drops a test's Postgres schema. Drop runs inside the test's runtime, so
/// this uses a thread (and a runtime) of its own.
pub fn drop_pg_schema(base: String, schema: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        rt.block_on(async {
            let admin = sqlx::PgPool::connect(&base).await.ok()?;
            sqlx::query(&format!("drop schema if exists {schema} cascade")).execute(&admin).await.ok()?;
            admin.close().await;
            Some(())
        })
    })
    .join();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = self.pg_schema.take() {
            drop_pg_schema(base, schema);
        }
    }
}

/// The server on a random port over a fresh database.
pub struct TestApp {
    pub url: String,
    pub store: Arc<SqlStore>,
    pub clock: Arc<ManualClock>,
    pub settings: Arc<Settings>,
    _db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDb::new(backend).await;
        Self::spawn_on(db, tweak).await
    }

    /// Another server (a replica) on the same database.
    pub async fn spawn_on(db: TestDb, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = Settings { database_url: db.url.clone(), ..Settings::default() };
        settings.auth.max_concurrent_hashes = 4;
        tweak(&mut settings);
        let settings = Arc::new(settings);
        let clock = Arc::new(ManualClock::new());
        let store: Arc<dyn Store> = db.store.clone();
        let state = AppState::new(store, settings.clone(), clock.clone()).expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = app::serve(listener, state, async move {
                let _ = rx.await;
            })
            .await;
        });
        TestApp { url: format!("http://{addr}"), store: db.store.clone(), clock, settings, _db: db, shutdown: Some(tx) }
    }

    pub async fn company(&self, slug: &str, file_path: Option<&str>) -> Company {
        let new = NewCompany {
            slug: CompanySlug::parse(slug).expect("slug"),
            name: format!("{slug} Inc."),
            file_path: file_path.map(str::to_owned),
            file_id: uuid::Uuid::new_v4(),
            webhook_url: None,
        };
        self.store.create_company(new, self.now()).await.expect("create company")
    }

    /// A user with the standard test password (hashed with the real argon2id).
    pub async fn user(&self, username: &str, company: &Company) -> qbwcd::store::User {
        let hash = qbwcd::auth::hash_password(&SecretString::from(PASSWORD)).expect("hash");
        let new = NewUser {
            username: Username::parse(username).expect("username"),
            company_id: company.id,
            password_hash: hash,
            owner_id: uuid::Uuid::new_v4(),
        };
        self.store.create_user(new, self.now()).await.expect("create user")
    }

    pub async fn enqueue(&self, company: &Company, qbxml: &str) -> Job {
        self.enqueue_with(company, qbxml, SubmitOptions::default()).await
    }

    pub async fn enqueue_with(&self, company: &Company, qbxml: &str, opts: SubmitOptions) -> Job {
        let enq = submit(self.store.as_ref(), company, qbxml, opts, 1 << 24, self.settings.max_attempts, self.now())
            .await
            .expect("enqueue");
        enq.job().clone()
    }

    /// Another pool on this app's database.
    pub async fn db_share(&self) -> TestDb {
        self._db.share().await
    }

    /// A second server (replica) on this app's database.
    pub async fn replica(&self) -> TestApp {
        let settings = (*self.settings).clone();
        TestApp::spawn_on(self._db.share().await, move |s| {
            *s = Settings { database_url: s.database_url.clone(), ..settings }
        })
        .await
    }

    pub fn connector(&self, username: &str) -> FakeWebConnector {
        FakeWebConnector::new(&format!("{}/qbwc", self.url), username, PASSWORD)
    }

    /// A fresh admin API token for every company.
    pub async fn token(&self) -> String {
        self.scoped_token(qbwcd::api::Role::Admin, None, None).await
    }

    /// A fresh API token with this role, company limit and expiry.
    pub async fn scoped_token(
        &self,
        role: qbwcd::api::Role,
        company_ids: Option<Vec<i64>>,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        use qbwcd::store::{NewToken, TokenStore};
        let token = qbwcd::api::generate_token();
        let name = format!("test-{}", uuid::Uuid::new_v4().simple());
        let new = NewToken { name, token_hash: qbwcd::api::hash_token(&token), role, company_ids, expires_at };
        self.store.create_token(new, self.now()).await.expect("token");
        token
    }

    /// An API client authenticated with a fresh token.
    pub async fn api(&self) -> ApiClient {
        ApiClient { base: format!("{}/api/v1", self.url), token: self.token().await, http: reqwest::Client::new() }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use qbwcd::clock::Clock;
        self.clock.now()
    }

    pub async fn job(&self, job: &Job) -> Job {
        use qbwcd::store::JobStore;
        self.store.job(job.id).await.expect("job").expect("job exists")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A customer add, a write.
pub fn customer_add(name: &str) -> String {
    format!("<CustomerAddRq requestID=\"{name}\"><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq>")
}

/// A customer query, a read.
pub fn customer_query(id: &str) -> String {
    format!("<CustomerQueryRq requestID=\"{id}\"><MaxReturned>10</MaxReturned></CustomerQueryRq>")
}

/// A JSON API client for tests.
pub struct ApiClient {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl ApiClient {
    /// Sends a request; returns the status and the JSON body (Null if none).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("API request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// A GET whose body is not JSON (a `.qwc` file), as text.
    pub async fn get_text(&self, path: &str) -> String {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.expect("GET");
        resp.text().await.expect("body")
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

/// A company straight in the store (tests that do not run a `TestApp`).
pub async fn seed_company(store: &SqlStore, slug: &str, now: chrono::DateTime<chrono::Utc>) -> Company {
    let new = NewCompany {
        slug: CompanySlug::parse(slug).expect("slug"),
        name: format!("{slug} Inc."),
        file_path: None,
        file_id: uuid::Uuid::new_v4(),
        webhook_url: None,
    };
    store.create_company(new, now).await.expect("create company")
}
