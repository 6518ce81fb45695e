//! The calls of a Web Connector exchange, each composed of the session and
//! job statements it needs. On SQLite each is one task on the writer thread
//! (one hand-off and at most one commit per SOAP call); on Postgres the
//! same calls run one statement after another on one connection (see
//! [`sequence!`](super::call::sequence)): each write is a single statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::args::args;
use super::call::{sequence, Statements};
use super::jobs::{claim, Claim, CompleteCounted, LEASED};
use super::sessions::{touch, SESSION_BY_TICKET};
use super::SqlStore;
use crate::queue::{Completion, Job, JobState, Lease};
use crate::store::{AcceptsJob, AnswerStart, Answered, ExchangeStore, NextJob, Result, SendStart, Session};
use crate::types::TicketHash;

/// [`ExchangeStore::next_job`] on a call's connection.
async fn next(
    tx: &mut impl Statements,
    company_id: i64,
    ticket: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<NextJob>> {
    if let Some(job) = claim(tx, Claim::Next, company_id, ticket, now, lease_until).await? {
        return Ok(Some(recovered_or_claimed(job)));
    }
    Ok(continuing(tx.opt::<Job>(&LEASED, args![ticket]).await?))
}

/// After a claim found nothing: the iterator under way that made it give
/// way, if that is why.
fn continuing(leased: Option<Job>) -> Option<NextJob> {
    leased.filter(|job| job.state == JobState::Sent && job.iterator_id.is_some()).map(NextJob::Continue)
}

/// What the combined claim found: a lost write to check, or new work.
fn recovered_or_claimed(job: Job) -> NextJob {
    if job.recovering {
        NextJob::Recover(job)
    } else {
        NextJob::Claimed(job)
    }
}

/// [`ExchangeStore::start_answer`] on a call's connection.
async fn answer_start(
    tx: &mut impl Statements,
    hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<AnswerStart>> {
    let (session, live) = match touch(tx, hash, now, expires_at).await? {
        Some(s) => (s, true),
        None => match tx.opt::<Session>(&SESSION_BY_TICKET, args![hash]).await? {
            Some(s) => (s, false),
            None => return Ok(None),
        },
    };
    let job = tx.opt::<Job>(&LEASED, args![hash]).await?;
    Ok(Some(AnswerStart { session, live, job }))
}

#[async_trait]
impl ExchangeStore for SqlStore {
    async fn next_job(
        &self,
        company_id: i64,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<NextJob>> {
        let hash = ticket.0.clone();
        sequence!(self, |tx| next(tx, company_id, &hash, now, lease_until).await)
    }

    async fn start_send(
        &self,
        ticket: &TicketHash,
        look: bool,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SendStart>> {
        let hash = ticket.0.clone();
        sequence!(self, |tx| {
            let Some(session) = touch(tx, &hash, now, expires_at).await? else {
                return Ok(None);
            };
            let looked = look && session.company_file_name.is_some();
            let next = match looked {
                true => next(tx, session.company_id, &hash, now, lease_until).await?,
                false => None,
            };
            Ok(Some(SendStart { session, next, looked }))
        })
    }

    async fn start_answer(
        &self,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<AnswerStart>> {
        let hash = ticket.0.clone();
        sequence!(self, |tx| answer_start(tx, &hash, now, expires_at).await)
    }

    async fn answer(
        &self,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        completion: Completion,
        accepts: AcceptsJob,
        cap: i64,
    ) -> Result<Option<Answered>> {
        let hash = ticket.0.clone();
        let settles = completion.state.is_final() || completion.state == JobState::Unknown;
        let answered = sequence!(self, |tx| {
            let Some(start) = answer_start(tx, &hash, now, expires_at).await? else {
                return Ok(None);
            };
            let Some(lease) = start.job.as_ref().filter(|j| accepts(j)).and_then(Job::lease) else {
                return Ok(Some(Answered::Declined { start, completion }));
            };
            let company_id = start.session.company_id;
            let remaining = tx.complete_counted(&lease, completion, now, company_id, cap).await?;
            Ok(Some(Answered::Completed { start, remaining: remaining.map(|n| n.min(cap)) }))
        })?;
        if settles && matches!(answered, Some(Answered::Completed { remaining: Some(_), .. })) {
            self.notifier.notify_all();
        }
        Ok(answered)
    }

    async fn complete_and_count(
        &self,
        lease: &Lease,
        completion: Completion,
        now: DateTime<Utc>,
        company_id: i64,
        cap: i64,
    ) -> Result<Option<i64>> {
        let settled = completion.state.is_final() || completion.state == JobState::Unknown;
        let lease = lease.clone();
        let count = sequence!(self, |tx| tx.complete_counted(&lease, completion, now, company_id, cap).await)?;
        if settled && count.is_some() {
            self.notifier.notify_all();
        }
        Ok(count.map(|n| n.min(cap)))
    }
}
