//! The job queue: enqueue, claim, complete, release, operator actions.

mod claim;
mod complete;
mod depth;
mod enqueue;
mod release;

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub(super) use claim::{claim, Claim, LEASED};
pub(super) use complete::{complete, CompleteCounted};
pub(super) use depth::DEPTH_AT_MOST;
pub(super) use release::{release_ticket, settle_dependents, RELEASE_BY_TICKET, RELEASE_BY_USER, RELEASE_LAPSED};
#[cfg(test)]
pub(super) use {
    claim::{CLAIM_SQLITE, NEXT_SQLITE},
    complete::COMPLETE,
    release::{FAIL_DEPENDENTS, RELEASE_DEPENDENTS},
};

use super::args::{args, Arg};
use super::call::{atomic, sequence, Statements};
use super::SqlStore;
use crate::qbxml::RequestStatus;
use crate::queue::{Completion, Enqueued, Job, JobFilter, JobState, Lease, NewJob, Page};
use crate::store::{JobStore, Result, StoreError};
use crate::types::{JobId, TicketHash};

/// Every column of `job`, in the order of [`Job`]'s fields.
const COLS: &str = "id, seq, company_id, state, kind, priority, request, qbxml_version, on_error, request_names, \
                    attempt, max_attempts, ticket_hash, lease_expires_at, response, statuses, diagnostic, error, \
                    idempotency_key, webhook_url, hold_reason, iterates, iterator_id, message_set_id, recovering, \
                    old_message_set_id, submission_hash, sent_by, created_at, updated_at, sent_at, completed_at";

/// A job by id (`$1`).
static BY_ID: LazyLock<String> = LazyLock::new(|| format!("select {COLS} from job where id = $1"));

/// A company's jobs, newest first, older than `$3`, optionally in state
/// `$2`: walks `job_company_seq` backwards from the cursor. `$1` company.
pub(super) static LIST_COMPANY_JOBS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select {COLS} from job where company_id = $1 and seq < $3 and ($2 is null or state = $2) \
         order by seq desc limit $4"
    )
});
/// Every company's jobs, newest first: walks the primary key backwards.
/// `$1` is unused (kept so both listings bind alike).
pub(super) static LIST_JOBS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select {COLS} from job where ($1 = $1) and seq < $3 and ($2 is null or state = $2) \
         order by seq desc limit $4"
    )
});

/// Records an iterator's page, fenced like a completion: `$1` id, `$2`
/// attempt, `$3` ticket hash, `$4` iterator id, `$5` lease end, `$6` now.
const HOLD_FOR_PAGE: &str = "update job set iterator_id = $4, lease_expires_at = $5, updated_at = $6 \
    where id = $1 and attempt = $2 and ticket_hash = $3 and state = 'sent'";
const ADD_PAGE: &str = "insert into job_page (job_id, attempt, page, response, statuses, created_at) \
    values ($1, $2, (select coalesce(max(page), 0) + 1 from job_page where job_id = $1 and attempt = $2), \
    $3, $4, $5)";
const SESSION_WORKED: &str = "update session set last_work_at = $2 where ticket_hash = $1";

fn not_allowed(job: &Job, action: &str, allowed: &str) -> StoreError {
    let hint = if job.state == JobState::Unknown {
        " An unknown write may already be in QuickBooks: check there, then use `qbwcd jobs resolve ID --applied` or `--not-applied`."
    } else {
        ""
    };
    StoreError::Conflict(format!("job {} is {}; only {allowed} jobs can be {action}.{hint}", job.id, job.state))
}

#[async_trait]
impl JobStore for SqlStore {
    async fn enqueue(&self, new: NewJob) -> Result<Enqueued> {
        let (id, company_id, key) = (new.id, new.company_id, new.idempotency_key.clone());
        let existing = match atomic!(self, |tx| enqueue::insert(tx, new).await) {
            // Raced with an identical submission: return the winner.
            Err(StoreError::Conflict(_)) if key.is_some() => {
                Some(self.one(enqueue::BY_KEY.as_str(), args![company_id, key]).await?)
            }
            other => other?,
        };
        if let Some(job) = existing {
            return Ok(Enqueued::Existing(job));
        }
        let job = self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        if job.state.is_final() {
            // Born failed (a dependency had failed): its webhook is due now.
            self.notifier.notify(job.id);
        }
        Ok(Enqueued::Created(job))
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>> {
        self.opt(BY_ID.as_str(), args![id]).await
    }

    async fn list_jobs(&self, f: &JobFilter) -> Result<Vec<Job>> {
        let sql = if f.company_id.is_some() { &LIST_COMPANY_JOBS } else { &LIST_JOBS };
        let state = f.state.map(|s| s.as_str());
        let limit = f.limit.unwrap_or(100).clamp(1, 1000);
        let (company_id, before) = (f.company_id.unwrap_or(0), f.before_seq.unwrap_or(i64::MAX));
        // A filter on a rare state may walk much of the history.
        self.read_all(sql.as_str(), args![company_id, state, before, limit]).await
    }

    async fn claim_next(
        &self,
        company_id: i64,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>> {
        let ticket = ticket.0.clone();
        sequence!(self, |tx| claim(tx, Claim::Queued, company_id, &ticket, now, lease_until).await)
    }

    async fn answered_message_set(&self, user_id: i64, message_set_id: &str) -> Result {
        let sql = "update app_user set last_message_set_id = $2 where id = $1";
        self.exec(sql, args![user_id, message_set_id]).await?;
        Ok(())
    }

    async fn awaited_sender(&self, company_id: i64, user_id: i64) -> Result<Option<String>> {
        self.opt(claim::AWAITED_SENDER, args![company_id, user_id]).await
    }

    async fn hold_unchecked_writes(&self, sent_before: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<Job>> {
        self.all(claim::HOLD_UNCHECKED.as_str(), args![sent_before, now]).await
    }

    async fn complete_job(&self, lease: &Lease, completion: Completion, now: DateTime<Utc>) -> Result<bool> {
        let settled = completion.state.is_settled();
        let lease = lease.clone();
        let completed = atomic!(self, |tx| complete(tx, &lease, completion, now).await)?;
        if !completed {
            return Ok(false);
        }
        if settled {
            self.notifier.notify_all();
        }
        Ok(true)
    }

    async fn record_page(
        &self,
        lease: &Lease,
        response: &str,
        statuses: &[RequestStatus],
        iterator_id: Option<&str>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        // Only the session holding this attempt may add pages, and the
        // iterator id it must continue is recorded with the page.
        let Lease { job_id, attempt, ticket_hash } = lease.clone();
        let hold = args![job_id, attempt, &ticket_hash.0, iterator_id, lease_until, now];
        let page = args![job_id, attempt, response, Arg::json(statuses)?, now];
        atomic!(self, |tx| {
            if tx.exec(HOLD_FOR_PAGE, hold).await? == 0 {
                return Ok(false);
            }
            tx.exec(ADD_PAGE, page).await?;
            tx.exec(SESSION_WORKED, args![ticket_hash.0, now]).await?;
            Ok(true)
        })
    }

    async fn pages(&self, id: JobId, attempt: i32) -> Result<Vec<Page>> {
        let sql = "select attempt, page, response, statuses, created_at from job_page \
                   where job_id = $1 and attempt = $2 order by page";
        self.all(sql, args![id, attempt]).await
    }

    async fn page_count(&self, id: JobId, attempt: i32) -> Result<i64> {
        self.one("select count(*) from job_page where job_id = $1 and attempt = $2", args![id, attempt]).await
    }

    async fn release_leases(&self, ticket: &TicketHash, now: DateTime<Utc>) -> Result<u64> {
        let ticket = ticket.0.clone();
        let released = atomic!(self, |tx| release_ticket(tx, &ticket, now).await)?;
        if released > 0 {
            self.notifier.notify_all();
        }
        Ok(released)
    }

    async fn queue_depth(&self, company_id: i64, now: DateTime<Utc>) -> Result<i64> {
        // Uncapped: every part counts its whole index range.
        self.queue_depth_at_most(company_id, now, i64::MAX).await
    }

    async fn queue_depth_at_most(&self, company_id: i64, now: DateTime<Utc>, cap: i64) -> Result<i64> {
        let count: i64 = self.one(DEPTH_AT_MOST.as_str(), args![company_id, now, cap]).await?;
        Ok(count.min(cap))
    }

    async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> Result<Job> {
        let job = self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        if !job.state.can_retry() {
            return Err(not_allowed(&job, "retried", "failed or cancelled"));
        }
        // Held while any dependency is not done; RELEASE_DEPENDENTS queues it.
        let sql = "update job set state = 'held', hold_reason = 'dependencies', attempt = 0, ticket_hash = null, \
                   lease_expires_at = null, response = null, statuses = '[]', diagnostic = null, error = null, \
                   completed_at = null, updated_at = $2 where id = $1 and state in ('failed', 'cancelled')";
        self.transition(id, now, sql).await
    }

    async fn cancel_job(&self, id: JobId, now: DateTime<Utc>) -> Result<Job> {
        let job = self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        if !job.state.can_cancel() {
            return Err(not_allowed(&job, "cancelled", "queued or held"));
        }
        let sql = "update job set state = 'cancelled', hold_reason = null, completed_at = $2, updated_at = $2 \
                   where id = $1 and state in ('queued', 'held')";
        self.transition(id, now, sql).await
    }

    async fn resolve_job(&self, id: JobId, applied: bool, now: DateTime<Utc>) -> Result<Job> {
        let job = self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        if !job.awaits_verdict() {
            return Err(not_allowed(&job, "resolved", "unknown (or held for an operator)"));
        }
        // The verdict replaces error recovery: the old message-set id is
        // dropped so the job is not checked again.
        let sql = if applied {
            "update job set state = 'done', diagnostic = null, hold_reason = null, message_set_id = null, \
             error = 'resolved by an operator: applied in QuickBooks', completed_at = $2, updated_at = $2 \
             where id = $1 and (state = 'unknown' or (state = 'held' and hold_reason = 'operator'))"
        } else {
            "update job set state = 'queued', ticket_hash = null, diagnostic = null, hold_reason = null, \
             message_set_id = null, error = 'resolved by an operator: not applied in QuickBooks; queued again', \
             updated_at = $2 where id = $1 and (state = 'unknown' or (state = 'held' and hold_reason = 'operator'))"
        };
        self.transition(id, now, sql).await
    }

    async fn company_job_counts(&self, company_id: i64) -> Result<Vec<(String, i64)>> {
        let sql = "select state, count(*) from job where company_id = $1 group by state order by state";
        self.all(sql, args![company_id]).await
    }
}

impl SqlStore {
    /// Runs one state-guarded update (`$1` id, `$2` now) and settles
    /// dependents, in one transaction. Zero rows means the job changed state
    /// since it was read: a conflict, never a silent no-op.
    async fn transition(&self, id: JobId, now: DateTime<Utc>, sql: &'static str) -> Result<Job> {
        atomic!(self, |tx| {
            if tx.exec(sql, args![id, now]).await? == 0 {
                return Err(StoreError::Conflict(format!("job {id} changed state meanwhile; try again")));
            }
            settle_dependents(tx, now).await
        })?;
        self.notifier.notify_all();
        self.job(id).await?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))
    }
}
