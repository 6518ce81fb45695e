//! Built-in TLS (rustls), because the Web Connector requires https for any
//! host but `localhost`. The certificate is reloaded on SIGHUP and when its
//! files change, so a renewed certificate (certbot, ACME) is picked up
//! without a restart. Plain HTTP stays available on `listen` for localhost
//! and reverse proxies.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;

/// The certificate chain and key, PEM files.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain (leaf first).
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("TLS: cannot load {cert} / {key}: {source}")]
pub struct TlsError {
    cert: String,
    key: String,
    #[source]
    source: std::io::Error,
}

/// Makes ring rustls' process-wide crypto provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Loads the certificate and key.
///
/// # Errors
/// [`TlsError`] when a file is missing or not a usable PEM certificate/key.
pub async fn load(files: &TlsFiles) -> Result<RustlsConfig, TlsError> {
    install_crypto_provider();
    RustlsConfig::from_pem_file(&files.cert, &files.key).await.map_err(|source| TlsError {
        cert: files.cert.display().to_string(),
        key: files.key.display().to_string(),
        source,
    })
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Reloads `config` on SIGHUP and whenever either file's modification time
/// changes (checked every `every`). A failed reload keeps the current
/// certificate and logs why.
pub fn spawn_reloader(config: RustlsConfig, files: TlsFiles, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = (modified(&files.cert), modified(&files.key));
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let reason = tokio::select! {
                _ = tick.tick() => "file change",
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => "SIGHUP",
            };
            #[cfg(not(unix))]
            let reason = {
                tick.tick().await;
                "file change"
            };
            let now = (modified(&files.cert), modified(&files.key));
            if reason == "file change" && now == seen {
                continue;
            }
            seen = now;
            match config.reload_from_pem_file(&files.cert, &files.key).await {
                Ok(()) => tracing::info!(trigger = reason, "TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(trigger = reason, error = %e, "TLS certificate reload failed; keeping the current one")
                }
            }
        }
    })
}
