//! API tokens over the API, as `qbwcd token` does them: list, create,
//! revoke. Admin only, and only for a token not limited to companies (a
//! limited one could otherwise mint itself a wider token).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{generate_token, hash_token, ApiCaller, ApiError, ErrorBody};
use crate::app::AppState;
use crate::store::{ApiToken, NewToken};
use crate::types::{CompanySlug, Role};

/// A token as the API shows it (never the token itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Its name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The companies (slugs) it is limited to; absent = every company.
    pub companies: Option<Vec<String>>,
    /// When it stops working; absent = never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last accepted use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked at.
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

impl TokenView {
    fn of(t: ApiToken, slugs: &HashMap<i64, String>, now: DateTime<Utc>) -> TokenView {
        let status = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expired(now) {
            "expired"
        } else {
            "active"
        };
        let companies = t
            .company_ids
            .as_ref()
            .map(|ids| ids.iter().map(|id| slugs.get(id).cloned().unwrap_or_else(|| format!("#{id}"))).collect());
        TokenView {
            name: t.name,
            role: t.role,
            companies,
            expires_at: t.expires_at,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            status,
        }
    }
}

/// `POST /tokens` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// A name for the application or person using it, 1 to 100 characters.
    pub name: String,
    /// What it may do; `enqueue` when absent.
    pub role: Option<Role>,
    /// Limit it to these companies (slugs); absent = every company.
    pub companies: Option<Vec<String>>,
    /// It stops working after this many seconds; absent = never.
    pub expires_in_seconds: Option<u64>,
}

/// The created token: shown in this response only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The bearer token (`qbt_…`); only its hash is stored.
    pub token: String,
    /// What is kept of it.
    #[serde(flatten)]
    pub view: TokenView,
}

async fn slugs(state: &AppState) -> Result<HashMap<i64, String>, ApiError> {
    Ok(state.store.list_companies().await?.into_iter().map(|c| (c.id, c.slug.to_string())).collect())
}

/// `GET /tokens`.
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "tokens", operation_id = "listTokens",
    responses(
        (status = 200, description = "Every token by name, revoked ones included", body = Vec<TokenView>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, caller: ApiCaller) -> Result<Json<Vec<TokenView>>, ApiError> {
    caller.require_unlimited("tokens")?;
    let (slugs, now) = (slugs(&state).await?, state.clock.now());
    let tokens = state.store.list_tokens().await?;
    Ok(Json(tokens.into_iter().map(|t| TokenView::of(t, &slugs, now)).collect()))
}

/// `POST /tokens`: a new token, shown once.
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "tokens", operation_id = "createToken",
    request_body = NewTokenBody,
    responses(
        (status = 201, description = "Created; the token is shown only here", body = CreatedToken),
        (status = 400, description = "Invalid name, company or expiry", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 409, description = "The name exists", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: Result<Json<NewTokenBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require_unlimited("tokens")?;
    let Json(body) = body?;
    let name = super::auth::token_name(&body.name).map_err(|e| ApiError::bad_request("invalid_name", e))?;
    let company_ids = match &body.companies {
        None => None,
        Some(slugs) => {
            let mut ids = Vec::new();
            for s in slugs {
                let slug =
                    CompanySlug::parse(s).map_err(|e| ApiError::bad_request("invalid_company", e.to_string()))?;
                let c = state.store.company(&slug).await?;
                ids.push(c.ok_or_else(|| ApiError::bad_request("invalid_company", format!("no company {slug}")))?.id);
            }
            ids.sort_unstable();
            ids.dedup();
            Some(ids)
        }
    };
    let now = state.clock.now();
    let expires_at = match body.expires_in_seconds {
        None => None,
        Some(s) => Some(
            i64::try_from(s)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .filter(|d| *d > chrono::Duration::zero() && *d <= chrono::Duration::days(100 * 365))
                .map(|d| now + d)
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_expiry", "expires_in_seconds must be 1 s to 100 years")
                })?,
        ),
    };
    let token = generate_token();
    let new = NewToken {
        name: name.to_owned(),
        token_hash: hash_token(&token),
        role: body.role.unwrap_or(Role::Enqueue),
        company_ids,
        expires_at,
    };
    let made = state.store.create_token(new, now).await?;
    let view = TokenView::of(made, &slugs(&state).await?, now);
    Ok((StatusCode::CREATED, Json(CreatedToken { token, view })))
}

/// `POST /tokens/{name}/revoke`: requests with it are refused from now on.
#[utoipa::path(
    post, path = "/api/v1/tokens/{name}/revoke", tag = "tokens", operation_id = "revokeToken",
    params(("name" = String, Path, description = "The token's name")),
    responses(
        (status = 200, description = "The token, revoked", body = TokenView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No live token by that name", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(name): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    caller.require_unlimited("tokens")?;
    let now = state.clock.now();
    state.store.revoke_token(&name, now).await?;
    let token = state.store.list_tokens().await?.into_iter().find(|t| t.name == name);
    let token = token.ok_or_else(|| ApiError::not_found(format!("token {name:?}")))?;
    Ok(Json(TokenView::of(token, &slugs(&state).await?, now)))
}
