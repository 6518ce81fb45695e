//! The console's page reads.

use async_trait::async_trait;

use super::accounts::{COMPANY, USER};
use super::lite::{Col, FromLite, Sql};
use super::sessions::SESSION;
use super::{by_backend, SqlStore};
use crate::store::{Company, ConsoleStore, Result, Session, SessionJob, User};
use crate::types::JobId;

#[async_trait]
impl ConsoleStore for SqlStore {
    async fn company_page(&self, prefix: &str, after: Option<&str>, limit: i64) -> Result<Vec<Company>> {
        // A prefix as a range on the slug (slugs are lower-case ASCII, so
        // every slug with the prefix sorts below prefix || '~'); a `like`
        // would not use the index on Postgres' default collation.
        let sql = format!("{COMPANY} where slug >= $1 and slug < $2 and slug > $3 order by slug limit $4");
        let (low, high) = (prefix.to_owned(), format!("{prefix}~"));
        let after = after.unwrap_or("").to_owned();
        by_backend!(
            read self,
            |c| c.all(&sql, &[&low, &high, &after, &limit]),
            |p| Ok(sqlx::query_as(&sql).bind(&low).bind(&high).bind(&after).bind(limit).fetch_all(p).await?)
        )
    }

    async fn company_users(&self, company_id: i64) -> Result<Vec<User>> {
        let sql = format!("{USER} where u.company_id = $1 order by u.username");
        by_backend!(read self, |c| c.all(&sql, &[&company_id]), |p| Ok(sqlx::query_as(&sql)
            .bind(company_id)
            .fetch_all(p)
            .await?))
    }

    async fn company_sessions(&self, company_id: i64, limit: i64) -> Result<Vec<Session>> {
        let sql = format!("{SESSION} where s.company_id = $1 order by s.created_at desc limit $2");
        by_backend!(read self, |c| c.all(&sql, &[&company_id, &limit]), |p| Ok(sqlx::query_as(&sql)
            .bind(company_id)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    async fn session_jobs(&self, ticket_hash: &str, limit: i64) -> Result<Vec<SessionJob>> {
        let sql = "select id, state, request_names, diagnostic, updated_at from job where ticket_hash = $1 \
                   order by seq limit $2";
        let hash = ticket_hash.to_owned();
        let rows: Vec<(uuid::Uuid, String, String, Option<String>, chrono::DateTime<chrono::Utc>)> = by_backend!(
            read self,
            |c| c.all::<SessionJob>(sql, &[&hash, &limit]).map(|v| v
                .into_iter()
                .map(|j| (j.id.0, j.state, j.request_names, j.diagnostic, j.updated_at))
                .collect()),
            |p| Ok(sqlx::query_as(sql).bind(&hash).bind(limit).fetch_all(p).await?)
        )?;
        Ok(rows
            .into_iter()
            .map(|(id, state, request_names, diagnostic, updated_at)| SessionJob {
                id: JobId(id),
                state,
                request_names,
                diagnostic,
                updated_at,
            })
            .collect())
    }
}

impl FromLite for SessionJob {
    fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(SessionJob {
            id: Col::col(row, "id")?,
            state: Col::col(row, "state")?,
            request_names: Col::col(row, "request_names")?,
            diagnostic: Col::col(row, "diagnostic")?,
            updated_at: Col::col(row, "updated_at")?,
        })
    }
}
