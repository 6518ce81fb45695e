//! Sessions: one per Web Connector run, at most one open per company.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::jobs::{settle_dependents, settle_dependents_lite, RELEASE_BY_TICKET, RELEASE_LAPSED};
use super::lite::{is_unique_violation, Sql, Ts};
use super::{by_backend, SqlStore};
use crate::store::{NewSession, Recovered, Result, Session, SessionOpen, SessionStore};
use crate::types::TicketHash;

pub(super) const SESSION: &str = "select s.ticket_hash, s.user_id, u.username, s.company_id, s.state, s.remote_addr, \
                       s.company_file_name, s.qbxml_version, s.jobs_done, s.jobs_failed, s.first_problem, \
                       s.last_error, s.created_at, s.last_seen_at, s.expires_at, s.last_work_at, s.queue_at_start \
                       from session s join app_user u on u.id = s.user_id";

/// A session by ticket hash (`$1`).
pub(super) static SESSION_BY_TICKET: LazyLock<String> = LazyLock::new(|| format!("{SESSION} where s.ticket_hash = $1"));

/// A live session (open, not expired at `$2`) by ticket hash (`$1`).
pub(super) static LIVE_BY_TICKET: LazyLock<String> =
    LazyLock::new(|| format!("{SESSION} where s.ticket_hash = $1 and s.state = 'open' and s.expires_at > $2"));

/// Extends a live session (`$1` ticket hash, `$2` now, `$3` new expiry)
/// and returns it.
pub(super) const TOUCH_LIVE: &str = "update session set last_seen_at = $2, expires_at = $3 \
    where ticket_hash = $1 and state = 'open' and expires_at > $2 \
    returning ticket_hash, user_id, (select username from app_user where id = user_id) as username, \
    company_id, state, remote_addr, company_file_name, qbxml_version, jobs_done, jobs_failed, \
    first_problem, last_error, created_at, last_seen_at, expires_at, last_work_at, queue_at_start";

/// How stale a session's `last_seen_at` may be before a call writes it
/// again. Every sendRequestXML and receiveResponseXML touches its session;
/// writing the row (and its expiry index) each time was a quarter of the
/// pages an exchange wrote, for an expiry measured in minutes.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(1);

/// Whether a live session was seen recently enough to skip the write.
fn fresh(s: &Session, now: DateTime<Utc>) -> bool {
    now - s.last_seen_at < TOUCH_EVERY
}

/// [`SessionStore::touch_live_session`] on the SQLite writer: a read, and
/// the write only when the last one is older than [`TOUCH_EVERY`].
pub(super) fn touch_lite(
    c: &rusqlite::Connection,
    ticket: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<Session>> {
    match c.opt::<Session>(&LIVE_BY_TICKET, &[&ticket, &Ts(now)])? {
        Some(s) if fresh(&s, now) => Ok(Some(s)),
        Some(_) => c.opt(TOUCH_LIVE, &[&ticket, &Ts(now), &Ts(expires_at)]),
        None => Ok(None),
    }
}

/// [`SessionStore::touch_live_session`] on one Postgres connection, as
/// [`touch_lite`].
pub(super) async fn touch_pg(
    conn: &mut sqlx::PgConnection,
    ticket: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<Session>> {
    let live: Option<Session> =
        sqlx::query_as(&LIVE_BY_TICKET).bind(ticket).bind(now).fetch_optional(&mut *conn).await?;
    match live {
        Some(s) if fresh(&s, now) => Ok(Some(s)),
        Some(_) => {
            Ok(sqlx::query_as(TOUCH_LIVE).bind(ticket).bind(now).bind(expires_at).fetch_optional(&mut *conn).await?)
        }
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
        let (opened, released) = by_backend!(
            self,
            |c| {
                let mut ended: Vec<String> = c.all(EXPIRE_IDLE_OF_COMPANY, &[&new.company_id, &Ts(now)])?;
                let replaced: Option<String> =
                    c.opt(TAKE_OVER, &[&new.company_id, &Ts(now), &new.user_id, &new.remote_addr])?;
                ended.extend(replaced.clone());
                for ticket in &ended {
                    c.exec(RELEASE_BY_TICKET, &[&Ts(now), ticket])?;
                }
                if !ended.is_empty() {
                    settle_dependents_lite(c, now)?;
                }
                let released = !ended.is_empty();
                let holder: Option<(String, Option<String>, DateTime<Utc>)> = c.opt(HOLDER, &[&new.company_id])?;
                if let Some((holder, holder_addr, expires_at)) = holder {
                    return Ok((SessionOpen::Busy { holder, holder_addr, expires_at }, released));
                }
                let args: [&dyn rusqlite::ToSql; 7] = [
                    &new.ticket_hash.0,
                    &new.user_id,
                    &new.company_id,
                    &new.remote_addr,
                    &Ts(now),
                    &Ts(new.expires_at),
                    &new.queue_at_start,
                ];
                match c.exec(INSERT, &args) {
                    Ok(_) => Ok((SessionOpen::Opened { replaced: replaced.map(TicketHash) }, released)),
                    // Another process opened one between our check and our
                    // insert; the partial unique index kept the rule.
                    Err(e) if is_unique_violation(&e) => Ok((raced(new.expires_at), released)),
                    Err(e) => Err(e),
                }
            },
            |p| {
                let mut tx = p.begin().await?;
                let mut ended: Vec<String> = sqlx::query_scalar(EXPIRE_IDLE_OF_COMPANY)
                    .bind(new.company_id)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                let replaced: Option<String> = sqlx::query_scalar(TAKE_OVER)
                    .bind(new.company_id)
                    .bind(now)
                    .bind(new.user_id)
                    .bind(&new.remote_addr)
                    .fetch_optional(&mut *tx)
                    .await?;
                ended.extend(replaced.clone());
                for ticket in &ended {
                    sqlx::query(RELEASE_BY_TICKET).bind(now).bind(ticket).execute(&mut *tx).await?;
                }
                if !ended.is_empty() {
                    settle_dependents!(tx, now);
                }
                let released = !ended.is_empty();
                let holder: Option<(String, Option<String>, DateTime<Utc>)> =
                    sqlx::query_as(HOLDER).bind(new.company_id).fetch_optional(&mut *tx).await?;
                if let Some((holder, holder_addr, expires_at)) = holder {
                    tx.commit().await?;
                    return Ok((SessionOpen::Busy { holder, holder_addr, expires_at }, released));
                }
                let inserted = sqlx::query(INSERT)
                    .bind(&new.ticket_hash.0)
                    .bind(new.user_id)
                    .bind(new.company_id)
                    .bind(&new.remote_addr)
                    .bind(now)
                    .bind(new.expires_at)
                    .bind(new.queue_at_start)
                    .execute(&mut *tx)
                    .await;
                match inserted {
                    Ok(_) => tx.commit().await?,
                    Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                        // Another replica opened a session between our check and
                        // our insert; the partial unique index kept the rule.
                        tx.rollback().await?;
                        return Ok((raced(new.expires_at), false));
                    }
                    Err(e) => return Err(e.into()),
                }
                Ok((SessionOpen::Opened { replaced: replaced.map(TicketHash) }, released))
            }
        )?;
        if released {
            self.notifier.notify_all();
        }
        Ok(opened)
    }

    async fn session(&self, ticket: &TicketHash) -> Result<Option<Session>> {
        let sql = SESSION_BY_TICKET.as_str();
        let ticket = ticket.0.clone();
        by_backend!(self, |c| c.opt(sql, &[&ticket]), |p| Ok(sqlx::query_as(sql)
            .bind(&ticket)
            .fetch_optional(p)
            .await?))
    }

    async fn touch_live_session(
        &self,
        ticket: &TicketHash,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Session>> {
        let ticket = ticket.0.clone();
        by_backend!(self, |c| touch_lite(c, &ticket, now, expires_at), |p| {
            let mut conn = p.acquire().await?;
            touch_pg(&mut conn, &ticket, now, expires_at).await
        })
    }

    async fn set_session_error(&self, ticket: &TicketHash, problem: Option<&str>, last_error: &str) -> Result {
        let sql = "update session set last_error = $3, first_problem = coalesce(first_problem, $2) \
                   where ticket_hash = $1";
        let (ticket, problem, last_error) = (ticket.0.clone(), problem.map(str::to_owned), last_error.to_owned());
        by_backend!(self, |c| c.exec(sql, &[&ticket, &problem, &last_error]), |p| Ok(sqlx::query(sql)
            .bind(&ticket)
            .bind(&problem)
            .bind(&last_error)
            .execute(p)
            .await?
            .rows_affected()))?;
        Ok(())
    }

    async fn set_session_file(&self, ticket: &TicketHash, company_file_name: &str, qbxml_version: &str) -> Result {
        let sql = "update session set company_file_name = $2, qbxml_version = $3 where ticket_hash = $1";
        let (ticket, file, version) = (ticket.0.clone(), company_file_name.to_owned(), qbxml_version.to_owned());
        by_backend!(self, |c| c.exec(sql, &[&ticket, &file, &version]), |p| Ok(sqlx::query(sql)
            .bind(&ticket)
            .bind(&file)
            .bind(&version)
            .execute(p)
            .await?
            .rows_affected()))?;
        Ok(())
    }

    async fn close_session(&self, ticket: &TicketHash, now: DateTime<Utc>) -> Result<Option<Session>> {
        let close = "update session set state = 'closed', closed_at = $2, last_seen_at = $2 \
                     where ticket_hash = $1 and state = 'open'";
        let hash = ticket.0.clone();
        let released = by_backend!(
            self,
            |c| {
                if c.exec(close, &[&hash, &Ts(now)])? > 0 {
                    c.exec(CLEAR_AFTER_CLEAN_SESSION, &[&hash, &Ts(now)])?;
                }
                let released = c.exec(RELEASE_BY_TICKET, &[&Ts(now), &hash])?;
                if released > 0 {
                    settle_dependents_lite(c, now)?;
                }
                Ok(released)
            },
            |p| {
                let mut tx = p.begin().await?;
                let closed = sqlx::query(close).bind(&hash).bind(now).execute(&mut *tx).await?.rows_affected();
                if closed > 0 {
                    sqlx::query(CLEAR_AFTER_CLEAN_SESSION).bind(&hash).bind(now).execute(&mut *tx).await?;
                }
                let released = sqlx::query(RELEASE_BY_TICKET).bind(now).bind(&hash).execute(&mut *tx).await?;
                if released.rows_affected() > 0 {
                    settle_dependents!(tx, now);
                }
                tx.commit().await?;
                Ok(released.rows_affected())
            }
        )?;
        if released > 0 {
            self.notifier.notify_all();
        }
        self.session(ticket).await
    }

    async fn recover_expired(&self, now: DateTime<Utc>) -> Result<Recovered> {
        let (expired, leases) = by_backend!(
            self,
            |c| {
                let expired: Vec<String> = c.all(EXPIRE_IDLE, &[&Ts(now)])?;
                let mut leases = 0;
                for ticket in &expired {
                    leases += c.exec(RELEASE_BY_TICKET, &[&Ts(now), ticket])?;
                }
                leases += c.exec(RELEASE_LAPSED, &[&Ts(now)])?;
                if leases > 0 {
                    settle_dependents_lite(c, now)?;
                }
                Ok((expired.len() as u64, leases))
            },
            |p| {
                let mut tx = p.begin().await?;
                let expired: Vec<String> = sqlx::query_scalar(EXPIRE_IDLE).bind(now).fetch_all(&mut *tx).await?;
                let mut leases = 0;
                for ticket in &expired {
                    leases +=
                        sqlx::query(RELEASE_BY_TICKET).bind(now).bind(ticket).execute(&mut *tx).await?.rows_affected();
                }
                leases += sqlx::query(RELEASE_LAPSED).bind(now).execute(&mut *tx).await?.rows_affected();
                if leases > 0 {
                    settle_dependents!(tx, now);
                }
                tx.commit().await?;
                Ok((expired.len() as u64, leases))
            }
        )?;
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
