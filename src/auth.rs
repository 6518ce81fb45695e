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

/// Password hashing failed (only on a broken stored hash or parameters).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// `[auth]` settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// argon2 verifications running at once, on as many threads (each takes
    /// ~19 MiB and a core for tens of milliseconds). 0 = the number of CPUs.
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

/// Verifies passwords on a fixed set of threads of its own, as many as
/// may hash at once.
///
/// Not on tokio's blocking pool: each argon2 check allocates 19 MiB, and
/// glibc keeps such a block resident in the arena of the thread that freed
/// it (after the first, which it maps and unmaps). Spread over whichever
/// pool threads ran a login, that grew the server by 19 MiB per thread, up
/// to glibc's arena limit (8 per CPU); on a fixed set of threads it is at
/// most 19 MiB per thread.
#[derive(Clone)]
pub struct Verifier {
    checks: std::sync::mpsc::Sender<Check>,
    /// Checked when the user does not exist, so both cases cost the same.
    dummy_hash: Arc<String>,
}

/// One password to check, and where to say whether it matched.
struct Check {
    password: SecretString,
    hash: String,
    reply: tokio::sync::oneshot::Sender<bool>,
}

impl Verifier {
    /// A verifier allowing `concurrency` verifications at once (0 = CPUs).
    ///
    /// # Errors
    /// [`HashError`] if the dummy hash cannot be made or a thread cannot
    /// be started.
    pub fn new(concurrency: usize) -> Result<Self, HashError> {
        let n = if concurrency == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        } else {
            concurrency
        };
        let dummy = hash_password(&generate_password())?;
        let (checks, queue) = std::sync::mpsc::channel::<Check>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..n {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("qbwcd-argon2-{i}"))
                .spawn(move || check_passwords(&queue))
                .map_err(|e| HashError(format!("cannot start a password thread: {e}")))?;
        }
        Ok(Verifier { checks, dummy_hash: Arc::new(dummy) })
    }

    /// Whether `password` matches `hash`. With `None` (no such user) a dummy
    /// hash is checked and the answer is always false.
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> bool {
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self.checks.send(Check { password, hash, reply }).is_ok();
        sent && answer.await.unwrap_or(false) && real
    }
}

/// A password thread: checks queued passwords until every [`Verifier`]
/// clone is gone.
fn check_passwords(queue: &std::sync::Mutex<std::sync::mpsc::Receiver<Check>>) {
    loop {
        // The lock is held only while waiting for the next check, so the
        // threads take turns at the queue and hash side by side.
        let next = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(check) = next else { return };
        // A panic would end the thread and shrink the pool for good: it is
        // a failed check instead.
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            PasswordHash::new(&check.hash)
                .map(|parsed| argon2().verify_password(check.password.expose_secret().as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        }))
        .unwrap_or(false);
        let _ = check.reply.send(ok);
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

    /// More checks than threads queue up and each gets its own answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_beyond_the_threads_queue_and_each_gets_its_answer() {
        let v = Verifier::new(2).unwrap();
        let hash = hash_password(&SecretString::from("right")).unwrap();
        let mut checks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (v, hash) = (v.clone(), hash.clone());
            let password = if i % 2 == 0 { "right" } else { "wrong" };
            checks.spawn(async move { (i, v.verify(SecretString::from(password), Some(hash)).await) });
        }
        let mut answers = Vec::new();
        while let Some(done) = checks.join_next().await {
            answers.push(done.unwrap());
        }
        answers.sort();
        assert_eq!(answers, (0..8).map(|i| (i, i % 2 == 0)).collect::<Vec<_>>());
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
