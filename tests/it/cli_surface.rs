//! The command line as a new user meets it, through the real binary: only
//! `serve` and `migrate` create or migrate a database; a command's output
//! has no log lines and says each error once; an unreachable database is
//! reported at once; a closed pipe ends a command quietly; a loopback
//! `--listen` address is the public URL when none is configured.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use qbwcd::store::{OpsStore, PoolOptions, SqlStore};

use crate::both_backends;
use crate::helpers::{postgres_url, seed_company, Backend, TestDb};

both_backends!(
    an_unmigrated_database_is_refused_and_left_as_it_is,
    a_database_a_newer_qbwcd_migrated_is_refused_and_left_as_it_is,
    commands_print_no_log_lines_and_say_each_error_once,
);

/// The binary, with a clean environment for the settings it reads: no log
/// filter (so the defaults show), JSON logs (so a log line is recognisable).
fn qbwcd_cmd(db: Option<&str>, dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qbwcd"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("QBWCD_CONFIG")
        .env_remove("QBWCD_DATABASE_URL")
        .env_remove("QBWCD_LISTEN")
        .env_remove("QBWCD_PUBLIC_URL")
        .env("QBWCD_LOG_FORMAT", "json");
    if let Some(db) = db {
        cmd.env("QBWCD_DATABASE_URL", db);
    }
    cmd
}

fn run(db: Option<&str>, dir: &Path, args: &[&str]) -> Output {
    qbwcd_cmd(db, dir).args(args).stdin(Stdio::null()).output().expect("run qbwcd")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "qbwcd failed: {}\n{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// A failure: exit status 1 and one line on stderr, which is returned.
fn fails(out: &Output) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stdout: {}\nstderr: {err}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("qbwcd: "), "{err}");
    said_once(&err);
    err
}

/// No part of an error message is said twice (`{e:#}` over a context that
/// already holds its cause's text repeats it).
fn said_once(err: &str) {
    let message = err.trim().strip_prefix("qbwcd: ").unwrap_or(err.trim());
    let parts: Vec<&str> = message.split(": ").map(str::trim).filter(|p| p.len() > 12).collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(!parts[i + 1..].iter().any(|q| q.contains(p) || p.contains(q)), "repeated {p:?}: {err}");
    }
}

/// No line of stderr is a log line (with JSON logs, every log line is an object).
fn no_log_lines(out: &Output) {
    let err = text(&out.stderr);
    assert!(!err.lines().any(|l| l.trim_start().starts_with('{')), "log lines in a command's output: {err}");
    assert!(!err.contains("NOTICE") && !err.contains("already exists, skipping"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// A database with no schema: an empty SQLite file, or a fresh Postgres
/// schema (dropped when the guard goes).
struct EmptyDb {
    url: String,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl EmptyDb {
    async fn new(b: Backend) -> EmptyDb {
        let dir = tempfile::tempdir().unwrap();
        match b {
            Backend::Sqlite => {
                let path = dir.path().join("empty.db");
                std::fs::File::create(&path).unwrap();
                EmptyDb { url: format!("sqlite://{}", path.display()), _dir: dir, pg: None }
            }
            Backend::Postgres => {
                let base = postgres_url().unwrap();
                let schema = format!("qbwcd_t_{}", uuid::Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(&base).await.unwrap();
                sqlx::query(&format!("create schema {schema}")).execute(&admin).await.unwrap();
                admin.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                EmptyDb { url, _dir: dir, pg: Some((base, schema)) }
            }
        }
    }
}

impl Drop for EmptyDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = self.pg.take() {
            crate::helpers::drop_pg_schema(base, schema);
        }
    }
}

async fn schema_of(url: &str) -> qbwcd::store::SchemaStatus {
    let store = SqlStore::connect(url, &PoolOptions { max_connections: 1, ..PoolOptions::default() }).await.unwrap();
    let status = store.schema_status().await.unwrap();
    store.close().await;
    status
}

/// Commands that read or change the database (none may create or migrate it).
const READERS: [&[&str]; 6] = [
    &["company", "list"],
    &["user", "list"],
    &["jobs", "list"],
    &["token", "list"],
    &["company", "add", "acme"],
    &["qwc", "alice"],
];

#[test]
fn a_missing_sqlite_file_is_reported_not_created() {
    let dir = tempfile::tempdir().unwrap();
    for args in READERS {
        // The default database (./qbwcd.db) in a folder where there is none.
        let err = fails(&run(None, dir.path(), args));
        assert!(err.contains("no database at qbwcd.db") && err.contains("`qbwcd migrate`"), "{args:?}: {err}");
        assert!(!dir.path().join("qbwcd.db").exists(), "{args:?} created the database");
    }
    let explicit = format!("sqlite://{}", dir.path().join("elsewhere.db").display());
    let err = fails(&run(Some(&explicit), dir.path(), &["company", "list"]));
    assert!(err.contains("elsewhere.db") && err.contains("qbwcd migrate"), "{err}");
    assert!(!dir.path().join("elsewhere.db").exists());

    // `migrate` creates it; then the commands work.
    let migrated = ok(&run(None, dir.path(), &["migrate"]));
    assert!(migrated.contains("is migrated"), "{migrated}");
    assert!(dir.path().join("qbwcd.db").exists());
    assert!(ok(&run(None, dir.path(), &["company", "list"])).contains("no companies"));
}

async fn an_unmigrated_database_is_refused_and_left_as_it_is(b: Backend) {
    let db = EmptyDb::new(b).await;
    let dir = tempfile::tempdir().unwrap();
    for args in READERS {
        let err = fails(&run(Some(&db.url), dir.path(), args));
        assert!(err.contains("no schema yet") && err.contains("run `qbwcd migrate`"), "{args:?}: {err}");
    }
    let status = schema_of(&db.url).await;
    assert!(!status.table_exists, "a command other than migrate migrated: {status:?}");

    ok(&run(Some(&db.url), dir.path(), &["migrate"]));
    assert!(schema_of(&db.url).await.is_exact());
    ok(&run(Some(&db.url), dir.path(), &["company", "add", "acme"]));
}

async fn a_database_a_newer_qbwcd_migrated_is_refused_and_left_as_it_is(b: Backend) {
    // Arrange: a migration this build does not know, as a newer qbwcd leaves it.
    let db = TestDb::new(b).await;
    let insert = match b {
        Backend::Sqlite => {
            "insert into _sqlx_migrations (version, description, success, checksum, execution_time) \
             values (99999, 'from a newer qbwcd', true, x'00', 1)"
        }
        Backend::Postgres => {
            "insert into _sqlx_migrations (version, description, success, checksum, execution_time) \
             values (99999, 'from a newer qbwcd', true, '\\x00'::bytea, 1)"
        }
    };
    match b {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query(insert).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let opts = sqlx::postgres::PgConnectOptions::from_str(&db.url).unwrap();
            let pool = sqlx::PgPool::connect_with(opts).await.unwrap();
            sqlx::query(insert).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
    let before = schema_of(&db.url).await;
    assert_eq!(before.unknown, [99999]);
    let dir = tempfile::tempdir().unwrap();

    // Act and assert: every command, migrate and serve included, refuses it.
    for args in READERS.iter().copied().chain([&["migrate"][..]]) {
        let err = fails(&run(Some(&db.url), dir.path(), args));
        assert!(err.contains("migrated by a newer qbwcd") && err.contains("upgrade qbwcd"), "{args:?}: {err}");
    }
    let port = free_port();
    let serve = run(Some(&db.url), dir.path(), &["serve", "--listen", &format!("127.0.0.1:{port}")]);
    assert!(!serve.status.success());
    assert!(text(&serve.stderr).contains("upgrade qbwcd"), "{}", text(&serve.stderr));
    assert_eq!(schema_of(&db.url).await, before, "nothing was migrated");
}

async fn commands_print_no_log_lines_and_say_each_error_once(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.as_str();
    let added = run(Some(url), dir.path(), &["company", "add", "acme"]);
    assert!(ok(&added).contains("company acme added"));
    assert!(added.stderr.is_empty(), "nothing on stderr: {}", text(&added.stderr));
    for args in [&["company", "list"][..], &["jobs", "list"], &["user", "list"], &["migrate"], &["migrate"]] {
        let out = run(Some(url), dir.path(), args);
        ok(&out);
        assert!(out.stderr.is_empty(), "{args:?} wrote to stderr: {}", text(&out.stderr));
    }

    let again = fails(&run(Some(url), dir.path(), &["company", "add", "acme"]));
    assert!(again.contains("acme already exists"), "{again}");
    let no_company = fails(&run(Some(url), dir.path(), &["user", "add", "bob", "--company", "nope"]));
    assert!(no_company.contains("no company nope"), "{no_company}");
    let bad_job = fails(&run(Some(url), dir.path(), &["jobs", "show", "not-a-job"]));
    assert!(bad_job.contains("not a job id"), "{bad_job}");
    for out in [
        run(Some(url), dir.path(), &["company", "add", "acme"]),
        run(Some(url), dir.path(), &["token", "revoke", "nobody"]),
    ] {
        no_log_lines(&out);
        said_once(&text(&out.stderr));
    }

    // Postgres sends no NOTICEs to log (sqlx would log `relation
    // "_sqlx_migrations" already exists, skipping` at info, as `serve` logs).
    let info = qbwcd_cmd(Some(url), dir.path()).arg("migrate").env("RUST_LOG", "info").output().unwrap();
    ok(&info);
    assert!(!text(&info.stderr).contains("already exists"), "{}", text(&info.stderr));

    // Logs are still there for whoever asks for them.
    if b == Backend::Sqlite {
        let out = qbwcd_cmd(Some(url), dir.path()).arg("migrate").env("RUST_LOG", "info").output().unwrap();
        assert!(text(&out.stderr).contains("the SQLite writer stopped"), "{}", text(&out.stderr));
    }
}

#[test]
fn bad_settings_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&run(Some("mysql://localhost/x"), dir.path(), &["company", "list"]));
    assert!(err.contains("must start with sqlite: or postgres:"), "{err}");
    let missing = dir.path().join("missing.toml");
    let err = fails(&run(None, dir.path(), &["--config", missing.to_str().unwrap(), "company", "list"]));
    assert!(err.contains("configuration: No such file or directory") && err.contains("missing.toml"), "{err}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "max_attempts = \"x\"\n").unwrap();
    let err = fails(&run(None, dir.path(), &["--config", bad.to_str().unwrap(), "company", "list"]));
    assert!(err.contains("max_attempts") && err.contains("bad.toml"), "{err}");
}

#[test]
fn an_unreachable_database_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();

    // Nothing listens on the port: refused, said at once.
    let port = free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/none");
    let started = Instant::now();
    let err = fails(&run(Some(&url), dir.path(), &["company", "list"]));
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(err.trim(), format!("qbwcd: cannot reach the database at 127.0.0.1:{port}: connection refused"));

    // Something accepts but never answers: given up after about 2 s.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/none");
    let started = Instant::now();
    let err = fails(&run(Some(&url), dir.path(), &["jobs", "list"]));
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(4), "took {took:?}");
    assert!(err.contains(&format!("cannot reach the database at 127.0.0.1:{port}: no answer within 2 s")), "{err}");
    drop(silent);
}

/// Reads one line of a command's output, then closes the pipe; the command
/// must end with status 0 and say nothing.
fn read_one_line_and_close(mut child: Child) {
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    assert!(!first.is_empty());
    // The reader is dropped here: the pipe is closed with output still to come.
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "status {:?}: {err}", out.status);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_a_command_quietly() {
    // More output than a pipe holds (64 KiB), so the command is still writing.
    let db = TestDb::new(Backend::Sqlite).await;
    let now = chrono::Utc::now();
    let acme = seed_company(&db.store, "acme", now).await;
    for chunk in 0..12 {
        let jobs = (0..100).map(|i| {
            let xml = crate::helpers::customer_query(&format!("{chunk}-{i}"));
            let store = db.store.clone();
            let acme = acme.clone();
            async move {
                qbwcd::submit::submit(store.as_ref(), &acme, &xml, Default::default(), 1 << 20, 3, now).await.unwrap()
            }
        });
        futures::future::join_all(jobs).await;
    }
    let dir = tempfile::tempdir().unwrap();
    for args in [&["jobs", "list", "--limit", "1000"][..], &["jobs", "list", "--limit", "1000", "--json"]] {
        let child = qbwcd_cmd(Some(&db.url), dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        read_one_line_and_close(child);
    }

    // diagnose, on a long log, and default-config.
    let log = dir.path().join("QWCLog.txt");
    let mut f = std::fs::File::create(&log).unwrap();
    for i in 0..3000 {
        writeln!(f, "20240312.09:{:02}:{:02} UTC\t: x : QBWC1012: Authentication failed", i / 60 % 60, i % 60).unwrap();
    }
    drop(f);
    for args in [&["diagnose", log.to_str().unwrap()][..], &["default-config"]] {
        let child =
            qbwcd_cmd(None, dir.path()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        read_one_line_and_close(child);
    }
}

/// A `qbwcd serve` child, killed when dropped.
struct Serving {
    child: Child,
    stderr: std::path::PathBuf,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(db: &str, dir: &Path, listen: &str, envs: &[(&str, &str)]) -> Serving {
    let stderr = dir.join(format!("serve-{}.log", uuid::Uuid::new_v4().simple()));
    let child = qbwcd_cmd(Some(db), dir)
        .args(["serve", "--listen", listen])
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let serving = Serving { child, stderr };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("http://{listen}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return serving;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve did not come up: {}", std::fs::read_to_string(&serving.stderr).unwrap_or_default());
}

fn app_url(qwc: &str) -> String {
    crate::qwc::qwc_elements(qwc)["AppURL"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_listen_address_is_the_public_url_unless_one_is_set() {
    // Arrange: a user and a token, made with the CLI.
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    ok(&run(Some(&db.url), dir.path(), &["company", "add", "acme"]));
    ok(&run(Some(&db.url), dir.path(), &["user", "add", "alice", "--company", "acme"]));
    let token = ok(&run(Some(&db.url), dir.path(), &["token", "create", "test", "--role", "admin"])).trim().to_owned();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let expected = format!("http://localhost:{port}/qbwc");

    // Act: serve on it without public_url.
    let server = serve(&db.url, dir.path(), &listen, &[]).await;
    let from_api = reqwest::Client::new()
        .get(format!("http://{listen}/api/v1/users/alice/qwc"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let from_cli =
        ok(&qbwcd_cmd(Some(&db.url), dir.path()).args(["qwc", "alice"]).env("QBWCD_LISTEN", &listen).output().unwrap());

    // Assert: the log, the API's file and the CLI's file agree.
    let logs = std::fs::read_to_string(&server.stderr).unwrap();
    let started = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"].as_str().is_some_and(|m| m.starts_with("qbwcd is serving")))
        .unwrap_or_else(|| panic!("no start line: {logs}"));
    assert!(started["message"].as_str().unwrap().ends_with(&expected), "{started}");
    assert_eq!(started["public_url"], format!("http://localhost:{port}"), "{started}");
    assert_eq!(app_url(&from_api), expected);
    assert_eq!(from_cli, from_api);
    drop(server);

    // An explicitly set public_url wins, in the log and the files alike.
    let set = [("QBWCD_PUBLIC_URL", "https://qb.example.com")];
    let server = serve(&db.url, dir.path(), &listen, &set).await;
    let logs = std::fs::read_to_string(&server.stderr).unwrap();
    assert!(logs.contains("point the Web Connector at https://qb.example.com/qbwc"), "{logs}");
    let file = ok(&qbwcd_cmd(Some(&db.url), dir.path())
        .args(["qwc", "alice"])
        .env("QBWCD_LISTEN", &listen)
        .envs(set)
        .output()
        .unwrap());
    assert_eq!(app_url(&file), "https://qb.example.com/qbwc");
}
