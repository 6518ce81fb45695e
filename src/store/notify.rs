//! In-process wake-ups for jobs reaching a final state (or `unknown`).
//!
//! Long-polls subscribe to one job and are woken when it may have changed;
//! the webhook worker watches a counter of all changes. Signals come from
//! the store after a commit (this process) and from Postgres `NOTIFY`
//! (every replica). A signal means "look again", never "it is final": the
//! subscriber re-reads the job, so a spurious wake costs one read and a
//! lost one costs only latency up to the caller's timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::types::JobId;

/// Wakes subscribers of jobs. Cheap to share; one per store.
#[derive(Debug)]
pub struct JobNotifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    jobs: Mutex<HashMap<JobId, watch::Sender<u64>>>,
    any: watch::Sender<u64>,
    closed: watch::Sender<bool>,
}

impl Inner {
    fn jobs(&self) -> MutexGuard<'_, HashMap<JobId, watch::Sender<u64>>> {
        // A panic while holding the lock leaves the map consistent (every
        // operation on it is a single insert, remove or lookup).
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for JobNotifier {
    fn default() -> Self {
        JobNotifier {
            inner: Arc::new(Inner {
                jobs: Mutex::new(HashMap::new()),
                any: watch::channel(0).0,
                closed: watch::channel(false).0,
            }),
        }
    }
}

impl JobNotifier {
    /// A notifier with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes to `job`. Subscribe *before* reading the job's state:
    /// any signal after this call wakes [`JobSubscription::changed`], so a
    /// transition between the read and the wait is not missed.
    pub fn subscribe(&self, job: JobId) -> JobSubscription {
        let rx = self.inner.jobs().entry(job).or_insert_with(|| watch::channel(0).0).subscribe();
        JobSubscription { job, rx: Some(rx), closed: self.inner.closed.subscribe(), inner: self.inner.clone() }
    }

    /// `job` may have changed (a Postgres notification names it).
    pub fn notify(&self, job: JobId) {
        if let Some(tx) = self.inner.jobs().get(&job) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
        self.bump_any();
    }

    /// Some jobs may have reached a final state; which ones is not known
    /// (a dependency cascade, a sweep of lapsed leases). Wakes every
    /// subscriber to look again.
    pub fn notify_all(&self) {
        for tx in self.inner.jobs().values() {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
        self.bump_any();
    }

    fn bump_any(&self) {
        self.inner.any.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever any job may have changed (the
    /// webhook worker waits on it for new outbox rows).
    pub fn any_change(&self) -> watch::Receiver<u64> {
        self.inner.any.subscribe()
    }

    /// Ends every wait now and every later one at once (server shutdown:
    /// long-polls answer with the job as it is instead of holding the
    /// graceful shutdown up).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Jobs with at least one subscriber (for tests and metrics).
    pub fn watched(&self) -> usize {
        self.inner.jobs().len()
    }
}

/// A subscription to one job; dropping it unsubscribes (the entry for the
/// job goes when its last subscriber does, so waits leave nothing behind).
#[derive(Debug)]
pub struct JobSubscription {
    job: JobId,
    rx: Option<watch::Receiver<u64>>,
    closed: watch::Receiver<bool>,
    inner: Arc<Inner>,
}

impl JobSubscription {
    /// Resolves at the next signal for this job since the subscription (or
    /// the last `changed`), or when the notifier closes. Returns false once
    /// closed: the caller should stop waiting.
    pub async fn changed(&mut self) -> bool {
        if *self.closed.borrow() {
            return false;
        }
        let Some(rx) = self.rx.as_mut() else { return false };
        tokio::select! {
            r = rx.changed() => r.is_ok(),
            _ = self.closed.wait_for(|c| *c) => false,
        }
    }
}

impl Drop for JobSubscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut jobs = self.inner.jobs();
        if jobs.get(&self.job).is_some_and(|tx| tx.receiver_count() == 0) {
            jobs.remove(&self.job);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_signal_after_subscribing_is_seen_even_before_waiting() {
        let n = JobNotifier::new();
        let job = JobId::new();
        let mut sub = n.subscribe(job);
        n.notify(job);
        let woke = tokio::time::timeout(Duration::from_secs(1), sub.changed()).await;
        assert_eq!(woke.ok(), Some(true));
    }

    #[tokio::test]
    async fn signals_for_other_jobs_do_not_wake_but_notify_all_does() {
        let n = JobNotifier::new();
        let job = JobId::new();
        let mut sub = n.subscribe(job);
        n.notify(JobId::new());
        assert!(tokio::time::timeout(Duration::from_millis(50), sub.changed()).await.is_err());
        n.notify_all();
        assert!(tokio::time::timeout(Duration::from_secs(1), sub.changed()).await.is_ok());
    }

    #[tokio::test]
    async fn dropping_the_last_subscription_leaves_nothing_behind() {
        let n = JobNotifier::new();
        let job = JobId::new();
        let a = n.subscribe(job);
        let b = n.subscribe(job);
        assert_eq!(n.watched(), 1);
        drop(a);
        assert_eq!(n.watched(), 1);
        drop(b);
        assert_eq!(n.watched(), 0);
    }

    #[tokio::test]
    async fn closing_ends_current_and_later_waits() {
        let n = JobNotifier::new();
        let mut sub = n.subscribe(JobId::new());
        let waiter = tokio::spawn(async move { sub.changed().await });
        n.close();
        assert!(!tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap().unwrap());
        let mut later = n.subscribe(JobId::new());
        assert!(!later.changed().await);
    }
}
