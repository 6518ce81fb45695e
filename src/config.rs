//! Settings: built-in defaults, then a TOML file (`--config`), then
//! `QBWCD_*` environment variables (`QBWCD_DATABASE_URL`,
//! `QBWCD_QWC__APP_NAME` for nested keys), then command-line flags.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::auth::AuthSettings;
use crate::onboarding::LinkSecret;
use crate::qwc::QwcSettings;

/// Every setting qbwcd reads. `config.example.toml` documents each key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address `serve` listens on.
    pub listen: String,
    /// `sqlite://qbwcd.db` (default) or `postgres://user@host/db`.
    pub database_url: String,
    /// Postgres connections per process.
    pub database_max_connections: u32,
    /// Address for https (built-in TLS); unset = no built-in TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_listen: Option<String>,
    /// PEM certificate chain for `tls_listen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_path: Option<std::path::PathBuf>,
    /// PEM private key for `tls_listen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key_path: Option<std::path::PathBuf>,
    /// How often the certificate files are checked for changes, in seconds
    /// (SIGHUP reloads at once).
    pub tls_reload_seconds: u64,
    /// The URL the Web Connector reaches this server at (`.qwc` files).
    /// Unset (or empty), it follows `listen`: see [`public_url_for_listen`].
    pub public_url: String,
    /// Whether this deployment is reachable from other machines: then a
    /// `localhost` public URL is refused for `.qwc` files.
    pub public: bool,
    /// A session with no call for this long ends; another connector of the
    /// same company may then start.
    pub session_idle_seconds: u64,
    /// How long QuickBooks may take to answer one request before the job's
    /// lease lapses (a read is requeued, a write becomes `unknown`).
    pub lease_seconds: u64,
    /// Times a read is sent before it fails.
    pub max_attempts: i32,
    /// How long a write whose answer was lost waits for the Web Connector
    /// that sent it to come back and check it (QuickBooks answers that check
    /// only to the same application), in seconds; then it is held for an
    /// operator. Meanwhile the company's other connectors send nothing.
    pub recovery_wait_seconds: u64,
    /// Live sessions: with a value above 0, a session whose queue runs empty
    /// stays open this many seconds (the Web Connector asks every five
    /// seconds), so new work reaches QuickBooks within seconds. 0 ends the
    /// session as soon as the queue is empty.
    pub live_idle_seconds: u64,
    /// What `authenticate` tells a second connector of a busy company to
    /// wait, in seconds (authRet[2]).
    pub postpone_seconds: u32,
    /// Oldest Web Connector version accepted (e.g. `2.1.0.30`); empty = any.
    pub min_client_version: String,
    /// How often idle sessions and lapsed leases are swept, in seconds.
    pub reaper_interval_seconds: u64,
    /// Largest `receiveResponseXML` request accepted on `/qbwc`, in bytes.
    /// qbXML answers can be tens of megabytes.
    pub soap_body_limit_bytes: usize,
    /// Largest request of any other SOAP call (or one without a
    /// `SOAPAction` header), in bytes; decided before the body is read.
    pub soap_small_body_limit_bytes: usize,
    /// SOAP request bytes held across all requests at once; a request that
    /// would go past it is answered 503 with `Retry-After`.
    pub soap_buffered_bytes_max: usize,
    /// A connection whose request head has not fully arrived after this
    /// many seconds is closed (also the TLS handshake's limit).
    pub header_read_timeout_seconds: u64,
    /// Longest wait for the next piece of a request body, in seconds; on
    /// `/qbwc` also the grace before `body_min_bytes_per_second` applies.
    pub body_read_timeout_seconds: u64,
    /// Slowest average rate a SOAP body may arrive at after the grace
    /// (408 below it); 0 = no minimum rate.
    pub body_min_bytes_per_second: u64,
    /// Connections open at once per listener; more are closed at once.
    pub max_connections: usize,
    /// Address serving `/metrics` only (e.g. `127.0.0.1:9090`). Unset:
    /// `/metrics` is served on `listen` when that is a loopback address,
    /// else nowhere. Never on `tls_listen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// Reverse proxies (CIDRs, e.g. `10.0.0.0/8`, `127.0.0.1/32`) whose
    /// `forwarded_header` names the client address. Empty: the peer
    /// address is the client's.
    pub trusted_proxies: Vec<String>,
    /// The header trusted proxies put the client address in:
    /// `x-forwarded-for` or `forwarded` (RFC 7239).
    pub forwarded_header: String,
    /// Deepest XML nesting accepted in SOAP envelopes and qbXML.
    pub xml_max_depth: usize,
    /// Largest qbXML accepted for one job, in bytes.
    pub job_max_bytes: usize,
    /// Password verification and lockout.
    pub auth: AuthSettings,
    /// A console (`/admin`) session unused this many seconds has ended:
    /// the next page asks for the password again.
    pub console_idle_timeout_seconds: u64,
    /// `.qwc` file contents.
    pub qwc: QwcSettings,
    /// Longest `?wait=SECONDS` an API request may hold for a job to finish.
    pub api_max_wait_seconds: u64,
    /// The key webhook signatures are made with (HMAC-SHA256). Without it
    /// no webhook is sent; events wait in the outbox.
    #[serde(serialize_with = "redacted")]
    pub webhook_secret: Option<SecretString>,
    /// Attempts at a webhook before it is given up.
    pub webhook_max_attempts: i32,
    /// Wait before the second attempt, in seconds; doubles each attempt.
    pub webhook_retry_base_seconds: u64,
    /// Longest wait between attempts, in seconds.
    pub webhook_retry_max_seconds: u64,
    /// How long a receiver may take to answer, in seconds.
    pub webhook_timeout_seconds: u64,
    /// Key for signing onboarding links (at least 32 bytes); unset = links off.
    pub link_secret: LinkSecret,
    /// Whose product the customer sees: pages, `.qwc` texts, support contact.
    pub brand: BrandSettings,
    /// Events older than this many days are deleted by the reaper; 0 keeps
    /// them forever.
    pub event_retention_days: u32,
    /// Finished webhook deliveries (delivered or given up) of events older
    /// than this many days are deleted by the reaper; 0 keeps them forever.
    /// Pending deliveries are never pruned.
    pub webhook_retention_days: u32,
    /// Hosts webhooks may be delivered to even when they resolve to
    /// loopback, private or other internal addresses (internal receivers).
    /// Exact host names or IP literals, compared case-insensitively.
    pub webhook_allow_hosts: Vec<String>,
    /// Most pages one attempt of an iterator query may fetch; past it the
    /// iterator is stopped and the job fails (`iterator.page_limit`).
    pub iterator_max_pages: u32,
}

/// The `[brand]` section: the operator's product, as the QuickBooks admin
/// sees it on the support page, the onboarding link page and in the Web
/// Connector (`AppName`, `AppDescription`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandSettings {
    /// The product's name. Unless `[qwc] app_name` is set, it is also the
    /// front of every `AppName`, so changing it later makes the Web
    /// Connector see new applications (each `.qwc` must be added again).
    pub name: String,
    /// A page where the customer gets help (shown on the pages as a link).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
    /// An address where the customer gets help (shown on the pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_email: Option<String>,
}

impl Default for BrandSettings {
    fn default() -> Self {
        BrandSettings { name: "qbwcd".into(), support_url: None, support_email: None }
    }
}

impl BrandSettings {
    /// The support contact for the pages, when one is configured.
    pub fn contact(&self) -> crate::qwc::SupportContact<'_> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        crate::qwc::SupportContact {
            name: self.name.trim(),
            url: given(&self.support_url),
            email: given(&self.support_email),
        }
    }
}

/// The public URL a listen address implies when `public_url` is not set. A
/// server listening on a loopback address, or on every address, is reached
/// from its own machine at `http://localhost:PORT`, which the Web Connector
/// accepts over plain http; any other address is used as it is (and the
/// `.qwc` checks then say that the Web Connector needs https and a name).
pub fn public_url_for_listen(listen: &str) -> String {
    let listen = listen.trim();
    if let Ok(addr) = listen.parse::<std::net::SocketAddr>() {
        return if addr.ip().is_loopback() || addr.ip().is_unspecified() {
            format!("http://localhost:{}", addr.port())
        } else {
            format!("http://{addr}")
        };
    }
    match listen.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            if host.eq_ignore_ascii_case("localhost") || host.is_empty() {
                format!("http://localhost:{port}")
            } else {
                format!("http://{host}:{port}")
            }
        }
        // Not an address `serve` could bind; `serve` says so itself.
        _ => Settings::default().public_url,
    }
}

/// Never writes a secret out, wherever settings are serialized.
fn redacted<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("[redacted]"),
        None => s.serialize_none(),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://qbwcd.db".into(),
            database_max_connections: 16,
            tls_listen: None,
            tls_cert_path: None,
            tls_key_path: None,
            tls_reload_seconds: 60,
            public_url: "http://localhost:8080".into(),
            public: false,
            session_idle_seconds: 900,
            lease_seconds: 900,
            max_attempts: 3,
            recovery_wait_seconds: 24 * 60 * 60,
            live_idle_seconds: 0,
            postpone_seconds: 60,
            min_client_version: String::new(),
            reaper_interval_seconds: 30,
            soap_body_limit_bytes: 128 * 1024 * 1024,
            soap_small_body_limit_bytes: 1024 * 1024,
            soap_buffered_bytes_max: 256 * 1024 * 1024,
            header_read_timeout_seconds: 30,
            body_read_timeout_seconds: 30,
            body_min_bytes_per_second: 16 * 1024,
            max_connections: 1024,
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".into(),
            xml_max_depth: 64,
            job_max_bytes: 16 * 1024 * 1024,
            auth: AuthSettings::default(),
            console_idle_timeout_seconds: 1800,
            qwc: QwcSettings::default(),
            api_max_wait_seconds: 60,
            webhook_secret: None,
            webhook_max_attempts: 10,
            webhook_retry_base_seconds: 5,
            webhook_retry_max_seconds: 3600,
            webhook_timeout_seconds: 10,
            link_secret: LinkSecret::default(),
            brand: BrandSettings::default(),
            event_retention_days: 90,
            webhook_retention_days: 30,
            webhook_allow_hosts: Vec::new(),
            iterator_max_pages: 10_000,
        }
    }
}

/// Settings could not be loaded. Its message is one line with figment's
/// whole account (what, which key, from where); the figment error is not
/// also returned as `source()`, or a printed chain would say it twice.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {}", one_line(.0))]
pub struct ConfigError(Box<figment::Error>);

/// Figment's message (one line per error and place) joined into one line.
fn one_line(e: &figment::Error) -> String {
    e.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The top-level setting names, from the defaults themselves, so an
/// environment variable such as `QBWCD_TEST_POSTGRES_URL` or `QBWCD_CONFIG`
/// is not mistaken for a (misspelt) setting.
fn setting_names() -> Vec<String> {
    let mut names = match toml::Value::try_from(Settings::default()) {
        Ok(toml::Value::Table(t)) => t.keys().cloned().collect(),
        _ => Vec::new(),
    };
    // Unset by default, so absent from the serialized defaults.
    names.extend(OPTIONAL_KEYS.iter().map(|k| (*k).to_owned()));
    names
}

/// Top-level keys whose default is unset.
const OPTIONAL_KEYS: &[&str] = &["webhook_secret", "tls_listen", "tls_cert_path", "tls_key_path", "metrics_listen"];

impl Settings {
    /// Loads defaults, then `file` (if any), then `QBWCD_*` variables, then
    /// `overrides` (command-line flags, as `(key, value)` pairs).
    ///
    /// # Errors
    /// [`ConfigError`] for an unreadable file, an unknown key or a value of
    /// the wrong type; the message names the key and where it came from.
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Settings, ConfigError> {
        // What was given, apart from the defaults: some defaults follow
        // other settings unless they were given themselves.
        let mut given = Figment::new();
        if let Some(path) = file {
            given = given.merge(Toml::file_exact(path));
        }
        let names = setting_names();
        let env = Env::prefixed("QBWCD_").split("__").filter(move |k| {
            let top = k.as_str().split("__").next().unwrap_or_default();
            names.iter().any(|n| n.eq_ignore_ascii_case(top))
        });
        given = given.merge(env);
        for (key, value) in overrides {
            given = given.merge(Serialized::default(key, value));
        }
        let is_given = |key: &str| given.find_value(key).is_ok_and(|v| v.as_str().is_none_or(|s| !s.trim().is_empty()));
        let (public_url, app_name, app_description) =
            (is_given("public_url"), is_given("qwc.app_name"), is_given("qwc.app_description"));
        let mut settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(given)
            .extract()
            .map_err(|e| ConfigError(Box::new(e)))?;
        if !public_url {
            settings.public_url = public_url_for_listen(&settings.listen);
        }
        // The brand names the `.qwc` texts unless they are set themselves.
        let brand = settings.brand.name.trim().to_owned();
        if !app_name {
            settings.qwc.app_name.clone_from(&brand);
        }
        if !app_description {
            let text = format!("{brand} QuickBooks connector");
            settings.qwc.app_description = text.chars().take(crate::qwc::MAX_DESCRIPTION_CHARS).collect();
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_and_overrides_layer_over_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qbwcd.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\nmax_attempts = 5\n[qwc]\napp_name = \"Acme Sync\"\n")
            .unwrap();
        let s = Settings::load(Some(&path), &[("database_url", "sqlite://x.db".into())]).unwrap();
        assert_eq!(s.listen, "0.0.0.0:9000");
        assert_eq!(s.max_attempts, 5);
        assert_eq!(s.qwc.app_name, "Acme Sync");
        assert_eq!(s.database_url, "sqlite://x.db");
        assert_eq!(s.lease_seconds, 900);
    }

    #[test]
    fn the_webhook_secret_loads_but_is_never_shown() {
        use secrecy::ExposeSecret;
        let s = Settings::load(None, &[("webhook_secret", "s3cret-value".into())]).unwrap();
        assert_eq!(s.webhook_secret.as_ref().map(|k| k.expose_secret().to_owned()).as_deref(), Some("s3cret-value"));
        assert!(!format!("{s:?}").contains("s3cret-value"));
        assert!(!toml::to_string(&s).unwrap().contains("s3cret-value"));
        assert!(setting_names().iter().any(|n| n == "webhook_secret"), "QBWCD_WEBHOOK_SECRET must be read");
    }

    #[test]
    fn without_public_url_a_loopback_listen_address_is_the_public_url() {
        let listen = |l: &str| Settings::load(None, &[("listen", l.into())]).unwrap().public_url;
        assert_eq!(listen("127.0.0.1:18090"), "http://localhost:18090");
        assert_eq!(listen("[::1]:18090"), "http://localhost:18090");
        assert_eq!(listen("0.0.0.0:18090"), "http://localhost:18090");
        assert_eq!(listen("localhost:18091"), "http://localhost:18091");
        assert_eq!(listen("192.168.1.5:8080"), "http://192.168.1.5:8080");
        assert_eq!(Settings::load(None, &[]).unwrap().public_url, "http://localhost:8080");
        // Given explicitly (file, environment or flag), it always wins; empty counts as not given.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qbwcd.toml");
        std::fs::write(&path, "public_url = \"https://qb.example.com\"\nlisten = \"127.0.0.1:18090\"\n").unwrap();
        assert_eq!(Settings::load(Some(&path), &[]).unwrap().public_url, "https://qb.example.com");
        let empty = Settings::load(None, &[("public_url", String::new()), ("listen", "127.0.0.1:9".into())]);
        assert_eq!(empty.unwrap().public_url, "http://localhost:9");
    }

    #[test]
    fn the_brand_names_the_qwc_texts_unless_they_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qbwcd.toml");
        std::fs::write(&path, "[brand]\nname = \"Acme Sync\"\nsupport_email = \"help@acme.test\"\n").unwrap();
        let s = Settings::load(Some(&path), &[]).unwrap();
        assert_eq!(s.qwc.app_name, "Acme Sync");
        assert_eq!(s.qwc.app_description, "Acme Sync QuickBooks connector");
        assert_eq!(s.brand.contact().email, Some("help@acme.test"));
        assert_eq!(s.brand.contact().url, None);
        // A pinned app_name keeps installed files' identity through a rebrand.
        std::fs::write(&path, "[brand]\nname = \"Acme Sync\"\n[qwc]\napp_name = \"qbwcd\"\n").unwrap();
        let s = Settings::load(Some(&path), &[]).unwrap();
        assert_eq!((s.qwc.app_name.as_str(), s.brand.name.as_str()), ("qbwcd", "Acme Sync"));
        // The defaults are what they always were.
        let d = Settings::load(None, &[]).unwrap();
        assert_eq!((d.qwc.app_name.as_str(), d.qwc.app_description.as_str()), ("qbwcd", "qbwcd QuickBooks connector"));
        let long = "x".repeat(100);
        std::fs::write(&path, format!("[brand]\nname = \"{long}\"\n")).unwrap();
        let s = Settings::load(Some(&path), &[]).unwrap();
        assert_eq!(s.qwc.app_description.chars().count(), crate::qwc::MAX_DESCRIPTION_CHARS);
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qbwcd.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let err = Settings::load(Some(&path), &[]).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn the_example_config_is_complete_and_valid() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
        let s = Settings::load(Some(Path::new(example)), &[]).unwrap();
        let text = std::fs::read_to_string(example).unwrap();
        let defaults = toml::to_string(&Settings::default()).unwrap();
        for line in defaults.lines() {
            if let Some((key, _)) = line.split_once(" = ") {
                assert!(text.contains(&format!("{key} =")), "config.example.toml does not document {key}");
            }
        }
        assert_eq!(s.listen, Settings::default().listen);
        for key in OPTIONAL_KEYS {
            assert!(text.contains(&format!("# {key} =")), "config.example.toml does not document {key}");
        }
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "figment's Jail closure returns figment::Error")]
    fn optional_keys_can_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("QBWCD_TLS_CERT_PATH", "/etc/qbwcd/cert.pem");
            let s = Settings::load(None, &[]).map_err(|e| e.to_string())?;
            assert_eq!(s.tls_cert_path.as_deref(), Some(Path::new("/etc/qbwcd/cert.pem")));
            Ok(())
        });
    }
}
