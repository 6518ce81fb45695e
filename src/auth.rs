//! Web Connector passwords: argon2id hashing and verification off the async
//! runtime, behind a bounded semaphore so a login flood cannot starve the
//! other calls, at the same cost whether or not the user exists.

use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// Password hashing failed (only on a broken stored hash or parameters).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// `[auth]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// argon2 verifications running at once (each takes ~19 MiB and a core
    /// for tens of milliseconds). 0 = the number of CPUs.
    pub max_concurrent_hashes: usize,
    /// Failed logins in a row before a user is locked out.
    pub lockout_threshold: i32,
    /// First lockout, in seconds; doubles with each further failure.
    pub lockout_base_seconds: i64,
    /// Longest lockout, in seconds.
    pub lockout_max_seconds: i64,
    /// Failed logins in a row from one address (any user names) before the
    /// address is locked out; 0 disables the per-address lockout.
    pub address_lockout_threshold: i32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            max_concurrent_hashes: 0,
            lockout_threshold: 5,
            lockout_base_seconds: 60,
            lockout_max_seconds: 3600,
            address_lockout_threshold: 20,
        }
    }
}

impl AuthSettings {
    /// When a user with `failed` consecutive failures (this one included)
    /// is locked until, if at all: base × 2^(failed − threshold), capped.
    pub fn lockout_until(&self, failed: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.lockout_after(self.lockout_threshold, failed, now)
    }

    /// The same rule for an address, with its own threshold.
    pub fn address_lockout_until(&self, failed: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.lockout_after(self.address_lockout_threshold, failed, now)
    }

    fn lockout_after(&self, threshold: i32, failed: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if threshold <= 0 || failed < threshold {
            return None;
        }
        let doublings = u32::try_from(failed - threshold).unwrap_or(0).min(30);
        let secs = self.lockout_base_seconds.saturating_mul(1i64 << doublings).min(self.lockout_max_seconds);
        Some(now + Duration::seconds(secs.max(0)))
    }
}

/// OWASP's argon2id parameters: 19 MiB, 2 iterations, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password to a PHC string. CPU-heavy: call from blocking code.
///
/// # Errors
/// [`HashError`] if argon2 refuses (it does not for valid parameters).
pub fn hash_password(password: &SecretString) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Hashes on the blocking pool, so the async workers stay free.
///
/// # Errors
/// [`HashError`] if argon2 refuses or the blocking task is lost.
pub async fn hash_password_off_runtime(password: SecretString) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|e| HashError(e.to_string()))?
}

/// A strong generated password: 24 characters from an alphabet without
/// look-alikes (people type these into the Web Connector by hand).
pub fn generate_password() -> SecretString {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let s: String = (0..24).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    SecretString::from(s)
}

/// Verifies passwords on the blocking pool, a bounded number at a time.
#[derive(Clone)]
pub struct Verifier {
    permits: Arc<Semaphore>,
    /// Checked when the user does not exist, so both cases cost the same.
    dummy_hash: Arc<String>,
}

impl Verifier {
    /// A verifier allowing `concurrency` verifications at once (0 = CPUs).
    ///
    /// # Errors
    /// [`HashError`] if the dummy hash cannot be made.
    pub fn new(concurrency: usize) -> Result<Self, HashError> {
        let n = if concurrency == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        } else {
            concurrency
        };
        let dummy = hash_password(&generate_password())?;
        Ok(Verifier { permits: Arc::new(Semaphore::new(n)), dummy_hash: Arc::new(dummy) })
    }

    /// Whether `password` matches `hash`. With `None` (no such user) a dummy
    /// hash is checked and the answer is always false.
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| argon2().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        ok && real
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let v = Verifier::new(1).unwrap();
        let hash = hash_password(&SecretString::from("s3cret")).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(v.verify(SecretString::from("s3cret"), Some(hash.clone())).await);
        assert!(!v.verify(SecretString::from("nope"), Some(hash)).await);
        assert!(!v.verify(SecretString::from("s3cret"), None).await);
        assert!(!v.verify(SecretString::from("x"), Some("not a hash".into())).await);
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password();
        assert_eq!(a.expose_secret().len(), 24);
        assert_ne!(a.expose_secret(), generate_password().expose_secret());
    }

    #[test]
    fn lockout_doubles_from_the_threshold_and_is_capped() {
        let s = AuthSettings::default();
        let now = Utc::now();
        assert_eq!(s.lockout_until(4, now), None);
        assert_eq!(s.lockout_until(5, now), Some(now + Duration::seconds(60)));
        assert_eq!(s.lockout_until(6, now), Some(now + Duration::seconds(120)));
        assert_eq!(s.lockout_until(40, now), Some(now + Duration::seconds(3600)));
    }
}
