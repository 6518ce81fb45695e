//! `?wait=SECONDS`: holding a request until its job settles.
//!
//! Woken by the completion itself, never by polling: the handler subscribes
//! to the job in the store's [`JobNotifier`](crate::store::JobNotifier)
//! (signalled after this process commits, and by Postgres `NOTIFY` from
//! every replica), then reads the job, then sleeps until a signal or the
//! deadline, and reads again.

use std::time::Duration;

use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiError;
use crate::app::AppState;
use crate::queue::Job;

/// `?wait=SECONDS`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Hold the request up to this many seconds (capped by
    /// `api_max_wait_seconds`) until the job is done, failed, cancelled or
    /// unknown; then answer with the job as it is. 0 or absent: at once.
    pub wait: Option<u64>,
}

/// Holds until `job` settles or `wait` seconds pass; returns the job as it
/// is then.
///
/// # Errors
/// When the job cannot be read back.
pub async fn wait_for(state: &AppState, job: Job, wait: Option<u64>) -> Result<Job, ApiError> {
    let secs = wait.unwrap_or(0).min(state.settings.api_max_wait_seconds);
    if secs == 0 || job.state.is_settled() {
        return Ok(job);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    // Subscribe first, then read: a completion between the two is either
    // seen by the read or signals the subscription.
    let mut sub = state.store.notifier().subscribe(job.id);
    let mut job = reload(state, &job).await?;
    while !job.state.is_settled() {
        let woken = tokio::time::timeout_at(deadline, sub.changed()).await;
        // Read once more at the deadline too, so a lost signal costs only time.
        job = reload(state, &job).await?;
        if !matches!(woken, Ok(true)) {
            break;
        }
    }
    Ok(job)
}

async fn reload(state: &AppState, job: &Job) -> Result<Job, ApiError> {
    state.store.job(job.id).await?.ok_or_else(|| ApiError::not_found(format!("job {}", job.id)))
}
