//! Web Connector passwords: argon2id hashing and verification off the async
//! runtime, on a fixed set of threads behind a queue of bounded length (a
//! full queue answers at once, so a login flood neither starves the other
//! calls nor makes real logins wait), at the same cost whether or not the
//! user exists.

use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::store::LockoutRule;

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
    /// Logins that may wait for a password thread; past it `authenticate`
    /// answers `busy` (the Web Connector tries again later) instead of
    /// queueing, so a flood cannot delay real logins by seconds.
    /// 0 = 8 per password thread.
    pub max_queued_hashes: usize,
    /// Failed logins for one user name from one address before that name
    /// is locked out at that address (elsewhere it still logs in).
    pub lockout_threshold: i32,
    /// First lockout, in seconds; doubles with each further failure.
    pub lockout_base_seconds: i64,
    /// Longest lockout, in seconds.
    pub lockout_max_seconds: i64,
    /// Failed logins from one address (any user names) before the address
    /// is locked out; 0 disables the per-address lockout.
    pub address_lockout_threshold: i32,
    /// A failure counts for this many seconds after the one before it;
    /// after a quiet window the counter starts over, so an old run of
    /// mistakes does not make the next one lock for twice as long.
    pub lockout_window_seconds: i64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            max_concurrent_hashes: 0,
            max_queued_hashes: 0,
            lockout_threshold: 5,
            lockout_base_seconds: 60,
            lockout_max_seconds: 3600,
            address_lockout_threshold: 20,
            lockout_window_seconds: 900,
        }
    }
}

impl AuthSettings {
    /// The (user name, address) lockout.
    pub fn user_rule(&self) -> LockoutRule {
        LockoutRule {
            threshold: self.lockout_threshold,
            base_seconds: self.lockout_base_seconds,
            max_seconds: self.lockout_max_seconds,
        }
    }

    /// The address lockout.
    pub fn address_rule(&self) -> LockoutRule {
        LockoutRule { threshold: self.address_lockout_threshold, ..self.user_rule() }
    }

    /// Failures before this are forgotten.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::seconds(self.lockout_window_seconds.max(0))
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

/// Every password thread is busy and the queue is full: answer `busy`.
#[derive(Debug, thiserror::Error)]
#[error("every password thread is busy and the login queue is full")]
pub struct VerifierBusy;

/// Verifies passwords on a fixed set of threads of its own, as many as
/// may hash at once, behind a queue of bounded length.
///
/// Not on tokio's blocking pool: each argon2 check allocates 19 MiB, and
/// glibc keeps such a block resident in the arena of the thread that freed
/// it (after the first, which it maps and unmaps). Spread over whichever
/// pool threads ran a login, that grew the server by 19 MiB per thread, up
/// to glibc's arena limit (8 per CPU); on a fixed set of threads it is at
/// most 19 MiB per thread.
#[derive(Clone)]
pub struct Verifier {
    checks: std::sync::mpsc::SyncSender<Check>,
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
    /// A verifier allowing `concurrency` verifications at once (0 = CPUs)
    /// and `queued` more waiting (0 = 8 per thread).
    ///
    /// # Errors
    /// [`HashError`] if the dummy hash cannot be made or a thread cannot
    /// be started.
    pub fn new(concurrency: usize, queued: usize) -> Result<Self, HashError> {
        let n = if concurrency == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        } else {
            concurrency
        };
        let queued = if queued == 0 { 8 * n } else { queued };
        let dummy = hash_password(&generate_password())?;
        let (checks, queue) = std::sync::mpsc::sync_channel::<Check>(queued);
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
    ///
    /// # Errors
    /// [`VerifierBusy`] at once, without checking, when the queue is full.
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> Result<bool, VerifierBusy> {
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let (reply, answer) = tokio::sync::oneshot::channel();
        match self.checks.try_send(Check { password, hash, reply }) {
            Ok(()) => Ok(answer.await.unwrap_or(false) && real),
            Err(std::sync::mpsc::TrySendError::Full(_)) => Err(VerifierBusy),
            // The threads are gone (only at exit): no login succeeds.
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => Ok(false),
        }
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
        let v = Verifier::new(1, 0).unwrap();
        let hash = hash_password(&SecretString::from("s3cret")).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(v.verify(SecretString::from("s3cret"), Some(hash.clone())).await.unwrap());
        assert!(!v.verify(SecretString::from("nope"), Some(hash)).await.unwrap());
        assert!(!v.verify(SecretString::from("s3cret"), None).await.unwrap());
        assert!(!v.verify(SecretString::from("x"), Some("not a hash".into())).await.unwrap());
    }

    /// More checks than threads queue up and each gets its own answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_beyond_the_threads_queue_and_each_gets_its_answer() {
        let v = Verifier::new(2, 8).unwrap();
        let hash = hash_password(&SecretString::from("right")).unwrap();
        let mut checks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (v, hash) = (v.clone(), hash.clone());
            let password = if i % 2 == 0 { "right" } else { "wrong" };
            checks.spawn(async move { (i, v.verify(SecretString::from(password), Some(hash)).await.unwrap()) });
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
        let s = AuthSettings::default().user_rule();
        let now = Utc::now();
        assert_eq!(s.until(4, now), None);
        assert_eq!(s.until(5, now), Some(now + Duration::seconds(60)));
        assert_eq!(s.until(6, now), Some(now + Duration::seconds(120)));
        assert_eq!(s.until(40, now), Some(now + Duration::seconds(3600)));
        assert_eq!(
            AuthSettings { address_lockout_threshold: 0, ..AuthSettings::default() }.address_rule().until(99, now),
            None
        );
    }

    /// Past the threads and the queue, a check is refused at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_busy_at_once() {
        let v = Verifier::new(1, 1).unwrap();
        let hash = hash_password(&SecretString::from("right")).unwrap();
        let mut checks = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (v, hash) = (v.clone(), hash.clone());
            checks.spawn(async move { v.verify(SecretString::from("right"), Some(hash)).await.is_err() });
        }
        let mut busy = 0;
        while let Some(done) = checks.join_next().await {
            busy += usize::from(done.unwrap());
        }
        // One thread and a queue of one: at most 11 are refused (10 when the
        // thread took the first check off the queue before the rest came).
        assert!((1..=11).contains(&busy), "{busy} of 12 were busy");
        assert!(v.verify(SecretString::from("right"), Some(hash)).await.unwrap(), "the queue drains");
    }
}
