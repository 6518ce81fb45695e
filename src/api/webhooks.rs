//! Webhooks: a signed JSON event for every job that reaches a final state
//! (done, failed, cancelled) or `unknown` — what a receiver gets and how it
//! checks the signature. Sending them is the delivery worker
//! ([`crate::workers`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::webhook_guard::{self, AllowHosts};
use super::{ApiError, JobView};
use crate::config::Settings;

/// Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
pub const SIGNATURE_HEADER: &str = "X-Qbwcd-Signature";
/// Event id header, stable across retries.
pub const EVENT_ID_HEADER: &str = "X-Qbwcd-Event-Id";

/// The event body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookEvent {
    /// The event id (also `X-Qbwcd-Event-Id`).
    pub id: String,
    /// Always `job.finished`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "job.finished")]
    pub kind: &'static str,
    /// The state the job reached (done, failed, cancelled or unknown).
    pub state: String,
    /// When it reached it.
    pub occurred_at: DateTime<Utc>,
    /// The job as it is at delivery, without QuickBooks' verbatim answer
    /// (fetch `GET /api/v1/jobs/{id}` for it); with `result`, the answer as
    /// JSON, when `webhook_include_result` is set.
    pub job: JobView,
}

/// Refuses anything but an absolute http(s) URL whose host is on
/// `webhook_allow_hosts` or resolves only to public addresses (see
/// [`super::webhook_guard`]).
///
/// # Errors
/// A 400 saying why (naming the host, never the whole URL).
pub async fn check_webhook_url(url: &str, settings: &Settings) -> Result<(), ApiError> {
    let allow = AllowHosts::new(&settings.webhook_allow_hosts);
    webhook_guard::check_target(url, &allow).await.map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))
}

/// The hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a `X-Qbwcd-Signature` header against `body` (constant time),
/// refusing timestamps more than `tolerance` away from `now`.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: DateTime<Utc>, tolerance: Duration) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    if (now.timestamp() - t).unsigned_abs() > tolerance.as_secs() {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_body_or_old_timestamp_does_not() {
        let now = Utc::now();
        let t = now.timestamp();
        let header = format!("t={t},v1={}", sign(b"k", t, b"{}"));
        let tol = Duration::from_secs(300);
        assert!(verify(b"k", &header, b"{}", now, tol));
        assert!(!verify(b"k", &header, b"{ }", now, tol));
        assert!(!verify(b"other", &header, b"{}", now, tol));
        assert!(!verify(b"k", &header, b"{}", now + chrono::Duration::seconds(301), tol));
        assert!(!verify(b"k", "v1=00", b"{}", now, tol));
    }

    #[test]
    fn the_signature_matches_an_independent_hmac_sha256() {
        // Python: hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            sign(b"s3cret", 1_700_000_000, br#"{"a":1}"#),
            "1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
    }

    #[tokio::test]
    async fn only_absolute_http_urls_to_allowed_or_public_hosts_are_accepted() {
        // Allowed hosts are not looked up, so nothing here leaves the machine.
        let settings =
            Settings { webhook_allow_hosts: vec!["example.com".into(), "127.0.0.1".into()], ..Settings::default() };
        assert!(check_webhook_url("https://example.com/hook", &settings).await.is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9/x", &settings).await.is_ok());
        for bad in ["ftp://x", "/relative", "not a url", "mailto:a@b.c", "http://10.0.0.1/x", "http://[::1]:9/x"] {
            assert!(check_webhook_url(bad, &settings).await.is_err(), "{bad}");
        }
        let closed = Settings::default();
        let err = check_webhook_url("http://127.0.0.1:9/secret-token", &closed).await.unwrap_err();
        assert!(err.message.contains("127.0.0.1") && !err.message.contains("secret-token"), "{}", err.message);
    }
}
