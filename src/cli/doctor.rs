//! `qbwcd doctor`: checks a deployment before (or beside) `serve`, one
//! line per check, each PASS, WARN or FAIL. It exits 1 only when a check
//! FAILs, so it can run from monitoring: a warning (no API token yet, a
//! certificate due for renewal) is worth reading but is not an outage.
//!
//! It never changes anything: it does not create a missing SQLite file nor
//! migrate (an unmigrated database is a FAIL that says what to run), and it
//! binds the listen address only to release it at once. A qbwcd already
//! serving there is found through `/healthz` and is fine.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::qwc::{self, Deployment, QwcUser};
use crate::store::{redact_url, AccountStore, Backend, OpsStore, PoolOptions, SqlStore, TokenStore, WebhookStore};

/// A certificate must stay valid at least this long, or doctor warns.
const CERT_MIN_DAYS: i64 = 30;

/// A webhook key shorter than this is easier to guess than the signatures
/// it makes are to forge (HMAC-SHA256 takes a 32-byte key).
const WEBHOOK_SECRET_MIN_BYTES: usize = 32;

/// How long the probe of a qbwcd on the listen address may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long to wait for a Postgres server.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// What one check found.
#[derive(Debug)]
enum Outcome {
    /// All is well; the detail says what was seen.
    Pass(String),
    /// Works, but someone should look (and usually act) soon.
    Warn(String),
    /// The deployment is broken here; the detail says what to do.
    Fail(String),
    /// Not checked, because a check it depends on failed.
    Skip(String),
}

impl From<Result<String, String>> for Outcome {
    fn from(r: Result<String, String>) -> Self {
        match r {
            Ok(d) => Outcome::Pass(d),
            Err(d) => Outcome::Fail(d),
        }
    }
}

/// Collects results and prints each as it comes.
#[derive(Default)]
struct Report {
    passed: usize,
    warned: usize,
    failed: Vec<String>,
}

impl Report {
    fn line(&mut self, name: &str, outcome: impl Into<Outcome>) -> anyhow::Result<()> {
        let (mark, detail) = match outcome.into() {
            Outcome::Pass(d) => {
                self.passed += 1;
                ("\u{2714} PASS", d)
            }
            Outcome::Warn(d) => {
                self.warned += 1;
                ("! WARN", d)
            }
            Outcome::Fail(d) => {
                self.failed.push(name.to_owned());
                ("\u{2718} FAIL", d)
            }
            Outcome::Skip(d) => ("- SKIP", d),
        };
        crate::outln!("{mark} {name}: {detail}")
    }
}

/// Runs every check.
///
/// # Errors
/// When any check fails (after all were run and printed), naming them.
pub(super) async fn run(settings: &Settings) -> anyhow::Result<()> {
    let mut report = Report::default();
    let now = Utc::now();

    let store = check_database(&mut report, settings).await?;
    let schema_ok = match &store {
        Some(store) => {
            let schema = store.schema_status().await;
            let ok = schema.as_ref().is_ok_and(|s| s.is_exact());
            report.line(
                "database schema",
                match schema {
                    Ok(s) if s.is_exact() => Outcome::Pass(s.describe()),
                    Ok(s) => Outcome::Fail(s.describe()),
                    Err(e) => Outcome::Fail(format!("cannot read the migrations: {e}")),
                },
            )?;
            ok
        }
        None => {
            report.line("database schema", Outcome::Skip("not checked: no database".into()))?;
            false
        }
    };
    match store.as_ref().filter(|_| schema_ok) {
        Some(store) => {
            report.line("API tokens", check_tokens(store).await)?;
            report.line("webhooks", check_webhooks(store, settings).await)?;
        }
        None => {
            let why = || Outcome::Skip("not checked: the database is not usable".into());
            report.line("API tokens", why())?;
            report.line("webhooks", why())?;
        }
    }
    if let Some(store) = store {
        store.close().await;
    }

    let deployment = Deployment { public_url: &settings.public_url, public: settings.public };
    let endpoints = qwc::check_config(&settings.qwc, &deployment);
    let url_ok = endpoints.is_ok();
    report.line(
        "public_url",
        endpoints.map(|e| format!("AppURL {}, AppSupport {}", e.app_url, e.app_support)).map_err(|e| e.to_string()),
    )?;
    report.line(
        "TLS",
        check_tls(settings.tls_cert_path.as_deref(), settings.tls_key_path.as_deref(), &settings.public_url, now),
    )?;
    report.line("qwc template", check_template(settings, url_ok))?;
    report.line("listen address", check_listen(&settings.listen).await)?;

    let warnings = match report.warned {
        1 => "1 warning".to_owned(),
        n => format!("{n} warnings"),
    };
    crate::outln!("doctor: {} passed, {warnings}, {} failed", report.passed, report.failed.len())?;
    if !report.failed.is_empty() {
        bail!("the deployment is not healthy: {} failed", report.failed.join(", "));
    }
    Ok(())
}

/// Connects without creating anything: a SQLite file must exist.
async fn check_database(report: &mut Report, settings: &Settings) -> anyhow::Result<Option<SqlStore>> {
    let url = &settings.database_url;
    let shown = redact_url(url);
    if Backend::of_url(url) == Some(Backend::Sqlite) {
        if let Some(path) = sqlite_path(url) {
            if !path.exists() {
                report.line(
                    "database",
                    Outcome::Fail(format!(
                        "{shown}: the file {} does not exist; create it with `qbwcd migrate`",
                        path.display()
                    )),
                )?;
                return Ok(None);
            }
        }
    }
    // The short wait is for a Postgres server; on SQLite it would be how
    // long a read waits for a lock the server beside it may hold.
    let acquire_timeout = match Backend::of_url(url) {
        Some(Backend::Postgres) => DATABASE_TIMEOUT,
        _ => PoolOptions::default().acquire_timeout,
    };
    let opts = PoolOptions { max_connections: 1, acquire_timeout };
    let connected = match SqlStore::connect(url, &opts).await {
        Ok(store) => match store.ping().await {
            Ok(()) => Ok(store),
            Err(e) => {
                store.close().await;
                Err(e)
            }
        },
        Err(e) => Err(e),
    };
    match connected {
        Ok(store) => {
            report.line("database", Outcome::Pass(format!("{shown} is reachable")))?;
            if let Some((path, mode)) = crate::store::sqlite_readable_by_others(url) {
                report.line(
                    "database file",
                    Outcome::Warn(format!(
                        "{} has mode {mode}: other users can read password hashes and qbXML; chmod 600 it (and its -wal and -shm files)",
                        path.display()
                    )),
                )?;
            }
            Ok(Some(store))
        }
        Err(e) => {
            report.line("database", Outcome::Fail(format!("{shown}: {e}")))?;
            Ok(None)
        }
    }
}

/// No live token is a warning: the Web Connector side works without one,
/// but no application can use the API yet.
async fn check_tokens(store: &SqlStore) -> Outcome {
    match store.list_tokens().await {
        Ok(t) => match t.iter().filter(|t| t.revoked_at.is_none() && !t.expired(Utc::now())).count() {
            0 => Outcome::Warn(
                "no live API token, so no application can use /api/v1 yet; create one with `qbwcd token create NAME`"
                    .into(),
            ),
            n => Outcome::Pass(format!("{n} live")),
        },
        Err(e) => Outcome::Fail(format!("cannot list tokens: {e}")),
    }
}

/// A webhook configured (a company's default URL) or waiting in the outbox
/// needs `webhook_secret`: without it nothing is ever delivered.
async fn check_webhooks(store: &SqlStore, settings: &Settings) -> Outcome {
    let companies = match store.list_companies().await {
        Ok(c) => c,
        Err(e) => return Outcome::Fail(format!("cannot list companies: {e}")),
    };
    let mut with_webhook = Vec::new();
    for c in &companies {
        match store.company_webhook(c.id).await {
            Ok(Some(_)) => with_webhook.push(c.slug.to_string()),
            Ok(None) => {}
            Err(e) => return Outcome::Fail(format!("cannot read the webhook of {}: {e}", c.slug)),
        }
    }
    let waiting = match store.next_webhook_due().await {
        Ok(due) => due.is_some(),
        Err(e) => return Outcome::Fail(format!("cannot read the webhook outbox: {e}")),
    };
    let secret_len = settings.webhook_secret.as_ref().map_or(0, |s| s.expose_secret().trim().len());
    let configured = match (with_webhook.is_empty(), waiting) {
        (true, false) => None,
        (true, true) => Some("deliveries wait in the outbox".to_owned()),
        (false, _) => Some(format!("companies with a webhook: {}", with_webhook.join(", "))),
    };
    match configured {
        None if secret_len == 0 => Outcome::Pass("no webhook configured".into()),
        None => Outcome::Pass("no webhook configured yet; webhook_secret is set".into()),
        Some(what) if secret_len == 0 => Outcome::Fail(format!(
            "{what}, but webhook_secret is not set, so no webhook is sent; set webhook_secret (QBWCD_WEBHOOK_SECRET) \
             to a random string of at least {WEBHOOK_SECRET_MIN_BYTES} bytes, e.g. `openssl rand -hex 32`"
        )),
        Some(what) if secret_len < WEBHOOK_SECRET_MIN_BYTES => Outcome::Warn(format!(
            "{what}; webhook_secret is only {secret_len} bytes: use at least {WEBHOOK_SECRET_MIN_BYTES} \
             (`openssl rand -hex 32`) and give receivers the new one"
        )),
        Some(what) => Outcome::Pass(format!("{what}; webhook_secret is set")),
    }
}

/// The file of a `sqlite:` URL, or `None` for an in-memory database.
pub(super) fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Both TLS files readable, a certificate and a private key in them, the
/// certificate valid now, naming `public_url`'s host (when that is an
/// https URL), and valid for [`CERT_MIN_DAYS`] more days (else a warning).
fn check_tls(cert: Option<&Path>, key: Option<&Path>, public_url: &str, now: DateTime<Utc>) -> Outcome {
    let (cert, key) = match (cert, key) {
        (None, None) => return Outcome::Pass("not configured (a reverse proxy terminates TLS)".into()),
        (Some(_), None) => {
            return Outcome::Fail("tls_cert_path is set but tls_key_path is not; set both or neither".into())
        }
        (None, Some(_)) => {
            return Outcome::Fail("tls_key_path is set but tls_cert_path is not; set both or neither".into())
        }
        (Some(c), Some(k)) => (c, k),
    };
    match read_certificate(cert, key) {
        Ok(c) => judge_certificate(&c, public_url, now),
        Err(e) => Outcome::Fail(e),
    }
}

/// What doctor needs of a certificate.
struct CertFacts {
    subject: String,
    names: Vec<String>,
    not_before: i64,
    not_after: i64,
}

fn read_certificate(cert: &Path, key: &Path) -> Result<CertFacts, String> {
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
    let mut names = Vec::new();
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(n) => names.push(n.to_ascii_lowercase()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(|a| std::net::IpAddr::from(a).to_string()),
                        16 => <[u8; 16]>::try_from(*b).ok().map(|a| std::net::IpAddr::from(a).to_string()),
                        _ => None,
                    };
                    names.extend(ip);
                }
                _ => {}
            }
        }
    }
    // Without subjectAltName, clients fall back to the common name.
    if names.is_empty() {
        names.extend(x509.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_ascii_lowercase));
    }
    let validity = x509.validity();
    Ok(CertFacts {
        subject: x509.subject().to_string(),
        names,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

fn judge_certificate(c: &CertFacts, public_url: &str, now: DateTime<Utc>) -> Outcome {
    let until =
        DateTime::<Utc>::from_timestamp(c.not_after, 0).map_or_else(|| c.not_after.to_string(), |t| t.to_rfc3339());
    let subject = &c.subject;
    if now.timestamp() < c.not_before {
        return Outcome::Fail(format!("the certificate for {subject} is not valid yet"));
    }
    if now.timestamp() >= c.not_after {
        return Outcome::Fail(format!("the certificate for {subject} expired on {until}; renew it"));
    }
    let https_host = url::Url::parse(public_url)
        .ok()
        .filter(|u| u.scheme() == "https")
        .and_then(|u| u.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()));
    if let Some(host) = &https_host {
        if !c.names.iter().any(|n| name_matches(n, host)) {
            return Outcome::Fail(format!(
                "the certificate names {}, not {host} (public_url's host): the Web Connector would refuse it; \
                 get a certificate for {host}",
                if c.names.is_empty() { "no host".to_owned() } else { c.names.join(", ") }
            ));
        }
    }
    let covers = https_host.map(|h| format!(", covers {h}")).unwrap_or_default();
    let days_left = (c.not_after - now.timestamp()) / 86_400;
    if days_left < CERT_MIN_DAYS {
        return Outcome::Warn(format!(
            "the certificate for {subject} expires on {until}, in {days_left} days (less than {CERT_MIN_DAYS}); \
             renew it"
        ));
    }
    Outcome::Pass(format!("certificate for {subject} valid until {until}{covers}"))
}

/// A certificate name covers a host: equal, or a wildcard `*.example.com`
/// covering exactly one label (`qb.example.com`, not `a.qb.example.com`).
fn name_matches(name: &str, host: &str) -> bool {
    if name == host {
        return true;
    }
    match (name.strip_prefix("*."), host.split_once('.')) {
        (Some(suffix), Some((label, rest))) => !label.is_empty() && rest == suffix,
        _ => false,
    }
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

/// Binds the listen address and releases it at once. When it is taken,
/// asks `/healthz` there: a qbwcd serving is fine, another program is not.
async fn check_listen(listen: &str) -> Outcome {
    match std::net::TcpListener::bind(listen) {
        Ok(l) => {
            drop(l);
            Outcome::Pass(format!("{listen} is free"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => match probe_qbwcd(listen).await {
            Some(version) => Outcome::Pass(format!("qbwcd {version} is serving on {listen}")),
            None => Outcome::Fail(format!(
                "{listen} is in use by a program that is not qbwcd (no qbwcd answers /healthz there); stop it or \
                 choose another listen address"
            )),
        },
        Err(e) => Outcome::Fail(format!("cannot listen on {listen}: {e}")),
    }
}

/// The version of the qbwcd answering `/healthz` on `listen`, if one does.
/// A listener on every address (`0.0.0.0`, `[::]`) is asked on loopback.
async fn probe_qbwcd(listen: &str) -> Option<String> {
    let addr: std::net::SocketAddr = tokio::net::lookup_host(listen).await.ok()?.next()?;
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/healthz", std::net::SocketAddr::new(ip, addr.port()));
    let client = reqwest::Client::builder().timeout(PROBE_TIMEOUT).no_proxy().build().ok()?;
    let resp = client.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let version = resp.headers().get(crate::app::VERSION_HEADER)?.to_str().ok()?.to_owned();
    Some(version)
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
        let url = "https://qb.example.com";
        assert!(matches!(check_tls(None, None, url, now), Outcome::Pass(d) if d.contains("not configured")));
        assert!(matches!(check_tls(Some(Path::new("a.crt")), None, url, now), Outcome::Fail(_)));
    }

    #[test]
    fn certificate_names_must_cover_the_public_host() {
        let now = Utc::now().timestamp();
        let cert = |names: &[&str], days: i64| CertFacts {
            subject: "CN=x".into(),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            not_before: now - 86_400,
            not_after: now + days * 86_400,
        };
        let at = Utc::now();
        let url = "https://qb.example.com/base";
        assert!(matches!(judge_certificate(&cert(&["qb.example.com"], 365), url, at), Outcome::Pass(_)));
        assert!(matches!(judge_certificate(&cert(&["*.example.com"], 365), url, at), Outcome::Pass(_)));
        let wrong = judge_certificate(&cert(&["other.example.com"], 365), url, at);
        assert!(matches!(&wrong, Outcome::Fail(d) if d.contains("other.example.com") && d.contains("qb.example.com")));
        assert!(matches!(judge_certificate(&cert(&["*.qb.example.com"], 365), url, at), Outcome::Fail(_)));
        // Soon due is a warning; expired a failure; an http public_url is not checked against names.
        assert!(
            matches!(judge_certificate(&cert(&["qb.example.com"], 10), url, at), Outcome::Warn(d) if d.contains("renew"))
        );
        assert!(
            matches!(judge_certificate(&cert(&["qb.example.com"], -1), url, at), Outcome::Fail(d) if d.contains("expired"))
        );
        assert!(matches!(judge_certificate(&cert(&["x"], 365), "http://localhost:8080", at), Outcome::Pass(_)));
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("*.example.com", "qb.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.qb.example.com"));
        assert!(name_matches("qb.example.com", "qb.example.com"));
    }
}
