//! `GET /api/v1/diagnostics/{code}`: one catalog entry, in any code form.

use axum::extract::Path;
use axum::Json;

use super::ApiError;
use crate::diagnostics::{catalog, Finding};

/// The entry explaining `code` (`0x80040420`, `-2147220448`, `3260`,
/// `QBWC1012`, `auth.bad_password`, …). Public: it holds no customer data.
pub async fn show(Path(code): Path<String>) -> Result<Json<Finding>, ApiError> {
    catalog().explain(&code).map(Json).ok_or_else(|| ApiError::not_found(format!("no diagnostic for {code:?}")))
}
