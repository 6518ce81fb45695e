//! One error body for every API failure: `{code, message, diagnostic?}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::diagnostics::Finding;
use crate::qbxml::convert::{Issue, SchemaInvalid};
use crate::store::StoreError;
use crate::submit::SubmitError;

/// An API failure with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`not_found`, `invalid_qbxml`, …).
    pub code: &'static str,
    /// What went wrong and what to change.
    pub message: String,
    /// The catalog entry, where one applies (boxed, like `invalid`, to keep
    /// every handler's `Result` small).
    pub diagnostic: Option<Box<Finding>>,
    /// The job the error is about (`idempotency_conflict`: the job that has the key).
    pub job_id: Option<crate::types::JobId>,
    /// With `qbxml_invalid`: every problem found, each with its path, and
    /// the schema version checked against (boxed: rare, and every handler
    /// returns this type).
    pub invalid: Option<Box<SchemaInvalid>>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostic: Option<&'a Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [Issue]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), diagnostic: None, job_id: None, invalid: None }
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API token is required: Authorization: Bearer <token> (create one with `qbwcd token create NAME`)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, error = %self.message, "API request failed");
        }
        let body = Body {
            code: self.code,
            message: &self.message,
            diagnostic: self.diagnostic.as_deref(),
            job_id: self.job_id.map(|id| id.to_string()),
            errors: self.invalid.as_ref().map(|i| i.issues.as_slice()),
            version: self.invalid.as_ref().map(|i| i.version.to_string()),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            other => {
                let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", other.to_string());
                err.diagnostic = Some(Box::new(Finding::from_code("server.database_unavailable")));
                err
            }
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
            SubmitError::Store(s) => s.into(),
            // Well-formed JSON whose qbXML cannot be queued: 422, with the reason.
            SubmitError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_qbxml", e.to_string()),
            SubmitError::Schema(invalid) => invalid.into(),
            SubmitError::BadIdempotencyKey => ApiError::bad_request("invalid_request", e.to_string()),
            SubmitError::IdempotencyConflict { existing, .. } => {
                let mut err = ApiError::new(StatusCode::CONFLICT, "idempotency_conflict", e.to_string());
                err.job_id = Some(existing);
                err
            }
        }
    }
}

/// 422 `qbxml_invalid` with every problem and the version checked against.
impl From<SchemaInvalid> for ApiError {
    fn from(e: SchemaInvalid) -> Self {
        let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "qbxml_invalid", e.to_string());
        err.invalid = Some(Box::new(e));
        err
    }
}

/// Turns axum's JSON extraction failures into the common error shape.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        let status = r.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "invalid_request" };
        ApiError::new(status, code, r.body_text())
    }
}

/// The error body every API failure has (for the OpenAPI document; the
/// response itself is written by [`ApiError`]).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (`not_found`, `invalid_qbxml`, …).
    pub code: String,
    /// What went wrong and what to change.
    pub message: String,
    /// The diagnostic catalog entry, where one applies.
    #[schema(value_type = Option<Object>)]
    pub diagnostic: Option<Finding>,
    /// The job the error is about: with `idempotency_conflict`, the job
    /// that already has the key.
    pub job_id: Option<String>,
    /// With `qbxml_invalid`: every problem found, each `{path, code,
    /// message}` (`CustomerAddRq/CustomerAdd/Name`, `too_long`, "at most 41
    /// characters; got 57").
    pub errors: Option<Vec<Issue>>,
    /// With `qbxml_invalid`: the qbXML schema version checked against (the
    /// newest not above the company's QuickBooks; 16.0 before any session).
    pub version: Option<String>,
}

/// Turns query-string failures (`?wait=soon`) into the common error shape.
impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::bad_request("invalid_request", r.body_text())
    }
}
