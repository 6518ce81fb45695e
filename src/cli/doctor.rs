//! `qbwcd doctor`: checks a deployment before (or beside) `serve`, one
//! pass/fail line per check, and exits non-zero when any check fails.
//!
//! It never changes anything: it does not create a missing SQLite file nor
//! migrate, and it binds the listen address only to release it at once.

use std::path::Path;

use anyhow::bail;
use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::qwc::{self, Deployment, QwcUser};
use crate::store::{redact_url, Backend, OpsStore, PoolOptions, SqlStore, TokenStore};

/// A certificate must stay valid at least this long.
const CERT_MIN_DAYS: i64 = 30;

/// Collects results and prints each as it comes.
#[derive(Default)]
struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    fn line(&mut self, name: &str, result: Result<String, String>) {
        match result {
            Ok(detail) => {
                self.passed += 1;
                let _ = crate::outln!("\u{2714} PASS {name}: {detail}");
            }
            Err(detail) => {
                self.failed += 1;
                let _ = crate::outln!("\u{2718} FAIL {name}: {detail}");
            }
        }
    }
}

/// Runs every check.
///
/// # Errors
/// When any check fails (after all were run and printed).
pub(super) async fn run(settings: &Settings) -> anyhow::Result<()> {
    let mut report = Report::default();
    let now = Utc::now();

    let store = check_database(&mut report, settings).await;
    match &store {
        Some(store) => {
            let schema = store.schema_status().await.map_err(|e| format!("cannot read the migrations: {e}"));
            report.line(
                "database schema",
                schema.and_then(|s| if s.is_current() { Ok(s.describe()) } else { Err(s.describe()) }),
            );
            let tokens = store.list_tokens().await.map_err(|e| format!("cannot list tokens: {e}"));
            report.line(
                "API tokens",
                tokens.and_then(|t| match t.iter().filter(|t| t.revoked_at.is_none() && !t.expired(Utc::now())).count() {
                    0 => Err("no live API token, so no application can use /api/v1; create one with `qbwcd token create NAME`".into()),
                    n => Ok(format!("{n} live")),
                }),
            );
        }
        None => {
            report.line("database schema", Err("not checked: the database is unreachable".into()));
            report.line("API tokens", Err("not checked: the database is unreachable".into()));
        }
    }

    let deployment = Deployment { public_url: &settings.public_url, public: settings.public };
    let endpoints = qwc::check_config(&settings.qwc, &deployment);
    let url_ok = endpoints.is_ok();
    report.line(
        "public_url",
        endpoints.map(|e| format!("AppURL {}, AppSupport {}", e.app_url, e.app_support)).map_err(|e| e.to_string()),
    );
    report.line("TLS", check_tls(settings.tls_cert_path.as_deref(), settings.tls_key_path.as_deref(), now));
    report.line("qwc template", check_template(settings, url_ok));
    report.line("listen address", check_listen(&settings.listen));

    let total = report.passed + report.failed;
    if report.failed == 0 {
        crate::outln!("doctor: all {total} checks passed")?;
    } else {
        crate::outln!("doctor: {} of {total} checks failed", report.failed)?;
    }
    if let Some(store) = store {
        store.close().await;
    }
    if report.failed > 0 {
        bail!("{} check(s) failed", report.failed);
    }
    Ok(())
}

async fn check_database(report: &mut Report, settings: &Settings) -> Option<SqlStore> {
    let url = &settings.database_url;
    let shown = redact_url(url);
    if Backend::of_url(url) == Some(Backend::Sqlite) {
        if let Some(path) = sqlite_path(url) {
            if !path.exists() {
                report.line(
                    "database",
                    Err(format!("{shown}: the file {} does not exist; run `qbwcd migrate`", path.display())),
                );
                return None;
            }
        }
    }
    let opts = PoolOptions { max_connections: 1, acquire_timeout: std::time::Duration::from_secs(5) };
    let connected = match SqlStore::connect(url, &opts).await {
        Ok(store) => match crate::store::AccountStore::ping(&store).await {
            Ok(()) => Ok(store),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match connected {
        Ok(store) => {
            report.line("database", Ok(format!("{shown} is reachable")));
            Some(store)
        }
        Err(e) => {
            report.line("database", Err(format!("{shown}: {e}")));
            None
        }
    }
}

/// The file of a `sqlite:` URL, or `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Both TLS files readable, a certificate and a private key in them, and
/// the certificate valid now and for [`CERT_MIN_DAYS`] more days.
fn check_tls(cert: Option<&Path>, key: Option<&Path>, now: DateTime<Utc>) -> Result<String, String> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok("not configured (a reverse proxy terminates TLS)".into()),
        (Some(_), None) => return Err("tls_cert_path is set but tls_key_path is not; set both or neither".into()),
        (None, Some(_)) => return Err("tls_key_path is set but tls_cert_path is not; set both or neither".into()),
        (Some(c), Some(k)) => (c, k),
    };
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let key_pem = read(key)?;
    let has_key = x509_parser::pem::Pem::iter_from_buffer(&key_pem).flatten().any(|p| p.label.ends_with("PRIVATE KEY"));
    if !has_key {
        return Err(format!("{} holds no PEM private key", key.display()));
    }
    let cert_pem = read(cert)?;
    let pem = x509_parser::pem::Pem::iter_from_buffer(&cert_pem)
        .flatten()
        .find(|p| p.label == "CERTIFICATE")
        .ok_or_else(|| format!("{} holds no PEM certificate", cert.display()))?;
    let x509 = pem.parse_x509().map_err(|e| format!("{}: not a valid certificate: {e}", cert.display()))?;
    let validity = x509.validity();
    let not_before = validity.not_before.timestamp();
    let not_after = validity.not_after.timestamp();
    let until = DateTime::<Utc>::from_timestamp(not_after, 0).map_or_else(|| not_after.to_string(), |t| t.to_rfc3339());
    let subject = x509.subject().to_string();
    if now.timestamp() < not_before {
        return Err(format!("the certificate for {subject} is not valid yet"));
    }
    if now.timestamp() >= not_after {
        return Err(format!("the certificate for {subject} expired on {until}; renew it"));
    }
    let days_left = (not_after - now.timestamp()) / 86_400;
    if days_left < CERT_MIN_DAYS {
        return Err(format!(
            "the certificate for {subject} expires on {until}, in {days_left} days (less than {CERT_MIN_DAYS}); renew it"
        ));
    }
    Ok(format!("certificate for {subject} valid until {until}"))
}

/// Renders a `.qwc` for a made-up user with the configured template. When
/// `public_url` failed its own check, a localhost URL stands in so this
/// line is about the template alone.
fn check_template(settings: &Settings, url_ok: bool) -> Result<String, String> {
    let user = QwcUser {
        username: "doctor".into(),
        owner_id: uuid::Uuid::from_u128(0x0d0c_7000_0000_4000_8000_0000_0000_0001),
        company_slug: "doctor".into(),
        company_name: "Doctor Check".into(),
        file_id: uuid::Uuid::from_u128(0x0d0c_7000_0000_4000_8000_0000_0000_0002),
        run_every_minutes: None,
        run_every_seconds: None,
    };
    let public_url = if url_ok { settings.public_url.as_str() } else { "http://localhost:8080" };
    let deployment = Deployment { public_url, public: settings.public && url_ok };
    qwc::render(&settings.qwc, &deployment, &user)
        .map(|xml| {
            let from =
                settings.qwc.template_dir.as_ref().map_or("the built-in template".into(), |d| d.display().to_string());
            format!("renders from {from} ({} bytes)", xml.len())
        })
        .map_err(|e| e.to_string())
}

/// Binds the listen address and releases it at once.
fn check_listen(listen: &str) -> Result<String, String> {
    match std::net::TcpListener::bind(listen) {
        Ok(l) => {
            drop(l);
            Ok(format!("{listen} is free"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Err(format!("{listen} is in use (is qbwcd or another program already serving there?)"))
        }
        Err(e) => Err(format!("cannot listen on {listen}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_come_from_the_url() {
        assert_eq!(sqlite_path("sqlite://qbwcd.db"), Some(Path::new("qbwcd.db")));
        assert_eq!(sqlite_path("sqlite:///var/lib/qbwcd/q.db?mode=rwc"), Some(Path::new("/var/lib/qbwcd/q.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn tls_not_configured_passes_and_half_configured_fails() {
        let now = Utc::now();
        assert!(check_tls(None, None, now).unwrap().contains("not configured"));
        assert!(check_tls(Some(Path::new("a.crt")), None, now).is_err());
    }
}
