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
    /// Largest SOAP request accepted on `/qbwc`, in bytes. qbXML answers
    /// can be tens of megabytes.
    pub soap_body_limit_bytes: usize,
    /// Deepest XML nesting accepted in SOAP envelopes and qbXML.
    pub xml_max_depth: usize,
    /// Largest qbXML accepted for one job, in bytes.
    pub job_max_bytes: usize,
    /// Password verification and lockout.
    pub auth: AuthSettings,
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
            live_idle_seconds: 0,
            postpone_seconds: 60,
            min_client_version: String::new(),
            reaper_interval_seconds: 30,
            soap_body_limit_bytes: 128 * 1024 * 1024,
            xml_max_depth: 64,
            job_max_bytes: 16 * 1024 * 1024,
            auth: AuthSettings::default(),
            qwc: QwcSettings::default(),
            api_max_wait_seconds: 60,
            webhook_secret: None,
            webhook_max_attempts: 10,
            webhook_retry_base_seconds: 5,
            webhook_retry_max_seconds: 3600,
            webhook_timeout_seconds: 10,
            link_secret: LinkSecret::default(),
            event_retention_days: 90,
            webhook_retention_days: 30,
            webhook_allow_hosts: Vec::new(),
            iterator_max_pages: 10_000,
        }
    }
}

/// Settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

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
const OPTIONAL_KEYS: &[&str] = &["webhook_secret", "tls_listen", "tls_cert_path", "tls_key_path"];

impl Settings {
    /// Loads defaults, then `file` (if any), then `QBWCD_*` variables, then
    /// `overrides` (command-line flags, as `(key, value)` pairs).
    ///
    /// # Errors
    /// [`ConfigError`] for an unreadable file, an unknown key or a value of
    /// the wrong type; the message names the key and where it came from.
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Settings, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            fig = fig.merge(Toml::file_exact(path));
        }
        let names = setting_names();
        let env = Env::prefixed("QBWCD_").split("__").filter(move |k| {
            let top = k.as_str().split("__").next().unwrap_or_default();
            names.iter().any(|n| n.eq_ignore_ascii_case(top))
        });
        fig = fig.merge(env);
        for (key, value) in overrides {
            fig = fig.merge(Serialized::default(key, value));
        }
        fig.extract().map_err(|e| ConfigError(Box::new(e)))
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
