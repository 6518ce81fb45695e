//! `GET /api/v1/diagnostics/{code}`: one catalog entry, in any code form.

use axum::extract::Path;
use axum::Json;

use super::ApiError;
use crate::diagnostics::{catalog, Finding};

/// The entry explaining `code` (`0x80040420`, `-2147220448`, `3260`,
/// `QBWC1012`, `auth.bad_password`, …). Public: it holds no customer data.
#[utoipa::path(
    get, path = "/api/v1/diagnostics/{code}", operation_id = "getDiagnostic", tag = "diagnostics",
    params(("code" = String, Path, description = "Any form of the code")),
    responses(
        (status = 200, description = "The catalog entry", body = Object),
        (status = 404, description = "No entry for the code", body = super::ErrorBody),
    )
)]
pub async fn show(Path(code): Path<String>) -> Result<Json<Finding>, ApiError> {
    catalog().explain(&code).map(Json).ok_or_else(|| ApiError::not_found(format!("no diagnostic for {code:?}")))
}
