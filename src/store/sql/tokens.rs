//! API tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lite::{Sql, Ts};
use super::{by_backend, found, unique_conflict, SqlStore};
use crate::store::{ApiToken, NewToken, Result, StoreError, TokenStore};
use crate::types::Role;

/// The columns of a token, as [`TokenRow`] reads them.
const COLS: &str = "id, name, role, company_ids, expires_at, created_at, last_used_at, revoked_at";

/// A token as stored: the role as text and the companies as a JSON array
/// of row ids (null = every company), parsed into an [`ApiToken`].
#[derive(sqlx::FromRow)]
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

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_token(&self, new: NewToken, now: DateTime<Utc>) -> Result<ApiToken> {
        let sql = format!(
            "insert into api_token (name, token_hash, role, company_ids, expires_at, created_at) \
             values ($1, $2, $3, $4, $5, $6) returning {COLS}"
        );
        let companies = new.company_ids.as_ref().map(|ids| serde_json::Value::from(ids.clone()).to_string());
        let (name, role, expires_at) = (new.name.clone(), new.role.as_str(), new.expires_at);
        let row: TokenRow = by_backend!(
            self,
            |c| c.one(&sql, &[&new.name, &new.token_hash, &role, &companies, &expires_at.map(Ts), &Ts(now)]),
            |p| Ok(sqlx::query_as(&sql)
                .bind(&new.name)
                .bind(&new.token_hash)
                .bind(role)
                .bind(&companies)
                .bind(expires_at)
                .bind(now)
                .fetch_one(p)
                .await?)
        )
        .map_err(|e| unique_conflict(e, || format!("a token named {name:?} exists")))?;
        row.try_into()
    }

    async fn use_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<ApiToken>> {
        // One statement: an expired token is returned (so the refusal can
        // say why) but not marked used.
        let sql = format!(
            "update api_token set last_used_at = case when expires_at is null or expires_at > $2 then $2 \
             else last_used_at end where token_hash = $1 and revoked_at is null returning {COLS}"
        );
        let hash = token_hash.to_owned();
        let row: Option<TokenRow> =
            by_backend!(self, |c| c.opt(&sql, &[&hash, &Ts(now)]), |p| Ok(sqlx::query_as(&sql)
                .bind(&hash)
                .bind(now)
                .fetch_optional(p)
                .await?))?;
        parsed(row)
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("select {COLS} from api_token order by name");
        let rows: Vec<TokenRow> =
            by_backend!(self, |c| c.all(&sql, &[]), |p| Ok(sqlx::query_as(&sql).fetch_all(p).await?))?;
        rows.into_iter().map(ApiToken::try_from).collect()
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
