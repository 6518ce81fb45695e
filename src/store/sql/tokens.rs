//! API tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{conflict_on_unique, found, on_pool, SqlStore};
use crate::store::{ApiToken, Result, TokenStore};

const TOKEN: &str = "select id, name, created_at, last_used_at, revoked_at from api_token";

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_token(&self, name: &str, token_hash: &str, now: DateTime<Utc>) -> Result<ApiToken> {
        let sql = "insert into api_token (name, token_hash, created_at) values ($1, $2, $3) \
                   returning id, name, created_at, last_used_at, revoked_at";
        on_pool!(self, p, _d => sqlx::query_as(sql).bind(name).bind(token_hash).bind(now).fetch_one(p).await)
            .map_err(|e| conflict_on_unique(e, || format!("a token named {name:?} exists")))
    }

    async fn use_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<ApiToken>> {
        let sql = "update api_token set last_used_at = $2 where token_hash = $1 and revoked_at is null \
                   returning id, name, created_at, last_used_at, revoked_at";
        Ok(on_pool!(self, p, _d => sqlx::query_as(sql).bind(token_hash).bind(now).fetch_optional(p).await?))
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("{TOKEN} order by name");
        Ok(on_pool!(self, p, _d => sqlx::query_as(&sql).fetch_all(p).await?))
    }

    async fn revoke_token(&self, name: &str, now: DateTime<Utc>) -> Result {
        let sql = "update api_token set revoked_at = $2 where name = $1 and revoked_at is null";
        let rows = on_pool!(self, p, _d => sqlx::query(sql).bind(name).bind(now).execute(p).await?.rows_affected());
        found(rows, || format!("live token {name:?}"))
    }
}
