//! The calls of a Web Connector exchange, each composed of the session and
//! job statements it needs. On SQLite each is one task on the writer thread
//! (one hand-off and at most one commit per SOAP call); on Postgres the
//! same calls run one after another on the pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use sqlx::PgConnection;

use super::jobs::{
    complete_counted_pg, complete_lite, durable_claim, new_message_set_id, DEPTH_AT_MOST, LEASED, NEXT_POSTGRES,
    NEXT_SQLITE,
};
use super::lite::{Sql, Ts};
use super::sessions::{touch_lite, touch_pg, SESSION_BY_TICKET};
use super::{by_backend, SqlStore};
use crate::queue::{Completion, Job, JobState, Lease};
use crate::store::{AcceptsJob, AnswerCompletion, AnswerStart, ExchangeStore, NextJob, Result, SendStart, Session};
use crate::types::TicketHash;

/// Whether a `sendRequestXML` is its session's first call (see
/// [`SendStart::FirstCall`]).
fn first_call(session: &Session, hcp_given: bool) -> bool {
    hcp_given || session.company_file_name.is_none()
}

/// [`ExchangeStore::next_job`] on the SQLite writer.
fn next_lite(
    c: &Connection,
    company_id: i64,
    ticket: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    message_set_id: &str,
) -> Result<Option<NextJob>> {
    let next = c.opt::<Job>(&NEXT_SQLITE, &[&company_id, &ticket, &Ts(lease_until), &Ts(now), &message_set_id])?;
    // A recovery check re-sends nothing QuickBooks could apply twice; a
    // claimed write must be on disk first.
    let next = match next {
        Some(job) if !job.recovering => durable_claim(Some(job)),
        other => other,
    };
    if let Some(job) = next {
        return Ok(Some(recovered_or_claimed(job)));
    }
    Ok(continuing(c.opt::<Job>(&LEASED, &[&ticket])?))
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

/// [`ExchangeStore::next_job`] on one Postgres connection.
async fn next_pg(
    conn: &mut PgConnection,
    company_id: i64,
    ticket: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    message_set_id: &str,
) -> Result<Option<NextJob>> {
    let next: Option<Job> = sqlx::query_as(&NEXT_POSTGRES)
        .bind(company_id)
        .bind(ticket)
        .bind(lease_until)
        .bind(now)
        .bind(message_set_id)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(job) = next {
        return Ok(Some(recovered_or_claimed(job)));
    }
    Ok(continuing(sqlx::query_as(&LEASED).bind(ticket).fetch_optional(&mut *conn).await?))
}

/// [`ExchangeStore::start_answer`] on the SQLite writer.
fn answer_start_lite(
    c: &Connection,
    hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<AnswerStart>> {
    let (session, live) = match touch_lite(c, hash, now, expires_at)? {
        Some(s) => (s, true),
        None => match c.opt::<Session>(&SESSION_BY_TICKET, &[&hash])? {
            Some(s) => (s, false),
            None => return Ok(None),
        },
    };
    let job = c.opt::<Job>(&LEASED, &[&hash])?;
    Ok(Some(AnswerStart { session, live, job }))
}

/// [`ExchangeStore::start_answer`] on one Postgres connection.
async fn answer_start_pg(
    conn: &mut PgConnection,
    hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<AnswerStart>> {
    let (session, live) = match touch_pg(conn, hash, now, expires_at).await? {
        Some(s) => (s, true),
        None => match sqlx::query_as(&SESSION_BY_TICKET).bind(hash).fetch_optional(&mut *conn).await? {
            Some(s) => (s, false),
            None => return Ok(None),
        },
    };
    let job = sqlx::query_as(&LEASED).bind(hash).fetch_optional(&mut *conn).await?;
    Ok(Some(AnswerStart { session, live, job }))
}

// On Postgres each call takes one connection from the pool for all its
// statements, one acquire (and, for a connection that sat idle, one ping)
// per call rather than per statement.
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
        let message_set_id = new_message_set_id();
        by_backend!(self, |c| next_lite(c, company_id, &hash, now, lease_until, &message_set_id), |p| {
            let mut conn = p.acquire().await?;
            next_pg(&mut conn, company_id, &hash, now, lease_until, &message_set_id).await
        })
    }

    async fn start_send(
        &self,
        ticket: &TicketHash,
        hcp_given: bool,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SendStart>> {
        let hash = ticket.0.clone();
        let message_set_id = new_message_set_id();
        by_backend!(
            self,
            |c| {
                let Some(session) = touch_lite(c, &hash, now, expires_at)? else {
                    return Ok(None);
                };
                if first_call(&session, hcp_given) {
                    return Ok(Some(SendStart::FirstCall(session)));
                }
                let next = next_lite(c, session.company_id, &hash, now, lease_until, &message_set_id)?;
                Ok(Some(SendStart::Ready { session, next }))
            },
            |p| {
                let mut conn = p.acquire().await?;
                let touched = touch_pg(&mut conn, &hash, now, expires_at).await?;
                let Some(session) = touched else {
                    return Ok(None);
                };
                if first_call(&session, hcp_given) {
                    return Ok(Some(SendStart::FirstCall(session)));
                }
                let next = next_pg(&mut conn, session.company_id, &hash, now, lease_until, &message_set_id).await?;
                Ok(Some(SendStart::Ready { session, next }))
            }
        )
    }

    async fn start_answer(
        &self,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<AnswerStart>> {
        let hash = ticket.0.clone();
        by_backend!(self, |c| answer_start_lite(c, &hash, now, expires_at), |p| {
            let mut conn = p.acquire().await?;
            answer_start_pg(&mut conn, &hash, now, expires_at).await
        })
    }

    async fn answer(
        &self,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        completion: Completion,
        accepts: AcceptsJob,
        cap: i64,
    ) -> Result<Option<AnswerCompletion>> {
        let hash = ticket.0.clone();
        let settles = completion.state.is_settled();
        let answered = by_backend!(
            self,
            |c| {
                let Some(start) = answer_start_lite(c, &hash, now, expires_at)? else {
                    return Ok(None);
                };
                let Some(lease) = start.job.as_ref().filter(|j| accepts(j)).and_then(Job::lease) else {
                    return Ok(Some(AnswerCompletion::Declined { start, completion }));
                };
                let company_id = start.session.company_id;
                let remaining = match complete_lite(c, &lease, completion, now)? {
                    true => Some(c.one::<i64>(&DEPTH_AT_MOST, &[&company_id, &Ts(now), &cap])?.min(cap)),
                    false => None,
                };
                Ok(Some(AnswerCompletion::Completed { start, remaining }))
            },
            |p| {
                let mut conn = p.acquire().await?;
                let Some(start) = answer_start_pg(&mut conn, &hash, now, expires_at).await? else {
                    return Ok(None);
                };
                let Some(lease) = start.job.as_ref().filter(|j| accepts(j)).and_then(Job::lease) else {
                    return Ok(Some(AnswerCompletion::Declined { start, completion }));
                };
                let company_id = start.session.company_id;
                let remaining = complete_counted_pg(&mut conn, &lease, completion, now, company_id, cap).await?;
                Ok(Some(AnswerCompletion::Completed { start, remaining: remaining.map(|n| n.min(cap)) }))
            }
        )?;
        if settles && matches!(answered, Some(AnswerCompletion::Completed { remaining: Some(_), .. })) {
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
        let settled = completion.state.is_settled();
        let owned = lease.clone();
        let count = by_backend!(
            self,
            |c| {
                if !complete_lite(c, &owned, completion, now)? {
                    return Ok(None);
                }
                c.one::<i64>(&DEPTH_AT_MOST, &[&company_id, &Ts(now), &cap]).map(Some)
            },
            |p| {
                let mut conn = p.acquire().await?;
                complete_counted_pg(&mut conn, &owned, completion, now, company_id, cap).await
            }
        )?;
        if settled && count.is_some() {
            self.notifier.notify_all();
        }
        Ok(count.map(|n| n.min(cap)))
    }
}
