//! Bearer tokens: `qbt_` and 64 hex digits, stored only as a SHA-256 hash.
//! Each token has a role and may be limited to some companies and expire;
//! each route says what it needs where it is declared (`api_routes!`), and
//! [`authorize`] checks it before the handler runs.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::app::AppState;
use crate::store::Company;
pub use crate::types::Role;

/// A new token (shown once; only [`hash_token`] of it is stored).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("qbt_{}", hex::encode(bytes))
}

/// What the store keeps of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token's name, trimmed: 1 to 100 characters.
///
/// # Errors
/// Why the name is refused.
pub fn token_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("a token name must be 1 to 100 characters".to_owned());
    }
    Ok(name)
}

/// What a route needs from its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Nothing: open to anyone (the diagnostics catalog, the OpenAPI document).
    Public,
    /// A live token with at least this role.
    Token(Role),
}

impl Access {
    /// Itself (so a route list may name an [`Access`] or a [`Role`]).
    pub const fn access(self) -> Access {
        self
    }
}

impl Role {
    /// A token with at least this role.
    pub const fn access(self) -> Access {
        Access::Token(self)
    }
}

/// The authenticated caller of an API route: its token's name, role and
/// company limit. Put in the request by [`authorize`].
#[derive(Clone, Debug)]
pub struct ApiCaller {
    /// The name of the token used.
    pub token_name: String,
    /// What the token may do.
    pub role: Role,
    /// The companies (row ids) it may see; `None` = every company.
    pub company_ids: Option<Vec<i64>>,
}

impl ApiCaller {
    /// Refuses a token limited to some companies: only an unlimited admin
    /// token manages what spans every company (`what`: "tokens", "console
    /// admins").
    ///
    /// # Errors
    /// 403 for a limited token.
    pub fn require_unlimited(&self, what: &str) -> Result<(), ApiError> {
        match self.company_ids {
            None => Ok(()),
            Some(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "the token {:?} is limited to some companies; only an unlimited admin token manages {what}",
                    self.token_name
                ),
            )),
        }
    }

    /// Whether it may see the company with this row id.
    pub fn sees(&self, company_id: i64) -> bool {
        self.company_ids.as_ref().is_none_or(|ids| ids.contains(&company_id))
    }

    /// The company, if the caller may see it; otherwise the same 404 as a
    /// company that does not exist, so a limited token learns nothing of
    /// the others.
    ///
    /// # Errors
    /// 404 when the caller may not see it.
    pub fn check_company(&self, company: Company) -> Result<Company, ApiError> {
        if self.sees(company.id) {
            Ok(company)
        } else {
            Err(ApiError::not_found(format!("company {}", company.slug)))
        }
    }

    /// 404 for a row of a company the caller may not see, with the message
    /// a missing row gets (`what`, e.g. `job ID`).
    ///
    /// # Errors
    /// 404 when the caller may not see the company.
    pub fn check_company_id(&self, company_id: i64, what: impl FnOnce() -> String) -> Result<(), ApiError> {
        if self.sees(company_id) {
            Ok(())
        } else {
            Err(ApiError::not_found(what()))
        }
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        // Only `authorize` puts a caller here: a handler asking for one on
        // a public route gets a 401, never an unchecked caller.
        parts.extensions.get::<ApiCaller>().cloned().ok_or_else(ApiError::unauthorized)
    }
}

/// Checks the route's [`Access`] before its handler runs: 401 without a
/// live token (saying so when it expired), 403 when its role is too low.
pub async fn authorize(state: AppState, access: Access, mut request: Request, next: Next) -> Response {
    let Access::Token(needed) = access else {
        return next.run(request).await;
    };
    let caller = match caller_of(&state, request.headers()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if caller.role < needed {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the token {:?} has the role {}; this needs {needed} (create one with `qbwcd token create NAME \
                 --role {needed}`)",
                caller.token_name, caller.role
            ),
        )
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// `authorize` as axum's middleware wants it: the state first.
pub(super) async fn authorize_with(
    State(state): State<AppState>,
    access: Access,
    request: Request,
    next: Next,
) -> Response {
    authorize(state, access, request, next).await
}

/// The token of the `Authorization` header, live and not expired.
async fn caller_of(state: &AppState, headers: &HeaderMap) -> Result<ApiCaller, ApiError> {
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    let now = state.clock.now();
    let token = state.store.use_token(&hash_token(token), now).await?.ok_or_else(ApiError::unauthorized)?;
    tracing::Span::current().record("token.id", token.id);
    if let Some(at) = token.expires_at.filter(|_| token.expired(now)) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            format!("the token {:?} expired at {}; create a new one with `qbwcd token create`", token.name, at),
        ));
    }
    Ok(ApiCaller { token_name: token.name, role: token.role, company_ids: token.company_ids })
}
