//! Onboarding links: download counts and one-time password resets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{on_pool, SqlStore};
use crate::store::{LinkStore, QwcLink, Result};

#[async_trait]
impl LinkStore for SqlStore {
    async fn create_qwc_link(&self, l: &QwcLink) -> Result {
        let sql = "insert into qwc_link (nonce, username, reset_password, uses, max_uses, expires_at, created_at) \
                   values ($1, $2, $3, 0, $4, $5, $6)";
        on_pool!(self, p, _d => sqlx::query(sql)
            .bind(&l.nonce)
            .bind(&l.username)
            .bind(l.reset_password)
            .bind(l.max_uses)
            .bind(l.expires_at)
            .bind(l.created_at)
            .execute(p)
            .await?
            .rows_affected());
        Ok(())
    }

    async fn qwc_link(&self, nonce: &str) -> Result<Option<QwcLink>> {
        let sql = "select nonce, username, reset_password, uses, max_uses, expires_at, created_at, last_used_at, \
                   password_reset_at from qwc_link where nonce = $1";
        Ok(on_pool!(self, p, _d => sqlx::query_as(sql).bind(nonce).fetch_optional(p).await?))
    }

    async fn use_qwc_link(&self, nonce: &str, now: DateTime<Utc>) -> Result<Option<i32>> {
        // One compare-and-set statement: the row's own `uses < max_uses`
        // decides, so concurrent downloads (or replicas) serialise on the row.
        let sql = "update qwc_link set uses = uses + 1, last_used_at = $2 \
                   where nonce = $1 and uses < max_uses returning uses";
        Ok(on_pool!(self, p, _d => sqlx::query_scalar(sql).bind(nonce).bind(now).fetch_optional(p).await?))
    }

    async fn claim_password_reset(&self, nonce: &str, now: DateTime<Utc>) -> Result<bool> {
        let sql = "update qwc_link set password_reset_at = $2 \
                   where nonce = $1 and reset_password and password_reset_at is null";
        let rows = on_pool!(self, p, _d => sqlx::query(sql).bind(nonce).bind(now).execute(p).await?.rows_affected());
        Ok(rows == 1)
    }
}
