//! Turning submitted qbXML into a queued job (shared by the CLI and API).

use chrono::{DateTime, Utc};

use super::{Enqueued, JobKind, NewJob};
use crate::qbxml::{parse_submission, QbxmlError};
use crate::store::{Company, Store, StoreError};
use crate::types::JobId;

/// Options of a submission.
#[derive(Clone, Debug, Default)]
pub struct SubmitOptions {
    /// Higher runs first (default 0).
    pub priority: i32,
    /// Unique per company: a repeat returns the existing job.
    pub idempotency_key: Option<String>,
    /// Jobs of the same company that must be done first.
    pub depends_on: Vec<JobId>,
    /// Where to POST the final state.
    pub webhook_url: Option<String>,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Larger than `job_max_bytes`.
    #[error("the qbXML is {size} bytes; the limit is {limit} bytes (job_max_bytes)")]
    TooLarge {
        /// Submitted size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A character XML 1.0 cannot carry (QuickBooks would refuse it).
    #[error("the qbXML contains a control character (U+{0:04X}) that XML cannot carry")]
    ControlCharacter(u32),
    /// An idempotency key longer than 200 characters or empty.
    #[error("idempotency_key must be 1 to 200 characters")]
    BadIdempotencyKey,
    /// Not acceptable qbXML.
    #[error("invalid qbXML: {0}")]
    Invalid(#[from] QbxmlError),
    /// The store refused (unknown dependency) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates `qbxml` and enqueues it for `company`.
///
/// # Errors
/// [`SubmitError`] describing what to change.
pub async fn submit(
    store: &dyn Store,
    company: &Company,
    qbxml: &str,
    opts: SubmitOptions,
    max_bytes: usize,
    max_attempts: i32,
    now: DateTime<Utc>,
) -> Result<Enqueued, SubmitError> {
    if qbxml.len() > max_bytes {
        return Err(SubmitError::TooLarge { size: qbxml.len(), limit: max_bytes });
    }
    if let Some(c) = qbxml.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(SubmitError::ControlCharacter(c as u32));
    }
    if opts.idempotency_key.as_ref().is_some_and(|k| k.is_empty() || k.chars().count() > 200) {
        return Err(SubmitError::BadIdempotencyKey);
    }
    let sub = parse_submission(qbxml)?;
    let kind = if sub.is_read_only() { JobKind::Read } else { JobKind::Write };
    let job = NewJob {
        id: JobId::new(),
        company_id: company.id,
        request: sub.body,
        qbxml_version: sub.version,
        on_error: sub.on_error,
        request_names: sub.request_names,
        kind,
        priority: opts.priority,
        max_attempts: max_attempts.max(1),
        idempotency_key: opts.idempotency_key,
        depends_on: opts.depends_on,
        webhook_url: opts.webhook_url,
        iterates: sub.starts_iterator,
        now,
    };
    Ok(store.enqueue(job).await?)
}
