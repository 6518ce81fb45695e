//! Turning submitted qbXML into a queued job (shared by the CLI and API):
//! the parsing of `qbxml` and the rules of `queue`, stored through `store`.

use chrono::{DateTime, Utc};

use crate::qbxml::convert::{check_requests, SchemaInvalid};
use crate::qbxml::{parse_submission, parse_submission_tree, OnError, QbxmlError, Schema, Version};
use crate::queue::{Enqueued, JobKind, NewJob};
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
    /// Queue the requests without checking them against the qbXML schema
    /// (`"validate": false`): for request types or elements the compiled
    /// schemas lack. JSON requests set it too, having been checked as they
    /// were built.
    pub skip_validation: bool,
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
    /// An idempotency key longer than 200 characters or empty.
    #[error("idempotency_key must be 1 to 200 characters")]
    BadIdempotencyKey,
    /// The idempotency key was used before for a different submission.
    #[error(
        "idempotency_key {key:?} was already used for job {existing} with a different body; \
         use a new key for new work, or repeat the original body to get that job"
    )]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// The job that has it.
        existing: JobId,
    },
    /// Not acceptable qbXML.
    #[error("invalid qbXML: {0}")]
    Invalid(#[from] QbxmlError),
    /// Well-formed qbXML that the schema of the company's qbXML version
    /// refuses: every problem, with its path.
    #[error("the qbXML does not match the schema: {0}")]
    Schema(#[from] SchemaInvalid),
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
    if opts.idempotency_key.as_ref().is_some_and(|k| k.is_empty() || k.chars().count() > 200) {
        return Err(SubmitError::BadIdempotencyKey);
    }
    let sub = if opts.skip_validation {
        parse_submission(qbxml)?
    } else {
        // One pass gives the submission and the trees the schema checks.
        let (sub, requests) = parse_submission_tree(qbxml)?;
        let reported = reported_version(company);
        check_requests(Schema::for_version(reported), reported, &requests)?;
        sub
    };
    let kind = if sub.is_read_only() { JobKind::Read } else { JobKind::Write };
    let hash = opts.idempotency_key.as_ref().map(|_| {
        submission_hash(
            &sub.body,
            sub.version,
            sub.on_error,
            opts.priority,
            &opts.depends_on,
            opts.webhook_url.as_deref(),
        )
    });
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
        submission_hash: hash.clone(),
        depends_on: opts.depends_on,
        webhook_url: opts.webhook_url,
        iterates: sub.starts_iterator,
        now,
    };
    let enqueued = store.enqueue(job).await?;
    if let (Enqueued::Existing(existing), Some(hash)) = (&enqueued, &hash) {
        // A job queued before hashes were kept has none: it is answered as
        // before, since there is nothing to compare.
        if existing.submission_hash.as_ref().is_some_and(|h| h != hash) {
            return Err(SubmitError::IdempotencyConflict {
                key: existing.idempotency_key.clone().unwrap_or_default(),
                existing: existing.id,
            });
        }
    }
    Ok(enqueued)
}

/// The highest qbXML version the company's QuickBooks reported, if any
/// session has told it (an unreadable record counts as none).
pub fn reported_version(company: &Company) -> Option<Version> {
    company.qbxml_version.as_deref().and_then(|v| Version::parse(v).ok())
}

/// What makes two submissions with one idempotency key "the same": the
/// `…Rq` elements as parsed (so a whole document and its bare elements,
/// or the same elements with other whitespace between them, agree), the
/// qbXML version and `onError` asked for, the priority, the dependencies
/// as a set, and the webhook URL. Hex SHA-256, fields length-prefixed so
/// no two submissions share an encoding.
pub fn submission_hash(
    body: &str,
    version: Option<Version>,
    on_error: OnError,
    priority: i32,
    depends_on: &[JobId],
    webhook_url: Option<&str>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut deps: Vec<String> = depends_on.iter().map(ToString::to_string).collect();
    deps.sort();
    deps.dedup();
    let version = version.map(|v| v.to_string()).unwrap_or_default();
    let priority = priority.to_string();
    let mut h = Sha256::new();
    let fields: [&str; 6] =
        [body.trim(), &version, on_error.as_str(), &priority, &deps.join(","), webhook_url.unwrap_or("\u{0}none")];
    for f in fields {
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_the_body_and_treats_dependencies_as_a_set() {
        let (a, b) = (JobId::new(), JobId::new());
        let h = |body: &str, p: i32, deps: &[JobId], hook: Option<&str>| {
            submission_hash(body, None, OnError::Stop, p, deps, hook)
        };
        let base = h("<ARq/>", 0, &[a, b], None);
        assert_eq!(base, h(" <ARq/>\n", 0, &[b, a, a], None));
        assert_ne!(base, h("<BRq/>", 0, &[a, b], None));
        assert_ne!(base, h("<ARq/>", 1, &[a, b], None));
        assert_ne!(base, h("<ARq/>", 0, &[a], None));
        assert_ne!(base, h("<ARq/>", 0, &[a, b], Some("https://x")));
        assert_ne!(base, submission_hash("<ARq/>", None, OnError::Continue, 0, &[a, b], None));
        assert_ne!(base, submission_hash("<ARq/>", Some(Version::new(13, 0)), OnError::Stop, 0, &[a, b], None));
    }
}
