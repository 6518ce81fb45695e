//! API tokens.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::args::args;
use super::{found, unique_conflict, SqlStore};
use crate::store::{ApiToken, NewToken, Result, StoreError, TokenStore};
use crate::types::Role;

/// The columns of a token, as [`TokenRow`] reads them.
const COLS: &str = "id, name, role, company_ids, expires_at, created_at, last_used_at, revoked_at";

/// A token as stored: the role as text and the companies as a JSON array
/// of row ids (null = every company), parsed into an [`ApiToken`].
pub(super) struct TokenRow {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) role: String,
    pub(super) company_ids: Option<String>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) last_used_at: Option<DateTime<Utc>>,
    pub(super) revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<ApiToken> {
        let bad = |what: String| StoreError::Corrupt(format!("token {:?}: {what}", r.name));
        let role = Role::parse(&r.role).map_err(|e| bad(e.to_string()))?;
        let company_ids = match &r.company_ids {
            None => None,
            Some(json) => Some(serde_json::from_str::<Vec<i64>>(json).map_err(|e| bad(format!("companies: {e}")))?),
        };
        Ok(ApiToken {
            id: r.id,
            name: r.name,
            role,
            company_ids,
            expires_at: r.expires_at,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
    }
}

fn parsed(row: Option<TokenRow>) -> Result<Option<ApiToken>> {
    row.map(ApiToken::try_from).transpose()
}

/// Creates a token: `$1` name, `$2` hash, `$3` role, `$4` companies,
/// `$5` expiry, `$6` now.
static CREATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "insert into api_token (name, token_hash, role, company_ids, expires_at, created_at) \
         values ($1, $2, $3, $4, $5, $6) returning {COLS}"
    )
});

/// A live token by hash (`$1`), marked used at `$2` unless expired. One
/// statement: an expired token is returned (so the refusal can say why)
/// but not marked used.
static USE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "update api_token set last_used_at = case when expires_at is null or expires_at > $2 then $2 \
         else last_used_at end where token_hash = $1 and revoked_at is null returning {COLS}"
    )
});

static LIST: LazyLock<String> = LazyLock::new(|| format!("select {COLS} from api_token order by name"));

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_token(&self, new: NewToken, now: DateTime<Utc>) -> Result<ApiToken> {
        let companies = new.company_ids.as_ref().map(|ids| serde_json::Value::from(ids.clone()).to_string());
        let name = &new.name;
        let args = args![name, new.token_hash, new.role.as_str(), companies, new.expires_at, now];
        let row: TokenRow = self
            .one(CREATE.as_str(), args)
            .await
            .map_err(|e| unique_conflict(e, || format!("a token named {name:?} exists")))?;
        row.try_into()
    }

    async fn use_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<ApiToken>> {
        parsed(self.opt(USE.as_str(), args![token_hash, now]).await?)
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = self.all(LIST.as_str(), args![]).await?;
        rows.into_iter().map(ApiToken::try_from).collect()
    }

    async fn revoke_token(&self, name: &str, now: DateTime<Utc>) -> Result {
        let sql = "update api_token set revoked_at = $2 where name = $1 and revoked_at is null";
        let rows = self.exec(sql, args![name, now]).await?;
        found(rows, || format!("live token {name:?}"))
    }
}
