//! The calls of a Web Connector exchange, each composed of the session and
//! job statements it needs. On SQLite each is one task on the writer thread
//! (one hand-off and at most one commit per SOAP call); on Postgres the
//! same calls run one after another on the pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::jobs::{complete_lite, new_message_set_id, CLAIM_SQLITE, DEPTH_AT_MOST, LEASED, RECOVER_SQLITE};
use super::lite::{Sql, Ts};
use super::sessions::{SESSION_BY_TICKET, TOUCH_LIVE};
use super::{by_backend, SqlStore};
use crate::queue::{Completion, Job, JobState, Lease};
use crate::store::{AnswerStart, ExchangeStore, JobStore, NextJob, Result, SendStart, Session, SessionStore};
use crate::types::TicketHash;

/// [`ExchangeStore::next_job`] on the SQLite writer.
fn next_lite(
    c: &Connection,
    company_id: i64,
    ticket: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    message_set_id: &str,
) -> Result<Option<NextJob>> {
    if let Some(job) = c.opt::<Job>(&LEASED, &[&ticket])? {
        if job.state == JobState::Sent && job.iterator_id.is_some() {
            return Ok(Some(NextJob::Continue(job)));
        }
    }
    if let Some(job) = c.opt::<Job>(&RECOVER_SQLITE, &[&company_id, &ticket, &Ts(lease_until), &Ts(now)])? {
        return Ok(Some(NextJob::Recover(job)));
    }
    let claimed = c.opt::<Job>(&CLAIM_SQLITE, &[&company_id, &ticket, &Ts(lease_until), &Ts(now), &message_set_id])?;
    Ok(claimed.map(NextJob::Claimed))
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
        let message_set_id = new_message_set_id();
        by_backend!(self, |c| next_lite(c, company_id, &hash, now, lease_until, &message_set_id), |_p| {
            if let Some(job) = self.leased_job(ticket).await? {
                if job.state == JobState::Sent && job.iterator_id.is_some() {
                    return Ok(Some(NextJob::Continue(job)));
                }
            }
            if let Some(job) = self.claim_recovery(company_id, ticket, now, lease_until).await? {
                return Ok(Some(NextJob::Recover(job)));
            }
            Ok(self.claim_next(company_id, ticket, now, lease_until).await?.map(NextJob::Claimed))
        })
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
        let message_set_id = new_message_set_id();
        by_backend!(
            self,
            |c| {
                let Some(session) = c.opt::<Session>(TOUCH_LIVE, &[&hash, &Ts(now), &Ts(expires_at)])? else {
                    return Ok(None);
                };
                let looked = look && session.company_file_name.is_some();
                let next = match looked {
                    true => next_lite(c, session.company_id, &hash, now, lease_until, &message_set_id)?,
                    false => None,
                };
                Ok(Some(SendStart { session, next, looked }))
            },
            |_p| {
                let Some(session) = self.touch_live_session(ticket, now, expires_at).await? else {
                    return Ok(None);
                };
                let looked = look && session.company_file_name.is_some();
                let next = match looked {
                    true => self.next_job(session.company_id, ticket, now, lease_until).await?,
                    false => None,
                };
                Ok(Some(SendStart { session, next, looked }))
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
        by_backend!(
            self,
            |c| {
                let (session, live) = match c.opt::<Session>(TOUCH_LIVE, &[&hash, &Ts(now), &Ts(expires_at)])? {
                    Some(s) => (s, true),
                    None => match c.opt::<Session>(&SESSION_BY_TICKET, &[&hash])? {
                        Some(s) => (s, false),
                        None => return Ok(None),
                    },
                };
                let job = c.opt::<Job>(&LEASED, &[&hash])?;
                Ok(Some(AnswerStart { session, live, job }))
            },
            |_p| {
                let (session, live) = match self.touch_live_session(ticket, now, expires_at).await? {
                    Some(s) => (s, true),
                    None => match self.session(ticket).await? {
                        Some(s) => (s, false),
                        None => return Ok(None),
                    },
                };
                let job = self.leased_job(ticket).await?;
                Ok(Some(AnswerStart { session, live, job }))
            }
        )
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
        let owned = lease.clone();
        let count = by_backend!(
            self,
            |c| {
                if !complete_lite(c, &owned, &completion, now)? {
                    return Ok(None);
                }
                c.one::<i64>(DEPTH_AT_MOST, &[&company_id, &Ts(now), &cap]).map(Some)
            },
            |_p| {
                if !self.complete_job(lease, completion, now).await? {
                    return Ok(None);
                }
                Ok(Some(self.queue_depth_at_most(company_id, now, cap).await?))
            }
        )?;
        // (On Postgres complete_job woke them already; twice is harmless.)
        if settled && count.is_some() {
            self.notifier.notify_all();
        }
        Ok(count.map(|n| n.min(cap)))
    }
}
