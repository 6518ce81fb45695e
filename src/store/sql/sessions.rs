//! Sessions: one per Web Connector run, at most one open per company.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::args::args;
use super::call::{atomic, sequence, Statements};
use super::jobs::{release_ticket, settle_dependents, RELEASE_BY_TICKET, RELEASE_LAPSED};
use super::SqlStore;
use crate::store::{NewSession, Recovered, Result, Session, SessionOpen, SessionStore, StoreError};
use crate::types::TicketHash;

/// [`Session`]'s fields, each a column of `session` but the user's name.
const FIELDS: [&str; 17] = [
    "ticket_hash",
    "user_id",
    "username",
    "company_id",
    "state",
    "remote_addr",
    "company_file_name",
    "qbxml_version",
    "jobs_done",
    "jobs_failed",
    "first_problem",
    "last_error",
    "created_at",
    "last_seen_at",
    "expires_at",
    "last_work_at",
    "queue_at_start",
];

/// [`FIELDS`] as a column list: each column of `session` after `prefix`,
/// the user's name as `username`.
fn columns(prefix: &str, username: &str) -> String {
    let column = |f: &&str| if *f == "username" { format!("{username} as username") } else { format!("{prefix}{f}") };
    FIELDS.iter().map(column).collect::<Vec<_>>().join(", ")
}

/// Every session, with its user's name.
pub(super) static SESSION: LazyLock<String> = LazyLock::new(|| {
    format!("select {} from session s join app_user u on u.id = s.user_id", columns("s.", "u.username"))
});

/// A session by ticket hash (`$1`).
pub(super) static SESSION_BY_TICKET: LazyLock<String> =
    LazyLock::new(|| format!("{} where s.ticket_hash = $1", *SESSION));

/// A live session (open, not expired at `$2`) by ticket hash (`$1`).
pub(super) static LIVE_BY_TICKET: LazyLock<String> =
    LazyLock::new(|| format!("{} where s.ticket_hash = $1 and s.state = 'open' and s.expires_at > $2", *SESSION));

/// Extends a live session (`$1` ticket hash, `$2` now, `$3` new expiry)
/// and returns it.
pub(super) static TOUCH_LIVE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "update session set last_seen_at = $2, expires_at = $3 \
         where ticket_hash = $1 and state = 'open' and expires_at > $2 returning {}",
        // No join in `returning`: the user's name by a subquery.
        columns("", "(select username from app_user where id = user_id)")
    )
});

/// How stale a session's `last_seen_at` may be before a call writes it
/// again. Every sendRequestXML and receiveResponseXML touches its session;
/// writing the row (and its expiry index) each time would be most of the
/// pages an exchange writes, for an expiry measured in minutes.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(1);

/// Whether a live session was seen recently enough to skip the write.
fn fresh(s: &Session, now: DateTime<Utc>) -> bool {
    now - s.last_seen_at < TOUCH_EVERY
}

/// [`SessionStore::touch_live_session`] on a call's connection: a read,
/// and the write only when the last one is older than [`TOUCH_EVERY`].
pub(super) async fn touch(
    tx: &mut impl Statements,
    ticket: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<Session>> {
    match tx.opt::<Session>(&LIVE_BY_TICKET, args![ticket, now]).await? {
        Some(s) if fresh(&s, now) => Ok(Some(s)),
        Some(_) => tx.opt(&TOUCH_LIVE, args![ticket, now, expires_at]).await,
        None => Ok(None),
    }
}

const EXPIRE_IDLE_OF_COMPANY: &str = "update session set state = 'expired', closed_at = $2 \
                                      where company_id = $1 and state = 'open' and expires_at <= $2 \
                                      returning ticket_hash";

const EXPIRE_IDLE: &str = "update session set state = 'expired', closed_at = $1 \
                           where state = 'open' and expires_at <= $1 returning ticket_hash";

/// Same user, same address: the Web Connector started over, so the old
/// session's last exchange was lost.
const TAKE_OVER: &str = "update session set state = 'closed', closed_at = $2 \
                         where company_id = $1 and state = 'open' and user_id = $3 \
                         and coalesce(remote_addr, '') = coalesce($4, '') returning ticket_hash";

const HOLDER: &str = "select u.username, s.remote_addr, s.expires_at from session s \
                      join app_user u on u.id = s.user_id where s.company_id = $1 and s.state = 'open'";

const INSERT: &str = "insert into session (ticket_hash, user_id, company_id, state, remote_addr, created_at, \
                      last_seen_at, expires_at, last_work_at, queue_at_start) \
                      values ($1, $2, $3, 'open', $4, $5, $5, $6, $5, $7)";

/// A clean session (no failed job, no problem recorded) clears its
/// company's problems last seen before it started; problems seen during it
/// (a warning such as a UNC path) stay open. `$1` ticket hash, `$2` now.
const CLEAR_AFTER_CLEAN_SESSION: &str = "update problem set cleared_at = $2 where cleared_at is null \
    and company_id = (select company_id from session where ticket_hash = $1 \
                      and jobs_failed = 0 and first_problem is null) \
    and last_seen < (select created_at from session where ticket_hash = $1)";

#[async_trait]
impl SessionStore for SqlStore {
    async fn open_session(&self, new: NewSession) -> Result<SessionOpen> {
        let now = new.now;
        let expires_at = new.expires_at;
        let opened = atomic!(self, |tx| {
            let mut ended: Vec<String> = tx.all(EXPIRE_IDLE_OF_COMPANY, args![new.company_id, now]).await?;
            let replaced: Option<String> =
                tx.opt(TAKE_OVER, args![new.company_id, now, new.user_id, &new.remote_addr]).await?;
            ended.extend(replaced.clone());
            for ticket in &ended {
                tx.exec(&RELEASE_BY_TICKET, args![now, ticket]).await?;
            }
            if !ended.is_empty() {
                settle_dependents(tx, now).await?;
            }
            let released = !ended.is_empty();
            let holder: Option<(String, Option<String>, DateTime<Utc>)> = tx.opt(HOLDER, args![new.company_id]).await?;
            if let Some((holder, holder_addr, expires_at)) = holder {
                return Ok((SessionOpen::Busy { holder, holder_addr, expires_at }, released));
            }
            let args = args![
                new.ticket_hash.0,
                new.user_id,
                new.company_id,
                new.remote_addr,
                now,
                new.expires_at,
                new.queue_at_start,
            ];
            // Another process may have opened one between our check and
            // our insert; the partial unique index kept the rule.
            tx.exec(INSERT, args).await.map_err(|e| super::unique_conflict(e, String::new))?;
            Ok((SessionOpen::Opened { replaced: replaced.map(TicketHash) }, released))
        });
        let (opened, released) = match opened {
            // The race lost: nothing of the call was kept.
            Err(StoreError::Conflict(_)) => (raced(expires_at), false),
            other => other?,
        };
        if released {
            self.notifier.notify_all();
        }
        Ok(opened)
    }

    async fn session(&self, ticket: &TicketHash) -> Result<Option<Session>> {
        self.opt(SESSION_BY_TICKET.as_str(), args![&ticket.0]).await
    }

    async fn touch_live_session(
        &self,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Session>> {
        let ticket = ticket.0.clone();
        sequence!(self, |tx| touch(tx, &ticket, now, expires_at).await)
    }

    async fn set_session_error(&self, ticket: &TicketHash, problem: Option<&str>, last_error: &str) -> Result {
        let sql = "update session set last_error = $3, first_problem = coalesce(first_problem, $2) \
                   where ticket_hash = $1";
        self.exec(sql, args![&ticket.0, problem, last_error]).await?;
        Ok(())
    }

    async fn set_session_file(&self, ticket: &TicketHash, company_file_name: &str, qbxml_version: &str) -> Result {
        let sql = "update session set company_file_name = $2, qbxml_version = $3 where ticket_hash = $1";
        self.exec(sql, args![&ticket.0, company_file_name, qbxml_version]).await?;
        Ok(())
    }

    async fn close_session(&self, ticket: &TicketHash, now: DateTime<Utc>) -> Result<Option<Session>> {
        let close = "update session set state = 'closed', closed_at = $2, last_seen_at = $2 \
                     where ticket_hash = $1 and state = 'open'";
        let hash = ticket.0.clone();
        let released = atomic!(self, |tx| {
            if tx.exec(close, args![&hash, now]).await? > 0 {
                tx.exec(CLEAR_AFTER_CLEAN_SESSION, args![&hash, now]).await?;
            }
            release_ticket(tx, &hash, now).await
        })?;
        if released > 0 {
            self.notifier.notify_all();
        }
        self.session(ticket).await
    }

    async fn recover_expired(&self, now: DateTime<Utc>) -> Result<Recovered> {
        let (expired, leases) = atomic!(self, |tx| {
            let expired: Vec<String> = tx.all(EXPIRE_IDLE, args![now]).await?;
            let mut leases = 0;
            for ticket in &expired {
                leases += tx.exec(&RELEASE_BY_TICKET, args![now, ticket]).await?;
            }
            leases += tx.exec(&RELEASE_LAPSED, args![now]).await?;
            if leases > 0 {
                settle_dependents(tx, now).await?;
            }
            Ok((expired.len() as u64, leases))
        })?;
        if leases > 0 {
            self.notifier.notify_all();
        }
        Ok(Recovered { sessions: expired, leases })
    }
}

/// What a session open that lost a race with another process answers.
fn raced(expires_at: DateTime<Utc>) -> SessionOpen {
    SessionOpen::Busy { holder: "another connector".to_owned(), holder_addr: None, expires_at }
}
