//! Postgres over TLS: `sslmode=require` encrypts the store's connections,
//! `sslmode=verify-full` with `sslrootcert` accepts a certificate for the
//! host it names and refuses one for another name, saying why.
//!
//! The server is the one `QBWCD_TEST_POSTGRES_URL` names, with `ssl = on`
//! (`.ci/run` turns it on with Debian's snakeoil certificate). The
//! certificate to trust is `QBWCD_TEST_POSTGRES_CA`, by default that
//! snakeoil file. Outside CI a server without TLS skips these tests with a
//! message; in CI (`CI=true`) it fails them.

use qbwcd::store::{AccountStore, PoolOptions, SqlStore};
use url::Url;

use crate::helpers::postgres_url;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The test URL with `sslmode` (and more) in its query, on `host`.
fn url_with(base: &str, host: &str, params: &[(&str, &str)]) -> String {
    let mut u = Url::parse(base).expect("QBWCD_TEST_POSTGRES_URL is a URL");
    u.set_host(Some(host)).expect("host");
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "sslmode" && k != "sslrootcert")
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

/// Whether the server offers TLS. Without it the test stops here with the
/// reason printed, outside CI only: in CI it fails.
async fn server_has_tls(base: &str) -> bool {
    let pool = sqlx::PgPool::connect(base).await.expect("connect to QBWCD_TEST_POSTGRES_URL");
    let ssl: String = sqlx::query_scalar("show ssl").fetch_one(&pool).await.expect("show ssl");
    pool.close().await;
    if ssl == "on" {
        return true;
    }
    assert!(!in_ci(), "CI needs the Postgres server with ssl = on (.ci/run configures it); it has ssl = {ssl}");
    eprintln!("skipped: the Postgres server has ssl = {ssl}; turn it on to test TLS (see .ci/run)");
    false
}

/// A fresh schema for a store, dropped by the caller.
async fn with_schema(base: &str) -> String {
    let schema = format!("qbwcd_tls_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(base).await.unwrap();
    sqlx::query(&format!("create schema {schema}")).execute(&admin).await.unwrap();
    admin.close().await;
    schema
}

async fn drop_schema(base: &str, schema: &str) {
    let admin = sqlx::PgPool::connect(base).await.unwrap();
    let _ = sqlx::query(&format!("drop schema if exists {schema} cascade")).execute(&admin).await;
    admin.close().await;
}

#[tokio::test]
#[cfg_attr(not(qbwcd_test_postgres), ignore = "set QBWCD_TEST_POSTGRES_URL to test Postgres over TLS")]
async fn sslmode_require_encrypts_every_connection_of_the_store() {
    let base = postgres_url().expect("QBWCD_TEST_POSTGRES_URL");
    if !server_has_tls(&base).await {
        return;
    }
    let schema = with_schema(&base).await;
    let app_name = format!("qbwcd-tls-{}", uuid::Uuid::new_v4().simple());
    let search_path = format!("-c search_path={schema}");
    let url = url_with(
        &base,
        "127.0.0.1",
        &[("sslmode", "require"), ("application_name", &app_name), ("options", &search_path)],
    );

    // The store connects, migrates and answers through the URL as an
    // operator writes it.
    let store = SqlStore::connect(&url, &PoolOptions::default()).await.expect("connect with sslmode=require");
    store.migrate().await.expect("migrate over TLS");
    assert!(store.list_companies().await.unwrap().is_empty());

    // Every connection it holds is encrypted, as the server sees it.
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    let ssl: Vec<bool> = sqlx::query_scalar(
        "select s.ssl from pg_stat_ssl s join pg_stat_activity a on a.pid = s.pid where a.application_name = $1",
    )
    .bind(&app_name)
    .fetch_all(&admin)
    .await
    .unwrap();
    admin.close().await;
    store.close().await;
    drop_schema(&base, &schema).await;
    assert!(!ssl.is_empty(), "the store's connections were not found in pg_stat_activity");
    assert!(ssl.iter().all(|s| *s), "a connection of the store is not encrypted: {ssl:?}");
}

/// The DNS names a PEM certificate is issued to.
fn names_in(pem: &[u8]) -> Vec<String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).expect("a PEM certificate");
    let cert = pem.parse_x509().expect("an X.509 certificate");
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    names.extend(cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok().map(str::to_owned)));
    names
}

#[tokio::test]
#[cfg_attr(not(qbwcd_test_postgres), ignore = "set QBWCD_TEST_POSTGRES_URL to test Postgres over TLS")]
async fn sslmode_verify_full_accepts_the_named_host_and_refuses_another_name() {
    let base = postgres_url().expect("QBWCD_TEST_POSTGRES_URL");
    if !server_has_tls(&base).await {
        return;
    }
    let ca = std::env::var("QBWCD_TEST_POSTGRES_CA").unwrap_or_else(|_| SNAKEOIL.to_owned());
    let pem = match std::fs::read(&ca) {
        Ok(p) => p,
        Err(e) => {
            assert!(!in_ci(), "CI needs the server's certificate at {ca}: {e}");
            eprintln!("skipped: cannot read the server's certificate {ca} ({e}); set QBWCD_TEST_POSTGRES_CA");
            return;
        }
    };
    // The test reaches the server on loopback, so the certificate must be
    // issued to localhost (`.ci/run` makes sure it is).
    let names = names_in(&pem);
    if !names.iter().any(|n| n == "localhost") {
        assert!(!in_ci(), "CI needs a server certificate issued to localhost; {ca} names {names:?}");
        eprintln!("skipped: {ca} is issued to {names:?}, not localhost");
        return;
    }
    let verify = [("sslmode", "verify-full"), ("sslrootcert", ca.as_str())];

    // The name in the certificate: accepted.
    let good = url_with(&base, "localhost", &verify);
    let pool = sqlx::PgPool::connect(&good).await.expect("verify-full against the certificate's own name");
    let ssl: bool =
        sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetch_one(&pool).await.unwrap();
    pool.close().await;
    assert!(ssl);

    // Same server, by an address the certificate does not name: refused,
    // and the store's error says it is the certificate's name.
    let wrong = url_with(&base, "127.0.0.1", &verify);
    let err = SqlStore::connect(&wrong, &PoolOptions::default()).await.err().expect("a name mismatch is refused");
    let text = format!("{err:#}");
    assert!(text.contains("certificate not valid for name \"127.0.0.1\""), "unclear refusal: {text}");

    // A certificate nobody vouches for (no sslrootcert): refused too.
    let untrusted = url_with(&base, "localhost", &[("sslmode", "verify-full")]);
    let err = SqlStore::connect(&untrusted, &PoolOptions::default()).await.err().expect("an unknown issuer is refused");
    let text = format!("{err:#}");
    assert!(text.contains("invalid peer certificate") && text.contains("UnknownIssuer"), "unclear refusal: {text}");
}
