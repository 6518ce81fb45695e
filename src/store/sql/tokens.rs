//! API tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lite::{Sql, Ts};
use super::{by_backend, found, unique_conflict, SqlStore};
use crate::store::{ApiToken, Result, TokenStore};

const TOKEN: &str = "select id, name, created_at, last_used_at, revoked_at from api_token";

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_token(&self, name: &str, token_hash: &str, now: DateTime<Utc>) -> Result<ApiToken> {
        let sql = "insert into api_token (name, token_hash, created_at) values ($1, $2, $3) \
                   returning id, name, created_at, last_used_at, revoked_at";
        let (owned, hash) = (name.to_owned(), token_hash.to_owned());
        by_backend!(self, |c| c.one(sql, &[&owned, &hash, &Ts(now)]), |p| Ok(sqlx::query_as(sql)
            .bind(&owned)
            .bind(&hash)
            .bind(now)
            .fetch_one(p)
            .await?))
        .map_err(|e| unique_conflict(e, || format!("a token named {name:?} exists")))
    }

    async fn use_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<ApiToken>> {
        let sql = "update api_token set last_used_at = $2 where token_hash = $1 and revoked_at is null \
                   returning id, name, created_at, last_used_at, revoked_at";
        let hash = token_hash.to_owned();
        by_backend!(self, |c| c.opt(sql, &[&hash, &Ts(now)]), |p| Ok(sqlx::query_as(sql)
            .bind(&hash)
            .bind(now)
            .fetch_optional(p)
            .await?))
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("{TOKEN} order by name");
        by_backend!(self, |c| c.all(&sql, &[]), |p| Ok(sqlx::query_as(&sql).fetch_all(p).await?))
    }

    async fn revoke_token(&self, name: &str, now: DateTime<Utc>) -> Result {
        let sql = "update api_token set revoked_at = $2 where name = $1 and revoked_at is null";
        let owned = name.to_owned();
        let rows = by_backend!(self, |c| c.exec(sql, &[&owned, &Ts(now)]), |p| Ok(sqlx::query(sql)
            .bind(&owned)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()))?;
        found(rows, || format!("live token {name:?}"))
    }
}
