//! Web Connector users: read, list, enable, disable, unlock, remove, and
//! password reset. (Their `.qwc` files, links and `PATCH` are in `qwc`.)

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;

use super::companies::find;
use super::{ApiCaller, ApiError, ErrorBody};
use crate::app::AppState;
use crate::config::Settings;
use crate::store::{AccountStore, LoginLockout, Removed, User};
use crate::types::{CompanySlug, Username};

/// A Web Connector user as the API (and `qbwcd user show --json`) shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// User name.
    #[schema(value_type = String)]
    pub username: Username,
    /// Company slug.
    #[schema(value_type = String)]
    pub company: CompanySlug,
    /// Whether it may log in.
    pub enabled: bool,
    /// Whether its company is enabled (a disabled company's users are refused).
    pub company_enabled: bool,
    /// Last successful Web Connector login; none = never connected.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Its own poll interval in minutes (none: see `run_every_seconds`, else `[qwc]`).
    pub run_every_minutes: Option<i32>,
    /// Its own poll interval in seconds.
    pub run_every_seconds: Option<i32>,
    /// The interval its `.qwc` tells the Web Connector, in seconds (its own or `[qwc]`'s).
    pub expected_every_seconds: u64,
    /// Seen before, but not for three of its intervals: the Web Connector
    /// stopped checking in (PC off, nobody logged in, program closed).
    pub silent: bool,
    /// Locked out after failed logins until then, at one address at least
    /// (the latest such lockout; in the past: no longer locked).
    pub locked_until: Option<DateTime<Utc>>,
    /// Failed logins within the lockout window, over every address.
    pub failed_logins: i32,
    /// The addresses its failed logins came from, newest first.
    pub lockouts: Vec<LoginLockout>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl UserView {
    /// The view of `u` at `now`, with its failed logins read from `store`.
    pub async fn load<S: AccountStore + ?Sized>(
        store: &S,
        u: User,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> crate::store::Result<Self> {
        let lockouts = store.login_lockouts(u.username.as_str()).await?;
        Ok(Self::of(u, lockouts, settings, now))
    }

    /// The view of `u` with its failed-login rows, at `now`.
    pub fn of(u: User, lockouts: Vec<LoginLockout>, settings: &Settings, now: DateTime<Utc>) -> Self {
        let qwc = &settings.qwc;
        let silent = !crate::silence::silent_connectors(std::slice::from_ref(&u), qwc, now).is_empty();
        let window_start = now - chrono::Duration::seconds(settings.auth.lockout_window_seconds);
        UserView {
            expected_every_seconds: crate::silence::expected_interval_seconds(qwc, &u),
            silent,
            username: u.username,
            company: u.company_slug,
            enabled: u.enabled,
            company_enabled: !u.company_disabled,
            last_seen_at: u.last_seen_at,
            run_every_minutes: u.run_every_minutes,
            run_every_seconds: u.run_every_seconds,
            locked_until: lockouts.iter().filter_map(|l| l.locked_until).max(),
            failed_logins: lockouts.iter().filter(|l| l.last_failure_at >= window_start).map(|l| l.failures).sum(),
            lockouts,
            created_at: u.created_at,
        }
    }
}

/// The user by name, if the caller may see its company (404 otherwise, as
/// for one that does not exist).
pub(super) async fn find_user(state: &AppState, caller: &ApiCaller, username: &str) -> Result<User, ApiError> {
    let name = Username::parse(username).map_err(|_| ApiError::not_found(format!("user {username:?}")))?;
    let user = state.store.user(name.as_str()).await?.ok_or_else(|| ApiError::not_found(format!("user {name}")))?;
    caller.check_company_id(user.company_id, || format!("user {name}"))?;
    Ok(user)
}

/// The user's view as it is now.
async fn view(state: &AppState, name: &Username) -> Result<Json<UserView>, ApiError> {
    let u = state.store.user(name.as_str()).await?.ok_or_else(|| ApiError::not_found(format!("user {name}")))?;
    Ok(Json(UserView::load(&*state.store, u, &state.settings, state.clock.now()).await?))
}

async fn set_enabled(
    state: &AppState,
    caller: &ApiCaller,
    username: &str,
    enabled: bool,
) -> Result<Json<UserView>, ApiError> {
    let name = find_user(state, caller, username).await?.username;
    state.store.set_user_enabled(&name, enabled, state.clock.now()).await?;
    view(state, &name).await
}

/// `GET /users/{username}`.
#[utoipa::path(
    get, path = "/api/v1/users/{username}", tag = "users", operation_id = "getUser",
    params(("username" = String, Path, description = "Web Connector user name")),
    responses(
        (status = 200, description = "The user: last seen, schedule, silence, lockout", body = UserView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    view(&state, &find_user(&state, &caller, &username).await?.username).await
}

/// `GET /companies/{slug}/users`: the company's users, by name.
#[utoipa::path(
    get, path = "/api/v1/companies/{slug}/users", tag = "companies", operation_id = "listCompanyUsers",
    params(("slug" = String, Path, description = "Company slug")),
    responses(
        (status = 200, description = "The company's Web Connector users, by name", body = Vec<UserView>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_for_company(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(slug): Path<String>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let company = find(&state, &caller, &slug).await?;
    let now = state.clock.now();
    let mut views = Vec::new();
    for u in state.store.company_users(company.id).await? {
        views.push(UserView::load(&*state.store, u, &state.settings, now).await?);
    }
    Ok(Json(views))
}

/// `POST /users/{username}/unlock`: clears the user's lockouts and failure
/// counts at every address and, for a token not limited to companies, the
/// address lockouts of the addresses it failed from, which guard every
/// company (the password stays).
#[utoipa::path(
    post, path = "/api/v1/users/{username}/unlock", tag = "users", operation_id = "unlockUser",
    params(("username" = String, Path, description = "Web Connector user name")),
    responses(
        (status = 200, description = "The user, unlocked", body = UserView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn unlock(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let name = find_user(&state, &caller, &username).await?.username;
    state.store.unlock_user(&name, caller.company_ids.is_none()).await?;
    view(&state, &name).await
}

/// `DELETE /users/{username}`: removes the user. Its open session ends
/// with its leases released as if the session had expired (a read goes
/// back to the queue); its writes whose answer was lost, a write in flight
/// included, are held for a person (only its connector could have asked
/// QuickBooks about them); its sessions, links and lockouts are deleted;
/// its events stay, without the link to it. The company's jobs stay.
#[utoipa::path(
    delete, path = "/api/v1/users/{username}", tag = "users", operation_id = "deleteUser",
    params(("username" = String, Path, description = "Web Connector user name")),
    responses(
        (status = 200, description = "What was removed with it", body = Removed),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(username): Path<String>,
) -> Result<Json<Removed>, ApiError> {
    let name = find_user(&state, &caller, &username).await?.username;
    Ok(Json(state.store.remove_user(&name, state.clock.now()).await?))
}

/// `POST /users/{username}/disable`: its Web Connector is refused (`nvu`)
/// from now on; its `.qwc` stays valid for when it is enabled again.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/disable", operation_id = "disableUser", tag = "users",
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
    post, path = "/api/v1/users/{username}/enable", operation_id = "enableUser", tag = "users",
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
    post, path = "/api/v1/users/{username}/password", operation_id = "resetUserPassword", tag = "users",
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
    let password = new_password(&state, &name).await?;
    Ok((StatusCode::CREATED, Json(NewPassword { username: name, password: password.expose_secret().to_owned() })))
}

/// Sets a new generated password, clearing any lockout (the API's
/// `resetUserPassword` and the console's button); returned to be shown once.
///
/// # Errors
/// Hashing, no such user (404), or the database.
pub async fn new_password(state: &AppState, name: &Username) -> Result<secrecy::SecretString, ApiError> {
    let password = crate::auth::generate_password();
    let hash = crate::auth::hash_password_off_runtime(password.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    state.store.set_password(name, &hash, state.clock.now()).await?;
    Ok(password)
}
