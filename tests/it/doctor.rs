//! `qbwcd doctor`, run as the real binary with crafted configs: each check
//! passes on a good deployment and fails on purpose on a bad one.

use std::path::Path;
use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, TestDb};

both_backends!(doctor_passes_every_check_on_a_good_deployment);

const CHECKS: [&str; 7] =
    ["database", "database schema", "API tokens", "public_url", "TLS", "qwc template", "listen address"];

fn tls(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name).display().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// Runs `qbwcd doctor` with `config` as its file; returns success and stdout.
fn doctor(dir: &Path, db: &str, config: &str) -> (bool, String) {
    let file = dir.join("qbwcd.toml");
    std::fs::write(&file, config).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(["doctor", "--config"])
        .arg(&file)
        .env("QBWCD_DATABASE_URL", db)
        .env("QBWCD_LOG_FORMAT", "json")
        .output()
        .expect("run qbwcd doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
}

fn line<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.split_once(": ").is_some_and(|(head, _)| {
                head.ends_with(&format!("PASS {check}")) || head.ends_with(&format!("FAIL {check}"))
            })
        })
        .unwrap_or_else(|| panic!("no line for {check}:\n{out}"))
}

fn passes(out: &str, check: &str) -> bool {
    let l = line(out, check);
    assert!(l.starts_with("\u{2714} PASS") || l.starts_with("\u{2718} FAIL"), "{l}");
    l.starts_with("\u{2714} PASS")
}

async fn doctor_passes_every_check_on_a_good_deployment(b: Backend) {
    // Arrange: a migrated database with a token, https, TLS files valid for a century.
    let db = TestDb::new(b).await;
    let made = Command::new(env!("CARGO_BIN_EXE_qbwcd"))
        .args(["token", "create", "billing"])
        .env("QBWCD_DATABASE_URL", &db.url)
        .output()
        .expect("token create");
    assert!(made.status.success());
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
        assert!(passes(&out, check), "{check}:\n{out}");
    }
    assert!(line(&out, "TLS").contains("qb.example.com"), "{out}");
    assert!(out.contains("doctor: all 7 checks passed"), "{out}");
}

#[test]
fn doctor_fails_each_check_on_purpose() {
    // Arrange: no database file, an IP address for public_url, a
    // certificate that expires within days, a template with an unknown
    // placeholder, and a listen address already taken.
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("default.qwc"), "<QBWCXML>{{no_such_placeholder}}</QBWCXML>").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = format!(
        "public_url = \"https://192.168.1.10\"\nlisten = \"{}\"\ntls_cert_path = {:?}\ntls_key_path = {:?}\n\
         [qwc]\ntemplate_dir = {:?}\n",
        taken.local_addr().unwrap(),
        tls("short.crt"),
        tls("test.key"),
        templates.display().to_string(),
    );
    let db = format!("sqlite://{}", dir.path().join("missing.db").display());

    // Act
    let (ok, out) = doctor(dir.path(), &db, &config);

    // Assert: every check failed, the exit status says so, nothing was created.
    assert!(!ok, "{out}");
    for check in CHECKS {
        assert!(!passes(&out, check), "{check} should fail:\n{out}");
    }
    assert!(line(&out, "database").contains("does not exist"), "{out}");
    assert!(line(&out, "public_url").contains("IP address"), "{out}");
    assert!(line(&out, "TLS").contains("renew"), "{out}");
    assert!(line(&out, "qwc template").contains("no_such_placeholder"), "{out}");
    assert!(line(&out, "listen address").contains("in use"), "{out}");
    assert!(!dir.path().join("missing.db").exists(), "doctor must not create the database");
}

#[tokio::test]
async fn doctor_fails_on_an_unmigrated_database_without_tokens_and_a_dead_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("listen = \"127.0.0.1:{}\"\n", free_port());

    // An empty SQLite file: reachable, but no schema and so no tokens.
    let url = format!("sqlite://{}", dir.path().join("empty.db").display());
    let store = qbwcd::store::SqlStore::connect(&url, &Default::default()).await.unwrap();
    store.close().await;
    let (ok, out) = doctor(dir.path(), &url, &config);
    assert!(!ok, "{out}");
    assert!(passes(&out, "database"), "{out}");
    assert!(!passes(&out, "database schema") && line(&out, "database schema").contains("qbwcd migrate"), "{out}");
    assert!(!passes(&out, "API tokens"), "{out}");
    assert!(passes(&out, "public_url") && passes(&out, "TLS") && passes(&out, "qwc template"), "{out}");
    assert!(line(&out, "TLS").contains("not configured (a reverse proxy terminates TLS)"), "{out}");

    // A Postgres server that is not there.
    let (ok, out) = doctor(dir.path(), "postgres://postgres@127.0.0.1:1/none", &config);
    assert!(!ok, "{out}");
    assert!(!passes(&out, "database"), "{out}");
}
