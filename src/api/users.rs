//! Web Connector users: disable, enable, and password reset.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use secrecy::ExposeSecret;
use serde::Serialize;

use super::qwc::UserView;
use super::{ApiCaller, ApiError, ErrorBody};
use crate::app::AppState;
use crate::store::User;
use crate::types::Username;

/// The user by name, if the caller may see its company (404 otherwise, as
/// for one that does not exist).
pub(super) async fn find_user(state: &AppState, caller: &ApiCaller, username: &str) -> Result<User, ApiError> {
    let name = Username::parse(username).map_err(|_| ApiError::not_found(format!("user {username:?}")))?;
    let user = state.store.user(name.as_str()).await?.ok_or_else(|| ApiError::not_found(format!("user {name}")))?;
    caller.check_company_id(user.company_id, || format!("user {name}"))?;
    Ok(user)
}

async fn set_enabled(
    state: &AppState,
    caller: &ApiCaller,
    username: &str,
    enabled: bool,
) -> Result<Json<UserView>, ApiError> {
    let name = find_user(state, caller, username).await?.username;
    state.store.set_user_enabled(&name, enabled, state.clock.now()).await?;
    let u = state.store.user(name.as_str()).await?.ok_or_else(|| ApiError::not_found(format!("user {name}")))?;
    Ok(Json(u.into()))
}

/// `POST /users/{username}/disable`: its Web Connector is refused (`nvu`)
/// from now on; its `.qwc` stays valid for when it is enabled again.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/disable", tag = "users",
    params(("username" = String, Path, description = "Web Connector user name")),
    responses(
        (status = 200, description = "The user, disabled", body = UserView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn disable(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    set_enabled(&state, &caller, &username, false).await
}

/// `POST /users/{username}/enable`.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/enable", tag = "users",
    params(("username" = String, Path, description = "Web Connector user name")),
    responses(
        (status = 200, description = "The user, enabled", body = UserView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn enable(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    set_enabled(&state, &caller, &username, true).await
}

/// A new password, shown in this response only.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewPassword {
    /// User name.
    #[schema(value_type = String)]
    pub username: Username,
    /// The generated password; type it into the Web Connector. It is
    /// stored only as a hash and never shown again.
    pub password: String,
}

/// `POST /users/{username}/password`: a new generated password (returned
/// once), clearing any lockout. The `.qwc` file stays valid: the
/// application's identity (OwnerID, FileID) does not change.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/password", tag = "users",
    params(("username" = String, Path, description = "Web Connector user name")),
    responses(
        (status = 201, description = "The new password, shown once", body = NewPassword),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is too low", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reset_password(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<(StatusCode, Json<NewPassword>), ApiError> {
    let name = find_user(&state, &caller, &username).await?.username;
    let password = crate::auth::generate_password();
    let hash = crate::auth::hash_password_off_runtime(password.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    state.store.set_password(&name, &hash, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(NewPassword { username: name, password: password.expose_secret().to_owned() })))
}
