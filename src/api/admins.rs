//! Console accounts over the API, as `qbwcd admin` does them: list, add,
//! remove, new password ([`crate::admins`]). Only an unlimited admin token
//! manages them (a console admin sees every company). The accounts log in
//! to the console at `/admin`; tokens never do.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ApiCaller, ApiError, ErrorBody};
use crate::admins::{AdminError, AdminView};
use crate::app::AppState;

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let message = e.to_string();
        match e {
            AdminError::Name(_) => ApiError::bad_request("invalid_name", message),
            AdminError::WeakPassword => ApiError::bad_request("weak_password", message),
            AdminError::NotFound(_) => ApiError::not_found(message),
            AdminError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            AdminError::Hash(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
            AdminError::Store(e) => e.into(),
        }
    }
}

/// `POST /admins` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdminBody {
    /// Login name, 1 to 64 printable characters.
    pub name: String,
    /// At least 12 characters; stored only as an argon2id hash.
    pub password: String,
}

/// `POST /admins/{name}/password` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminPasswordBody {
    /// At least 12 characters.
    pub password: String,
}

/// `GET /admins`.
#[utoipa::path(
    get, path = "/api/v1/admins", tag = "admins", operation_id = "listAdmins",
    responses(
        (status = 200, description = "Every console admin by name (never the passwords)", body = Vec<AdminView>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low or limited to companies", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, caller: ApiCaller) -> Result<Json<Vec<AdminView>>, ApiError> {
    caller.require_unlimited("console admins")?;
    Ok(Json(crate::admins::list(state.store.as_ref()).await?))
}

/// `POST /admins`: a console admin.
#[utoipa::path(
    post, path = "/api/v1/admins", tag = "admins", operation_id = "createAdmin",
    request_body = NewAdminBody,
    responses(
        (status = 201, description = "Created", body = AdminView),
        (status = 400, description = "Invalid name or a short password", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low or limited to companies", body = ErrorBody),
        (status = 409, description = "The name exists", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: Result<Json<NewAdminBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<AdminView>), ApiError> {
    caller.require_unlimited("console admins")?;
    let Json(body) = body?;
    let made =
        crate::admins::add(state.store.as_ref(), &body.name, SecretString::from(body.password), state.clock.now())
            .await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// `DELETE /admins/{name}`: the admin and its console sessions go.
#[utoipa::path(
    delete, path = "/api/v1/admins/{name}", tag = "admins", operation_id = "deleteAdmin",
    params(("name" = String, Path, description = "The admin's login name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low or limited to companies", body = ErrorBody),
        (status = 404, description = "No such admin", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_unlimited("console admins")?;
    crate::admins::remove(state.store.as_ref(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admins/{name}/password`: a new password; the admin's console
/// sessions end.
#[utoipa::path(
    post, path = "/api/v1/admins/{name}/password", tag = "admins", operation_id = "setAdminPassword",
    params(("name" = String, Path, description = "The admin's login name")),
    request_body = AdminPasswordBody,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "A short password", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low or limited to companies", body = ErrorBody),
        (status = 404, description = "No such admin", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn passwd(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(name): Path<String>,
    body: Result<Json<AdminPasswordBody>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_unlimited("console admins")?;
    let Json(body) = body?;
    crate::admins::passwd(state.store.as_ref(), &name, SecretString::from(body.password), state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
