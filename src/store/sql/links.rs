//! Onboarding links: download counts and one-time password resets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use std::sync::LazyLock;

use super::args::args;
use super::SqlStore;
use crate::store::{LinkStore, QwcLink, Result};

/// The columns of a [`QwcLink`].
const COLS: &str = "nonce, username, reset_password, uses, max_uses, expires_at, created_at, last_used_at, \
                    password_reset_at, revoked_at";

static BY_NONCE: LazyLock<String> = LazyLock::new(|| format!("select {COLS} from qwc_link where nonce = $1"));

/// A user's links (`$1`), or everyone's when `$1` is null, newest first.
static LIST: LazyLock<String> = LazyLock::new(|| {
    format!("select {COLS} from qwc_link where ($1 is null or username = $1) order by created_at desc, nonce")
});

/// Revokes a link (`$1`) at `$2`; revoking twice keeps the first time.
static REVOKE: LazyLock<String> = LazyLock::new(|| {
    format!("update qwc_link set revoked_at = coalesce(revoked_at, $2) where nonce = $1 returning {COLS}")
});

#[async_trait]
impl LinkStore for SqlStore {
    async fn create_qwc_link(&self, l: &QwcLink) -> Result {
        let sql = "insert into qwc_link (nonce, username, reset_password, uses, max_uses, expires_at, created_at) \
                   values ($1, $2, $3, 0, $4, $5, $6)";
        let args = args![&l.nonce, &l.username, l.reset_password, l.max_uses, l.expires_at, l.created_at];
        self.exec(sql, args).await?;
        Ok(())
    }

    async fn qwc_link(&self, nonce: &str) -> Result<Option<QwcLink>> {
        self.opt(BY_NONCE.as_str(), args![nonce]).await
    }

    async fn use_qwc_link(&self, nonce: &str, now: DateTime<Utc>) -> Result<Option<i32>> {
        // One compare-and-set statement: the row's own `uses < max_uses`
        // decides, so concurrent downloads (or replicas) serialise on the row.
        let sql = "update qwc_link set uses = uses + 1, last_used_at = $2 \
                   where nonce = $1 and uses < max_uses and revoked_at is null returning uses";
        self.opt(sql, args![nonce, now]).await
    }

    async fn claim_password_reset(&self, nonce: &str, now: DateTime<Utc>) -> Result<bool> {
        let sql = "update qwc_link set password_reset_at = $2 \
                   where nonce = $1 and reset_password and password_reset_at is null and revoked_at is null";
        Ok(self.exec(sql, args![nonce, now]).await? == 1)
    }

    async fn list_qwc_links(&self, username: Option<&str>) -> Result<Vec<QwcLink>> {
        self.all(LIST.as_str(), args![username]).await
    }

    async fn revoke_qwc_link(&self, nonce: &str, now: DateTime<Utc>) -> Result<Option<QwcLink>> {
        self.opt(REVOKE.as_str(), args![nonce, now]).await
    }
}
