//! The event log, and the company problems it feeds.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lite::{Sql, Ts};
use super::{by_backend, SqlStore};
use crate::diagnostics::{catalog, Severity};
use crate::store::{Event, EventStore, NewEvent, Problem, Result};

/// Opens a problem, or counts another occurrence of the open one (the
/// partial unique index allows one open row per company and code).
const UPSERT_PROBLEM: &str = "insert into problem \
    (company_id, code, first_seen, last_seen, count, last_detail, last_event_id) \
    values ($1, $2, $3, $3, 1, $4, $5) \
    on conflict (company_id, code) where cleared_at is null do update set \
    last_seen = excluded.last_seen, count = problem.count + 1, \
    last_detail = excluded.last_detail, last_event_id = excluded.last_event_id";

/// Whether an event with `code` is a problem worth showing in health:
/// warnings and errors are, informational codes (a company renamed in
/// QuickBooks, multi-user mode) are not. A code the catalog does not know
/// counts as a problem rather than being dropped.
fn is_problem(code: &str) -> bool {
    catalog().explain(code).is_none_or(|f| f.entry.severity != Severity::Info)
}

#[async_trait]
impl EventStore for SqlStore {
    async fn record_event(&self, e: NewEvent) -> Result<i64> {
        let sql = "insert into event (at, company_id, user_id, job_id, kind, code, message) \
                   values ($1, $2, $3, $4, $5, $6, $7) returning id";
        let problem = match (e.company_id, e.code.as_deref()) {
            (Some(company), Some(code)) if is_problem(code) => Some((company, code.to_owned())),
            _ => None,
        };
        by_backend!(
            self,
            |c| {
                let job_id = e.job_id.map(|j| j.0);
                let id: i64 =
                    c.one(sql, &[&Ts(e.at), &e.company_id, &e.user_id, &job_id, &e.kind, &e.code, &e.message])?;
                if let Some((company, code)) = &problem {
                    c.exec(UPSERT_PROBLEM, &[company, code, &Ts(e.at), &e.message, &id])?;
                }
                Ok(id)
            },
            |p| {
                let mut tx = p.begin().await?;
                let id: i64 = sqlx::query_scalar(sql)
                    .bind(e.at)
                    .bind(e.company_id)
                    .bind(e.user_id)
                    .bind(e.job_id.map(|j| j.0))
                    .bind(e.kind)
                    .bind(&e.code)
                    .bind(&e.message)
                    .fetch_one(&mut *tx)
                    .await?;
                if let Some((company, code)) = &problem {
                    sqlx::query(UPSERT_PROBLEM)
                        .bind(*company)
                        .bind(code)
                        .bind(e.at)
                        .bind(&e.message)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(id)
            }
        )
    }

    async fn list_events(&self, company_id: Option<i64>, limit: i64) -> Result<Vec<Event>> {
        let sql = "select id, at, company_id, user_id, job_id, kind, code, message from event \
                   where ($1 is null or company_id = $1) order by id desc limit $2";
        by_backend!(self, |c| c.all(sql, &[&company_id, &limit]), |p| Ok(sqlx::query_as(sql)
            .bind(company_id)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    async fn open_problems(&self, company_id: i64) -> Result<Vec<Problem>> {
        let sql = "select id, company_id, code, first_seen, last_seen, count, cleared_at, last_detail, last_event_id \
                   from problem where company_id = $1 and cleared_at is null order by last_event_id desc";
        by_backend!(self, |c| c.all(sql, &[&company_id]), |p| Ok(sqlx::query_as(sql)
            .bind(company_id)
            .fetch_all(p)
            .await?))
    }

    async fn prune_events(&self, before: DateTime<Utc>, limit: i64) -> Result<u64> {
        // Oldest first through `event_at` (migration 0019), a bounded batch.
        let sql = "delete from event where id in (select id from event where at < $1 order by at limit $2)";
        by_backend!(self, |c| c.exec(sql, &[&Ts(before), &limit]), |p| Ok(sqlx::query(sql)
            .bind(before)
            .bind(limit)
            .execute(p)
            .await?
            .rows_affected()))
    }
}
