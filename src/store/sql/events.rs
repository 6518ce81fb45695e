//! The event log.

use async_trait::async_trait;

use super::{on_pool, SqlStore};
use crate::store::{Event, EventStore, NewEvent, Result};

#[async_trait]
impl EventStore for SqlStore {
    async fn record_event(&self, e: NewEvent) -> Result<i64> {
        let sql = "insert into event (at, company_id, user_id, job_id, kind, code, message) \
                   values ($1, $2, $3, $4, $5, $6, $7) returning id";
        Ok(on_pool!(self, p, _d => sqlx::query_scalar(sql)
            .bind(e.at)
            .bind(e.company_id)
            .bind(e.user_id)
            .bind(e.job_id.map(|j| j.0))
            .bind(e.kind)
            .bind(&e.code)
            .bind(&e.message)
            .fetch_one(p)
            .await?))
    }

    async fn list_events(&self, company_id: Option<i64>, limit: i64) -> Result<Vec<Event>> {
        let sql = "select id, at, company_id, user_id, job_id, kind, code, message from event \
                   where ($1 is null or company_id = $1) order by id desc limit $2";
        Ok(on_pool!(self, p, _d => sqlx::query_as(sql).bind(company_id).bind(limit).fetch_all(p).await?))
    }
}
