//! Onboarding links: download counts and one-time password resets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lite::{Sql, Ts};
use super::{by_backend, SqlStore};
use crate::store::{LinkStore, QwcLink, Result};

/// The columns of a [`QwcLink`], as a literal so statements are `&'static`.
macro_rules! cols {
    () => {
        "nonce, username, reset_password, uses, max_uses, expires_at, created_at, last_used_at, password_reset_at, \
         revoked_at"
    };
}

#[async_trait]
impl LinkStore for SqlStore {
    async fn create_qwc_link(&self, l: &QwcLink) -> Result {
        let sql = "insert into qwc_link (nonce, username, reset_password, uses, max_uses, expires_at, created_at) \
                   values ($1, $2, $3, 0, $4, $5, $6)";
        let (nonce, username) = (l.nonce.clone(), l.username.clone());
        let (reset_password, max_uses, expires_at, created_at) =
            (l.reset_password, l.max_uses, l.expires_at, l.created_at);
        by_backend!(
            self,
            |c| c.exec(sql, &[&nonce, &username, &reset_password, &max_uses, &Ts(expires_at), &Ts(created_at)]),
            |p| Ok(sqlx::query(sql)
                .bind(&nonce)
                .bind(&username)
                .bind(reset_password)
                .bind(max_uses)
                .bind(expires_at)
                .bind(created_at)
                .execute(p)
                .await?
                .rows_affected())
        )?;
        Ok(())
    }

    async fn qwc_link(&self, nonce: &str) -> Result<Option<QwcLink>> {
        let sql = concat!("select ", cols!(), " from qwc_link where nonce = $1");
        let nonce = nonce.to_owned();
        by_backend!(self, |c| c.opt(sql, &[&nonce]), |p| Ok(sqlx::query_as(sql).bind(&nonce).fetch_optional(p).await?))
    }

    async fn use_qwc_link(&self, nonce: &str, now: DateTime<Utc>) -> Result<Option<i32>> {
        // One compare-and-set statement: the row's own `uses < max_uses`
        // decides, so concurrent downloads (or replicas) serialise on the row.
        let sql = "update qwc_link set uses = uses + 1, last_used_at = $2 \
                   where nonce = $1 and uses < max_uses and revoked_at is null returning uses";
        let nonce = nonce.to_owned();
        by_backend!(self, |c| c.opt(sql, &[&nonce, &Ts(now)]), |p| Ok(sqlx::query_scalar(sql)
            .bind(&nonce)
            .bind(now)
            .fetch_optional(p)
            .await?))
    }

    async fn claim_password_reset(&self, nonce: &str, now: DateTime<Utc>) -> Result<bool> {
        let sql = "update qwc_link set password_reset_at = $2 \
                   where nonce = $1 and reset_password and password_reset_at is null and revoked_at is null";
        let nonce = nonce.to_owned();
        let rows = by_backend!(self, |c| c.exec(sql, &[&nonce, &Ts(now)]), |p| Ok(sqlx::query(sql)
            .bind(&nonce)
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()))?;
        Ok(rows == 1)
    }

    async fn list_qwc_links(&self, username: Option<&str>) -> Result<Vec<QwcLink>> {
        let sql = concat!(
            "select ",
            cols!(),
            " from qwc_link where ($1 is null or username = $1) order by created_at desc, nonce"
        );
        let username = username.map(str::to_owned);
        by_backend!(self, |c| c.all(sql, &[&username]), |p| Ok(sqlx::query_as(sql)
            .bind(&username)
            .fetch_all(p)
            .await?))
    }

    async fn revoke_qwc_link(&self, nonce: &str, now: DateTime<Utc>) -> Result<Option<QwcLink>> {
        // `coalesce`: revoking twice keeps the first time.
        let sql =
            concat!("update qwc_link set revoked_at = coalesce(revoked_at, $2) where nonce = $1 returning ", cols!());
        let nonce = nonce.to_owned();
        by_backend!(self, |c| c.opt(sql, &[&nonce, &Ts(now)]), |p| Ok(sqlx::query_as(sql)
            .bind(&nonce)
            .bind(now)
            .fetch_optional(p)
            .await?))
    }
}
