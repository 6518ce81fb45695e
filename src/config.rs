//! Settings: built-in defaults, then a TOML file (`--config`), then
//! `QBWCD_*` environment variables (`QBWCD_DATABASE_URL`,
//! `QBWCD_QWC__APP_NAME` for nested keys), then command-line flags.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
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
    /// Key for signing onboarding links (at least 32 bytes); unset = links off.
    pub link_secret: LinkSecret,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://qbwcd.db".into(),
            database_max_connections: 16,
            public_url: "http://localhost:8080".into(),
            public: false,
            session_idle_seconds: 900,
            lease_seconds: 900,
            max_attempts: 3,
            postpone_seconds: 60,
            min_client_version: String::new(),
            reaper_interval_seconds: 30,
            soap_body_limit_bytes: 128 * 1024 * 1024,
            xml_max_depth: 64,
            job_max_bytes: 16 * 1024 * 1024,
            auth: AuthSettings::default(),
            qwc: QwcSettings::default(),
            link_secret: LinkSecret::default(),
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
    match toml::Value::try_from(Settings::default()) {
        Ok(toml::Value::Table(t)) => t.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

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
    }
}
