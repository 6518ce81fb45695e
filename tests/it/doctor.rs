//! `qbwcd doctor`, run as the real binary with crafted configs: each check
//! passes on a good deployment, warns where something needs a look but
//! works, and fails on purpose on a broken one. The exit status is 1 only
//! when a check fails, so monitoring can run it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use qbwcd::store::CompanyChanges;

use crate::both_backends;
use crate::helpers::{Backend, TestDb};

both_backends!(
    doctor_passes_every_check_on_a_good_deployment,
    doctor_passes_beside_a_serving_qbwcd_and_only_warns_without_a_token,
    doctor_fails_a_webhook_without_its_secret,
);

const CHECKS: [&str; 8] =
    ["database", "database schema", "API tokens", "webhooks", "public_url", "TLS", "qwc template", "listen address"];

fn tls(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name).display().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// Runs `qbwcd doctor` with `config` as its file; returns success and stdout + stderr.
fn doctor(dir: &Path, db: &str, config: &str) -> (bool, String) {
    let file = dir.join("qbwcd.toml");
    std::fs::write(&file, config).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(["doctor", "--config"])
        .arg(&file)
        .env("QBWCD_DATABASE_URL", db)
        .env("QBWCD_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .env_remove("QBWCD_WEBHOOK_SECRET")
        .output()
        .expect("run qbwcd doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
}

fn line<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.split_once(": ").is_some_and(|(head, _)| {
                ["PASS", "WARN", "FAIL", "SKIP"].iter().any(|s| head.ends_with(&format!("{s} {check}")))
            })
        })
        .unwrap_or_else(|| panic!("no line for {check}:\n{out}"))
}

/// The status of a check: PASS, WARN, FAIL or SKIP.
fn status<'a>(out: &'a str, check: &str) -> &'a str {
    let l = line(out, check);
    let status = l.split_whitespace().nth(1).unwrap_or_default();
    let mark = l.split_whitespace().next().unwrap_or_default();
    let expected = match status {
        "PASS" => "\u{2714}",
        "WARN" => "!",
        "FAIL" => "\u{2718}",
        "SKIP" => "-",
        other => panic!("unknown status {other}: {l}"),
    };
    assert_eq!(mark, expected, "{l}");
    status
}

fn token(db: &str) {
    let made = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(["token", "create", "billing"])
        .env("QBWCD_DATABASE_URL", db)
        .output()
        .expect("token create");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
}

async fn doctor_passes_every_check_on_a_good_deployment(b: Backend) {
    // Arrange: a migrated database with a token, https, TLS files valid for a century.
    let db = TestDb::new(b).await;
    token(&db.url);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "public_url = \"https://qb.example.com\"\npublic = true\nlisten = \"127.0.0.1:{}\"\n\
         tls_cert_path = {:?}\ntls_key_path = {:?}\n",
        free_port(),
        tls("long.crt"),
        tls("test.key"),
    );

    // Act
    let (ok, out) = doctor(dir.path(), &db.url, &config);

    // Assert
    assert!(ok, "{out}");
    for check in CHECKS {
        assert_eq!(status(&out, check), "PASS", "{check}:\n{out}");
    }
    assert!(line(&out, "TLS").contains("covers qb.example.com"), "{out}");
    assert!(out.contains("doctor: 8 passed, 0 warnings, 0 failed"), "{out}");
}

/// A `qbwcd serve` child, killed when dropped.
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn doctor_passes_beside_a_serving_qbwcd_and_only_warns_without_a_token(b: Backend) {
    // Arrange: qbwcd serving on the listen address doctor checks; no token.
    let db = TestDb::new(b).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let server = Serving(
        Command::new(env!("CARGO_BIN_EXE_qbwcd"))
            .args(["serve", "--listen", &listen])
            .env("QBWCD_DATABASE_URL", &db.url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("http://{listen}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "serve came up");
    let dir = tempfile::tempdir().unwrap();

    // Act
    let (ok, out) = doctor(dir.path(), &db.url, &format!("listen = \"{listen}\"\n"));
    drop(server);

    // Assert: exit 0; the listen address passes as qbwcd's; no token is a warning.
    assert!(ok, "{out}");
    assert_eq!(status(&out, "listen address"), "PASS", "{out}");
    assert!(
        line(&out, "listen address").contains(&format!("qbwcd {} is serving on {listen}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(status(&out, "API tokens"), "WARN", "{out}");
    assert!(line(&out, "API tokens").contains("qbwcd token create"), "{out}");
    assert!(out.contains("doctor: 7 passed, 1 warning, 0 failed"), "{out}");
}

async fn doctor_fails_a_webhook_without_its_secret(b: Backend) {
    // Arrange: a company with a default webhook.
    use qbwcd::store::AccountStore;
    let db = TestDb::new(b).await;
    token(&db.url);
    let acme = crate::helpers::seed_company(&db.store, "acme", chrono::Utc::now()).await;
    let hook = CompanyChanges { webhook_url: Some(Some("https://hooks.example.com/qb")), ..Default::default() };
    db.store.update_company(acme.id, &hook, chrono::Utc::now()).await.unwrap();
    assert!(db.store.company(&acme.slug).await.unwrap().is_some());
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("listen = \"127.0.0.1:{}\"\n", free_port());

    // Act and assert: without the secret it fails, naming the company.
    let (ok, out) = doctor(dir.path(), &db.url, &listen);
    assert!(!ok, "{out}");
    assert_eq!(status(&out, "webhooks"), "FAIL", "{out}");
    assert!(line(&out, "webhooks").contains("acme") && line(&out, "webhooks").contains("webhook_secret"), "{out}");
    assert!(out.contains("qbwcd: the deployment is not healthy: webhooks failed"), "{out}");

    // A short secret is a warning; a long one passes.
    let (ok, out) = doctor(dir.path(), &db.url, &format!("{listen}webhook_secret = \"short\"\n"));
    assert!(ok && status(&out, "webhooks") == "WARN", "{out}");
    let (ok, out) = doctor(dir.path(), &db.url, &format!("{listen}webhook_secret = \"{}\"\n", "k".repeat(64)));
    assert!(ok && status(&out, "webhooks") == "PASS", "{out}");
}

#[test]
fn doctor_fails_each_check_on_purpose() {
    // Arrange: no database file, an IP address for public_url, an expired
    // certificate, a template with an unknown placeholder, and a listen
    // address taken by a program that is not qbwcd.
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("default.qwc"), "<QBWCXML>{{no_such_placeholder}}</QBWCXML>").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (cert, key) = expired_certificate(dir.path());
    let config = format!(
        "public_url = \"https://192.168.1.10\"\nlisten = \"{}\"\ntls_cert_path = {cert:?}\ntls_key_path = {key:?}\n\
         [qwc]\ntemplate_dir = {:?}\n",
        taken.local_addr().unwrap(),
        templates.display().to_string(),
    );
    let db = format!("sqlite://{}", dir.path().join("missing.db").display());

    // Act
    let (ok, out) = doctor(dir.path(), &db, &config);

    // Assert: every check failed or was skipped, the exit status says so, nothing was created.
    assert!(!ok, "{out}");
    for check in ["database", "public_url", "TLS", "qwc template", "listen address"] {
        assert_eq!(status(&out, check), "FAIL", "{check} should fail:\n{out}");
    }
    for check in ["database schema", "API tokens", "webhooks"] {
        assert_eq!(status(&out, check), "SKIP", "{check} cannot be checked:\n{out}");
    }
    assert!(line(&out, "database").contains("does not exist") && line(&out, "database").contains("qbwcd migrate"));
    assert!(line(&out, "public_url").contains("IP address"), "{out}");
    assert!(line(&out, "TLS").contains("expired") && line(&out, "TLS").contains("renew"), "{out}");
    assert!(line(&out, "qwc template").contains("no_such_placeholder"), "{out}");
    assert!(line(&out, "listen address").contains("not qbwcd"), "{out}");
    assert!(out.contains("doctor: 0 passed, 0 warnings, 5 failed"), "{out}");
    assert!(
        out.contains(
            "qbwcd: the deployment is not healthy: database, public_url, TLS, qwc template, listen address failed"
        ),
        "{out}"
    );
    assert!(!dir.path().join("missing.db").exists(), "doctor must not create the database");
    drop(taken);
}

fn expired_certificate(dir: &Path) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["192.168.1.10".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    write_certificate(dir, params, &key)
}

fn write_certificate(dir: &Path, params: rcgen::CertificateParams, key: &rcgen::KeyPair) -> (String, String) {
    let cert = params.self_signed(key).unwrap();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (c, k) = (dir.join(format!("{tag}.crt")), dir.join(format!("{tag}.key")));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

#[test]
fn doctor_warns_of_a_certificate_due_for_renewal_and_fails_one_for_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("missing.db").display());
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    let soon = {
        // Valid since last year, until ten days from now.
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["qb.example.com".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(this_year - 1, 1, 1);
        let until = chrono::Utc::now().date_naive() + chrono::Days::new(10);
        params.not_after = rcgen::date_time_ymd(
            chrono::Datelike::year(&until),
            chrono::Datelike::month(&until) as u8,
            chrono::Datelike::day(&until) as u8,
        );
        write_certificate(dir.path(), params, &key)
    };
    let other = {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["other.example.com".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(this_year - 1, 1, 1);
        params.not_after = rcgen::date_time_ymd(this_year + 5, 1, 1);
        write_certificate(dir.path(), params, &key)
    };
    let config = |(cert, key): &(String, String)| {
        format!(
            "public_url = \"https://qb.example.com\"\nlisten = \"127.0.0.1:{}\"\ntls_cert_path = {cert:?}\n\
             tls_key_path = {key:?}\n",
            free_port()
        )
    };

    let (_, out) = doctor(dir.path(), &db, &config(&soon));
    assert_eq!(status(&out, "TLS"), "WARN", "{out}");
    assert!(line(&out, "TLS").contains("renew"), "{out}");

    let (_, out) = doctor(dir.path(), &db, &config(&other));
    assert_eq!(status(&out, "TLS"), "FAIL", "{out}");
    assert!(line(&out, "TLS").contains("other.example.com") && line(&out, "TLS").contains("not qb.example.com"));
}

#[tokio::test]
async fn doctor_fails_on_an_unmigrated_database_and_a_dead_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("listen = \"127.0.0.1:{}\"\n", free_port());

    // An empty SQLite file: reachable, but no schema; doctor does not migrate it.
    let path = dir.path().join("empty.db");
    std::fs::File::create(&path).unwrap();
    let url = format!("sqlite://{}", path.display());
    let (ok, out) = doctor(dir.path(), &url, &config);
    assert!(!ok, "{out}");
    assert_eq!(status(&out, "database"), "PASS", "{out}");
    assert_eq!(status(&out, "database schema"), "FAIL", "{out}");
    assert!(line(&out, "database schema").contains("run `qbwcd migrate`"), "{out}");
    assert_eq!(status(&out, "API tokens"), "SKIP", "{out}");
    for check in ["public_url", "TLS", "qwc template", "listen address"] {
        assert_eq!(status(&out, check), "PASS", "{check}: {out}");
    }
    assert!(line(&out, "TLS").contains("not configured (a reverse proxy terminates TLS)"), "{out}");
    let store = qbwcd::store::SqlStore::connect(&url, &Default::default()).await.unwrap();
    let schema = qbwcd::store::OpsStore::schema_status(&store).await.unwrap();
    store.close().await;
    assert!(!schema.table_exists, "doctor migrated the database");

    // A Postgres server that is not there: said at once, with where.
    let port = free_port();
    let started = std::time::Instant::now();
    let (ok, out) = doctor(dir.path(), &format!("postgres://postgres@127.0.0.1:{port}/none"), &config);
    assert!(!ok, "{out}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(status(&out, "database"), "FAIL", "{out}");
    assert!(
        line(&out, "database").contains(&format!("cannot reach the database at 127.0.0.1:{port}: connection refused"))
    );
}
