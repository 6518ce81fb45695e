//! Bearer tokens: `qbt_` and 64 hex digits, stored only as a SHA-256 hash.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::app::AppState;

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

/// The authenticated caller of an API route.
#[derive(Clone, Debug)]
pub struct ApiCaller {
    /// The name of the token used.
    pub token_name: String,
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let found = state.store.use_token(&hash_token(token), state.clock.now()).await?;
        let token = found.ok_or_else(ApiError::unauthorized)?;
        tracing::Span::current().record("api.token", token.name.as_str());
        Ok(ApiCaller { token_name: token.name })
    }
}
